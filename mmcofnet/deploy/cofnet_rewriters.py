"""COFNet as one ONNX graph: image -> ``dets [B, K, 5]`` (x1, y1, x2, y2, score), ``labels [B, K]``.

What changes while mmdeploy exports (nothing changes outside an export):

- The selective scan runs its plain-tensor chunked backend (``selective_scan`` picks it while
  tracing: no custom op).
- The DDIM loop unrolls for the config's ``test_cfg.sampling_steps``; its noise (one stream per
  image, seeded with ``test_cfg.seed``) becomes constants of the graph, the very values PyTorch
  draws, so that the exported model and PyTorch agree.
- The objectness map is read at the box centres by bilinear interpolation from plain ops
  (``F.grid_sample`` would export as mmdeploy's custom op, which plain ONNX Runtime lacks).
- The boxes' self-attention runs the composite ``nn.MultiheadAttention`` (its fused fast path
  has no ONNX export).
- Post-processing is mmdeploy's ``multiclass_nms`` (ONNX ``NonMaxSuppression``) with the model's
  own ``test_cfg``: ``score_thr``, ``nms.iou_threshold`` and ``max_per_img``.
"""

from __future__ import annotations

import torch
from mmdeploy.core import FUNCTION_REWRITER
from mmdeploy.mmcv.ops import multiclass_nms
from torch import Tensor

from mmcofnet.utils import size_tensor


@FUNCTION_REWRITER.register_rewriter(
    'mmcofnet.models.task_modules.ddim_sampler.DDIMBoxSampler.noise_stream'
)
def ddim_box_sampler__noise_stream(self, seed: int, batch_size: int, num_boxes: int, device):
    """The sampler's noise as graph constants (the same values as PyTorch's generator).

    Every image's stream is seeded alike, so one ``[N, 4]`` constant per draw serves the whole
    batch, whatever its size.
    """
    generator = torch.Generator('cpu').manual_seed(seed)

    def normal() -> Tensor:
        noise = torch.randn(num_boxes, 4, generator=generator).numpy()
        # from_numpy: a constant of the traced graph, not a random op.
        return torch.from_numpy(noise).to(device).expand(batch_size, num_boxes, 4)

    return normal


@FUNCTION_REWRITER.register_rewriter(
    'mmcofnet.models.layers.objectness_map.ObjectnessMap.strongest'
)
def objectness_map__strongest(self, values: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """ONNX TopK: ties to the lower index, as PyTorch's stable sort (which has no export)."""
    return values.topk(k, dim=1)


@FUNCTION_REWRITER.register_rewriter(
    'mmcofnet.models.layers.objectness_map.ObjectnessMap.scores_at'
)
def objectness_map__scores_at(self, logits: Tensor, boxes: Tensor) -> Tensor:
    """The class heatmaps at the box centres, ``[B, N, K]``, bilinear from plain tensor ops.

    ``F.grid_sample`` (``align_corners=False``, zeros outside) exports as mmdeploy's custom
    ``grid_sampler``, which plain ONNX Runtime cannot load; this is the same interpolation.
    """
    heat = logits[:, : self.num_classes].sigmoid()
    b, k, h, w = heat.shape
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2 / self.stride - 0.5  # map cells, [B, N, 2]
    low = centre.floor()
    frac = centre - low
    low = low.long()
    flat = heat.flatten(2)  # [B, K, H * W]
    out = 0
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        x, y = low[..., 0] + dx, low[..., 1] + dy  # [B, N]
        weight = (frac[..., 0] if dx else 1 - frac[..., 0]) * (
            frac[..., 1] if dy else 1 - frac[..., 1]
        )
        inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        index = (y.clamp(0, h - 1) * w + x.clamp(0, w - 1))[:, None].expand(-1, k, -1)
        out = out + flat.gather(2, index) * (weight * inside)[:, None]
    return out.transpose(1, 2)


@FUNCTION_REWRITER.register_rewriter(
    'mmcofnet.models.dense_heads.diffusion_box_head.DiffusionBoxHead.decode_x0'
)
def diffusion_box_head__decode_x0(self, boxes: Tensor, deltas: Tensor) -> Tensor:
    """The boxes decoded batched, ``[B, N, 4]``: mmdeploy's rewrite of the coder expects that."""
    return self.bbox_coder.decode(boxes, deltas)


@FUNCTION_REWRITER.register_rewriter('mmcofnet.models.detectors.cofnet.COFNet.forward')
def cofnet__forward(self, batch_inputs: Tensor, data_samples=None, mode: str = 'tensor', **kwargs):
    """Detections of a batch of images at the input's full size: ``dets``, ``labels``.

    Args:
        batch_inputs (Tensor): ``[B, 3, H, W]`` normalised images.

    Returns:
        tuple[Tensor, Tensor]: ``dets [B, K, 5]`` and ``labels [B, K]``.
    """
    head, cfg = self.bbox_head, self.bbox_head.test_cfg
    b = batch_inputs.shape[0]
    h, w = batch_inputs.shape[2:]
    img_wh = size_tensor([w, h]).to(batch_inputs)  # the input's size, symbolic in the trace
    img_wh = img_wh.view(1, 1, 2).expand(b, 1, 2)
    feats = self._field(batch_inputs)
    objectness = head._objectness(feats)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # its fused kernel has no ONNX export
    try:
        steps = head.sample(feats.sample, img_wh, objectness)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    if not cfg.ensemble:
        steps = steps[-1:]
    # As predict_by_feat: per step the top max_per_img (box, class) pairs, inside the frame and
    # of positive size, then class-wise NMS over the steps. Each pair's score sits in its class's
    # column (the others 0), so that multiclass_nms sees exactly the pairs PyTorch keeps.
    frame = img_wh.repeat(1, 1, 2)
    all_boxes, all_scores = [], []
    for logits, boxes in steps:
        scores = head._scores(logits, boxes, objectness)  # [B, N, K]
        num_classes = scores.shape[-1]
        top, index = scores.flatten(1).topk(min(int(cfg.max_per_img), scores[0].numel()), dim=1)
        boxes = boxes.gather(1, (index // num_classes)[..., None].expand(-1, -1, 4))
        boxes = torch.min(boxes.clamp(min=0), frame)
        valid = (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1])
        one_hot = torch.zeros_like(top[..., None].expand(-1, -1, num_classes))
        scores = one_hot.scatter(2, (index % num_classes)[..., None], (top * valid)[..., None])
        all_boxes.append(boxes)
        all_scores.append(scores)
    return multiclass_nms(
        torch.cat(all_boxes, dim=1),
        torch.cat(all_scores, dim=1),
        max_output_boxes_per_class=int(cfg.max_per_img),
        iou_threshold=float(cfg.nms.iou_threshold),
        score_threshold=float(cfg.score_thr),
        pre_top_k=-1,
        keep_top_k=int(cfg.max_per_img),
    )


@FUNCTION_REWRITER.register_rewriter('mmcofnet.models.necks.continuous_scale_field.weighted_rows')
def continuous_scale_field__weighted_rows(index: Tensor, table: Tensor, weights: Tensor) -> Tensor:
    """A Gather and a batched MatMul: ``F.embedding_bag`` exports as an ONNX Loop over every bag.

    ``[M, 1, T] @ [M, T, C]`` reads the gathered rows once; a Mul and a ReduceSum over them take
    1.5 times as long in ONNX Runtime.
    """
    return torch.matmul(weights[:, None, :], table[index]).squeeze(1)
