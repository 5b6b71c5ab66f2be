"""configs/_base_/datasets/halmstad_sky_mosaic.py: four object crops tile one 640x512 sample."""

import json
import os.path as osp

import cv2
import numpy as np
from mmdet.registry import DATASETS
from mmengine.config import Config

MOSAIC = 'configs/_base_/datasets/halmstad_sky_mosaic.py'


def write_frames(root, num=4):
    """``num`` 640x512 frames, each of its own flat colour, with one 20x20 object of class i."""
    coco = dict(
        images=[],
        annotations=[],
        categories=[
            dict(id=i + 1, name=name)
            for i, name in enumerate(('AIRPLANE', 'BIRD', 'DRONE', 'HELICOPTER'))
        ],
    )
    for i in range(num):
        image = np.full((512, 640, 3), 40 * (i + 1), np.uint8)
        x, y = 100 + 100 * i, 60 + 90 * i
        image[y : y + 20, x : x + 20] = 255
        name = f'{i}.png'
        cv2.imwrite(osp.join(root, name), image)
        coco['images'].append(dict(id=i + 1, file_name=name, width=640, height=512))
        coco['annotations'].append(
            dict(
                id=i + 1,
                image_id=i + 1,
                category_id=i % 4 + 1,
                bbox=[x, y, 20, 20],
                area=400,
                iscrowd=0,
            )
        )
    with open(osp.join(root, 'train.json'), 'w') as f:
        json.dump(coco, f)


def test_mosaic_sample_is_a_test_frame_of_four_object_crops(repo_root, tmp_path):
    write_frames(str(tmp_path))
    cfg = Config.fromfile(osp.join(repo_root, MOSAIC))
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.dataset.update(
        data_root=str(tmp_path), ann_file='train.json', data_prefix=dict(img='')
    )
    dataset_cfg.dataset.pipeline[-1].object_prob = 1.0
    dataset = DATASETS.build(dataset_cfg)
    for index in range(4):
        sample = dataset[index]
        image = sample['inputs']
        boxes = sample['data_samples'].gt_instances.bboxes.tensor
        assert image.shape == (3, 512, 640)  # the size of a halmstad-sky frame
        assert len(boxes) == 4  # every crop is centred on its frame's object
        # One object per quadrant, each quadrant one frame's flat colour (no padding).
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2
        quadrants = {(int(cx >= 320), int(cy >= 256)) for cx, cy in centres.tolist()}
        assert len(quadrants) == 4
        assert ((boxes[:, 2:] - boxes[:, :2]) == 20).all()
        for qx, qy in quadrants:
            tile = image[:, qy * 256 : (qy + 1) * 256, qx * 320 : (qx + 1) * 320]
            background = tile.flatten(1).mode(dim=1).values
            assert (background == background[0]).all() and background[0] in (40, 80, 120, 160)
