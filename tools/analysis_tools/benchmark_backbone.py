"""Time MambaBackbone's forward pass at several input sizes (and RTMDet-tiny's for comparison).

Examples::

    python tools/analysis_tools/benchmark_backbone.py                       # nano, 320 640 1280
    python tools/analysis_tools/benchmark_backbone.py --arch small --block-type mamba --json
    python tools/analysis_tools/benchmark_backbone.py --compare-rtmdet --json
    python tools/analysis_tools/benchmark_backbone.py --cfg-options d_state=8 ssm_ratio=1.0
    python tools/analysis_tools/benchmark_backbone.py --device cuda --compare-rtmdet --json

Every timing is a no-grad forward in eval mode on a batch of one square image, after warm-up
runs; the median over ``--repeat`` runs is reported. All runs take turns, so a busy spell of a
shared machine hits them alike; ``--threads 1 --timer cpu`` measures CPU time, which such spells
barely change. ``ratio_1280_640`` is 4.0 for a backbone
exactly linear in the number of pixels. ``--compare-rtmdet`` also times mmdet's RTMDet-tiny
backbone + neck (CSPNeXt + CSPNeXtPAFPN, built from mmdet's registry) at 640x640 in the same run.
"""

import argparse
import functools
import json
import os.path as osp
import statistics
import time
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from mmdet.registry import MODELS
from mmengine.config import Config, DictAction
from torch import nn

import mmcofnet  # noqa: F401  (registers MambaBackbone)
from mmcofnet.models.ops import selective_scan_backend
from mmcofnet.utils import keep_freed_memory, time_in_turns_ms

# RTMDet-tiny as this repository's baselines build it (mmdet's settings, BN instead of SyncBN).
RTMDET_TINY_CONFIG = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
    'configs',
    '_base_',
    'models',
    'rtmdet_tiny.py',
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark MambaBackbone forward time.')
    parser.add_argument('--arch', default='nano', help='MambaBackbone preset')
    parser.add_argument('--block-type', default='vss', choices=['vss', 'mamba'])
    parser.add_argument(
        '--sizes', type=int, nargs='+', default=[320, 640, 1280], help='square input sizes'
    )
    parser.add_argument('--warmup', type=int, default=2, help='untimed runs per size')
    parser.add_argument('--repeat', type=int, default=5, help='timed runs per size (median)')
    parser.add_argument('--threads', type=int, default=None, help='torch.set_num_threads')
    parser.add_argument('--device', default='cpu', help="'cpu' or 'cuda' (CUDA times synchronise)")
    parser.add_argument(
        '--timer',
        choices=['wall', 'cpu'],
        default='wall',
        help="'cpu': process CPU time instead of wall time; with --threads 1 it is what a run "
        'costs even while other jobs share the cores (wall time then is not)',
    )
    parser.add_argument(
        '--compare-rtmdet',
        action='store_true',
        help="also time mmdet's RTMDet-tiny backbone + neck at 640x640",
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        default={},
        help='extra MambaBackbone arguments, key=value (e.g. d_state=8 ssm_ratio=1.0)',
    )
    parser.add_argument('--json', action='store_true', help='print one JSON object')
    return parser.parse_args()


def time_forwards(
    runs: Sequence[Tuple[Callable[[torch.Tensor], object], int]],
    warmup: int,
    repeat: int,
    clock: Callable[[], float] = time.perf_counter,
    device: str = 'cpu',
) -> List[float]:
    """Median time (ms, by ``clock``) of each ``(forward, size)`` run on a 3 x size x size image.

    The runs take turns (:func:`time_in_turns_ms`), so the ratios between them stay meaningful on
    a shared machine.
    """
    inputs = [torch.randn(1, 3, size, size, device=device) for _, size in runs]
    calls = [functools.partial(forward, x) for (forward, _), x in zip(runs, inputs)]
    with torch.inference_mode():
        times = time_in_turns_ms(calls, repeat, warmup, device, clock)
    return [statistics.median(run_times) for run_times in times]


def build_rtmdet_tiny() -> nn.Module:
    """RTMDet-tiny backbone + neck (configs/_base_/models/rtmdet_tiny.py), no pretrained weights."""
    model_cfg = Config.fromfile(RTMDET_TINY_CONFIG).model
    return nn.Sequential(MODELS.build(model_cfg.backbone), MODELS.build(model_cfg.neck))


def run(args: argparse.Namespace) -> Dict[str, object]:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = (
        MODELS.build(
            dict(
                type='MambaBackbone', arch=args.arch, block_type=args.block_type, **args.cfg_options
            )
        )
        .to(args.device)
        .eval()
    )
    sizes = list(args.sizes)
    runs = [(model, size) for size in sizes]
    if args.compare_rtmdet:
        if 640 not in sizes:
            runs.append((model, 640))
        runs.append((build_rtmdet_tiny().to(args.device).eval(), 640))
    clock = time.process_time if args.timer == 'cpu' else time.perf_counter
    ms = time_forwards(runs, args.warmup, args.repeat, clock, args.device)
    by_size = dict(zip(sizes, ms))
    result: Dict[str, object] = dict(
        arch=args.arch,
        block_type=args.block_type,
        cfg_options=args.cfg_options,
        device=args.device,
        scan_backend=selective_scan_backend(args.device),
        threads=torch.get_num_threads(),
        timer=args.timer,
        sizes=sizes,
        ms=[round(by_size[s], 2) for s in sizes],
        params_m=round(sum(p.numel() for p in model.parameters()) / 1e6, 3),
    )
    ratio: Optional[float] = None
    if 640 in by_size and 1280 in by_size:
        ratio = round(by_size[1280] / by_size[640], 3)
    result['ratio_1280_640'] = ratio
    if args.compare_rtmdet:
        nano_640_ms, rtmdet_ms = by_size.get(640, ms[-2]), ms[-1]
        result['rtmdet_tiny_640_ms'] = round(rtmdet_ms, 2)
        result['ratio_nano_vs_rtmdet_640'] = round(nano_640_ms / rtmdet_ms, 3)
    return result


def print_table(result: Dict[str, object]) -> None:
    print(
        f'MambaBackbone arch={result["arch"]} block_type={result["block_type"]} '
        f'{result["cfg_options"] or ""} params={result["params_m"]}M '
        f'device={result["device"]} scan={result["scan_backend"]} '
        f'threads={result["threads"]} timer={result["timer"]}'
    )
    print(f'{"size":>6} {"ms":>10} {"ms / Mpx":>10}')
    for size, ms in zip(result['sizes'], result['ms']):
        print(f'{size:>6} {ms:>10.1f} {ms / (size * size / 1e6):>10.1f}')
    if result['ratio_1280_640'] is not None:
        print(f'ratio 1280/640: {result["ratio_1280_640"]} (4.0 = linear in pixels)')
    if 'rtmdet_tiny_640_ms' in result:
        print(
            f'RTMDet-tiny backbone+neck 640: {result["rtmdet_tiny_640_ms"]:.1f} ms; '
            f'{result["arch"]} / RTMDet-tiny at 640: {result["ratio_nano_vs_rtmdet_640"]}'
        )


def main() -> None:
    args = parse_args()
    # As tools/train.py and tools/test.py do (set MMCOFNET_ALLOCATOR_TUNING=0 to measure without).
    keep_freed_memory()
    # mmdet's CSPNeXt calls the deprecated torch.cuda.amp.autocast on every forward.
    warnings.filterwarnings('ignore', category=FutureWarning)
    result = run(args)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)


if __name__ == '__main__':
    main()
