"""tools/analysis_tools/map_vs_stages.py: COFNet's objectness map against its stages."""

import pytest
import torch
from conftest import load_tool, run_tool
from mmengine.config import Config

from mmcofnet.apis import build_detector, load_test_batches

COFNET = 'configs/cofnet/cofnet_nano_sky-synth.py'


@pytest.fixture(scope='module')
def smoke(write_smoke_config, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('map_vs_stages')
    config = write_smoke_config(COFNET, out_dir)
    torch.manual_seed(0)
    model = build_detector(Config.fromfile(config))
    checkpoint = str(out_dir / 'model.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    return config, checkpoint


def test_head_variant_is_what_the_detector_predicts(repo_root, smoke):
    tool = load_tool(repo_root, 'tools/analysis_tools/map_vs_stages.py')
    config, checkpoint = smoke
    cfg = Config.fromfile(config)
    model = build_detector(cfg, checkpoint)
    batch = load_test_batches(cfg, 1)[0]
    with torch.no_grad():
        expected = model.test_step(batch)[0].pred_instances
        variants = tool.decode_variants(model, model.data_preprocessor(batch, False))
    assert set(variants) == set(tool.VARIANTS)  # 1 step from 100 peaks: all five
    head = variants['head'][0]
    torch.testing.assert_close(head.bboxes, expected.bboxes)
    torch.testing.assert_close(head.scores, expected.scores)
    # The map's detections are its peaks scored by the class heat: within the heat's range.
    heat = model.bbox_head.objectness(model._field(model.data_preprocessor(batch)['inputs'])
                                      .levels[0])[:, :model.bbox_head.num_classes].sigmoid()
    assert variants['map'][0].scores.max() <= heat.max() + 1e-6


@pytest.mark.slow
def test_map_vs_stages_prints_a_row_per_variant(repo_root, smoke):
    config, checkpoint = smoke
    proc = run_tool(repo_root, 'tools/analysis_tools/map_vs_stages.py', config, checkpoint,
                    '--device', 'cpu')
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith('variant'))
    assert 'bbox_mAP_50' in lines[header]
    names = [line[:26].strip() for line in lines[header + 1:] if line.strip()]
    assert names == ['head', 'map', 'stages, class scores', 'stages, map scores',
                     'map boxes, stage scores']
