"""SkyInferencer: mmdet's DetInferencer on a COFNet config and checkpoint."""

import cv2
import pytest
import torch
from conftest import random_checkpoint
from mmdet.registry import DATASETS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from mmcofnet.apis import SkyInferencer

CONFIG = 'configs/cofnet/cofnet_nano_sky-synth.py'


@pytest.fixture(scope='module')
def setup(repo_root, tmp_path_factory):
    """A small synthetic test set, a checkpoint with its class names, and one frame on disk."""
    tmp = tmp_path_factory.mktemp('inferencer')
    cfg = Config.fromfile(f'{repo_root}/{CONFIG}')
    cfg.test_dataloader.dataset.update(num_images=1, img_size=(256, 192))
    cfg.model.test_cfg.score_thr = 0.0  # random weights score low: keep every box
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    checkpoint = str(tmp / 'model.pth')
    model = random_checkpoint(cfg, checkpoint, dataset_meta=dataset.metainfo)
    data = dataset[0]
    h, w = data['data_samples'].ori_shape
    frame = str(tmp / 'frame.png')  # lossless: the file holds exactly the rendered frame
    cv2.imwrite(frame, data['inputs'][:, :h, :w].permute(1, 2, 0).numpy())
    return cfg, checkpoint, model, data, frame


def test_inferencer_predicts_as_the_test_loop_on_a_rendered_config(setup):
    cfg, checkpoint, model, data, frame = setup
    inferencer = SkyInferencer(cfg, checkpoint, device='cpu')
    assert inferencer.model.dataset_meta['classes'] == ('Plane', 'WildLife', 'meteorite')
    result = inferencer(frame, return_datasamples=True, pred_score_thr=0.0)
    predicted = result['predictions'][0].pred_instances
    with torch.no_grad():
        expected = model.test_step(pseudo_collate([data]))[0].pred_instances
    assert len(expected) > 0
    torch.testing.assert_close(predicted.bboxes, expected.bboxes)
    torch.testing.assert_close(predicted.scores, expected.scores)
    assert torch.equal(predicted.labels, expected.labels)


def test_inferencer_takes_arrays_and_returns_plain_results(setup):
    cfg, checkpoint, _, _, frame = setup
    inferencer = SkyInferencer(cfg, checkpoint, device='cpu')
    from_file = inferencer(frame, pred_score_thr=0.0)['predictions'][0]
    from_array = inferencer(cv2.imread(frame), pred_score_thr=0.0)['predictions'][0]
    assert from_file['bboxes'] == from_array['bboxes'] and len(from_file['bboxes']) > 0
    assert set(from_file) >= {'bboxes', 'scores', 'labels'}


def test_inferencer_on_a_config_that_reads_its_frames_from_files(repo_root, setup, tmp_path):
    # halmstad-sky's test pipeline loads with LoadCheckedImageFromFile, which DetInferencer
    # does not know; its own loader takes its place.
    cfg = Config.fromfile(f'{repo_root}/configs/cofnet/cofnet_nano_halmstad.py')
    cfg.model.test_cfg.score_thr = 0.0
    checkpoint = str(tmp_path / 'model.pth')
    random_checkpoint(cfg, checkpoint, dataset_meta=dict(classes=cfg.metainfo['classes']))
    result = SkyInferencer(cfg, checkpoint, device='cpu')(setup[-1], pred_score_thr=0.0)
    assert len(result['predictions'][0]['bboxes']) > 0
