"""FLOPs and parameters of detectors (mmengine's get_model_complexity_info on ``_forward``).

Examples::

    python tools/analysis_tools/get_flops.py configs/baselines/rtmdet_tiny_sky-synth.py
    python tools/analysis_tools/get_flops.py configs/ablations/rtmdet_mamba-nano_fpn_sky-synth.py \\
        configs/ablations/rtmdet_mamba-nano_csf_sky-synth.py --shape 640 640 --json

The analysed function is the detector's ``_forward`` (backbone, neck and head up to the raw head
outputs; no post-processing), traced on one image: the first image of the config's
``test_dataloader``, or a random one of ``--shape H W``, after the model's data preprocessor (so
padded to its ``pad_size_divisor``; ``input_shape`` reports what was analysed). mmengine counts
one multiply-add as one FLOP and counts convolutions, matrix products, normalisations and
similar; element-wise operators (activations, additions, the selective scan's recurrence) are not
counted and are listed in its warnings. The weights do not matter, so none are loaded.

``--json`` prints one JSON list on stdout (logging goes to stderr), one object per config with
``config``, ``input_shape``, ``flops``, ``flops_g``, ``params``, ``params_m``, ``activations_m``
and ``ratio`` (``flops_g`` and ``params_m`` divided by the first config's).
"""

from __future__ import annotations

import argparse
import os
import warnings

import torch
from _cli import print_rows
from mmengine.analysis import get_model_complexity_info
from mmengine.config import DictAction
from torch import nn

import mmcofnet  # noqa: F401  (registers the components)
from mmcofnet.apis import build_detector, load_config, load_test_batches, random_batch
from mmcofnet.utils import keep_freed_memory


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='FLOPs and parameters of detectors')
    parser.add_argument('configs', nargs='+', help='detector configs (the first is the reference)')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='a random image of this size instead of the first test image',
    )
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides applied to every config, key=value pairs',
    )
    parser.add_argument(
        '--show-table', action='store_true', help="also print mmengine's per-module table"
    )
    parser.add_argument('--json', action='store_true', help='print a JSON list on stdout')
    return parser.parse_args()


class TensorForward(nn.Module):
    """``forward(inputs) = detector._forward(inputs, data_samples)``: one tensor in.

    mmengine's analysers trace ``forward`` with tensor arguments; a detector's ``forward`` also
    wants a mode and data samples. The samples (meta information only: shapes, scale factors) are
    held here and passed along, for the detectors whose ``_forward`` reads them.

    Args:
        detector (nn.Module): An mmdet detector.
        data_samples (list, optional): The batch's data samples.
    """

    def __init__(self, detector: nn.Module, data_samples: list | None = None) -> None:
        super().__init__()
        self.detector = detector
        self.data_samples = data_samples

    def forward(self, inputs: torch.Tensor):
        return self.detector._forward(inputs, self.data_samples)


def complexity(config: str, args: argparse.Namespace) -> dict:
    cfg = load_config(config, args.cfg_options)
    model = build_detector(cfg)
    batch = random_batch(*args.shape) if args.shape else load_test_batches(cfg, 1)[0]
    with torch.no_grad():
        data = model.data_preprocessor(batch, False)
        info = get_model_complexity_info(
            TensorForward(model, data['data_samples']),
            inputs=(data['inputs'],),
            show_table=args.show_table,
            show_arch=False,
        )
    if args.show_table:
        print(info['out_table'])
    return dict(
        config=config,
        input_shape=list(data['inputs'].shape),
        flops=int(info['flops']),
        flops_g=round(info['flops'] / 1e9, 4),
        params=int(info['params']),
        params_m=round(info['params'] / 1e6, 4),
        activations_m=round(info['activations'] / 1e6, 4),
    )


def run(args: argparse.Namespace) -> list[dict]:
    rows = [complexity(config, args) for config in args.configs]
    for row in rows:
        row['ratio'] = {
            key: round(row[key] / rows[0][key], 3) if rows[0][key] else None
            for key in ('flops_g', 'params_m')
        }
    return rows


def print_table(rows: list[dict]) -> None:
    print(
        f'{"config":<44}{"input":>16}{"GFLOPs":>10}{"params(M)":>11}{"x FLOPs":>9}{"x params":>10}'
    )
    for row in rows:
        shape = 'x'.join(str(s) for s in row['input_shape'])
        print(
            f'{os.path.basename(row["config"]):<44}{shape:>16}{row["flops_g"]:>10.3f}'
            f'{row["params_m"]:>11.3f}{row["ratio"]["flops_g"]:>9.2f}'
            f'{row["ratio"]["params_m"]:>10.2f}'
        )
    print('FLOPs: one multiply-add = 1; element-wise operators are not counted.')


def main() -> None:
    args = parse_args()
    keep_freed_memory()  # as the other tools do
    warnings.filterwarnings('ignore', category=FutureWarning)  # mmdet's torch.cuda.amp.autocast
    print_rows(lambda: run(args), print_table, args.json, 'mmcofnet-get-flops')


if __name__ == '__main__':
    main()
