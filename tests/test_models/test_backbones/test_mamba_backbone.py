"""MambaBackbone: presets, strides, any input size, freezing, checkpointing, VMamba weights."""

import math
import re

import pytest
import torch
from mmdet.registry import MODELS

from mmcofnet.models.backbones import MambaBackbone, convert_vmamba_state_dict

STRIDES = (4, 8, 16, 32)


def check_outputs(outs, dims, h, w, out_indices=(0, 1, 2, 3), batch=1):
    assert isinstance(outs, tuple) and len(outs) == len(out_indices)
    for out, i in zip(outs, out_indices):
        expected = (batch, dims[i], math.ceil(h / STRIDES[i]), math.ceil(w / STRIDES[i]))
        assert out.shape == expected, (i, out.shape, expected)
        assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    'arch, dims, depths',
    [
        ('nano', (32, 64, 128, 256), (1, 1, 2, 1)),
        ('small', (64, 128, 256, 512), (2, 2, 4, 2)),
        ('base', (96, 192, 384, 768), (2, 2, 6, 2)),
        ('large', (128, 256, 512, 1024), (2, 2, 8, 2)),
    ],
)
def test_presets_channels_and_strides(arch, dims, depths):
    # Small d_state / ssm_ratio keep the large presets fast; the layout is what is checked.
    model = MambaBackbone(arch=arch, d_state=2, ssm_ratio=1.0, mlp_ratio=1.0).eval()
    assert model.dims == dims
    assert tuple(len(stage.blocks) for stage in model.stages) == depths
    with torch.no_grad():
        check_outputs(model(torch.randn(1, 3, 64, 64)), model.dims, 64, 64)


def test_nano_defaults_build_from_registry():
    model = MODELS.build(dict(type='MambaBackbone', arch='nano'))
    assert isinstance(model, MambaBackbone)
    assert model.dims == (32, 64, 128, 256) and model.depths == (1, 1, 2, 1)
    ssm = model.stages[0].blocks[0].mixer.ssm
    assert ssm.d_state == 16 and ssm.num_directions == 4
    model.eval()
    with torch.no_grad():
        check_outputs(model(torch.randn(2, 3, 64, 96)), model.dims, 64, 96, batch=2)


@pytest.mark.parametrize('block_type', ['vss', 'mamba'])
@pytest.mark.parametrize('h, w', [(65, 97), (33, 31), (1, 1)])
def test_any_input_size(block_type, h, w):
    model = MambaBackbone(block_type=block_type, d_state=4).eval()
    with torch.no_grad():
        check_outputs(model(torch.randn(1, 3, h, w)), model.dims, h, w)


def test_out_indices_and_explicit_dims_depths():
    model = MambaBackbone(dims=(8, 16, 24), depths=(1, 2, 1), out_indices=(1, -1), d_state=4)
    assert model.out_indices == (1, 2)
    assert not hasattr(model, 'norm0')
    with torch.no_grad():
        check_outputs(model.eval()(torch.randn(1, 3, 40, 40)), (8, 16, 24), 40, 40, (1, 2))


def test_invalid_arguments():
    with pytest.raises(KeyError, match='arch'):
        MambaBackbone(arch='huge')
    with pytest.raises(KeyError, match='block_type'):
        MambaBackbone(block_type='attention')
    with pytest.raises(ValueError, match='same length'):
        MambaBackbone(dims=(8, 16), depths=(1,))
    with pytest.raises(ValueError, match='conv_stages'):
        MambaBackbone(conv_stages=5)


def test_conv_stages_replace_the_first_stages_scans():
    """A hybrid backbone: separable convs in the first stages, scans after, same outputs' shapes."""
    model = MambaBackbone(conv_stages=2, d_state=4).eval()
    mixers = [type(block.mixer).__name__ for stage in model.stages for block in stage.blocks]
    assert mixers == ['SepConvMixer', 'SepConvMixer', 'SS2D', 'SS2D', 'SS2D']
    with torch.no_grad():
        check_outputs(model(torch.randn(1, 3, 50, 70)), model.dims, 50, 70)
    # The conv stages see only their neighbourhood: a pixel far from the change keeps its
    # stage-0 feature, which a global scan would have moved.
    x = torch.randn(1, 3, 64, 64)
    x2 = x.clone()
    x2[..., :4, :4] += 1.0
    with torch.no_grad():
        stem = model.patch_embed
        f, f2 = (model.stages[0](stem(t)) for t in (x, x2))
    assert torch.equal(f[0, -1, -1], f2[0, -1, -1])


def test_drop_path_rises_linearly():
    model = MambaBackbone(arch='small', drop_path_rate=0.3, d_state=2)
    rates = [
        getattr(block.drop_path, 'drop_prob', getattr(block.drop_path, 'p', 0.0))
        for stage in model.stages
        for block in stage.blocks
    ]
    torch.testing.assert_close(torch.tensor(rates), torch.linspace(0, 0.3, 10))


@pytest.mark.parametrize('block_type, conv_stages', [('vss', 0), ('mamba', 0), ('vss', 2)])
def test_backward_gives_finite_grads_everywhere(block_type, conv_stages):
    model = MambaBackbone(block_type=block_type, conv_stages=conv_stages, d_state=4).train()
    x = torch.randn(2, 3, 40, 36, requires_grad=True)
    sum(out.square().mean() for out in model(x)).backward()
    assert torch.isfinite(x.grad).all()
    for name, param in model.named_parameters():
        assert param.grad is not None, name
        assert torch.isfinite(param.grad).all(), name


def test_with_cp_gives_equal_outputs_and_grads():
    torch.manual_seed(0)
    cfg = dict(dims=(8, 16, 16, 16), depths=(1, 2, 1, 1), d_state=4, drop_path_rate=0.0)
    model = MambaBackbone(**cfg).train()
    model_cp = MambaBackbone(**cfg, with_cp=True).train()
    model_cp.load_state_dict(model.state_dict())
    assert all(block.with_cp for stage in model_cp.stages for block in stage.blocks)
    x = torch.randn(1, 3, 32, 40)
    results = []
    for m in (model, model_cp):
        outs = m(x.clone().requires_grad_())
        sum(out.sum() for out in outs).backward()
        results.append(([out.detach() for out in outs], [p.grad for p in m.parameters()]))
    for a, b in zip(results[0][0] + results[0][1], results[1][0] + results[1][1]):
        torch.testing.assert_close(a, b)


def test_frozen_stages():
    model = MambaBackbone(dims=(8, 16, 16, 16), frozen_stages=1, d_state=4)
    model.train()
    frozen = [model.patch_embed, model.stages[0], model.norm0]
    for module in frozen:
        assert not module.training
        assert all(not p.requires_grad for p in module.parameters())
    for module in [model.stages[1], model.norm1, model.stages[3]]:
        assert module.training
        assert all(p.requires_grad for p in module.parameters())
    outs = model(torch.randn(1, 3, 32, 32))
    sum(out.sum() for out in outs).backward()
    assert model.stages[0].blocks[0].mixer.in_proj.weight.grad is None
    assert model.stages[1].blocks[0].mixer.in_proj.weight.grad is not None


def vmamba_name(key: str) -> str:
    """Our key -> VMamba's (v2 stem, v3 downsampling), written out independently of the code."""
    stem = {'conv1': '0', 'norm1': '2', 'conv2': '5', 'norm2': '7'}
    if m := re.match(r'patch_embed\.(\w+)\.(.+)', key):
        return f'patch_embed.{stem[m[1]]}.{m[2]}'
    if m := re.match(r'stages\.(\d+)\.downsample\.(conv|norm)\.(.+)', key):
        return f'layers.{int(m[1]) - 1}.downsample.{1 if m[2] == "conv" else 3}.{m[3]}'
    if m := re.match(r'stages\.(\d+)\.blocks\.(\d+)\.(.+)', key):
        rest = m[3].replace('norm1.', 'norm.').replace('mixer.ssm.', 'op.')
        return f'layers.{m[1]}.blocks.{m[2]}.{rest.replace("mixer.", "op.")}'
    if m := re.match(r'norm(\d)\.(.+)', key):
        return f'outnorm{m[1]}.{m[2]}'
    raise AssertionError(f'unmapped key {key}')


def test_convert_vmamba_names():
    expected = {
        'patch_embed.0.weight': 'patch_embed.conv1.weight',
        'patch_embed.7.bias': 'patch_embed.norm2.bias',
        'layers.0.blocks.1.norm.weight': 'stages.0.blocks.1.norm1.weight',
        'layers.2.blocks.5.op.in_proj.weight': 'stages.2.blocks.5.mixer.in_proj.weight',
        'layers.2.blocks.5.op.A_logs': 'stages.2.blocks.5.mixer.ssm.A_logs',
        'layers.2.blocks.5.op.dt_projs_bias': 'stages.2.blocks.5.mixer.ssm.dt_projs_bias',
        'layers.1.blocks.0.norm2.weight': 'stages.1.blocks.0.norm2.weight',
        'layers.1.blocks.0.mlp.fc2.bias': 'stages.1.blocks.0.mlp.fc2.bias',
        'layers.0.downsample.1.weight': 'stages.1.downsample.conv.weight',
        'layers.2.downsample.3.bias': 'stages.3.downsample.norm.bias',
        'outnorm3.weight': 'norm3.weight',
        'some.unknown.key': 'some.unknown.key',
    }
    state_dict = {k: torch.zeros(1) for k in expected}
    state_dict['classifier.head.weight'] = torch.zeros(1)
    assert sorted(convert_vmamba_state_dict(state_dict)) == sorted(expected.values())


@pytest.mark.parametrize('prefix', ['', 'backbone.'])
def test_loads_vmamba_checkpoint_through_init_cfg(tmp_path, prefix):
    cfg = dict(d_state=2, ssm_ratio=1.0, with_gate=False, gated_mlp=False, out_indices=(1, 2, 3))
    source = MambaBackbone(**cfg)
    state_dict = {prefix + vmamba_name(k): v.clone() for k, v in source.state_dict().items()}
    state_dict[prefix + 'classifier.head.weight'] = torch.zeros(10, 256)
    checkpoint = tmp_path / 'vmamba.pth'
    torch.save({'model': state_dict}, checkpoint)

    init_cfg = dict(type='Pretrained', checkpoint=str(checkpoint))
    if prefix:
        init_cfg['prefix'] = prefix.rstrip('.')
    model = MambaBackbone(**cfg, init_cfg=init_cfg)
    model.init_weights()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, msg=key)

    # Plain load_state_dict converts too, strictly: every key finds its parameter.
    fresh = MambaBackbone(**cfg)
    del state_dict[prefix + 'classifier.head.weight']
    if not prefix:
        fresh.load_state_dict(state_dict, strict=True)
        torch.testing.assert_close(fresh.norm3.weight, source.norm3.weight)
