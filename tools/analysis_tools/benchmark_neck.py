"""FLOPs, parameters and CPU/GPU latency of the necks of several configs, side by side.

Example (the CSF-vs-FPN cost comparison at 640x640)::

    python tools/analysis_tools/benchmark_neck.py \
        configs/ablations/rtmdet_mamba-nano_fpn_sky-synth.py \
        configs/ablations/rtmdet_mamba-nano_csf_sky-synth.py --size 640 --json

Each config's backbone runs once on a random image to produce the neck's real inputs; then the
neck alone is analysed (mmengine's FLOP counter) and timed (no-grad forward, eval mode, median over
``--repeat`` runs after warm-up). Ratios are relative to the first config.
"""

import argparse
import json
import statistics

import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules
from mmengine.analysis import get_model_complexity_info

from mmcofnet.apis import load_config
from mmcofnet.utils import keep_freed_memory, time_in_turns_ms


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark the necks of detector configs')
    parser.add_argument('configs', nargs='+', help='detector configs (the first is the reference)')
    parser.add_argument('--size', type=int, default=640, help='square input size')
    parser.add_argument('--repeat', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--json', action='store_true', help='print one JSON object')
    return parser.parse_args()


def benchmark_neck(config: str, size: int, repeat: int, warmup: int, device: str) -> dict:
    cfg = load_config(config)
    model = MODELS.build(cfg.model).to(device).eval()
    with torch.no_grad():
        feats = model.backbone(torch.randn(1, 3, size, size, device=device))
        neck = model.neck
        latency = statistics.median(
            time_in_turns_ms([lambda: neck(feats)], repeat, warmup, device)[0]
        )
        flops = get_model_complexity_info(neck, inputs=(feats,), show_table=False, show_arch=False)[
            'flops'
        ]
    return dict(
        config=config,
        neck=type(neck).__name__,
        flops_g=flops / 1e9,
        params_m=sum(p.numel() for p in neck.parameters()) / 1e6,
        latency_ms=latency,
    )


def main() -> None:
    args = parse_args()
    keep_freed_memory()  # as tools/train.py and tools/test.py do
    register_all_modules()
    torch.manual_seed(0)
    rows = [
        benchmark_neck(c, args.size, args.repeat, args.warmup, args.device) for c in args.configs
    ]
    for row in rows:
        row['flops_ratio'] = row['flops_g'] / rows[0]['flops_g']
        row['latency_ratio'] = row['latency_ms'] / rows[0]['latency_ms']
    if args.json:
        print(json.dumps(dict(size=args.size, device=args.device, necks=rows)))
        return
    print(f'necks at {args.size}x{args.size} on {args.device}')
    print(f'{"neck":<22}{"GFLOPs":>9}{"params(M)":>11}{"ms":>9}{"xFLOPs":>8}{"xms":>7}')
    for row in rows:
        print(
            f'{row["neck"]:<22}{row["flops_g"]:>9.3f}{row["params_m"]:>11.3f}'
            f'{row["latency_ms"]:>9.2f}{row["flops_ratio"]:>8.2f}{row["latency_ratio"]:>7.2f}'
        )


if __name__ == '__main__':
    main()
