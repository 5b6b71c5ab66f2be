"""Ground truth validated at loading: SkyCocoDataset, SkyWatchDataset, SyntheticSkyDataset."""

import json
import logging

import cv2
import numpy as np
import pytest
from mmdet.registry import DATASETS

from mmcofnet.datasets import ground_truth
from mmcofnet.datasets.ground_truth import GroundTruthReport, validate_ground_truth

CLASSES = ('AIRPLANE', 'BIRD')


@pytest.fixture
def logged(monkeypatch):
    messages = []
    monkeypatch.setattr(
        ground_truth,
        'print_log',
        lambda msg, logger=None, level=None: messages.append((msg, level)),
    )
    return messages


def write_coco(tmp_path, boxes, categories=((1, 'AIRPLANE'), (2, 'BIRD')), size=(64, 48)):
    """One image per ``boxes`` entry (a list of ``(category_id, [x, y, w, h])``)."""
    (tmp_path / 'images').mkdir(exist_ok=True)
    images, annotations = [], []
    for image_id, image_boxes in enumerate(boxes, start=1):
        name = f'frame{image_id}.jpg'
        cv2.imwrite(str(tmp_path / 'images' / name), np.zeros((size[1], size[0], 3), np.uint8))
        images.append(dict(id=image_id, file_name=name, width=size[0], height=size[1]))
        for cat_id, bbox in image_boxes:
            annotations.append(
                dict(
                    id=len(annotations) + 1, image_id=image_id, category_id=cat_id, bbox=bbox,
                    area=bbox[2] * bbox[3], iscrowd=0,
                )
            )  # fmt: skip
    path = tmp_path / 'train.json'
    categories = [dict(id=i, name=n) for i, n in categories]
    path.write_text(json.dumps(dict(images=images, annotations=annotations, categories=categories)))
    return str(path)


def build(ann_file, test_mode=False, **kwargs):
    return DATASETS.build(
        dict(
            type='SkyCocoDataset', ann_file=ann_file, metainfo=dict(classes=CLASSES),
            data_prefix=dict(img=ann_file.rsplit('/', 1)[0] + '/images/'), test_mode=test_mode,
            pipeline=[], **kwargs,
        )
    )  # fmt: skip


def test_border_boxes_clipped_degenerate_and_unknown_dropped_each_named(tmp_path, logged):
    ann_file = write_coco(
        tmp_path,
        [
            [(1, [10, 10, 5, 4]), (2, [60, 40, 5, 9])],  # kept; 1 px past the right, 1 px below
            [(1, [20, 20, 0, 6]), (99, [5, 5, 4, 4])],  # zero width; a category not in the file
        ],
    )
    dataset = build(ann_file)
    assert [dataset.get_data_info(i)['instances'] for i in range(len(dataset))] == [
        [
            dict(bbox=[10, 10, 15, 14], bbox_label=0, ignore_flag=0),
            dict(bbox=[60.0, 40.0, 64.0, 48.0], bbox_label=1, ignore_flag=0),
        ],
        [],
    ]
    assert all(level == logging.WARNING for _, level in logged)
    text = '\n'.join(msg for msg, _ in logged)
    assert f"{ann_file}: 1 boxes clipped to the image: image 'frame1.jpg' (id 1) box 1" in text
    assert '[60.0, 40.0, 65.0, 49.0] -> [60.0, 40.0, 64.0, 48.0]' in text
    assert "1 boxes under 1 px inside the image dropped: image 'frame2.jpg' (id 2) box 0" in text
    assert (
        "not in categories dropped: image 'frame2.jpg' (id 2) annotation 4 category_id 99" in text
    )


def test_filter_empty_gt_drops_images_whose_boxes_were_all_dropped(tmp_path, logged):
    ann_file = write_coco(tmp_path, [[(1, [10, 10, 5, 4])], [(1, [20, 20, 0, 6])]])
    assert len(build(ann_file, filter_cfg=dict(filter_empty_gt=True))) == 1
    assert len(build(ann_file, test_mode=True)) == 2  # evaluation keeps every image


@pytest.mark.parametrize(
    'boxes',
    [
        [[(1, [10, 10, 0, 4])], [(2, [70, 10, 5, 5])]],  # zero width; wholly outside the image
        [[], []],  # no box at all (mmdet: "need at least one array to concatenate")
    ],
)
def test_training_set_without_a_valid_box_stops_at_loading(tmp_path, logged, boxes):
    ann_file = write_coco(tmp_path, boxes)
    with pytest.raises(ValueError, match=rf'{ann_file}: no valid box in 2 training images'):
        build(ann_file)
    assert len(build(ann_file, test_mode=True)) == 2


def test_crops_centre_on_a_box_that_crossed_the_border(tmp_path, logged):
    # SmallObjectCrop centres its crop on a box at the border once the box is inside the image.
    ann_file = write_coco(tmp_path, [[(1, [250, 100, 8, 6])]], size=(256, 192))
    dataset = DATASETS.build(
        dict(
            type='SkyCocoDataset', ann_file=ann_file, metainfo=dict(classes=CLASSES),
            data_prefix=dict(img=str(tmp_path / 'images') + '/'),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', with_bbox=True),
                dict(type='SmallObjectCrop', crop_size=(64, 64), object_prob=0.8),
            ],
        )
    )  # fmt: skip
    kept = sum(len(dataset[0]['gt_bboxes']) for _ in range(100))
    assert kept >= 65  # ~80% (6-7% with the box unclipped)


def test_synthetic_and_skywatch_datasets_validate_their_boxes(tmp_path, logged):
    synthetic = DATASETS.build(
        dict(type='SyntheticSkyDataset', num_images=20, img_size=(256, 192), pipeline=[])
    )
    for info in map(synthetic.get_data_info, range(len(synthetic))):
        for instance in info['instances']:
            x1, y1, x2, y2 = instance['bbox']
            assert 0 <= x1 <= x2 - 1 <= 255 and 0 <= y1 <= y2 - 1 <= 191

    ann_file = write_coco(tmp_path, [[(1, [-2, 3, 6, 4])]], categories=((1, 'plane'),))
    skywatch = DATASETS.build(
        dict(type='SkyWatchDataset', ann_file=ann_file, data_prefix=dict(img='images/'))
    )
    assert skywatch.get_data_info(0)['instances'][0]['bbox'] == [0.0, 3.0, 4.0, 7.0]
    assert any('boxes clipped to the image' in msg for msg, _ in logged)


def test_report_names_the_first_examples_and_counts_the_rest(logged):
    data_list = [
        dict(img_path=f'f{i}.jpg', img_id=i, width=9, height=9, instances=[dict(bbox=[0, 0, 0, 5])])
        for i in range(8)
    ]  # fmt: skip
    report = GroundTruthReport('src.json')
    validate_ground_truth(data_list, report)
    report.log()
    ((msg, _),) = logged
    assert msg.startswith('src.json: 8 boxes under 1 px inside the image dropped: ')
    assert msg.count("image 'f") == 5 and msg.endswith('(and 3 more)')
