"""The denoiser's layers: BoxRoIAttention equals torch's multi-head attention; DenoisingStage
treats the boxes as a set and conditions its branches on the diffusion step."""

import pytest
import torch
from torch import nn

from mmcofnet.models.layers import BoxRoIAttention, DenoisingStage


def test_box_roi_attention_equals_multihead_attention():
    torch.manual_seed(0)
    d, c, heads = 32, 12, 4
    fast = BoxRoIAttention(d, c, heads)
    for p in fast.parameters():  # non-zero biases: the key bias must really cancel
        nn.init.normal_(p, std=0.3)
    ref = nn.MultiheadAttention(d, heads, kdim=c, vdim=c, batch_first=True)
    with torch.no_grad():
        ref.q_proj_weight.copy_(fast.q_proj.weight)
        ref.k_proj_weight.copy_(fast.k_proj.weight)
        ref.v_proj_weight.copy_(fast.v_proj.weight)
        ref.in_proj_bias.copy_(torch.cat([fast.q_proj.bias, fast.k_proj.bias, fast.v_proj.bias]))
        ref.out_proj.weight.copy_(fast.out_proj.weight)
        ref.out_proj.bias.copy_(fast.out_proj.bias)
    query, tokens = torch.randn(7, d), torch.randn(7, 9, c)
    expected = ref(query[:, None], tokens, tokens, need_weights=False)[0][:, 0]
    torch.testing.assert_close(fast(query, tokens), expected, atol=1e-5, rtol=1e-5)


def test_box_roi_attention_gradients_match_in_float64():
    torch.manual_seed(1)
    attn = BoxRoIAttention(8, 5, 2).double()
    query = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    tokens = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(attn, (query, tokens))


def test_box_roi_attention_refuses_indivisible_heads():
    with pytest.raises(ValueError, match='num_heads=3'):
        BoxRoIAttention(32, 8, 3)


def make_stage(time_dims: int) -> DenoisingStage:
    torch.manual_seed(0)
    return DenoisingStage(
        feat_channels=12,
        embed_dims=32,
        num_heads=4,
        ffn_dims=64,
        roi_size=3,
        num_classes=5,
        time_dims=time_dims,
    ).eval()


@pytest.mark.parametrize('time_dims', [0, 64])
def test_permuting_the_boxes_permutes_the_outputs(time_dims):
    # Boxes are a set: no positional encoding, so box i's outputs follow it wherever it sits.
    stage = make_stage(time_dims)
    query, roi = torch.randn(2, 6, 32), torch.randn(2, 6, 12, 3, 3)
    time_emb = torch.randn(2, time_dims) if time_dims else None
    perm = torch.tensor([3, 0, 5, 1, 4, 2])
    with torch.no_grad():
        outputs = stage(query, roi, time_emb)
        permuted = stage(query[:, perm], roi[:, perm], time_emb)
    assert [o.shape for o in outputs] == [(2, 6, 32), (2, 6, 5), (2, 6, 4)]
    for out, out_permuted in zip(outputs, permuted):
        torch.testing.assert_close(out_permuted, out[:, perm], atol=1e-5, rtol=1e-5)


def test_the_step_embedding_conditions_logits_and_boxes_only():
    stage = make_stage(64)
    query, roi = torch.randn(2, 6, 32), torch.randn(2, 6, 12, 3, 3)
    with torch.no_grad():
        query_a, logits_a, boxes_a = stage(query, roi, torch.randn(2, 64))
        query_b, logits_b, boxes_b = stage(query, roi, torch.randn(2, 64))
    # FiLM acts on the branches' input; the query passed on to the next stage is not modulated.
    torch.testing.assert_close(query_a, query_b)
    assert (logits_a - logits_b).abs().min() > 0
    assert (boxes_a - boxes_b).abs().min() > 0


def test_a_stage_without_step_conditioning_ignores_the_step_embedding():
    stage = make_stage(0)
    assert stage.time_mlp is None
    query, roi = torch.randn(2, 6, 32), torch.randn(2, 6, 12, 3, 3)
    with torch.no_grad():
        without = stage(query, roi)
        with_emb = stage(query, roi, torch.randn(2, 64))
    for a, b in zip(without, with_emb):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
