"""tools/analysis_tools/map_vs_stages.py: COFNet's objectness map against its stages."""

import pytest
import torch
from conftest import load_tool, random_checkpoint, run_tool
from mmengine.config import Config

from mmcofnet.apis import build_detector, load_test_batches

COFNET = 'configs/cofnet/cofnet_nano_sky-synth.py'


@pytest.fixture(scope='module')
def smoke(write_smoke_config, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('map_vs_stages')
    config = write_smoke_config(COFNET, out_dir)
    checkpoint = str(out_dir / 'model.pth')
    random_checkpoint(config, checkpoint)
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
    heat = model.bbox_head.objectness(
        model._field(model.data_preprocessor(batch)['inputs']).levels[0]
    )[:, : model.bbox_head.num_classes].sigmoid()
    assert variants['map'][0].scores.max() <= heat.max() + 1e-6


@pytest.mark.slow
def test_map_vs_stages_prints_a_row_per_variant(repo_root, smoke):
    config, checkpoint = smoke
    proc = run_tool(
        repo_root, 'tools/analysis_tools/map_vs_stages.py', config, checkpoint, '--device', 'cpu'
    )
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith('variant'))
    assert 'bbox_mAP_50' in lines[header]
    names = [line[:26].strip() for line in lines[header + 1 :] if line.strip()]
    assert names == [
        'head',
        'map',
        'stages, class scores',
        'stages, map scores',
        'map boxes, stage scores',
    ]


# ---------------------------------------------------------------------------------------------
# crop_vs_frame.py: the same region in a training-size crop and in the whole frame
# ---------------------------------------------------------------------------------------------
class _ConvBackbone(torch.nn.Module):
    """Two stride-2 convs: every output cell sees a few pixels around it."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, stride=2, padding=1)

    def forward(self, x):
        x = self.conv1(x)
        return (x, self.conv2(torch.relu(x)))


def test_crop_vs_frame_sees_no_difference_in_a_local_network(repo_root):
    tool = load_tool(repo_root, 'tools/analysis_tools/crop_vs_frame.py')
    from types import SimpleNamespace

    from mmcofnet.models.backbones import MambaBackbone

    torch.manual_seed(0)
    frame = torch.randn(1, 3, 128, 192)
    x0, y0 = tool.crop_origin(torch.tensor([100.0, 60, 110, 70]), 64, 192, 128)
    assert (x0, y0) == (64, 32)  # centred on the box, rounded down to the stride grid
    crop = frame[..., y0 : y0 + 64, x0 : x0 + 64]
    local = SimpleNamespace(backbone=_ConvBackbone())
    with torch.no_grad():
        diffs = tool.relative_differences(local, frame, crop, x0, y0, 64, margin=16)
        assert len(diffs) == 2 and max(diffs) < 1e-5
        mamba = SimpleNamespace(backbone=MambaBackbone(arch='nano', out_indices=(2, 3)).eval())
        assert min(tool.relative_differences(mamba, frame, crop, x0, y0, 64, margin=16)) > 1e-3


def test_crop_vs_frame_keeps_region_boxes(repo_root):
    tool = load_tool(repo_root, 'tools/analysis_tools/crop_vs_frame.py')
    boxes = torch.tensor(
        [
            [10.0, 10, 30, 30],  # inside
            [80, 10, 110, 30],  # centre 95 inside, 2/3 of it inside
            [70, 10, 130, 30],  # centre 100 on the edge (out), half inside
            [90, 10, 130, 30],
        ]
    )  # centre 110 out, a quarter inside
    clipped, keep = tool.boxes_in_region(boxes, 0, 0, 100, by_centre=True)
    assert keep.tolist() == [True, True, False, False]
    assert clipped[1].tolist() == [80, 10, 100, 30]
    _, keep = tool.boxes_in_region(boxes, 0, 0, 100, by_centre=False)  # half the area inside
    assert keep.tolist() == [True, True, True, False]
    moved, _ = tool.boxes_in_region(boxes[:1], 5, 8, 100, by_centre=True)
    assert moved.tolist() == [[5, 2, 25, 22]]


@pytest.mark.slow
def test_crop_vs_frame_prints_both_modes(repo_root, smoke):
    config, checkpoint = smoke
    proc = run_tool(
        repo_root,
        'tools/analysis_tools/crop_vs_frame.py',
        config,
        checkpoint,
        '--crop',
        '128',
        '--step',
        '1',
        '--device',
        'cpu',
    )
    lines = proc.stdout.splitlines()
    for mode in ('crop alone', 'whole frame'):
        line = next(line for line in lines if line.startswith(mode))
        assert 'mAP_50:' in line
    diffs = next(line for line in lines if line.startswith('feature difference'))
    assert len(diffs.split(':')[1].split(',')) == 3  # the three backbone outputs of COFNet-nano
