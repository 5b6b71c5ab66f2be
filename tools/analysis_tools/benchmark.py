"""Batch-1 inference latency, FPS, peak memory and parameters of detectors, side by side.

Examples::

    python tools/analysis_tools/benchmark.py configs/baselines/rtmdet_tiny_sky-synth.py \\
        --checkpoint work_dirs/rtmdet_tiny_sky-synth/iter_500.pth
    python tools/analysis_tools/benchmark.py configs/ablations/rtmdet_mamba-nano_fpn_sky-synth.py \\
        --compare configs/ablations/rtmdet_mamba-nano_csf_sky-synth.py --shape 640 640 --json
    python tools/analysis_tools/benchmark.py CONFIG --device cuda --num-images 200 --warmup 20

What is timed is ``model.test_step`` on a batch of one image, under ``torch.no_grad()``: the data
preprocessor (normalisation, padding, the copy to the device), the forward pass and the
post-processing (NMS); loading the images is not. The images are the first ``--num-images`` of
each config's ``test_dataloader`` (loaded before timing), or random images of ``--shape H W``.
Every config first runs ``--warmup`` untimed images. The configs then take turns image by image
(the first one alternating), so that a busy spell of a shared machine falls on all of them alike
and the ratios stay meaningful; ``latency_ms`` is the mean time of an image and ``fps`` its
inverse (images per second), ``latency_median_ms`` the median.

``peak_mem_mb`` is the memory one inference of the model needs: its weights plus the peak of what
one image adds, measured alone before the timing. On CUDA that is
``torch.cuda.max_memory_allocated`` above the memory allocated before (the CUDA context is not
counted); on the CPU it is the growth of the process's peak resident set (``VmHWM``, reset
through ``/proc/self/clear_refs``, after malloc has given its free memory back), None where
``/proc`` cannot do that. ``peak_rss_mb`` is the peak resident set of the whole process at the
end (Python, libraries, every model). Models without ``--checkpoint`` keep the weights training
starts from; the time of NMS depends on how many boxes pass ``score_thr``, so quote trained
checkpoints.

``--json`` prints one JSON list on stdout (all logging goes to stderr), one object per config in
the order given, with the keys ``config``, ``checkpoint``, ``device``, ``input``, ``num_images``,
``warmup``, ``threads``, ``fps``, ``latency_ms``, ``latency_median_ms``, ``peak_mem_mb``,
``peak_rss_mb``, ``params_m`` and ``ratio`` (``fps``, ``latency_ms``, ``peak_mem_mb`` and
``params_m`` divided by the first config's).
"""

from __future__ import annotations

import argparse
import functools
import os
import resource
import statistics
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from _cli import print_rows
from mmengine.config import DictAction
from mmengine.utils import ProgressBar
from torch import nn

import mmcofnet  # noqa: F401  (registers the components)
from mmcofnet.apis import build_detector, load_config, load_test_batches, random_batch
from mmcofnet.utils import keep_freed_memory, release_freed_memory, synchronize, time_call_ms

MB = 2**20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark detectors: latency, FPS, memory')
    parser.add_argument('config', help='detector config (the reference of the ratios)')
    parser.add_argument(
        '--compare',
        nargs='+',
        default=[],
        metavar='CONFIG',
        help='more configs, measured in the same run',
    )
    parser.add_argument(
        '--checkpoint',
        nargs='+',
        default=[],
        metavar='CKPT',
        help='checkpoints of the configs, in order (config, then --compare); '
        'configs without one keep their initial weights',
    )
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help="'cpu', 'cuda' or 'cuda:N' (default: cuda when available)",
    )
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='random images of this size instead of the test set',
    )
    parser.add_argument('--num-images', type=int, default=50, help='timed images per config')
    parser.add_argument('--warmup', type=int, default=5, help='untimed images per config first')
    parser.add_argument('--threads', type=int, help='torch.set_num_threads (CPU)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides applied to every config, key=value pairs',
    )
    parser.add_argument('--json', action='store_true', help='print a JSON list on stdout')
    args = parser.parse_args()
    if args.num_images < 1 or args.warmup < 0:
        parser.error('--num-images must be >= 1 and --warmup >= 0')
    if len(args.checkpoint) > 1 + len(args.compare):
        parser.error('more --checkpoint files than configs')
    return args


@dataclass
class Subject:
    """One config under test, its model, its images and its measurements."""

    config: str
    checkpoint: str | None
    model: nn.Module
    batches: list[dict]
    times_ms: list[float] = field(default_factory=list)
    peak_mem_mb: float | None = None


def _proc_status_kb(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(f'{key}:'):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_peak_rss() -> bool:
    """Resets the process's peak resident set (``VmHWM``) to the current one (Linux >= 4.0)."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def weights_mb(model: nn.Module) -> float:
    """Megabytes of the model's parameters and buffers."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors) / MB


def peak_memory_mb(model: nn.Module, batch: dict, device: str) -> float | None:
    """Weights plus the peak memory one inference adds, in MB (None where not measurable)."""
    if device.startswith('cuda'):
        synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        model.test_step(batch)
        synchronize(device)
        return weights_mb(model) + (torch.cuda.max_memory_allocated(device) - before) / MB
    release_freed_memory()  # else this pass would reuse what earlier passes left mapped
    if not _reset_peak_rss():
        return None
    before_kb = _proc_status_kb('VmRSS')
    model.test_step(batch)
    return weights_mb(model) + max(_proc_status_kb('VmHWM') - before_kb, 0) / 1024


def process_peak_rss_mb() -> float:
    """Peak resident set of this process so far, in MB (``ru_maxrss``: KB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == 'darwin' else peak / 1024


def build_subjects(args: argparse.Namespace) -> list[Subject]:
    configs = [args.config, *args.compare]
    checkpoints = list(args.checkpoint) + [None] * (len(configs) - len(args.checkpoint))
    subjects = []
    for config, checkpoint in zip(configs, checkpoints):
        cfg = load_config(config, args.cfg_options)
        model = build_detector(cfg, checkpoint, args.device)
        if args.shape is not None:
            generator = torch.Generator().manual_seed(0)  # the same images for every config
            batches = [
                random_batch(*args.shape, index=i, generator=generator)
                for i in range(args.num_images)
            ]
        else:
            batches = load_test_batches(cfg, args.num_images)
        subjects.append(Subject(config, checkpoint, model, batches))
    return subjects


def turns(subjects: list[Subject], rounds: int) -> Iterator[tuple[int, Subject]]:
    """``(round, subject)`` for every round, the first subject of a round rotating."""
    for round_index in range(rounds):
        shift = round_index % len(subjects)
        for subject in subjects[shift:] + subjects[:shift]:
            yield round_index, subject


def measure(subjects: list[Subject], args: argparse.Namespace) -> None:
    device = args.device
    with torch.no_grad():
        for subject in subjects:  # one untimed pass first: lazy initialisation is no peak
            subject.model.test_step(subject.batches[0])
            subject.peak_mem_mb = peak_memory_mb(subject.model, subject.batches[0], device)
        for round_index, subject in turns(subjects, args.warmup):
            subject.model.test_step(subject.batches[round_index % len(subject.batches)])
        progress = ProgressBar(args.num_images * len(subjects), file=sys.stderr)
        for round_index, subject in turns(subjects, args.num_images):
            step = functools.partial(subject.model.test_step, subject.batches[round_index])
            subject.times_ms.append(time_call_ms(step, device))
            progress.update()
        sys.stderr.write('\n')


def results(subjects: list[Subject], args: argparse.Namespace) -> list[dict]:
    rows = []
    peak_rss = round(process_peak_rss_mb(), 1)
    source = 'random {}x{}'.format(*args.shape) if args.shape else 'test_dataloader'
    for subject in subjects:
        mean_ms = statistics.fmean(subject.times_ms)
        rows.append(
            dict(
                config=subject.config,
                checkpoint=subject.checkpoint,
                device=args.device,
                input=source,
                num_images=args.num_images,
                warmup=args.warmup,
                threads=torch.get_num_threads(),
                fps=round(1000 / mean_ms, 3),
                latency_ms=round(mean_ms, 3),
                latency_median_ms=round(statistics.median(subject.times_ms), 3),
                peak_mem_mb=None if subject.peak_mem_mb is None else round(subject.peak_mem_mb, 1),
                peak_rss_mb=peak_rss,
                params_m=round(sum(p.numel() for p in subject.model.parameters()) / 1e6, 4),
            )
        )
    for row in rows:
        row['ratio'] = {
            key: _ratio(row[key], rows[0][key])
            for key in ('fps', 'latency_ms', 'peak_mem_mb', 'params_m')
        }
    return rows


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or not reference:
        return None
    return round(value / reference, 3)


def print_table(rows: list[dict]) -> None:
    first = rows[0]
    print(
        f'device={first["device"]} threads={first["threads"]} input={first["input"]} '
        f'images={first["num_images"]} warmup={first["warmup"]} '
        f'process peak RSS={first["peak_rss_mb"]} MB'
    )
    print(
        f'{"config":<44}{"params(M)":>10}{"latency(ms)":>12}{"FPS":>9}{"mem(MB)":>9}'
        f'{"x lat":>7}{"x FPS":>7}{"x mem":>7}'
    )

    def fmt(value: float | None, spec: str) -> str:
        return format(value, spec) if value is not None else format('-', spec[:-3] + 's')

    for row in rows:
        name = os.path.basename(row['config'])
        ratio = row['ratio']
        print(
            f'{name:<44}{row["params_m"]:>10.3f}{row["latency_ms"]:>12.2f}{row["fps"]:>9.2f}'
            f'{fmt(row["peak_mem_mb"], ">9.1f")}{fmt(ratio["latency_ms"], ">7.2f")}'
            f'{fmt(ratio["fps"], ">7.2f")}{fmt(ratio["peak_mem_mb"], ">7.2f")}'
        )


def run(args: argparse.Namespace) -> list[dict]:
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    subjects = build_subjects(args)
    measure(subjects, args)
    return results(subjects, args)


def main() -> None:
    args = parse_args()
    keep_freed_memory()  # as tools/train.py and tools/test.py do
    # mmdet's heads call the deprecated torch.cuda.amp.autocast on every forward.
    warnings.filterwarnings('ignore', category=FutureWarning)
    print_rows(lambda: run(args), print_table, args.json, 'mmcofnet-benchmark')


if __name__ == '__main__':
    main()
