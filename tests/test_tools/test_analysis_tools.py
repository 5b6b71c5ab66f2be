"""Evaluation and analysis tools: test.py's speed and PR curves, benchmark, get_flops, plots."""

import glob
import json
import os.path as osp
import re
import sys
from types import SimpleNamespace

import pytest
import torch
from conftest import load_tool, random_checkpoint, run_tool
from mmdet.registry import METRICS, MODELS
from mmengine.config import Config

from mmcofnet.engine import InferenceSpeedHook, TestScalarsHook
from mmcofnet.utils import VIS_BACKENDS, add_vis_backends, check_vis_backends

BASELINE = 'configs/baselines/rtmdet_tiny_sky-synth.py'
CSF = 'configs/ablations/rtmdet_mamba-nano_csf_sky-synth.py'
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def assert_png(path):
    with open(path, 'rb') as f:
        header = f.read(8)
    assert header == PNG_MAGIC and osp.getsize(path) > 1000, path


def params_m(config):
    model = MODELS.build(Config.fromfile(config).model)
    return sum(p.numel() for p in model.parameters()) / 1e6


@pytest.fixture(scope='module')
def configs(write_smoke_config, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('configs')
    return dict(
        baseline=write_smoke_config(BASELINE, out_dir), csf=write_smoke_config(CSF, out_dir)
    )


@pytest.fixture(scope='module')
def checkpoint(configs, tmp_path_factory):
    path = str(tmp_path_factory.mktemp('ckpt') / 'model.pth')
    random_checkpoint(configs['baseline'], path)
    return path


# ---------------------------------------------------------------------------------------------
# tools/test.py: speed, precision-recall curves, visualizer backends
# ---------------------------------------------------------------------------------------------
def test_speed_hook_leaves_out_warmup_and_reports_in_metrics():
    hook = InferenceSpeedHook(num_warmup=2)
    hook.seconds, hook.images = [1.0, 1.0, 0.1, 0.3], [1, 1, 1, 1]
    speed = hook.summary()
    assert speed['warmup'] == 2 and speed['images'] == 2
    assert speed['fps'] == pytest.approx(5.0) and speed['latency_ms'] == pytest.approx(200.0)
    messages = []
    logger = SimpleNamespace(info=messages.append, warning=messages.append)
    metrics = {'coco/bbox_mAP': 0.5}
    hook.after_test_epoch(SimpleNamespace(logger=logger), metrics)
    assert metrics['fps'] == pytest.approx(5.0) and metrics['latency_ms'] == pytest.approx(200.0)
    assert 'fps: 5.00' in messages[0] and 'latency_ms: 200.00' in messages[0]


def test_speed_hook_keeps_the_last_iteration_of_a_short_test_set():
    hook = InferenceSpeedHook(num_warmup=5)
    hook.seconds, hook.images = [1.0, 0.5], [2, 2]
    speed = hook.summary()
    assert speed['warmup'] == 1 and speed['fps'] == pytest.approx(4.0)
    assert InferenceSpeedHook().summary() == {}


def test_test_scalars_hook_sends_scalar_metrics_to_the_visualizer():
    calls = []
    visualizer = SimpleNamespace(add_scalars=lambda scalars, step: calls.append((scalars, step)))
    runner = SimpleNamespace(visualizer=visualizer, iter=7)
    TestScalarsHook().after_test_epoch(
        runner, {'coco/bbox_mAP': 0.25, 'fps': torch.tensor(3.0), 'table': [1, 2]}
    )
    assert calls == [({'test/coco/bbox_mAP': 0.25, 'test/fps': 3.0}, 7)]


def _coco_sample(img_id, pred_boxes, pred_scores, pred_labels, gt_boxes, gt_labels):
    pred = dict(
        bboxes=torch.tensor(pred_boxes, dtype=torch.float32),
        scores=torch.tensor(pred_scores),
        labels=torch.tensor(pred_labels),
    )
    instances = [
        dict(bbox=box, bbox_label=label, ignore_flag=0) for box, label in zip(gt_boxes, gt_labels)
    ]
    return dict(img_id=img_id, ori_shape=(200, 200), pred_instances=pred, instances=instances)


def test_pr_curve_metric_writes_curves_that_match_ap50(tmp_path):
    out_dir = str(tmp_path / 'pr')
    metric = METRICS.build(dict(type='CocoPRCurveMetric', pr_curve_dir=out_dir, classwise=True))
    metric.dataset_meta = dict(classes=('plane', 'bird'))
    # plane: a false positive ranked above the one true positive -> precision 0.5 everywhere.
    # bird: one true positive -> AP 1.
    metric.process(
        {},
        [
            _coco_sample(
                0,
                [[100, 100, 140, 140], [10, 10, 50, 50], [60, 60, 90, 90]],
                [0.95, 0.9, 0.7],
                [0, 0, 1],
                [[10, 10, 50, 50], [60, 60, 90, 90]],
                [0, 1],
            )
        ],
    )
    results = metric.evaluate(1)
    assert results['coco/bbox_mAP_50'] == pytest.approx(0.75)
    for name in ('pr_curves.png', 'pr_curve_plane.png', 'pr_curve_bird.png'):
        assert_png(osp.join(out_dir, name))
    with open(osp.join(out_dir, 'pr_curves.json')) as f:
        curves = json.load(f)
    assert curves['iou_thr'] == 0.5 and len(curves['recall']) == 101
    assert curves['classes']['plane']['ap'] == pytest.approx(0.5)
    assert curves['classes']['bird']['ap'] == pytest.approx(1.0)
    assert curves['classes']['plane']['precision'][-1] == pytest.approx(0.5)


def test_vis_backends_are_added_once_and_missing_packages_named(monkeypatch):
    cfg = Config(
        dict(
            visualizer=dict(type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')])
        )
    )
    add_vis_backends(cfg, ['tensorboard', 'wandb', 'tensorboard'])
    assert [b['type'] for b in cfg.visualizer.vis_backends] == [
        'LocalVisBackend',
        'TensorboardVisBackend',
        'WandbVisBackend',
    ]
    monkeypatch.setitem(VIS_BACKENDS, 'tensorboard', ('TensorboardVisBackend', 'json', 'x'))
    monkeypatch.setitem(VIS_BACKENDS, 'wandb', ('WandbVisBackend', 'no_such_module', 'wandb'))
    with pytest.raises(ImportError, match='pip install wandb'):
        check_vis_backends(cfg)


def test_test_tool_config_adds_speed_hook_pr_metric_and_backends(
    repo_root, configs, checkpoint, tmp_path, monkeypatch
):
    tool = load_tool(repo_root, 'tools/test.py')
    monkeypatch.setattr(
        sys,
        'argv',
        [
            'test.py',
            configs['baseline'],
            checkpoint,
            '--work-dir',
            str(tmp_path),
            '--pr-curves',
            'pr',
            '--speed-warmup',
            '3',
            '--vis-backend',
            'tensorboard',
        ],
    )
    args = tool.parse_args()
    monkeypatch.setitem(
        VIS_BACKENDS, 'tensorboard', ('TensorboardVisBackend', 'no_such_module', 'tensorboard')
    )
    with pytest.raises(ImportError, match='pip install tensorboard'):
        tool.build_config(args)
    args.vis_backend = None
    cfg = tool.build_config(args)
    hooks = {hook['type']: hook for hook in cfg.custom_hooks}
    assert hooks['InferenceSpeedHook']['num_warmup'] == 3 and 'TestScalarsHook' in hooks
    evaluators = cfg.test_evaluator
    assert [e['type'] for e in evaluators] == ['CocoPRCurveMetric']
    assert evaluators[0]['pr_curve_dir'] == 'pr' and evaluators[0]['classwise'] is True


@pytest.mark.slow
def test_test_tool_prints_speed_and_writes_pr_curves(repo_root, configs, checkpoint, tmp_path):
    pr_dir = tmp_path / 'pr'
    proc = run_tool(
        repo_root,
        'tools/test.py',
        configs['baseline'],
        checkpoint,
        '--work-dir',
        str(tmp_path),
        '--pr-curves',
        str(pr_dir),
        '--speed-warmup',
        '1',
    )
    log = proc.stdout + proc.stderr
    fps = float(re.search(r'fps: ([0-9.]+) img/s', log).group(1))
    latency = float(re.search(r'latency_ms: ([0-9.]+) ms', log).group(1))
    assert fps > 0 and latency > 0
    assert re.search(r'coco/bbox_mAP: -?[0-9.]+ .*fps: [0-9.]+ +latency_ms: [0-9.]+', log)
    assert_png(pr_dir / 'pr_curves.png')
    with open(pr_dir / 'pr_curves.json') as f:
        assert set(json.load(f)['classes']) <= {'Plane', 'WildLife', 'meteorite'}
    # The metrics (speed included) reach the JSON log and the visualizer's scalars.
    (metrics_json,) = glob.glob(str(tmp_path / '[0-9]*_[0-9]*' / '[0-9]*_[0-9]*.json'))
    with open(metrics_json) as f:
        assert json.load(f)['fps'] > 0
    (scalars,) = glob.glob(str(tmp_path / '*' / 'vis_data' / 'scalars.json'))
    with open(scalars) as f:
        assert json.loads(f.readline())['test/latency_ms'] > 0


# ---------------------------------------------------------------------------------------------
# benchmark.py and get_flops.py
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_benchmark_compares_two_configs_in_one_process(repo_root, configs, checkpoint):
    proc = run_tool(
        repo_root,
        'tools/analysis_tools/benchmark.py',
        configs['baseline'],
        '--compare',
        configs['csf'],
        '--checkpoint',
        checkpoint,
        '--device',
        'cpu',
        '--shape',
        '128',
        '128',
        '--num-images',
        '3',
        '--warmup',
        '1',
        '--threads',
        '1',
        '--json',
    )
    rows = json.loads(proc.stdout)  # stdout holds the JSON alone
    assert [row['config'] for row in rows] == [configs['baseline'], configs['csf']]
    assert rows[0]['checkpoint'] == checkpoint and rows[1]['checkpoint'] is None
    for row, config in zip(rows, (configs['baseline'], configs['csf'])):
        assert {'config', 'fps', 'latency_ms', 'peak_mem_mb', 'params_m', 'ratio'} <= set(row)
        assert row['fps'] > 0 and row['latency_ms'] > 0
        assert row['fps'] == pytest.approx(1000 / row['latency_ms'], rel=1e-3)
        assert row['params_m'] == pytest.approx(params_m(config), abs=1e-4)
        assert row['input'] == 'random 128x128' and row['num_images'] == 3
        assert row['peak_rss_mb'] > 0
        if sys.platform.startswith('linux'):  # weights (float32) plus what inference adds
            assert row['peak_mem_mb'] >= row['params_m'] * 4 / 1.048576
    assert rows[0]['ratio'] == dict(fps=1.0, latency_ms=1.0, peak_mem_mb=1.0, params_m=1.0)
    assert rows[1]['ratio']['params_m'] == pytest.approx(
        rows[1]['params_m'] / rows[0]['params_m'], rel=1e-2
    )


@pytest.mark.slow
def test_benchmark_times_test_set_images_and_prints_a_table(repo_root, configs):
    proc = run_tool(
        repo_root,
        'tools/analysis_tools/benchmark.py',
        configs['baseline'],
        '--device',
        'cpu',
        '--num-images',
        '2',
        '--warmup',
        '0',
    )
    assert 'input=test_dataloader' in proc.stdout and 'latency(ms)' in proc.stdout
    row = next(
        line
        for line in proc.stdout.splitlines()
        if line.startswith(osp.basename(configs['baseline']))
    )
    assert float(row.split()[3]) > 0  # FPS


@pytest.mark.slow
def test_get_flops_of_baseline_and_csf_ablation(repo_root, configs):
    proc = run_tool(
        repo_root,
        'tools/analysis_tools/get_flops.py',
        configs['baseline'],
        configs['csf'],
        '--shape',
        '128',
        '128',
        '--json',
    )
    rows = json.loads(proc.stdout)
    assert len(rows) == 2
    for row, config in zip(rows, (configs['baseline'], configs['csf'])):
        assert row['input_shape'] == [1, 3, 128, 128]
        assert row['flops'] > 1e7 and row['flops_g'] == pytest.approx(row['flops'] / 1e9, 1e-3)
        assert row['params_m'] == pytest.approx(params_m(config), abs=1e-4)
    assert rows[0]['ratio'] == dict(flops_g=1.0, params_m=1.0)


# ---------------------------------------------------------------------------------------------
# plot_curves.py and show_detections.py
# ---------------------------------------------------------------------------------------------
def _write_scalars(run_dir, timestamp, lines):
    vis_data = run_dir / timestamp / 'vis_data'
    vis_data.mkdir(parents=True)
    (vis_data / 'scalars.json').write_text(''.join(json.dumps(line) + '\n' for line in lines))


def test_read_scalars_places_validation_at_the_training_iteration(repo_root, tmp_path):
    tool = load_tool(repo_root, 'tools/analysis_tools/plot_curves.py')
    _write_scalars(
        tmp_path,
        '20250101_000000',
        [
            dict(loss=2.0, lr=0.1, iter=10, step=10),
            dict(loss=1.5, iter=20, step=20),
            {'coco/bbox_mAP': 0.1, 'step': 0},
        ],
    )  # mmengine's epoch step of an iteration-based run
    _write_scalars(
        tmp_path,
        '20250102_000000',
        [  # resumed at iteration 20
            dict(loss=1.4, iter=20, step=20),
            dict(loss=1.0, iter=30, step=30),
            {'coco/bbox_mAP': 0.3, 'step': 0},
        ],
    )
    files = tool.log_files(str(tmp_path))
    assert [osp.basename(osp.dirname(osp.dirname(f))) for f in files] == [
        '20250101_000000',
        '20250102_000000',
    ]
    scalars = tool.read_scalars(files)
    assert scalars['loss'] == ([10, 20, 30], [2.0, 1.4, 1.0])
    assert scalars['coco/bbox_mAP'] == ([20, 30], [0.1, 0.3])
    with pytest.raises(FileNotFoundError, match='nowhere'):
        tool.log_files(str(tmp_path / 'nowhere'))


@pytest.mark.slow
def test_plot_curves_writes_a_png_for_two_runs(repo_root, tmp_path):
    for name, final_map in (('fpn', 0.2), ('csf', 0.3)):
        _write_scalars(
            tmp_path / name,
            '20250101_000000',
            [
                dict(loss=2.0, iter=10, step=10),
                dict(loss=1.0, iter=20, step=20),
                {'coco/bbox_mAP': final_map, 'step': 0},
            ],
        )
    out = tmp_path / 'curves.png'
    run_tool(
        repo_root,
        'tools/analysis_tools/plot_curves.py',
        str(tmp_path / 'fpn'),
        str(tmp_path / 'csf'),
        '--keys',
        'loss',
        'coco/bbox_mAP',
        '--out',
        str(out),
    )
    assert_png(out)
    proc = run_tool(
        repo_root,
        'tools/analysis_tools/plot_curves.py',
        str(tmp_path / 'fpn'),
        '--keys',
        'nope',
        '--out',
        str(out),
        check=False,
    )
    assert proc.returncode != 0 and "'nope'" in proc.stderr and 'loss' in proc.stderr


def test_image_tool_parser_defaults_and_refuses_no_images(repo_root, capsys):
    cli = load_tool(repo_root, 'tools/analysis_tools/_cli.py')
    parser = cli.image_tool_parser('tool', num=6, score_thr=0.3)
    args = parser.parse_args(['a.py', 'b.pth', '--cfg-options', 'model.test_cfg.seed=1'])
    assert (args.num, args.start, args.score_thr) == (6, 0, 0.3)
    assert args.cfg_options == {'model.test_cfg.seed': 1}
    with pytest.raises(SystemExit):
        parser.parse_args(['a.py', 'b.pth', '--num', '0'])
    assert 'argument --num: 0 is not >= 1' in capsys.readouterr().err


@pytest.mark.slow
def test_show_detections_writes_a_grid(repo_root, configs, checkpoint, tmp_path):
    out = tmp_path / 'grid.png'
    proc = run_tool(
        repo_root,
        'tools/analysis_tools/show_detections.py',
        configs['baseline'],
        checkpoint,
        '--num',
        '2',
        '--score-thr',
        '0.5',
        '--device',
        'cpu',
        '--out',
        str(out),
    )
    assert str(out) in proc.stdout
    assert_png(out)


# ---------------------------------------------------------------------------------------------
# box_errors.py
# ---------------------------------------------------------------------------------------------
def test_box_errors_pairs_each_object_with_its_best_prediction(repo_root):
    tool = load_tool(repo_root, 'tools/analysis_tools/box_errors.py')
    gt = torch.tensor([[10.0, 10, 20, 20], [50, 50, 60, 70], [100, 100, 104, 104]])
    pred = torch.tensor(
        [
            [12.0, 10, 22, 20],  # gt 0 shifted 2 px right: IoU 80 / 120
            [49, 49, 61, 71],  # gt 1 grown by 1 px on each side: IoU 200 / 264
            [300, 300, 310, 310],
        ]
    )  # nothing
    errors = tool.pair_errors(gt, pred)
    torch.testing.assert_close(errors[:, 0], torch.tensor([80 / 120, 200 / 264, 0.0]))
    torch.testing.assert_close(errors[:2, 1:], torch.tensor([[2.0, 0, 0, 0], [0, 0, 2, 2]]))
    rows = tool.summarize(errors, torch.tensor([0, 0, 1]), ['Plane', 'WildLife', 'meteorite'])
    assert [r['class'] for r in rows] == ['Plane', 'WildLife']  # no meteorite objects
    plane, wildlife = rows
    assert plane['objects'] == 2 and plane['recall@0.5'] == 1.0 and plane['recall@0.75'] == 0.5
    assert plane['centre_err_px'] == [1.0, 0.0] and plane['size_bias_px'] == [1.0, 1.0]
    assert wildlife['recall@0.3'] == 0.0 and 'centre_err_px' not in wildlife
    empty = tool.pair_errors(gt, torch.zeros(0, 4))
    assert (empty[:, 0] == 0).all() and empty[:, 1:].isnan().all()


def test_box_errors_counts_the_class_of_the_top_scoring_box(repo_root):
    tool = load_tool(repo_root, 'tools/analysis_tools/box_errors.py')
    gt = torch.tensor([[10.0, 10, 20, 20], [50, 50, 60, 70], [100, 100, 104, 104]])
    pred = torch.tensor(
        [
            [10.0, 10, 20, 20],  # on gt 0, class 2, low score
            [11, 10, 21, 20],  # on gt 0, class 0, high score: the one counted
            [50, 50, 60, 70],  # on gt 1, class 1
            [30, 30, 40, 40],
        ]
    )  # on nothing, the highest score
    scores, labels = torch.tensor([0.3, 0.6, 0.5, 0.9]), torch.tensor([2, 0, 1, 2])
    predicted = tool.top_labels(gt, pred, scores, labels)
    assert predicted.tolist() == [0, 1, -1]
    gt_labels = torch.tensor([0, 0, 1])
    rows = tool.summarize(tool.pair_errors(gt, pred), gt_labels, ['Plane', 'WildLife'], predicted)
    plane, wildlife = rows
    assert plane['labelled_as'] == [1, 1] and plane['right_class'] == 0.5
    assert wildlife['labelled_as'] == [0, 0] and 'right_class' not in wildlife
    nothing = tool.top_labels(gt, torch.zeros(0, 4), torch.zeros(0), torch.zeros(0))
    assert nothing.tolist() == [-1] * 3


@pytest.mark.slow
def test_box_errors_prints_a_row_per_class(repo_root, configs, checkpoint):
    proc = run_tool(
        repo_root,
        'tools/analysis_tools/box_errors.py',
        configs['baseline'],
        checkpoint,
        '--num',
        '2',
        '--score-thr',
        '0.0',
        '--device',
        'cpu',
        '--json',
    )
    rows = json.loads(proc.stdout)  # alone on stdout: logging goes to stderr
    assert rows and {'class', 'objects', 'recall@0.5', 'labelled_as'} <= set(rows[0])
    assert all(0 <= r['recall@0.3'] <= 1 for r in rows)
    assert all(sum(r['labelled_as']) <= r['objects'] for r in rows)
