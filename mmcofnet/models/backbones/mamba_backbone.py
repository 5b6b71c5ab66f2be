"""MambaBackbone: a VMamba-style hierarchical backbone of selective-scan blocks."""

import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch
from mmcv.cnn import build_activation_layer, build_norm_layer
from mmdet.registry import MODELS
from mmdet.utils import ConfigType, OptConfigType, OptMultiConfig
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmcofnet.models.layers import VSSBlock

# Channels and blocks per stage.
ARCH_SETTINGS: Dict[str, Dict[str, Tuple[int, ...]]] = {
    'nano': dict(dims=(32, 64, 128, 256), depths=(1, 1, 2, 1)),
    'small': dict(dims=(64, 128, 256, 512), depths=(2, 2, 4, 2)),
    'base': dict(dims=(96, 192, 384, 768), depths=(2, 2, 6, 2)),
    'large': dict(dims=(128, 256, 512, 1024), depths=(2, 2, 8, 2)),
}
BLOCK_TYPES = {'vss': 'ss2d', 'mamba': 'mamba'}


class ConvStem(nn.Module):
    """Stride-4 patch stem (VMamba v2): two 3x3 stride-2 convs, LayerNorm after each, GELU between.

    Overlapping 3x3 kernels keep fine detail that a 4x4 patchify would cut at patch borders, which
    matters for objects of a few pixels. With padding 1 each conv gives ``ceil(H / 2)``, so any
    input size works without padding.

    Args:
        in_channels (int): Image channels.
        embed_dim (int): Output channels.
        norm_cfg (dict): Norm config (channels-last).
        act_cfg (dict): Activation config.
    """

    def __init__(
        self, in_channels: int, embed_dim: int, norm_cfg: ConfigType, act_cfg: ConfigType
    ) -> None:
        super().__init__()
        mid = embed_dim // 2
        self.conv1 = nn.Conv2d(in_channels, mid, kernel_size=3, stride=2, padding=1)
        self.norm1 = build_norm_layer(norm_cfg, mid)[1]
        self.act = build_activation_layer(act_cfg)
        self.conv2 = nn.Conv2d(mid, embed_dim, kernel_size=3, stride=2, padding=1)
        self.norm2 = build_norm_layer(norm_cfg, embed_dim)[1]

    def forward(self, x: Tensor) -> Tensor:
        """``[B, C_in, H, W] -> [B, ceil(H / 4), ceil(W / 4), embed_dim]`` (channels-last)."""
        # A channels-last image makes the convs return channels-last maps, so the permutes to
        # NHWC for the LayerNorms are free (transposing the 3-channel image is the cheapest copy).
        x = self.conv1(x.contiguous(memory_format=torch.channels_last))
        x = self.act(self.norm1(x.permute(0, 2, 3, 1)))
        return self.norm2(self.conv2(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))


class ConvDownsample(nn.Module):
    """Stride-2 3x3 conv + LayerNorm between stages (VMamba's ``downsample_version='v3'``).

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        norm_cfg (dict): Norm config (channels-last).
    """

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: ConfigType) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]

    def forward(self, x: Tensor) -> Tensor:
        """``[B, H, W, C_in] -> [B, ceil(H / 2), ceil(W / 2), C_out]`` (channels-last)."""
        return self.norm(self.conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))


class MambaStage(nn.Module):
    """One resolution of the backbone: optional downsampling, then a stack of blocks.

    Args:
        downsample (nn.Module, optional): Applied first; None for the first stage.
        blocks (Sequence[nn.Module]): Blocks on channels-last maps.
    """

    def __init__(self, downsample: Optional[nn.Module], blocks: Sequence[nn.Module]) -> None:
        super().__init__()
        self.downsample = downsample if downsample is not None else nn.Identity()
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, H, W, C_in] -> [B, H', W', C]`` (channels-last)."""
        return self.blocks(self.downsample(x))


@MODELS.register_module()
class MambaBackbone(BaseModule):
    """Hierarchical selective-scan (Mamba) backbone for dense prediction, after VMamba.

    A stride-4 conv stem, then four stages of residual selective-scan blocks with a stride-2 conv
    between stages. Token mixing is global and linear in the number of pixels. Blocks run on
    channels-last maps; outputs are NCHW at strides 4, 8, 16 and 32, each after its own
    LayerNorm (``norm{i}``), as mmdet's Swin does.

    Any input size works: every stride-2 conv is 3x3 with padding 1, so stage ``i`` is exactly
    ``ceil(H / stride) x ceil(W / stride)`` without padding the image (padding would also feed
    blank tokens into the global scans).

    Checkpoints of this class load as usual. Checkpoints with VMamba's key names (``patch_embed.0``,
    ``layers.{i}.blocks.{j}.op``, ``layers.{i}.downsample``, ``outnorm{i}``; e.g. VMamba v2/v3
    classification or detection weights) are renamed on load by :func:`convert_vmamba_state_dict`,
    so ``init_cfg=dict(type='Pretrained', checkpoint=...)`` accepts both (use ``prefix='backbone.'``
    for a whole detector's checkpoint). The architecture options must match the checkpoint's (for
    VMamba v2 ``vssm1_*`` weights: ``d_state=1, ssm_ratio=1.0, with_gate=False, gated_mlp=False``).

    Args:
        arch (str): Preset of ``dims`` and ``depths``: ``'nano'``, ``'small'``, ``'base'`` or
            ``'large'``. Default: ``'nano'``.
        dims (Sequence[int], optional): Channels per stage; overrides the preset.
        depths (Sequence[int], optional): Blocks per stage; overrides the preset.
        in_channels (int): Image channels. Default: 3.
        block_type (str): ``'vss'`` (VMamba's 4-direction 2D scan) or ``'mamba'`` (Vim's
            bidirectional 1D scan of the row-major flattened map). Default: ``'vss'``.
        d_state (int): SSM state size ``N``. Default: 16.
        ssm_ratio (float): Scan channels (per direction) as a multiple of the stage channels.
            Default: 1.0 (VMamba v2's choice; 2.0, VMamba v1's, doubles the scan work).
        dt_rank (int | str): Rank of the step-size projection; ``'auto'`` = ``ceil(C / 16)``.
        d_conv (int, optional): Kernel of the mixers' depthwise conv (None: 3x3 for ``'vss'``, 4 for
            the causal conv1d of ``'mamba'``).
        with_gate (bool): Gate the mixer output with ``silu(z)``; False is VMamba v2's cheaper
            ``noz`` variant. Default: True.
        mlp_ratio (float): MLP hidden channels as a multiple of the stage channels; 0 removes the
            MLP. Default: 2.0 (gated, that costs about what a plain MLP of ratio 3 does).
        gated_mlp (bool): Gated MLP (VMamba's ``gMlp``) instead of a plain two-layer MLP.
            Default: True.
        conv_stages (int): The first ``conv_stages`` stages mix tokens with a separable conv
            (:class:`SepConvMixer`, MetaFormer's ConvFormer block) instead of selective scans: a
            hybrid backbone (as MambaVision), where the scans cost most on the largest maps.
            Default: 0 (scans in every stage).
        drop_path_rate (float): Stochastic depth rate of the last block; it rises linearly from
            0 over the blocks. Default: 0.1.
        out_indices (Sequence[int]): Stages whose outputs are returned. Default: (0, 1, 2, 3).
        frozen_stages (int): Stem and first ``frozen_stages`` stages are frozen (no gradients,
            eval mode); -1 freezes nothing, 0 only the stem. Default: -1.
        norm_eval (bool): Keep BatchNorm layers in eval mode while training (the backbone has none
            by default; kept for mmdet config compatibility). Default: False.
        with_cp (bool): Gradient checkpointing of every block (less memory, slower backward).
            Default: False.
        norm_cfg (dict, optional): Norm config, applied channels-last. Default:
            ``dict(type='LN')``.
        act_cfg (dict, optional): Activation of the stem and MLPs. Default: ``dict(type='GELU')``.
        init_cfg (dict | list[dict], optional): Initialization config; without one, linear layers
            get VMamba's truncated-normal init (std 0.02).
    """

    def __init__(
        self,
        arch: str = 'nano',
        dims: Optional[Sequence[int]] = None,
        depths: Optional[Sequence[int]] = None,
        in_channels: int = 3,
        block_type: str = 'vss',
        d_state: int = 16,
        ssm_ratio: float = 1.0,
        dt_rank: Union[int, str] = 'auto',
        d_conv: Optional[int] = None,
        with_gate: bool = True,
        mlp_ratio: float = 2.0,
        gated_mlp: bool = True,
        conv_stages: int = 0,
        drop_path_rate: float = 0.1,
        out_indices: Sequence[int] = (0, 1, 2, 3),
        frozen_stages: int = -1,
        norm_eval: bool = False,
        with_cp: bool = False,
        norm_cfg: OptConfigType = None,
        act_cfg: OptConfigType = None,
        init_cfg: OptMultiConfig = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        norm_cfg = norm_cfg or dict(type='LN')
        act_cfg = act_cfg or dict(type='GELU')
        if arch not in ARCH_SETTINGS:
            raise KeyError(f'arch must be one of {sorted(ARCH_SETTINGS)}, got {arch!r}')
        if block_type not in BLOCK_TYPES:
            raise KeyError(f'block_type must be one of {sorted(BLOCK_TYPES)}, got {block_type!r}')
        dims = tuple(dims if dims is not None else ARCH_SETTINGS[arch]['dims'])
        depths = tuple(depths if depths is not None else ARCH_SETTINGS[arch]['depths'])
        if len(dims) != len(depths):
            raise ValueError(f'dims {dims} and depths {depths} must have the same length')
        num_stages = len(dims)
        if not 0 <= conv_stages <= num_stages:
            raise ValueError(f'conv_stages must be in [0, {num_stages}], got {conv_stages}')
        out_indices = tuple(i % num_stages for i in out_indices)
        if not all(0 <= i < num_stages for i in out_indices):
            raise ValueError(f'out_indices {out_indices} out of range for {num_stages} stages')
        self.dims = dims
        self.depths = depths
        self.out_indices = out_indices
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval

        self.patch_embed = ConvStem(in_channels, dims[0], norm_cfg, act_cfg)
        drop_path_rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.stages = nn.ModuleList()
        for i, (dim, depth) in enumerate(zip(dims, depths)):
            downsample = ConvDownsample(dims[i - 1], dim, norm_cfg) if i > 0 else None
            first = sum(depths[:i])
            blocks = [
                VSSBlock(
                    dim,
                    mixer_type='conv' if i < conv_stages else BLOCK_TYPES[block_type],
                    d_state=d_state,
                    ssm_ratio=ssm_ratio,
                    dt_rank=dt_rank,
                    d_conv=d_conv,
                    with_gate=with_gate,
                    mlp_ratio=mlp_ratio,
                    gated_mlp=gated_mlp,
                    drop_path=drop_path_rates[first + j],
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg,
                    with_cp=with_cp,
                )
                for j in range(depth)
            ]
            self.stages.append(MambaStage(downsample, blocks))
        for i in out_indices:
            self.add_module(f'norm{i}', build_norm_layer(norm_cfg, dims[i])[1])

        self.apply(self._init_linear_and_norm)
        self._freeze_stages()

    @staticmethod
    def _init_linear_and_norm(m: nn.Module) -> None:
        # VMamba's init. The SSM parameters are plain tensors with their own init, untouched here.
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """Extract multi-scale features.

        Args:
            x (Tensor): Images, ``[B, in_channels, H, W]``, any ``H`` and ``W``.

        Returns:
            tuple[Tensor]: For each stage ``i`` in ``out_indices``, a map of shape
            ``[B, dims[i], ceil(H / 2**(i + 2)), ceil(W / 2**(i + 2))]``.
        """
        x = self.patch_embed(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x)
                outs.append(out.permute(0, 3, 1, 2).contiguous())
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen: List[nn.Module] = [self.patch_embed]
        for i in range(min(self.frozen_stages, len(self.stages))):
            frozen.append(self.stages[i])
            if i in self.out_indices:
                frozen.append(getattr(self, f'norm{i}'))
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True) -> 'MambaBackbone':
        """Set train mode, keeping frozen stages (and BatchNorm with ``norm_eval``) in eval."""
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def init_weights(self) -> None:
        """Initialize weights; a ``Pretrained`` init_cfg may hold mmdet or VMamba checkpoints.

        mmengine's ``PretrainedInit`` reads ``checkpoint['state_dict']`` or the whole checkpoint,
        but VMamba's checkpoints keep their weights under ``'model'``; so a ``Pretrained`` config
        (with optional ``prefix``, e.g. ``'backbone'`` for a whole detector) is handled here.
        """
        init_cfg = self.init_cfg
        if not (isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'):
            super().init_weights()
            return
        checkpoint = CheckpointLoader.load_checkpoint(
            init_cfg['checkpoint'],
            map_location=init_cfg.get('map_location', 'cpu'),
            logger='current',
        )
        state_dict = checkpoint.get('state_dict', checkpoint.get('model', checkpoint))
        state_dict = {re.sub(r'^module\.', '', k): v for k, v in state_dict.items()}
        if init_cfg.get('prefix'):
            prefix = init_cfg['prefix'].rstrip('.') + '.'
            state_dict = {
                k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)
            }
            if not state_dict:
                raise KeyError(f'no key starts with {prefix!r} in {init_cfg["checkpoint"]}')
        print_log(f'load MambaBackbone weights from {init_cfg["checkpoint"]}', logger='current')
        load_state_dict(self, state_dict, strict=False, logger='current')
        self._is_init = True

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        # Rename VMamba-style keys in place before the usual matching, so that every loading path
        # (init_cfg Pretrained, load_from, load_state_dict) accepts VMamba checkpoints.
        own_keys = [k for k in state_dict if k.startswith(prefix)]
        if is_vmamba_state_dict(k[len(prefix) :] for k in own_keys):
            vmamba = {k[len(prefix) :]: state_dict.pop(k) for k in own_keys}
            for key, value in convert_vmamba_state_dict(vmamba).items():
                state_dict[prefix + key] = value
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


# VMamba name -> MambaBackbone name, applied in order (first match wins). ``{next}`` is the stage
# after the matched one: VMamba downsamples at the end of a stage, we at the start of the next.
_VMAMBA_KEY_RULES = [
    (r'^patch_embed\.0\.', 'patch_embed.conv1.'),
    (r'^patch_embed\.2\.', 'patch_embed.norm1.'),
    (r'^patch_embed\.5\.', 'patch_embed.conv2.'),
    (r'^patch_embed\.7\.', 'patch_embed.norm2.'),
    (r'^layers\.(\d+)\.downsample\.1\.', 'stages.{next}.downsample.conv.'),
    (r'^layers\.(\d+)\.downsample\.3\.', 'stages.{next}.downsample.norm.'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.norm\.', r'stages.\1.blocks.\2.norm1.'),
    (
        r'^layers\.(\d+)\.blocks\.(\d+)\.op\.(x_proj_weight|dt_projs_weight|dt_projs_bias|A_logs|Ds)$',
        r'stages.\1.blocks.\2.mixer.ssm.\3',
    ),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.op\.', r'stages.\1.blocks.\2.mixer.'),
    (r'^layers\.(\d+)\.blocks\.(\d+)\.', r'stages.\1.blocks.\2.'),
    (r'^outnorm(\d+)\.', r'norm\1.'),
]
# The image classifier of VMamba's ImageNet checkpoints has no counterpart in a backbone.
_VMAMBA_DROPPED = re.compile(r'^classifier\.')
_VMAMBA_MARKERS = re.compile(r'^(layers\.\d+\.|patch_embed\.\d+\.|outnorm\d+\.)')


def is_vmamba_state_dict(keys: Iterable[str]) -> bool:
    """Whether any key uses VMamba's naming (``layers.*``, ``patch_embed.{idx}.*``,
    ``outnorm{i}.*``) rather than :class:`MambaBackbone`'s."""
    return any(_VMAMBA_MARKERS.match(k) for k in keys)


def convert_vmamba_state_dict(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Rename a VMamba (v2/v3 code base) backbone state dict to :class:`MambaBackbone` names.

    Covers the v2 patch stem, v3 conv downsampling, SS2D (``op``) with its stacked per-direction
    parameters, ``norm``/``norm2``/``mlp`` of each block and the detection backbone's
    ``outnorm{i}``; the classifier is dropped. Keys without a rule pass through unchanged, so
    :func:`mmengine.runner.load_state_dict` reports them as unexpected instead of hiding them.

    Args:
        state_dict (dict[str, Tensor]): VMamba weights, without a ``backbone.``/``module.`` prefix.

    Returns:
        dict[str, Tensor]: The same tensors under the new names.
    """
    converted = {}
    for key, value in state_dict.items():
        if _VMAMBA_DROPPED.match(key):
            continue
        new_key = key
        for pattern, repl in _VMAMBA_KEY_RULES:
            match = re.match(pattern, key)
            if match is None:
                continue
            if '{next}' in repl:
                repl = repl.format(next=int(match.group(1)) + 1)
            new_key = re.sub(pattern, repl, key)
            break
        converted[new_key] = value
    return converted
