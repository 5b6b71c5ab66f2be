"""Detectors compared at equal training time over seeds, with learning curves (real-data protocol).

Examples::

    # halmstad-sky, 20 CPU minutes per run, three seeds per config, four validations per run
    python tools/analysis_tools/equal_time_study.py configs/baselines/rtmdet_tiny_halmstad.py \\
        configs/cofnet/cofnet_nano_halmstad.py --minutes 20 --seeds 0 1 2 \\
        --work-dir work_dirs/study_20min
    # the trend check: 55 minutes, one seed
    python tools/analysis_tools/equal_time_study.py CONFIG [CONFIG ...] --minutes 55 --seeds 0 \\
        --work-dir work_dirs/study_55min

The tool first measures every config's seconds per training iteration on this machine, one
after the other (a short calibration run, ``--calibration-iters``; kept in
``WORK_DIR/calibration.json``; ``--calibrate-against`` adds a config to an existing study by timing
it beside one already there; ``--calibrate-from`` takes a config's time from its finished runs in
another study instead, for a model whose steps the short run mis-times), sets the iterations that
fill ``--minutes`` of training, stretches the config's schedule to them (every ``param_scheduler``
entry that ended at the old ``max_iters`` ends at the new one), and trains once per seed
(``randomness.seed``) with ``--val-points`` validations spread over the run. Runs go one after
the other, seed by seed across the configs (two trainings on the same cores distort each other's
time), and the report is rewritten after each. A finished run leaves ``result.json`` and is not
run again, an interrupted one resumes from its last checkpoint, so the study can be stopped and
restarted and grows as seeds or configs are added.

It writes ``WORK_DIR/study.md`` (mean and standard deviation over the seeds of the final
validation: mAP, mAP_50, mAP_s and per-class AP, and the learning curve of mAP_50),
``WORK_DIR/study.json`` (every run's curve) and ``WORK_DIR/curves.png``.
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import math
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

from mmengine.config import Config, DictAction

from mmcofnet.apis import load_config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TRAIN = osp.join(REPO_ROOT, 'tools', 'train.py')
MAIN_KEYS = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_s')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train configs at equal time over seeds')
    parser.add_argument('configs', nargs='+', help='detector configs to compare')
    parser.add_argument(
        '--minutes',
        type=float,
        default=20.0,
        help='training time per run on this machine (validation not counted)',
    )
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2], help='seeds per config')
    parser.add_argument(
        '--val-points',
        type=int,
        default=4,
        help='validations per run, evenly spaced (the last at the end)',
    )
    parser.add_argument(
        '--calibration-iters',
        type=int,
        default=100,
        help='iterations of the timing run (the first 40%% are warm-up)',
    )
    parser.add_argument(
        '--calibrate-against',
        metavar='CONFIG',
        help='time configs new to WORK_DIR beside this one and scale its stored time by the ratio '
        '(to add a config to an existing study)',
    )
    parser.add_argument(
        '--calibrate-from',
        metavar='STUDY_DIR',
        help="time configs new to WORK_DIR from their finished runs in STUDY_DIR (the runs' "
        'measured training seconds over their iterations) rather than from a short run',
    )
    parser.add_argument('--work-dir', default='work_dirs/equal_time_study')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides applied to every config (e.g. data paths)',
    )
    parser.add_argument(
        '--dry-run', action='store_true', help='calibrate and print the planned runs, train nothing'
    )
    parser.add_argument(
        '--report-only',
        action='store_true',
        help='write the table from the runs that have finished, train nothing',
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.val_points < 1 or args.calibration_iters < 6:
        parser.error('--minutes must be > 0, --val-points >= 1 and --calibration-iters >= 6')
    if args.calibrate_from and args.calibrate_against:
        parser.error(
            '--calibrate-from and --calibrate-against are two ways to time a config: give one'
        )
    if args.calibrate_from and not osp.isdir(args.calibrate_from):
        parser.error(f'--calibrate-from: no such study directory: {args.calibrate_from}')
    for config in args.configs + ([args.calibrate_against] if args.calibrate_against else []):
        if not osp.isfile(config):
            parser.error(f'config file not found: {config}')
    names = [config_name(config) for config in args.configs]
    if len(set(names)) < len(names):
        parser.error(f'configs must have distinct file names (each names its runs): {names}')
    return args


def config_name(config: str) -> str:
    return osp.splitext(osp.basename(config))[0]


def stretch_schedule(cfg: Config, max_iters: int) -> None:
    """Sets ``max_iters`` and moves the schedule's end with it.

    Every iteration-based ``param_scheduler`` entry that ended at the config's ``max_iters`` (or
    had no end) ends at the new one, and a ``T_max`` follows its ``end``; entries that end earlier
    (a warm-up) are kept as they are.

    Args:
        cfg: A training config with an ``IterBasedTrainLoop``.
        max_iters: The new number of iterations.

    Raises:
        ValueError: If the config's loop is not iteration-based.
    """
    if 'max_iters' not in cfg.train_cfg:
        raise ValueError(
            f'{cfg.filename}: train_cfg has no max_iters (the study needs an IterBasedTrainLoop)'
        )
    old = cfg.train_cfg.max_iters
    cfg.train_cfg.max_iters = max_iters
    schedulers = cfg.get('param_scheduler') or []
    for entry in schedulers if isinstance(schedulers, list) else [schedulers]:
        if entry.get('by_epoch', True) or entry.get('end', old) not in (old, None):
            continue
        entry['end'] = max_iters
        if 'T_max' in entry:
            entry['T_max'] = max_iters - entry.get('begin', 0)


def run_config(
    cfg: Config, work_dir: str, max_iters: int, val_interval: int, seed: int, log_interval: int
) -> Config:
    """A copy of ``cfg`` set up for one run of the study."""
    cfg = copy.deepcopy(cfg)
    stretch_schedule(cfg, max_iters)
    cfg.train_cfg.val_interval = val_interval
    cfg.randomness = dict(seed=seed)
    cfg.work_dir = work_dir
    cfg.default_hooks.logger.interval = log_interval
    cfg.default_hooks.logger.log_metric_by_epoch = False  # validation metrics at their iteration
    cfg.default_hooks.checkpoint.interval = val_interval
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1  # one per validation, for diagnosis
    cfg.log_processor.window_size = log_interval
    return cfg


def train(cfg: Config, work_dir: str) -> None:
    """Runs ``tools/train.py`` on ``cfg`` in a subprocess (resuming an interrupted run)."""
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, 'study_config.py')
    cfg.dump(path)
    command = [sys.executable, TRAIN, path, '--work-dir', work_dir]
    if glob.glob(osp.join(work_dir, 'iter_*.pth')):
        command.append('--resume')
    print('+ ' + ' '.join(command), flush=True)
    with open(osp.join(work_dir, 'train.log'), 'a') as log:
        subprocess.run(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, check=True)


def read_logs(work_dir: str) -> tuple[list[dict], list[dict]]:
    """Training and validation records of every ``scalars.json`` under ``work_dir``, in order."""
    train_rows, val_rows = [], []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    (train_rows if 'iter' in record else val_rows).append(record)
    return train_rows, val_rows


def seconds_per_iter(train_rows: list[dict], skip: int) -> float:
    """Median of the logged iteration times after the first ``skip`` iterations."""
    times = [row['time'] for row in train_rows if row['iter'] > skip and 'time' in row]
    if not times:
        raise RuntimeError('no iteration times after the warm-up in the training log')
    return statistics.median(times)


def time_config(cfg: Config, run_dir: str, iters: int) -> float:
    """Seconds per training iteration of ``cfg`` here, from a short run in ``run_dir``."""
    cal = copy.deepcopy(cfg)
    cal.param_scheduler = []  # the learning rate does not change the time of a step
    cal = run_config(cal, run_dir, iters, iters, seed=0, log_interval=max(1, iters // 6))
    cal.val_cfg = cal.val_dataloader = cal.val_evaluator = None
    cal.default_hooks.checkpoint.save_last = False
    train(cal, run_dir)
    train_rows, _ = read_logs(run_dir)
    return seconds_per_iter(train_rows, skip=iters * 2 // 5)


def measured_seconds_per_iter(study_dir: str, name: str) -> float | None:
    """Training seconds per iteration of config ``name`` over its finished runs in a study.

    Total measured training time (validation not counted) over total iterations of every
    ``STUDY_DIR/NAME/seed*/result.json``; None when the config has no finished run there. Runs
    that shared the machine count their longer time: take them from a study run alone.
    """
    results = [
        json.load(open(path))
        for path in sorted(glob.glob(osp.join(study_dir, name, 'seed*', 'result.json')))
    ]
    if not results:
        return None
    return sum(r['train_minutes'] * 60 for r in results) / sum(r['iters'] for r in results)


def calibrate(
    config: str,
    cfg: Config,
    work_dir: str,
    iters: int,
    reference: tuple[str, Config] | None = None,
    from_runs: str | None = None,
) -> float:
    """Seconds per training iteration of ``cfg`` on this machine (cached per config name).

    With ``reference`` (its config file and config), a config new to the study is timed now,
    right after the reference, and its entry is the reference's stored time scaled by their ratio
    now. A config added to a finished study so gets the iterations it would have had in the
    original calibration, though the machine's speed has drifted since (by 10-20% over hours
    here). A reference not yet in the cache is stored with its time now.

    With ``from_runs`` (a study directory), a config new to the study takes the time its
    finished runs there measured over whole schedules. The short run times a few dozen
    iterations at the start; the hybrid backbone's whole runs took 13-16% longer per step than its
    short run said, and it was given that many iterations too many. A config without finished
    runs there is timed as usual.
    """
    cache = osp.join(work_dir, 'calibration.json')
    measured = json.load(open(cache)) if osp.isfile(cache) else {}
    name = config_name(config)
    if name not in measured:
        run_dir = osp.join(work_dir, 'calibration', name)
        ref_name = config_name(reference[0]) if reference else name
        from_runs_sec = measured_seconds_per_iter(from_runs, name) if from_runs else None
        if from_runs_sec is not None:
            measured[name] = from_runs_sec
            print(f'{name}: timed from its finished runs in {from_runs}', flush=True)
        elif ref_name == name:
            if from_runs:
                print(f'{name}: no finished run in {from_runs}; timing it', flush=True)
            measured[name] = time_config(cfg, run_dir, iters)
        else:
            ref_dir = osp.join(work_dir, 'calibration', f'{ref_name}_beside_{name}')
            ref_now = time_config(reference[1], ref_dir, iters)
            measured.setdefault(ref_name, ref_now)
            now = time_config(cfg, run_dir, iters)
            measured[name] = measured[ref_name] * now / ref_now
            print(
                f"{name}: {now:.3f} s per iteration beside {ref_name}'s {ref_now:.3f} now "
                f'({now / ref_now:.3f}x), {measured[ref_name]:.3f} stored for {ref_name}',
                flush=True,
            )
        with open(cache, 'w') as f:
            json.dump(measured, f, indent=1)
    print(f'{name}: {measured[name]:.3f} s per iteration', flush=True)
    return measured[name]


def metrics_of(record: dict) -> dict[str, float]:
    """``coco/...`` values of a validation record, without the prefix."""
    return {
        key.split('/', 1)[1]: value
        for key, value in record.items()
        if key.startswith('coco/') and isinstance(value, (int, float))
    }


def summarise_run(work_dir: str, max_iters: int) -> dict:
    """The run's measured training time and its validation curve."""
    train_rows, val_rows = read_logs(work_dir)
    interval = train_rows[1]['iter'] - train_rows[0]['iter'] if len(train_rows) > 1 else 1
    curve = [dict(iter=row['step'], **metrics_of(row)) for row in val_rows]
    return dict(
        iters=max_iters,
        train_minutes=sum(row['time'] for row in train_rows) * interval / 60,
        final_loss=train_rows[-1].get('loss') if train_rows else None,
        curve=curve,
    )


def mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def class_keys(runs: list[dict]) -> list[str]:
    """Per-class AP keys of CocoMetric(classwise=True) in the runs' final validations."""
    return sorted(
        {
            key
            for run in runs
            if run['curve']
            for key in run['curve'][-1]
            if key.endswith('_precision')
        }
    )


def report(study: dict[str, dict], minutes: float) -> str:
    """The markdown table of the study (one row per config) and the mean learning curves."""
    lines = [
        f'Equal training time: {minutes:g} min per run on this machine; mean +- standard '
        'deviation over the seeds of the last validation.',
        '',
    ]
    per_class = sorted(
        {key for entry in study.values() if entry['runs'] for key in class_keys(entry['runs'])}
    )
    header = ['config', 's/iter', 'iters', 'train min', 'seeds', 'mAP', 'mAP_50', 'mAP_s'] + [
        key.removesuffix('_precision') for key in per_class
    ]
    lines += ['| ' + ' | '.join(header) + ' |', '|' + ' --- |' * len(header)]
    for name, entry in study.items():
        runs = entry['runs']
        if not runs:
            continue
        cells = [
            name,
            f'{entry["sec_per_iter"]:.2f}',
            str(runs[0]['iters']),
            f'{statistics.fmean(r["train_minutes"] for r in runs):.1f}',
            str(len(runs)),
        ]
        for key in MAIN_KEYS + tuple(per_class):
            values = [r['curve'][-1].get(key) for r in runs if r['curve']]
            values = [v for v in values if v is not None and v >= 0]
            mean, std = mean_std(values) if values else (math.nan, math.nan)
            cells.append(f'{mean:.3f} +- {std:.3f}' if len(values) > 1 else f'{mean:.3f}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', 'Learning curves (mAP_50, mean over the seeds, at each validation):', '']
    for name, entry in study.items():
        if entry['runs']:
            points = zip(
                *[
                    [(p['iter'], p.get('bbox_mAP_50', math.nan)) for p in r['curve']]
                    for r in entry['runs']
                ]
            )
            curve = ', '.join(
                f'{pts[0][0]}: {statistics.fmean(v for _, v in pts):.3f}' for pts in points
            )
            lines.append(f'- {name}: {curve}')
    return '\n'.join(lines) + '\n'


def plot(study: dict[str, dict], out: str) -> None:
    """mAP_50 against the fraction of the training time, mean and spread over the seeds."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), layout='tight')
    ax = fig.subplots()
    for name, entry in study.items():
        curves = [r['curve'] for r in entry['runs'] if r['curve']]
        if not curves:
            continue
        length = min(len(c) for c in curves)
        xs = [curves[0][i]['iter'] / entry['runs'][0]['iters'] for i in range(length)]
        values = [[c[i].get('bbox_mAP_50', math.nan) for c in curves] for i in range(length)]
        means = [statistics.fmean(v) for v in values]
        spread = [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values]
        ax.plot(xs, means, marker='o', label=f'{name} ({len(curves)} seeds)')
        ax.fill_between(
            xs,
            [m - s for m, s in zip(means, spread)],
            [m + s for m, s in zip(means, spread)],
            alpha=0.2,
        )
    ax.set(xlabel='fraction of the training time', ylabel='val bbox mAP_50')
    ax.grid(alpha=0.3)
    ax.legend(fontsize='small')
    fig.savefig(out, dpi=100)


def write_report(study: dict[str, dict], minutes: float, work_dir: str) -> str:
    """Write ``study.md``, ``study.json`` and ``curves.png`` from the finished runs."""
    table = report(study, minutes)
    for path, text in (('study.md', table), ('study.json', json.dumps(study, indent=1))):
        with open(osp.join(work_dir, path), 'w') as f:
            f.write(text)
    plot(study, osp.join(work_dir, 'curves.png'))
    return table


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    cfgs = {config_name(config): load_config(config, args.cfg_options) for config in args.configs}
    reference = None
    if args.calibrate_against:
        reference = (args.calibrate_against, load_config(args.calibrate_against, args.cfg_options))
    study = {}
    # Every arm is timed first, back to back, so that all see the machine in the same state.
    for config, (name, cfg) in zip(args.configs, cfgs.items()):
        if args.report_only:
            cache = osp.join(args.work_dir, 'calibration.json')
            sec = json.load(open(cache)).get(name, math.nan) if osp.isfile(cache) else math.nan
        else:
            sec = calibrate(
                config, cfg, args.work_dir, args.calibration_iters, reference, args.calibrate_from
            )
        val_interval = max(1, round(args.minutes * 60 / sec / args.val_points))
        study[name] = dict(
            config=config,
            sec_per_iter=sec,
            val_interval=val_interval,
            iters=val_interval * args.val_points,
            runs=[],
        )
    # Seed-major: an interrupted study still has as many runs of every arm (give or take one).
    for seed in args.seeds:
        for name, entry in study.items():
            run_dir = osp.join(args.work_dir, name, f'seed{seed}')
            result = osp.join(run_dir, 'result.json')
            if not osp.isfile(result) and not (args.dry_run or args.report_only):
                start = time.perf_counter()
                train(
                    run_config(
                        cfgs[name],
                        run_dir,
                        entry['iters'],
                        entry['val_interval'],
                        seed,
                        log_interval=min(20, entry['val_interval']),
                    ),
                    run_dir,
                )
                summary = dict(
                    summarise_run(run_dir, entry['iters']),
                    seed=seed,
                    wall_minutes=(time.perf_counter() - start) / 60,
                )
                with open(result, 'w') as f:
                    json.dump(summary, f, indent=1)
                entry['runs'].append(summary)
                write_report(study, args.minutes, args.work_dir)
            elif osp.isfile(result):
                entry['runs'].append(json.load(open(result)))
            else:
                print(
                    f'{name} seed {seed}: {entry["iters"]} iterations, validation every '
                    f'{entry["val_interval"]} (not run)',
                    flush=True,
                )
    if any(entry['runs'] for entry in study.values()):
        print(write_report(study, args.minutes, args.work_dir))


if __name__ == '__main__':
    main()
