"""COFNet to ONNX with MMDeploy (tools/deployment/deploy.py): ONNX Runtime against PyTorch.

Skipped only where the export extras (requirements/deploy.txt) are absent; tools/setup.sh, and so
CI, installs them.
"""

import os.path as osp
import re

import pytest
import torch
from conftest import load_tool, random_checkpoint
from mmengine.config import Config
from mmengine.structures import InstanceData

pytest.importorskip('mmdeploy')
pytest.importorskip('onnxruntime')

from mmcofnet.deploy.agreement import Agreement, compare_detections  # noqa: E402

# An untrained model scores low: keep what it finds, so that there is something to compare.
MODEL = """
_base_ = {base!r}
model = dict(test_cfg=dict(score_thr=0.01))
"""
DEPLOY = """
_base_ = {base!r}
onnx_config = dict(input_shape=[160, 128])
"""


@pytest.mark.slow
def test_cofnet_nano_exports_and_onnx_runtime_gives_pytorchs_detections(
    repo_root, tmp_path, capsys
):
    model_cfg, deploy_cfg = tmp_path / 'model.py', tmp_path / 'deploy.py'
    model_cfg.write_text(
        MODEL.format(base=osp.join(repo_root, 'configs/cofnet/cofnet_nano_halmstad.py'))
    )
    deploy_cfg.write_text(
        DEPLOY.format(
            base=osp.join(repo_root, 'configs/deploy/detection_onnxruntime_static-640x512.py')
        )
    )
    checkpoint = str(tmp_path / 'model.pth')
    cfg = Config.fromfile(str(model_cfg))
    random_checkpoint(cfg, checkpoint, dataset_meta=dict(classes=cfg.metainfo['classes']))
    deploy = load_tool(repo_root, 'tools/deployment/deploy.py')
    work_dir = str(tmp_path / 'onnx')
    status = deploy.main(
        [str(model_cfg), checkpoint, '--deploy-cfg', str(deploy_cfg), '--work-dir', work_dir,
         '--repeat', '2']
    )  # fmt: skip
    out = capsys.readouterr().out
    assert status == 0, out
    assert osp.isfile(osp.join(work_dir, 'end2end.onnx'))
    found = re.search(r'(\d+) detections matched of (\d+) \(PyTorch\) and (\d+) \(exported\)', out)
    assert found and int(found[1]) == int(found[2]) == int(found[3]) > 0, out
    assert 'PyTorch:' in out and 'ONNX Runtime:' in out


def detections(boxes, scores, labels):
    return InstanceData(
        bboxes=torch.tensor(boxes, dtype=torch.float32),
        scores=torch.tensor(scores),
        labels=torch.tensor(labels),
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
