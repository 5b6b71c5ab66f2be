"""How far an exported detector's detections are from PyTorch's on the same images."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from mmdet.structures.bbox import bbox_overlaps
from mmengine.structures import InstanceData


@dataclass
class Comparison:
    """One image: detections matched one to one (same label, IoU >= 0.9) and what differs."""

    expected: int  # PyTorch's detections
    got: int  # the exported model's
    matched: int
    max_box_diff: float  # px, over the matched pairs' coordinates
    max_score_diff: float
    lowest_score: float  # the lowest score either side kept (its score threshold, about)
    unmatched_scores: list[float] = field(default_factory=list)  # of both sides


def compare_detections(
    expected: InstanceData,
    got: InstanceData,
    frame: tuple[int, int] | None = None,
    iou_thr: float = 0.9,
) -> Comparison:
    """Matches ``got`` to ``expected`` greedily, strongest expected detection first.

    Args:
        expected: PyTorch's ``bboxes [N, 4]``, ``scores [N]``, ``labels [N]``.
        got: The exported model's, in the same image coordinates.
        frame: ``(height, width)`` of the image: both sides' boxes are compared clipped to it
            (mmdet's heads clip in PyTorch, mmdeploy's rewrites of them not always).
        iou_thr: Smallest IoU of a match (the labels must be equal too).
    """
    e_boxes, g_boxes = expected.bboxes.float().cpu(), got.bboxes.float().cpu()
    if frame is not None:
        high = e_boxes.new_tensor([frame[1], frame[0]] * 2)
        e_boxes, g_boxes = (torch.min(b.clamp(min=0), high) for b in (e_boxes, g_boxes))
    e_scores, g_scores = expected.scores.float().cpu(), got.scores.float().cpu()
    e_labels, g_labels = expected.labels.cpu(), got.labels.cpu()
    iou = bbox_overlaps(e_boxes, g_boxes) if len(e_boxes) and len(g_boxes) else None
    taken = torch.zeros(len(g_boxes), dtype=torch.bool)
    box_diff = score_diff = 0.0
    unmatched = []
    for i in e_scores.argsort(descending=True).tolist():
        j = -1
        if iou is not None:
            candidates = iou[i].masked_fill(taken | (g_labels != e_labels[i]), -1.0)
            j = int(candidates.argmax())
            if candidates[j] < iou_thr:
                j = -1
        if j < 0:
            unmatched.append(float(e_scores[i]))
            continue
        taken[j] = True
        box_diff = max(box_diff, float((e_boxes[i] - g_boxes[j]).abs().max()))
        score_diff = max(score_diff, float((e_scores[i] - g_scores[j]).abs()))
    unmatched += g_scores[~taken].tolist()
    scores = torch.cat([e_scores, g_scores])
    return Comparison(
        expected=len(e_boxes),
        got=len(g_boxes),
        matched=int(taken.sum()),
        max_box_diff=box_diff,
        max_score_diff=score_diff,
        lowest_score=float(scores.min()) if len(scores) else 0.0,
        unmatched_scores=unmatched,
    )


@dataclass
class Agreement:
    """Comparisons over several images, summarised and checked against tolerances."""

    comparisons: list[Comparison] = field(default_factory=list)

    def add(self, comparison: Comparison) -> None:
        self.comparisons.append(comparison)

    def summary(self) -> str:
        c = self.comparisons
        return (
            f'{len(c)} images: {sum(x.matched for x in c)} detections matched of '
            f'{sum(x.expected for x in c)} (PyTorch) and {sum(x.got for x in c)} (exported); '
            f'max box difference {max((x.max_box_diff for x in c), default=0.0):.4f} px, '
            f'max score difference {max((x.max_score_diff for x in c), default=0.0):.5f}'
        )

    def problems(self, box_tol: float, score_tol: float) -> list[str]:
        """What exceeds the tolerances; an empty list when the two agree.

        A detection without a partner only counts when its score is more than ``score_tol``
        above the lowest score kept on its image: near the score threshold or the top-k cut a
        score difference within the tolerance may keep a box on one side only.
        """
        found = []
        for k, c in enumerate(self.comparisons):
            if c.max_box_diff > box_tol:
                found.append(f'image {k}: box difference {c.max_box_diff:.4f} px > {box_tol}')
            if c.max_score_diff > score_tol:
                found.append(f'image {k}: score difference {c.max_score_diff:.5f} > {score_tol}')
            strong = [s for s in c.unmatched_scores if s > c.lowest_score + score_tol]
            if strong:
                found.append(
                    f'image {k}: {len(strong)} detections on one side only, scores '
                    f'{sorted(strong, reverse=True)[:5]}'
                )
        return found
