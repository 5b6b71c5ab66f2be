"""Rare-class oversampling in configs/_base_/datasets/skywatch.py: meteorite frames repeat 5x."""

import json
import os.path as osp
from collections import Counter

from mmdet.registry import DATASETS
from mmengine.config import Config

NUM_FRAMES = 250
RARE_FRAME = 100  # the only frame with a meteorite: f = 1 / 250 = 0.004


def write_annotations(path):
    """COCO file: 250 frames with one box each (Plane, WildLife, one meteorite), one empty frame.

    Only the annotations: building the dataset and its repeat factors reads no image.
    """
    images = [
        dict(id=i, file_name=f'train/{i:04d}.jpg', width=1080, height=720)
        for i in range(NUM_FRAMES + 1)
    ]
    categories = [
        dict(id=1, name='Plane'),
        dict(id=2, name='WildLife'),
        dict(id=3, name='meteorite'),
    ]
    annotations = [
        dict(
            id=i + 1,
            image_id=i,
            category_id=3 if i == RARE_FRAME else 1 + i % 2,
            bbox=[100, 100, 12, 8],
            area=96,
            iscrowd=0,
        )
        for i in range(NUM_FRAMES)  # frame 250 has no box: training leaves it out
    ]
    path.write_text(json.dumps(dict(images=images, annotations=annotations, categories=categories)))


def test_frames_of_the_rare_class_are_repeated(repo_root, tmp_path):
    (tmp_path / 'annotations').mkdir()
    write_annotations(tmp_path / 'annotations' / 'train.json')
    cfg = Config.fromfile(osp.join(repo_root, 'configs/_base_/datasets/skywatch.py'))
    cfg.train_dataloader.dataset.dataset.data_root = f'{tmp_path}/'
    dataset = DATASETS.build(cfg.train_dataloader.dataset)

    inner = dataset.dataset
    assert len(inner) == NUM_FRAMES  # the frame without boxes is filtered out
    frames = Counter(
        osp.basename(dataset.get_data_info(i)['img_path']) for i in range(len(dataset))
    )
    # r = max(1, sqrt(0.1 / f)): sqrt(0.1 / 0.004) = 5 for the meteorite; Plane and WildLife
    # (f = 0.5) stay at 1.
    assert frames[f'{RARE_FRAME:04d}.jpg'] == 5
    assert set(frames.values()) == {1, 5} and len(frames) == NUM_FRAMES
    assert len(dataset) == NUM_FRAMES - 1 + 5
