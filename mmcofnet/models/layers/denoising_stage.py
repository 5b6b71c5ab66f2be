"""One refinement stage of the diffusion box head's denoiser."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _mlp_branch(embed_dims: int, num_layers: int) -> nn.Sequential:
    layers = []
    for _ in range(num_layers):
        layers += [
            nn.Linear(embed_dims, embed_dims, bias=False),
            nn.LayerNorm(embed_dims),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class BoxRoIAttention(nn.Module):
    """Multi-head cross-attention from each box's query to the features sampled in its RoI.

    The same function as ``nn.MultiheadAttention(embed_dims, num_heads, kdim=feat_channels,
    vdim=feat_channels)`` with one query per box, computed without materialising keys and values:
    a query's score with token x is ``(W_k^T q) . x`` (the key bias is the same for every token and
    cancels in the softmax) and the value average is ``W_v (sum_i a_i x_i) + b_v``. Per box this
    costs O(heads x tokens x C) instead of projecting every token, O(tokens x C x D).

    Args:
        embed_dims (int): Width D of the queries.
        feat_channels (int): Channels C of the RoI tokens.
        num_heads (int): Attention heads (D must divide by it).
    """

    def __init__(self, embed_dims: int, feat_channels: int, num_heads: int) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(
                f'BoxRoIAttention: embed_dims={embed_dims} is not a multiple of '
                f'num_heads={num_heads}'
            )
        self.num_heads = num_heads
        self.q_proj = nn.Linear(embed_dims, embed_dims)
        self.k_proj = nn.Linear(feat_channels, embed_dims)
        # The key bias cancels in the softmax and forward never reads it; frozen so that no
        # parameter goes without a gradient (DistributedDataParallel requires it), kept so that
        # checkpoints keep their keys.
        self.k_proj.bias.requires_grad_(False)
        self.v_proj = nn.Linear(feat_channels, embed_dims)
        self.out_proj = nn.Linear(embed_dims, embed_dims)

    def forward(self, query: Tensor, tokens: Tensor) -> Tensor:
        """``query [M, D]`` attends to ``tokens [M, T, C]`` (M boxes) -> ``[M, D]``."""
        m, d = query.shape
        h, c = self.num_heads, tokens.shape[-1]
        q = self.q_proj(query).view(m, h, d // h) * (d // h) ** -0.5
        q_in_feats = torch.einsum('mhe,hec->mhc', q, self.k_proj.weight.view(h, d // h, c))
        attn = torch.bmm(q_in_feats, tokens.transpose(1, 2)).softmax(dim=-1)  # [M, H, T]
        pooled = torch.bmm(attn, tokens)  # [M, H, C]
        values = torch.einsum('mhc,hec->mhe', pooled, self.v_proj.weight.view(h, d // h, c))
        return self.out_proj(values.reshape(m, d) + self.v_proj.bias)


class DenoisingStage(nn.Module):
    """Boxes attend to each other and to their own RoI features, then predict classes and boxes.

    Self-attention among the boxes of an image, cross-attention from each box to the
    ``roi_size x roi_size`` features sampled at it, an FFN, FiLM conditioning on the diffusion
    step (as DiffusionDet's ``block_time_mlp``), and two MLP branches.

    Cross-attention has no dropout: :class:`BoxRoIAttention` never forms the per-token values.

    Args:
        feat_channels (int): Channels of the sampled RoI features.
        embed_dims (int): Width of the box queries.
        num_heads (int): Attention heads.
        ffn_dims (int): Hidden width of the FFN.
        roi_size (int): Side of the RoI feature grid.
        num_classes (int): Classes predicted (sigmoid logits, no background column).
        time_dims (int): Width of the step embedding; 0 for a stage without step conditioning.
        num_cls_fcs, num_reg_fcs (int): Hidden layers of the class and box branches.
        dropout (float): Dropout in the attention and FFN.
    """

    def __init__(
        self,
        feat_channels: int,
        embed_dims: int,
        num_heads: int,
        ffn_dims: int,
        roi_size: int,
        num_classes: int,
        time_dims: int = 0,
        num_cls_fcs: int = 1,
        num_reg_fcs: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.roi_pos = nn.Parameter(torch.randn(roi_size * roi_size, feat_channels) * 0.02)
        self.self_attn = nn.MultiheadAttention(embed_dims, num_heads, dropout, batch_first=True)
        self.cross_attn = BoxRoIAttention(embed_dims, feat_channels, num_heads)
        self.ffn = nn.Sequential(
            nn.Linear(embed_dims, ffn_dims),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(ffn_dims, embed_dims),
        )
        self.norms = nn.ModuleList(nn.LayerNorm(embed_dims) for _ in range(3))
        self.time_mlp = (
            nn.Sequential(nn.SiLU(), nn.Linear(time_dims, 2 * embed_dims)) if time_dims else None
        )
        self.cls_branch = _mlp_branch(embed_dims, num_cls_fcs)
        self.reg_branch = _mlp_branch(embed_dims, num_reg_fcs)
        self.cls_out = nn.Linear(embed_dims, num_classes)
        self.reg_out = nn.Linear(embed_dims, 4)

    def forward(
        self, query: Tensor, roi_feats: Tensor, time_emb: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Refines the box queries.

        Args:
            query (Tensor): ``[B, N, D]`` box queries.
            roi_feats (Tensor): ``[B, N, C, R, R]`` features sampled at the boxes.
            time_emb (Tensor, optional): ``[B, time_dims]`` step embedding (stages with
                ``time_dims > 0``).

        Returns:
            tuple: the updated queries ``[B, N, D]``, class logits ``[B, N, num_classes]`` and
            the raw box output ``[B, N, 4]`` (deltas or noise, as the head interprets it).
        """
        b, n, d = query.shape
        tokens = roi_feats.flatten(3).transpose(2, 3) + self.roi_pos  # [B, N, R*R, C]
        query = self.norms[0](query + self.self_attn(query, query, query, need_weights=False)[0])
        attended = self.cross_attn(query.reshape(b * n, d), tokens.flatten(0, 1))
        query = self.norms[1](query + attended.view(b, n, d))
        query = self.norms[2](query + self.ffn(query))
        hidden = query
        if self.time_mlp is not None:
            scale, shift = self.time_mlp(time_emb).chunk(2, dim=-1)
            hidden = hidden * (scale[:, None] + 1) + shift[:, None]
        return (query, self.cls_out(self.cls_branch(hidden)), self.reg_out(self.reg_branch(hidden)))
