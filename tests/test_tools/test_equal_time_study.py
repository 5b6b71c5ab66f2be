"""tools/analysis_tools/equal_time_study.py: the real-data protocol (equal time, seeds, curves)."""

import json
import os
import os.path as osp

import pytest
from conftest import load_tool
from mmengine.config import Config

COFNET = 'configs/cofnet/cofnet_nano_halmstad.py'
COFNET_NAME = 'cofnet_nano_halmstad'


@pytest.fixture(scope='module')
def study(repo_root):
    return load_tool(repo_root, 'tools/analysis_tools/equal_time_study.py')


def test_stretch_schedule_moves_the_cosine_and_keeps_the_warmup(study, repo_root):
    cfg = Config.fromfile(osp.join(repo_root, COFNET))
    assert cfg.train_cfg.max_iters == 500
    study.stretch_schedule(cfg, 1052)
    warmup, cosine = cfg.param_scheduler
    assert cfg.train_cfg.max_iters == 1052
    assert (warmup.begin, warmup.end) == (0, 100)
    assert (cosine.begin, cosine.end, cosine.T_max) == (100, 1052, 952)


def test_stretch_schedule_needs_an_iteration_loop(study):
    cfg = Config(dict(train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=12)))
    with pytest.raises(ValueError, match='IterBasedTrainLoop'):
        study.stretch_schedule(cfg, 100)


def test_run_config_sets_seed_validations_and_checkpoints(study, repo_root):
    cfg = Config.fromfile(osp.join(repo_root, COFNET))
    run = study.run_config(cfg, 'work_dirs/x', 1000, 250, seed=3, log_interval=20)
    assert run.randomness == dict(seed=3) and run.work_dir == 'work_dirs/x'
    assert (run.train_cfg.max_iters, run.train_cfg.val_interval) == (1000, 250)
    assert run.default_hooks.checkpoint.interval == 250
    assert run.default_hooks.logger.log_metric_by_epoch is False
    assert cfg.train_cfg.max_iters == 500  # the config itself is left as it was


def _write_run(run_dir, times, curve):
    """A fake finished run: training lines every 10 iterations, one validation per curve point."""
    log = osp.join(run_dir, '20260101_000000', 'vis_data')
    os.makedirs(log)
    with open(osp.join(log, 'scalars.json'), 'w') as f:
        for i, t in enumerate(times):
            f.write(json.dumps(dict(iter=10 * (i + 1), time=t, loss=1.0 / (i + 1))) + '\n')
        for step, (m, m50) in curve:
            f.write(
                json.dumps(
                    {
                        'coco/bbox_mAP': m,
                        'coco/bbox_mAP_50': m50,
                        'coco/bbox_mAP_s': m / 2,
                        'coco/BIRD_precision': m,
                        'step': step,
                    }
                )
                + '\n'
            )


def test_report_gives_mean_and_spread_over_seeds_and_the_curve(study, tmp_path):
    runs = []
    for seed, final in enumerate((0.2, 0.4)):
        run_dir = str(tmp_path / f'seed{seed}')
        _write_run(run_dir, [1.5, 1.5], [(10, (0.1, 0.3)), (20, (final, 2 * final))])
        seconds, _ = study.read_logs(run_dir)
        assert study.seconds_per_iter(seconds, skip=0) == 1.5
        runs.append(study.summarise_run(run_dir, 20))
    assert runs[0]['train_minutes'] == pytest.approx(30 / 60)  # 2 lines x 10 iterations x 1.5 s
    assert [p['iter'] for p in runs[0]['curve']] == [10, 20]
    table = study.report({'cofnet': dict(sec_per_iter=1.5, runs=runs)}, 20)
    row = next(line for line in table.splitlines() if line.startswith('| cofnet'))
    # mAP 0.2 and 0.4: mean 0.3, sample standard deviation 0.141; BIRD AP the same.
    assert '| 0.300 +- 0.141 | 0.600 +- 0.283 | 0.150 +- 0.071 | 0.300 +- 0.141 |' in row
    assert '| BIRD |' in table
    assert '- cofnet: 10: 0.300, 20: 0.600' in table


def test_study_times_every_arm_first_then_runs_seed_by_seed(
    study, repo_root, tmp_path, monkeypatch
):
    events = []
    monkeypatch.setattr(
        study,
        'calibrate',
        lambda config, cfg, work_dir, iters, reference, from_runs: (
            events.append(('time', config)) or 2.0
        ),
    )

    def fake_train(cfg, run_dir):
        os.makedirs(run_dir)
        events.append(('train', run_dir.split(os.sep)[-2], cfg.randomness.seed))

    monkeypatch.setattr(study, 'train', fake_train)
    monkeypatch.setattr(
        study,
        'summarise_run',
        lambda run_dir, iters: dict(
            iters=iters,
            train_minutes=1.0,
            final_loss=1.0,
            curve=[dict(iter=iters, bbox_mAP=0.1, bbox_mAP_50=0.2, bbox_mAP_s=0.1)],
        ),
    )
    rtmdet = osp.join(repo_root, 'configs/baselines/rtmdet_tiny_halmstad.py')
    cofnet = osp.join(repo_root, COFNET)
    work_dir = str(tmp_path / 'study')
    study.main([cofnet, rtmdet, '--minutes', '1.2', '--seeds', '0', '1', '--work-dir', work_dir])
    assert events == [
        ('time', cofnet),
        ('time', rtmdet),
        ('train', 'cofnet_nano_halmstad', 0),
        ('train', 'rtmdet_tiny_halmstad', 0),
        ('train', 'cofnet_nano_halmstad', 1),
        ('train', 'rtmdet_tiny_halmstad', 1),
    ]
    result = json.load(open(osp.join(work_dir, 'rtmdet_tiny_halmstad', 'seed1', 'result.json')))
    assert result['iters'] == 36  # 72 s / 2 s per iteration, in 4 validations of 9
    assert '| cofnet_nano_halmstad | 2.00 | 36 |' in open(osp.join(work_dir, 'study.md')).read()


def test_calibrate_against_scales_the_stored_reference_by_the_ratio_now(
    study, tmp_path, monkeypatch
):
    timed = []
    now = {
        'cofnet_nano_halmstad_beside_cofnet_nano-hybrid_halmstad': 1.6,
        'cofnet_nano-hybrid_halmstad': 1.0,
    }

    def fake_time_config(cfg, run_dir, iters):
        timed.append(osp.basename(run_dir))
        return now[osp.basename(run_dir)]

    monkeypatch.setattr(study, 'time_config', fake_time_config)
    work_dir = str(tmp_path)
    with open(osp.join(work_dir, 'calibration.json'), 'w') as f:
        json.dump({'cofnet_nano_halmstad': 1.2}, f)  # timed hours ago, on a faster machine
    reference = (COFNET, None)  # its config is only passed on to time_config
    hybrid = 'configs/cofnet/cofnet_nano-hybrid_halmstad.py'
    # The hybrid takes 1.0 / 1.6 of COFNet-nano's time now: 0.625 x the stored 1.2 s.
    assert study.calibrate(hybrid, None, work_dir, 100, reference) == pytest.approx(0.75)
    assert timed == [
        'cofnet_nano_halmstad_beside_cofnet_nano-hybrid_halmstad',
        'cofnet_nano-hybrid_halmstad',
    ]
    # Cached: neither is timed again; the reference itself keeps its stored time.
    assert study.calibrate(hybrid, None, work_dir, 100, reference) == pytest.approx(0.75)
    assert study.calibrate(COFNET, None, work_dir, 100, reference) == 1.2
    assert len(timed) == 2
    stored = json.load(open(osp.join(work_dir, 'calibration.json')))
    assert stored == pytest.approx(
        {'cofnet_nano_halmstad': 1.2, 'cofnet_nano-hybrid_halmstad': 0.75}
    )


def test_calibrate_against_an_uncached_reference_stores_its_time_now(study, tmp_path, monkeypatch):
    monkeypatch.setattr(
        study, 'time_config', lambda cfg, run_dir, iters: 2.0 if 'beside' in run_dir else 1.0
    )
    reference = (COFNET, None)
    rtmdet = 'configs/baselines/rtmdet_tiny_halmstad.py'
    assert study.calibrate(rtmdet, None, str(tmp_path), 100, reference) == 1.0
    stored = json.load(open(tmp_path / 'calibration.json'))
    assert stored == {'cofnet_nano_halmstad': 2.0, 'rtmdet_tiny_halmstad': 1.0}


def test_calibrate_from_runs_takes_their_measured_time(study, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(study, 'time_config', lambda cfg, run_dir, iters: 9.0)
    old = tmp_path / 'old_study'
    hybrid = 'configs/cofnet/cofnet_nano-hybrid_halmstad.py'
    for seed, (minutes, iters) in enumerate(((22.0, 1200), (24.0, 1200))):
        run_dir = old / 'cofnet_nano-hybrid_halmstad' / f'seed{seed}'
        run_dir.mkdir(parents=True)
        (run_dir / 'result.json').write_text(json.dumps(dict(iters=iters, train_minutes=minutes)))
    (old / 'cofnet_nano-hybrid_halmstad' / 'seed2').mkdir()  # unfinished: no result.json
    work_dir = str(tmp_path / 'new_study')
    os.makedirs(work_dir)
    # 46 minutes over 2400 iterations: 1.15 s each, not the short run's 9 s.
    assert study.calibrate(hybrid, None, work_dir, 100, from_runs=str(old)) == pytest.approx(1.15)
    assert 'timed from its finished runs' in capsys.readouterr().out
    # A config without runs there is timed as usual, and says so.
    assert study.calibrate(COFNET, None, work_dir, 100, from_runs=str(old)) == 9.0
    assert 'no finished run in' in capsys.readouterr().out
    stored = json.load(open(osp.join(work_dir, 'calibration.json')))
    assert stored == pytest.approx({'cofnet_nano-hybrid_halmstad': 1.15, COFNET_NAME: 9.0})


def test_study_rejects_two_calibrations_and_a_missing_study_dir(study, repo_root, tmp_path):
    cofnet = osp.join(repo_root, COFNET)
    with pytest.raises(SystemExit):
        study.parse_args([cofnet, '--calibrate-from', str(tmp_path), '--calibrate-against', cofnet])
    with pytest.raises(SystemExit):
        study.parse_args([cofnet, '--calibrate-from', str(tmp_path / 'no_such_study')])


def test_study_rejects_a_missing_reference_config(study, repo_root):
    with pytest.raises(SystemExit):
        study.parse_args([osp.join(repo_root, COFNET), '--calibrate-against', 'no/such.py'])


def test_study_rejects_configs_with_the_same_name(study, repo_root, tmp_path):
    other = tmp_path / 'cofnet_nano_halmstad.py'
    other.write_text(f"_base_ = '{osp.join(repo_root, COFNET)}'\n")
    with pytest.raises(SystemExit):
        study.parse_args([osp.join(repo_root, COFNET), str(other)])


def test_seconds_per_iter_skips_the_warmup(study):
    rows = [dict(iter=10, time=9.0), dict(iter=20, time=1.0), dict(iter=30, time=1.2)]
    assert study.seconds_per_iter(rows, skip=10) == pytest.approx(1.1)
    with pytest.raises(RuntimeError, match='warm-up'):
        study.seconds_per_iter(rows, skip=30)


@pytest.mark.slow
def test_study_runs_two_seeds_and_writes_the_table(study, repo_root, write_smoke_config, tmp_path):
    config = write_smoke_config('configs/baselines/rtmdet_tiny_sky-synth.py', tmp_path)
    work_dir = str(tmp_path / 'study')
    args = [
        config,
        '--minutes',
        '0.02',
        '--seeds',
        '0',
        '1',
        '--val-points',
        '2',
        '--calibration-iters',
        '6',
        '--work-dir',
        work_dir,
    ]
    study.main(args)
    name = osp.splitext(osp.basename(config))[0]
    assert name in json.load(open(osp.join(work_dir, 'calibration.json')))
    result = json.load(open(osp.join(work_dir, name, 'seed1', 'result.json')))
    assert result['seed'] == 1 and len(result['curve']) == 2
    assert result['curve'][-1]['iter'] == result['iters']
    table = open(osp.join(work_dir, 'study.md')).read()
    assert f'| {name} |' in table and '| 2 |' in table  # two seeds in the row
    assert osp.getsize(osp.join(work_dir, 'curves.png')) > 1000
    # A second call trains nothing more: the finished runs are read back.
    mtime = osp.getmtime(osp.join(work_dir, name, 'seed0', 'result.json'))
    study.main(args + ['--report-only'])
    assert osp.getmtime(osp.join(work_dir, name, 'seed0', 'result.json')) == mtime
