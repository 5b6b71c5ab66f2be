"""COFNet to ONNX with MMDeploy (tools/deployment/deploy.py): ONNX Runtime against PyTorch.

Also tools/deployment/onnx_infer.py on the exported model. Skipped only where the export extras
(requirements/deploy.txt) are absent; tools/setup.sh, and so CI, installs them.
"""

import contextlib
import io
import json
import os
import os.path as osp
import re

import cv2
import pytest
import torch
from conftest import load_tool, random_checkpoint
from mmengine.config import Config
from mmengine.structures import InstanceData

pytest.importorskip('mmdeploy')
pytest.importorskip('onnxruntime')

from mmcofnet.apis import build_detector  # noqa: E402
from mmcofnet.datasets import SkySceneSampler, render_frame  # noqa: E402
from mmcofnet.deploy.agreement import Agreement, compare_detections  # noqa: E402

# An untrained model scores low: keep what it finds, so that there is something to compare.
MODEL = """
_base_ = {base!r}
model = dict(test_cfg=dict(score_thr={score_thr}))
"""
DEPLOY = """
_base_ = {base!r}
onnx_config = dict(input_shape=[160, 128])
"""


def export(
    repo_root,
    tmp,
    deploy_cfg: str,
    images: list[str] | None = None,
    model: str = 'configs/cofnet/cofnet_nano_halmstad.py',
    score_thr: float = 0.01,
    enliven=None,
):
    """An untrained detector exported by deploy.py: (work dir, exit status, its output).

    ``enliven(detector)``, if given, changes the untrained weights before they are saved.
    """
    model_cfg = tmp / 'model.py'
    model_cfg.write_text(MODEL.format(base=osp.join(repo_root, model), score_thr=score_thr))
    checkpoint = str(tmp / 'model.pth')
    cfg = Config.fromfile(str(model_cfg))
    torch.manual_seed(0)
    detector = build_detector(cfg)
    if enliven is not None:
        enliven(detector)
    random_checkpoint(detector, checkpoint, dataset_meta=dict(classes=cfg.metainfo['classes']))
    work_dir = str(tmp / 'onnx')
    deploy = load_tool(repo_root, 'tools/deployment/deploy.py')
    argv = [str(model_cfg), checkpoint, '--deploy-cfg', deploy_cfg, '--work-dir', work_dir]
    argv += ['--repeat', '2'] + (['--img', *images] if images else [])
    with contextlib.redirect_stdout(io.StringIO()) as out:
        status = deploy.main(argv)
    return work_dir, status, out.getvalue()


def assert_all_matched(status: int, out: str, images: int) -> None:
    assert status == 0, out
    found = re.search(
        r'(\d+) images?: (\d+) detections matched of (\d+) \(PyTorch\) and (\d+) \(exported\)', out
    )
    assert found and int(found[1]) == images, out
    assert int(found[2]) == int(found[3]) == int(found[4]) > 0, out


def static_160x128(repo_root, tmp) -> str:
    """The static deploy config at 160x128."""
    deploy_cfg = tmp / 'deploy.py'
    base = osp.join(repo_root, 'configs/deploy/detection_onnxruntime_static-640x512.py')
    deploy_cfg.write_text(DEPLOY.format(base=base))
    return str(deploy_cfg)


@pytest.fixture(scope='module')
def exported(repo_root, tmp_path_factory):
    """An untrained COFNet-nano exported at a static 160x128: (work dir, status, output)."""
    tmp = tmp_path_factory.mktemp('export')
    return export(repo_root, tmp, static_160x128(repo_root, tmp))


@pytest.mark.slow
def test_cofnet_nano_exports_and_onnx_runtime_gives_pytorchs_detections(exported):
    work_dir, status, out = exported
    assert osp.isfile(osp.join(work_dir, 'end2end.onnx'))
    assert_all_matched(status, out, images=1)
    assert 'PyTorch:' in out and 'ONNX Runtime:' in out


@pytest.mark.slow
def test_dynamic_shape_export_agrees_at_two_input_sizes(repo_root, tmp_path):
    # Exported at the first size; the second has other scan lengths and chunk counts at every
    # stage, another level size in the field's sampler and another frame for the boxes.
    images = []
    for width, height in ((160, 128), (224, 160)):
        images.append(str(tmp_path / f'sky_{width}x{height}.png'))
        cv2.imwrite(images[-1], render_frame(SkySceneSampler(width, height).sample(0, 0)))
    deploy_cfg = osp.join(repo_root, 'configs/deploy/detection_onnxruntime_dynamic.py')
    _, status, out = export(repo_root, tmp_path, deploy_cfg, images)
    assert_all_matched(status, out, images=2)


@pytest.mark.slow
def test_onnx_infer_draws_on_images_folders_and_videos(repo_root, exported, tmp_path):
    work_dir, _, out = exported
    num_exported = int(re.search(r'and (\d+) \(exported\)', out)[1])
    onnx_infer = load_tool(repo_root, 'tools/deployment/onnx_infer.py')
    model, frame = osp.join(work_dir, 'end2end.onnx'), osp.join(work_dir, 'sky_frame.png')
    detector = onnx_infer.OnnxDetector(model, json.load(open(osp.join(work_dir, 'end2end.json'))))
    boxes, scores, labels = detector.detect(cv2.imread(frame))
    assert len(boxes) == num_exported and (scores > 0).all()

    assert onnx_infer.main([model, frame, '--out', str(tmp_path / 'one'), '--score-thr', '0']) == 0
    assert os.listdir(tmp_path / 'one') == ['sky_frame.jpg']
    video = str(tmp_path / 'clip.avi')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'MJPG'), 5, (160, 128))
    for _ in range(3):
        writer.write(cv2.imread(frame))
    writer.release()
    assert onnx_infer.main([model, video, '--out', str(tmp_path / 'clip.mp4')]) == 0
    assert cv2.VideoCapture(str(tmp_path / 'clip.mp4')).get(cv2.CAP_PROP_FRAME_COUNT) == 3
    with pytest.raises(OSError, match='not an image, a folder or a readable video'):
        onnx_infer.main([model, str(tmp_path / 'missing.mov'), '--out', str(tmp_path / 'x')])


def detections(boxes, scores, labels):
    return InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32),
        scores=torch.tensor(scores),
        labels=torch.tensor(labels),
    )


def test_rewritten_functions_give_the_originals_values():
    from mmcofnet.deploy.cofnet_rewriters import continuous_scale_field__weighted_rows
    from mmcofnet.deploy.scan_rewriters import (
        cross_merge__functional,
        cross_scan__functional,
        softplus__elementwise,
    )
    from mmcofnet.models.necks.continuous_scale_field import weighted_rows
    from mmcofnet.models.ops.cross_scan import cross_merge, cross_scan

    maps, ys = torch.randn(2, 3, 5, 6), torch.randn(2, 4, 3, 5, 6)
    torch.testing.assert_close(cross_scan__functional(maps), cross_scan(maps))
    for channels_last in (False, True):
        torch.testing.assert_close(
            cross_merge__functional(ys, channels_last), cross_merge(ys, channels_last)
        )

    x = torch.cat([torch.linspace(-60, 60, 1001), torch.randn(1000)])
    for beta in (1.0, 2.0):
        torch.testing.assert_close(
            softplus__elementwise(x, beta), torch.nn.functional.softplus(x, beta)
        )
    table, index, weights = torch.randn(50, 7), torch.randint(0, 50, (30, 8)), torch.rand(30, 8)
    torch.testing.assert_close(
        continuous_scale_field__weighted_rows(index, table, weights),
        weighted_rows(index, table, weights),
    )


def test_agreement_matches_pairs_and_names_what_differs():
    expected = detections(
        [[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]], [0.9, 0.8, 0.2], [0, 1, 1]
    )
    got = detections(
        [[0.5, 0, 10, 10], [20, 20, 30, 30], [70, 70, 80, 80]], [0.9, 0.7, 0.21], [0, 1, 1]
    )
    comparison = compare_detections(expected, got, frame=(64, 64))
    assert (comparison.matched, comparison.max_box_diff) == (2, 0.5)
    assert comparison.max_score_diff == pytest.approx(0.1)
    # The box at 70-80 is clipped to the 64 x 64 frame before matching.
    assert sorted(comparison.unmatched_scores) == pytest.approx([0.2, 0.21])
    agreement = Agreement([comparison])
    assert agreement.problems(box_tol=1.0, score_tol=0.2) == []
    problems = agreement.problems(box_tol=0.1, score_tol=0.005)
    assert problems[0] == 'image 0: box difference 0.5000 px > 0.1'
    assert problems[1].startswith('image 0: score difference 0.1')
    assert problems[2].startswith('image 0: 1 detections on one side only, scores [0.2099')


@pytest.mark.slow
def test_benchmark_onnx_times_the_export_beside_pytorch(repo_root, exported, capsys):
    work_dir = exported[0]
    tmp = osp.dirname(work_dir)
    benchmark = load_tool(repo_root, 'tools/deployment/benchmark_onnx.py')
    argv = [osp.join(work_dir, 'end2end.onnx'), '--shape', '128', '160', '--repeat', '2']
    argv += ['--pytorch', osp.join(tmp, 'model.py'), osp.join(tmp, 'model.pth'), '--warmup', '1']
    assert benchmark.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = lines[[i for i, line in enumerate(lines) if 'median ms' in line][0] + 1 :]
    names = [row.split('  ')[0] for row in rows]
    assert names == ['onnx (ONNX Runtime)', 'model (PyTorch)'], rows
    assert rows[0].split()[-1] == '1.00' and float(rows[1].split()[-1]) > 0


def rtmdet_post_processing(repo_root, backend: str):
    """RTMDet-tiny's post-processing of made-up head outputs: mmdet's, and mmdeploy's (as it is
    exported for ``backend``), run in PyTorch. Boxes of ~1.5 strides a side around every prior
    of a 160x128 frame: those near the edges cross them."""
    from mmdeploy.core import RewriterContext
    from mmdeploy.utils import load_config

    cfg = Config.fromfile(osp.join(repo_root, 'configs/baselines/rtmdet_tiny_halmstad.py'))
    head = build_detector(cfg).bbox_head
    generator = torch.Generator().manual_seed(0)
    cls_scores, bbox_preds = [], []
    for stride in (8, 16, 32):
        size = (1, 4, 128 // stride, 160 // stride)
        cls_scores.append(torch.randn(size, generator=generator) - 2)
        bbox_preds.append((1.5 + 0.3 * torch.randn(size, generator=generator)) * stride)
    metas = [dict(img_shape=(128, 160), ori_shape=(128, 160), scale_factor=(1.0, 1.0))]
    with torch.no_grad():
        expected = head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas)[0]
        deploy_cfg = load_config(
            osp.join(repo_root, 'configs/deploy/detection_onnxruntime_static-640x512.py')
        )[0]
        with RewriterContext(cfg=deploy_cfg, backend=backend):
            dets, labels = head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=metas)
    keep = dets[0, :, 4] > 0
    got = InstanceData(bboxes=dets[0, keep, :4], scores=dets[0, keep, 4], labels=labels[0, keep])
    return compare_detections(expected, got, frame=(128, 160))


def test_exported_rtmdet_post_processing_clips_boxes_as_mmdet(repo_root):
    # mmdeploy's own rewriter leaves the boxes unclipped, so NMS keeps other boxes than mmdet's
    # (mmcofnet.deploy fixes it for ONNX Runtime).
    unclipped = rtmdet_post_processing(repo_root, backend='default')
    assert unclipped.matched < unclipped.expected
    fixed = rtmdet_post_processing(repo_root, backend='onnxruntime')
    assert fixed.matched == fixed.expected == fixed.got > 10
    assert fixed.max_box_diff < 1e-3 and fixed.max_score_diff < 1e-6
