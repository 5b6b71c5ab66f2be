"""Loss and mAP curves of one or more training runs, one PNG.

Examples::

    python tools/analysis_tools/plot_curves.py work_dirs/rtmdet_tiny_sky-synth
    python tools/analysis_tools/plot_curves.py work_dirs/rtmdet_mamba-nano_fpn_sky-synth \\
        work_dirs/rtmdet_mamba-nano_csf_sky-synth --keys loss loss_bbox coco/bbox_mAP_50 \\
        --out fpn_vs_csf.png

Each argument is a work dir, one of its ``<timestamp>`` dirs, or a JSON-lines log. In a dir the
logs are mmengine's ``<timestamp>/vis_data/scalars.json`` (else the other ``*.json`` files of
``vis_data``, else ``*.json`` in the dir itself); the runs of a work dir (a resumed training)
are read in timestamp order. Every key gets a subplot with one line per work dir, against the
training iteration: a validation line (it has no ``iter``) is placed at the iteration of the
training line before it, because mmengine logs validation metrics at the epoch (step 0 in an
iteration-based run) unless ``default_hooks.logger.log_metric_by_epoch=False``.
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os.path as osp
import sys

from matplotlib.figure import Figure  # the object API: PNG through Agg, no display, no pyplot


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Plot loss and mAP curves of training runs')
    parser.add_argument(
        'runs', nargs='+', metavar='WORK_DIR', help='work dirs, timestamp dirs or JSON-lines logs'
    )
    parser.add_argument(
        '--keys',
        nargs='+',
        default=['loss', 'coco/bbox_mAP'],
        help='logged scalars to plot, one subplot each',
    )
    parser.add_argument('--labels', nargs='+', help='legend names of the runs (default: dir names)')
    parser.add_argument('--out', default='curves.png', help='output PNG file')
    parser.add_argument('--title', help='figure title')
    args = parser.parse_args()
    if args.labels is not None and len(args.labels) != len(args.runs):
        parser.error('--labels needs one name per run')
    return args


def log_files(run: str) -> list[str]:
    """The JSON-lines logs of a run, oldest first.

    Args:
        run (str): A work dir, a timestamp dir, a ``vis_data`` dir or a ``.json`` file.

    Returns:
        list[str]: The files.

    Raises:
        FileNotFoundError: If ``run`` does not exist or holds no log.
    """
    if osp.isfile(run):
        return [run]
    if not osp.isdir(run):
        raise FileNotFoundError(f'no such work dir or log: {run}')
    for pattern in ('scalars.json', '*/scalars.json', '*/*/scalars.json'):
        found = sorted(glob.glob(osp.join(run, pattern)))
        if found:
            return found
    for pattern in ('vis_data/*.json', '*/vis_data/*.json', '*.json'):
        found = [
            f for f in sorted(glob.glob(osp.join(run, pattern))) if osp.basename(f) != 'config.json'
        ]
        if found:
            return found
    raise FileNotFoundError(f'no scalars.json or *.json log under {run}')


def read_scalars(files: list[str]) -> dict[str, tuple[list[float], list[float]]]:
    """``key -> (iterations, values)`` of every numeric scalar in the logs.

    A line with ``iter`` is a training line; others (validation) are placed at the last training
    iteration before them, or at their ``step`` if none came before. A later value at the same
    iteration (a resumed run repeating it) replaces the earlier one.

    Args:
        files (list[str]): JSON-lines logs, oldest first.

    Returns:
        dict[str, tuple[list[float], list[float]]]: The curves, sorted by iteration.
    """
    points: dict[str, dict[float, float]] = {}
    last_iter = None
    for path in files:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                record = json.loads(line)
                if 'iter' in record:
                    last_iter = record['iter']
                x = last_iter if last_iter is not None else record.get('step', 0)
                for key, value in record.items():
                    if key in ('iter', 'step', 'epoch') or isinstance(value, bool):
                        continue
                    if isinstance(value, (int, float)):
                        points.setdefault(key, {})[x] = value
    return {key: (sorted(xs), [xs[x] for x in sorted(xs)]) for key, xs in points.items()}


def plot(
    curves: dict[str, dict[str, tuple[list[float], list[float]]]],
    keys: list[str],
    out: str,
    title: str | None = None,
) -> None:
    """Writes a PNG with one subplot per key and one line per run.

    Args:
        curves (dict): ``run label -> key -> (iterations, values)``.
        keys (list[str]): The keys to plot, in order.
        out (str): Output PNG file.
        title (str, optional): Figure title.
    """
    cols = min(len(keys), 2)
    rows = math.ceil(len(keys) / cols)
    fig = Figure(figsize=(6 * cols, 4 * rows), layout='tight')
    axes = fig.subplots(rows, cols, sharex=True, squeeze=False).ravel()
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    for ax, key in zip(axes, keys):
        for label, scalars in curves.items():
            if key in scalars:
                xs, ys = scalars[key]
                ax.plot(xs, ys, marker='o' if len(xs) < 20 else None, markersize=3, label=label)
        ax.set(xlabel='iteration', title=key)
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize='small')
    if title:
        fig.suptitle(title)
    fig.savefig(out, dpi=100)


def main() -> None:
    args = parse_args()
    labels = args.labels or [osp.basename(osp.normpath(run)) for run in args.runs]
    curves = {label: read_scalars(log_files(run)) for label, run in zip(labels, args.runs)}
    for key in args.keys:
        missing = [label for label, scalars in curves.items() if key not in scalars]
        if len(missing) == len(curves):
            known = sorted({k for scalars in curves.values() for k in scalars})
            sys.exit(f'no run logged {key!r}; logged keys: {known}')
        if missing:
            print(f'warning: {key!r} is not in the logs of {missing}', file=sys.stderr)
    plot(curves, args.keys, args.out, args.title)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
