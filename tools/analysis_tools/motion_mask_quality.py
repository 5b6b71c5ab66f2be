"""How well does the self-supervised motion mask find the labelled objects of halmstad-sky?

Examples::

    python tools/analysis_tools/motion_mask_quality.py --split val --pairs-per-video 4
    python tools/analysis_tools/motion_mask_quality.py --crop 320 --frame-gap 1 3 --json
    python tools/analysis_tools/motion_mask_quality.py --motion threshold=1.5 preset=ultrafast

For ``--pairs-per-video`` pairs (t, t+k) of every video of ``--split`` (k uniform in
``--frame-gap``, t a labelled frame), the tool runs ``MotionTargets`` (``--motion`` overrides its
arguments) on the full frames, or on a ``--crop`` square placed around one of frame t's objects.
Per class and overall it prints

- ``coverage``: the share of the labelled objects of frame t that the mask touches (any mask
  pixel inside the box);
- ``outside``: the share of mask pixels outside every labelled box of frames t and t+k, grown
  by ``--margin`` px (the mask marks an object where it was and where it went, a little wider;
  frame t+k's boxes are moved back by the camera's motion that ``MotionTargets`` found); a pair
  counts for each class it shows;
- ``empty``: the share of pairs with an empty mask, and the mean milliseconds per pair of
  ``LoadFramePair`` (decoding) and ``MotionTargets``.

The labels are loose around the smallest targets and a hovering drone does not move, so a
coverage of 1 is not expected; the numbers compare settings of ``MotionTargets``.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os.path as osp
import time
from collections import defaultdict

import cv2
import numpy as np
from _cli import print_rows
from mmdet.registry import TRANSFORMS
from mmengine.config import DictAction
from mmengine.logging import print_log

import mmcofnet  # noqa: F401  (registers the components)
from mmcofnet.datasets.halmstad_sky import HALMSTAD_CLASSES, read_labels, read_splits
from mmcofnet.datasets.sky_video_pairs import probe_video

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_ROOT = osp.join(REPO_ROOT, '..', 'shared', 'data', 'halmstad-sky')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Motion-mask coverage of labelled objects')
    parser.add_argument('--root', default=DEFAULT_ROOT, help='halmstad-sky root')
    parser.add_argument('--split', default='val', help='split of splits.csv to evaluate')
    parser.add_argument('--pairs-per-video', type=int, default=4, help='pairs sampled per video')
    parser.add_argument(
        '--frame-gap', type=int, nargs=2, default=(1, 3), metavar=('A', 'B'), help='k in [A, B]'
    )
    parser.add_argument('--crop', type=int, help='side of a square crop around an object')
    parser.add_argument(
        '--margin',
        type=int,
        default=2,
        help='px around the boxes that count as inside (the mask is about this much wider)',
    )
    parser.add_argument('--seed', type=int, default=0, help='seed of the sampled pairs')
    parser.add_argument('--videos', nargs='+', help='only these videos (names without .mp4)')
    parser.add_argument(
        '--motion', nargs='+', action=DictAction, help='MotionTargets arguments, key=value'
    )
    parser.add_argument('--json', action='store_true', help='print a JSON list on stdout')
    args = parser.parse_args(argv)
    if args.pairs_per_video < 1:
        parser.error(f'--pairs-per-video must be >= 1, got {args.pairs_per_video}')
    if not 1 <= args.frame_gap[0] <= args.frame_gap[1]:
        parser.error(f'--frame-gap must be A B with 1 <= A <= B, got {args.frame_gap}')
    if args.crop is not None and args.crop < 8:
        parser.error(f'--crop must be >= 8, got {args.crop}')
    return args


def read_split(root: str, split: str, videos: list[str] | None = None) -> list[str]:
    """Sorted video names of ``split`` in ``root/splits.csv`` (only ``videos`` if given)."""
    path = osp.join(root, 'splits.csv')
    names = sorted(name for name, s in read_splits(root).items() if s == split)
    if videos is not None:
        unknown = sorted(set(videos) - set(names))
        if unknown:
            raise ValueError(f'{path}: videos {unknown} are not in split {split!r}')
        names = [name for name in names if name in videos]
    if not names:
        raise ValueError(f'{path}: split {split!r} has no videos')
    return names


def read_boxes(path: str) -> dict[int, list[tuple[str, np.ndarray]]]:
    """``{frame: [(label, box [x1, y1, x2, y2]), ...]}`` of a ``<video>_LABELS.csv`` file."""
    return {
        frame: [
            (HALMSTAD_CLASSES[b.category_id - 1], np.array([b.x, b.y, b.x + b.w, b.y + b.h]))
            for b in boxes
        ]
        for frame, boxes in read_labels(path).items()
    }


def find_video(root: str, split: str, name: str) -> str | None:
    """``root/videos/<split>/<name>.mp4``, else any ``root/videos/**/<name>.*``."""
    path = osp.join(root, 'videos', split, f'{name}.mp4')
    if osp.isfile(path):
        return path
    found = sorted(glob.glob(osp.join(root, 'videos', '**', f'{name}.*'), recursive=True))
    return found[0] if found else None


def crop_window(
    boxes: list[np.ndarray], size: int, width: int, height: int, rng: np.random.Generator
) -> tuple[int, int]:
    """Origin of a ``size`` square inside the frame that holds a random one of ``boxes``.

    Without boxes the square is uniform; a box larger than the square gets its top-left part.
    """
    max_x, max_y = max(width - size, 0), max(height - size, 0)
    if not boxes:
        return int(rng.integers(max_x + 1)), int(rng.integers(max_y + 1))
    x1, y1, x2, y2 = boxes[rng.integers(len(boxes))]
    lo_x, hi_x = np.clip([int(np.ceil(x2)) - size, int(x1)], 0, max_x)
    lo_y, hi_y = np.clip([int(np.ceil(y2)) - size, int(y1)], 0, max_y)
    return int(rng.integers(lo_x, max(hi_x, lo_x) + 1)), int(
        rng.integers(lo_y, max(hi_y, lo_y) + 1)
    )


def to_frame_t(box: np.ndarray, camera_motion: np.ndarray) -> np.ndarray:
    """A box [x1, y1, x2, y2] of frame t+k in frame t's coordinates: the bounds of its corners
    moved back by the camera's motion (3x3, frame t to frame t+k)."""
    corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]])
    back = cv2.perspectiveTransform(corners[None].astype(np.float64), np.linalg.inv(camera_motion))
    return np.concatenate([back[0].min(axis=0), back[0].max(axis=0)])


def box_slices(box: np.ndarray, width: int, height: int) -> tuple[slice, slice] | None:
    """Row and column slices of the pixels a box [x1, y1, x2, y2] touches, or None if outside."""
    x1, y1 = max(int(np.floor(box[0])), 0), max(int(np.floor(box[1])), 0)
    x2, y2 = min(int(np.ceil(box[2])), width), min(int(np.ceil(box[3])), height)
    if x2 <= x1 or y2 <= y1:
        return None
    return slice(y1, y2), slice(x1, x2)


class Tally:
    """Counts of one row of the table."""

    def __init__(self) -> None:
        self.objects = self.covered = self.pairs = self.empty = 0
        self.mask_px = self.outside_px = 0

    def row(self, name: str) -> dict:
        return dict(
            **{'class': name},
            objects=self.objects,
            coverage=self.covered / self.objects if self.objects else None,
            pairs=self.pairs,
            mask_px=self.mask_px,
            outside=self.outside_px / self.mask_px if self.mask_px else None,
            empty=self.empty / self.pairs if self.pairs else None,
        )


def evaluate_pair(
    mask: np.ndarray,
    objects: list[tuple[str, np.ndarray]],
    later: list[tuple[str, np.ndarray]],
    tallies: dict[str, Tally],
    margin: int = 0,
) -> None:
    """Adds one pair's mask [H, W] (0/1) to the tallies of its classes and of ``'all'``; mask
    pixels within ``margin`` px of a box of frame t or t+k are inside."""
    height, width = mask.shape
    inside = np.zeros(mask.shape, bool)
    grow = np.array([-margin, -margin, margin, margin], np.float64)
    for _, box in objects + later:
        where = box_slices(box + grow, width, height)
        if where is not None:
            inside[where] = True
    mask = mask.astype(bool)
    mask_px, outside_px = int(mask.sum()), int((mask & ~inside).sum())
    for name in {'all', *(label for label, _ in objects)}:
        tally = tallies[name]
        tally.pairs += 1
        tally.empty += mask_px == 0
        tally.mask_px += mask_px
        tally.outside_px += outside_px
    for label, box in objects:
        where = box_slices(box, width, height)
        for name in ('all', label):
            tallies[name].objects += 1
            tallies[name].covered += bool(where is not None and mask[where].any())


def run(args: argparse.Namespace) -> list[dict]:
    """Samples the pairs, runs MotionTargets on each; one row per class, then ``'all'``."""
    rng = np.random.default_rng(args.seed)
    load = TRANSFORMS.build(dict(type='LoadFramePair'))
    motion = TRANSFORMS.build(dict(type='MotionTargets', **(args.motion or {})))
    tallies: dict[str, Tally] = defaultdict(Tally)
    load_s, motion_s, num_pairs = 0.0, 0.0, 0
    for name in read_split(args.root, args.split, args.videos):
        path = find_video(args.root, args.split, name)
        label_path = osp.join(args.root, 'labels', f'{name}_LABELS.csv')
        probe = probe_video(path) if path else 'not found'
        if isinstance(probe, str) or not osp.isfile(label_path):
            reason = probe if isinstance(probe, str) else f'no label file {label_path}'
            print_log(f'skipped video {name}: {reason}', logger='current', level=logging.WARNING)
            continue
        num_frames = probe[0]
        labels = read_boxes(label_path)
        for _ in range(args.pairs_per_video):
            gap = int(rng.integers(args.frame_gap[0], min(args.frame_gap[1], num_frames - 1) + 1))
            starts = [t for t in labels if t + gap < num_frames]
            if not starts:
                break
            start = int(starts[rng.integers(len(starts))])
            results = dict(
                source='video',
                img_path=path,
                num_frames=num_frames,
                frame_index=start,
                frame_gap=gap,
            )
            tic = time.perf_counter()
            results = load(results)
            load_s += time.perf_counter() - tic
            objects, later = labels[start], labels.get(start + gap, [])
            if args.crop is not None:
                results, objects, later = crop_pair(results, objects, later, args.crop, rng)
            tic = time.perf_counter()
            results = motion(results)
            motion_s += time.perf_counter() - tic
            num_pairs += 1
            later = [(label, to_frame_t(box, results['camera_motion'])) for label, box in later]
            evaluate_pair(results['motion_mask'], objects, later, tallies, args.margin)
    if not num_pairs:
        raise ValueError(f'{args.root}: no labelled pair in split {args.split!r}')
    rows = [tallies[name].row(name) for name in sorted(tallies) if name != 'all']
    overall = tallies['all'].row('all')
    overall.update(
        load_ms=1000 * load_s / num_pairs,
        motion_ms=1000 * motion_s / num_pairs,
        frame_shape=list(results['img'].shape[:2]),
    )
    return rows + [overall]


def crop_pair(
    results: dict,
    objects: list[tuple[str, np.ndarray]],
    later: list[tuple[str, np.ndarray]],
    size: int,
    rng: np.random.Generator,
) -> tuple[dict, list, list]:
    """Cuts the same ``size`` square around one of frame t's objects from both frames."""
    height, width = results['img'].shape[:2]
    x0, y0 = crop_window([box for _, box in objects], size, width, height, rng)
    for key in ('img', 'img_next'):
        results[key] = np.ascontiguousarray(results[key][y0 : y0 + size, x0 : x0 + size])
    shift = np.array([x0, y0, x0, y0], np.float64)
    crop_h, crop_w = results['img'].shape[:2]

    def inside(items: list[tuple[str, np.ndarray]]) -> list[tuple[str, np.ndarray]]:
        moved = [(label, box - shift) for label, box in items]
        return [(label, box) for label, box in moved if box_slices(box, crop_w, crop_h)]

    results['img_shape'] = (crop_h, crop_w)
    return results, inside(objects), inside(later)


def print_table(rows: list[dict]) -> None:
    """Prints the rows of :func:`run`, one line per class, then the timing."""

    def cell(value: float | None) -> str:
        return '-' if value is None else f'{value:.3f}'

    print(f'{"class":<12}{"objects":>8}{"coverage":>10}{"pairs":>7}{"outside":>9}{"empty":>7}')
    for r in rows:
        print(
            f'{r["class"]:<12}{r["objects"]:>8}{cell(r["coverage"]):>10}{r["pairs"]:>7}'
            f'{cell(r["outside"]):>9}{cell(r["empty"]):>7}'
        )
    overall = rows[-1]
    height, width = overall['frame_shape']
    print(
        f'per pair ({width}x{height}): LoadFramePair {overall["load_ms"]:.1f} ms, '
        f'MotionTargets {overall["motion_ms"]:.1f} ms'
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print_rows(lambda: run(args), print_table, args.json, 'mmcofnet-motion-mask-quality')


if __name__ == '__main__':
    main()
