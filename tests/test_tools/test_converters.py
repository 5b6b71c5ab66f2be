"""tools/dataset_converters: yolo2coco.py and halmstad2coco.py write the boxes they are given."""

import csv
import json
import os
import os.path as osp
from collections import defaultdict

import cv2
import numpy as np
import pytest
from conftest import LOAD_PIPELINE, evaluate_ground_truth, load_tool, run_tool
from mmdet.registry import DATASETS
from mmengine.config import Config


@pytest.fixture(scope='module')
def yolo2coco(repo_root):
    return load_tool(repo_root, 'tools/dataset_converters/yolo2coco.py')


@pytest.fixture(scope='module')
def halmstad2coco(repo_root):
    return load_tool(repo_root, 'tools/dataset_converters/halmstad2coco.py')


# ---------------------------------------------------------------------------------------------
# yolo2coco

# A Roboflow YOLOv8 export: (split, image, (width, height), label file lines or None for none).
YOLO_IMAGES = [
    (
        'train',
        'a.jpg',
        (200, 100),
        [
            '0 0.5 0.5 0.2 0.4',  # inside
            '2 0.95 0.1 0.2 0.4',  # over the right and top edges: clipped
            '',  # blank lines are skipped
            '1 1.2 0.5 0.1 0.1',  # outside on the right: dropped
        ],
    ),
    ('train', 'b.png', (100, 50), None),  # no label file: an image without boxes
    ('train', 'c.jpg', (64, 64), []),  # empty label file
    ('valid', 'd.jpg', (80, 60), ['1 0.25 0.5 0.5 1.0']),
]
YOLO_EXPECTED = {  # file_name: [(category_id, [x, y, w, h]), ...]
    'train/a.jpg': [(1, [80.0, 30.0, 40.0, 40.0]), (3, [170.0, 0.0, 30.0, 30.0])],
    'train/b.png': [],
    'train/c.jpg': [],
    'valid/d.jpg': [(2, [0.0, 0.0, 40.0, 60.0])],
}


def write_yolo_export(root, images=YOLO_IMAGES):
    root.mkdir()
    (root / 'data.yaml').write_text(
        'train: ../train/images\nval: ../valid/images\nnc: 3\n'
        "names: ['Plane', 'WildLife', 'meteorite']\n"
    )
    for split, name, (width, height), lines in images:
        for sub in ('images', 'labels'):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
        image = np.zeros((height, width, 3), np.uint8)
        assert cv2.imwrite(str(root / split / 'images' / name), image)
        if lines is not None:
            (root / split / 'labels' / (osp.splitext(name)[0] + '.txt')).write_text(
                '\n'.join(lines) + '\n'
            )


@pytest.mark.slow
def test_yolo2coco_writes_clipped_boxes_and_empty_images(repo_root, tmp_path):
    src, out = tmp_path / 'export', tmp_path / 'coco'
    write_yolo_export(src)
    stdout = run_tool(repo_root, 'tools/dataset_converters/yolo2coco.py', str(src), str(out)).stdout
    assert (
        'train: 3 images (2 without boxes), 2 boxes (Plane: 1, WildLife: 0, meteorite: 1), '
        '1 dropped'
    ) in stdout
    found = {}
    for split in ('train', 'valid'):
        coco = json.loads((out / 'annotations' / f'{split}.json').read_text())
        assert [c['name'] for c in coco['categories']] == ['Plane', 'WildLife', 'meteorite']
        for image in coco['images']:
            found[image['file_name']] = [
                (a['category_id'], a['bbox'])
                for a in coco['annotations']
                if a['image_id'] == image['id']
            ]
            assert osp.isfile(out / 'images' / image['file_name'])
        sizes = {i['file_name']: (i['width'], i['height']) for i in coco['images']}
        assert all(
            sizes[f'{split}/{name}'] == size for s, name, size, _ in YOLO_IMAGES if s == split
        )
    assert found == YOLO_EXPECTED


def test_yolo2coco_output_loads_as_skywatch(yolo2coco, tmp_path):
    src, out = tmp_path / 'export', tmp_path / 'coco'
    write_yolo_export(src)
    yolo2coco.main([str(src), str(out), '--splits', 'train', '--link'])
    assert os.stat(out / 'images' / 'train' / 'a.jpg').st_nlink == 2  # hard-linked
    dataset = DATASETS.build(
        dict(
            type='SkyWatchDataset',
            data_root=str(out),
            ann_file='annotations/train.json',
            data_prefix=dict(img='images/'),
            test_mode=True,
            pipeline=LOAD_PIPELINE,
        )
    )
    sample = dataset[0]
    assert sample['img'].shape == (100, 200, 3)
    np.testing.assert_allclose(sample['gt_bboxes'].numpy(), [[80, 30, 120, 70], [170, 0, 200, 30]])
    np.testing.assert_array_equal(sample['gt_bboxes_labels'], [0, 2])


@pytest.mark.parametrize(
    'line, match',
    [
        ('0 0.5 0.5 0.2', '5 values'),
        ('3 0.5 0.5 0.2 0.2', r'class 3 is not in \[0, 3\)'),
        ('x 0.5 0.5 0.2 0.2', 'integer class'),
        ('0 0.5 0.5 -0.2 0.2', 'negative box size'),
    ],
)
def test_yolo2coco_names_file_and_line_of_a_malformed_label(yolo2coco, tmp_path, line, match):
    src = tmp_path / 'export'
    write_yolo_export(src, [('train', 'bad.jpg', (32, 32), ['0 0.5 0.5 0.2 0.2', line])])
    with pytest.raises(ValueError, match=rf'bad\.txt:2: .*{match}'):
        yolo2coco.main([str(src), str(tmp_path / 'coco')])


def test_yolo2coco_reads_polygons_and_needs_names(yolo2coco, tmp_path):
    assert yolo2coco.parse_label_line('1 0.1 0.2 0.5 0.3 0.4 0.9', 3, 'f:1') == (
        1,
        [0.1, 0.2, 0.5, 0.9],
    )
    with pytest.raises(FileNotFoundError, match='data.yaml'):
        yolo2coco.read_class_names(str(tmp_path))


# ---------------------------------------------------------------------------------------------
# halmstad2coco on a tiny video made here

VIDEO_SIZE = (96, 64)  # (width, height)
# frame: [(label, x, y, width, height)]; frame 4 has no row (not labelled).
TINY_LABELS = {
    0: [('AIRPLANE', 10, 12, 20, 16), ('BIRD', 40.5, 20.25, 8, 6)],
    1: [('BIRD', 1, 1, 5, 5)],
    2: [('DRONE', -5, 30, 20, 10), ('HELICOPTER', 90, 50, 20, 20)],  # both clipped
    3: [('DRONE', 1, 1, 5, 5)],
    5: [('AIRPLANE', 100, 10, 5, 5), ('BIRD', 30, 30, 4, 4)],  # the airplane is outside
}
# --step 2 keeps every other labelled frame: 0, 2 and 5.
TINY_EXPECTED = {
    0: [(1, [10.0, 12.0, 20.0, 16.0]), (2, [40.5, 20.25, 8.0, 6.0])],
    2: [(3, [0.0, 30.0, 15.0, 10.0]), (4, [90.0, 50.0, 6.0, 14.0])],
    5: [(2, [30.0, 30.0, 4.0, 4.0])],
}


def frame_value(index):
    """Each frame is one grey level, so a written frame tells which one it is."""
    return 20 + 35 * index


def write_video(path, num_frames):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 30, VIDEO_SIZE)
    assert writer.isOpened(), 'OpenCV cannot write mp4v videos here'
    for index in range(num_frames):
        writer.write(np.full((VIDEO_SIZE[1], VIDEO_SIZE[0], 3), frame_value(index), np.uint8))
    writer.release()


def write_labels(path, labels):
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['frame', 'label', 'x', 'y', 'width', 'height'])
        for frame, boxes in labels.items():
            writer.writerows([frame, *box] for box in boxes)


@pytest.fixture
def tiny_halmstad(tmp_path):
    root = tmp_path / 'halmstad'
    for split in ('train', 'val'):
        (root / 'videos' / split).mkdir(parents=True)
    (root / 'labels').mkdir()
    write_video(root / 'videos' / 'train' / 'V_TEST_001.mp4', 7)
    write_labels(root / 'labels' / 'V_TEST_001_LABELS.csv', TINY_LABELS)
    write_video(root / 'videos' / 'val' / 'V_TEST_002.mp4', 2)
    write_labels(root / 'labels' / 'V_TEST_002_LABELS.csv', {1: [('DRONE', 2, 3, 4, 5)]})
    (root / 'splits.csv').write_text('video,split\nV_TEST_001,train\nV_TEST_002,val\n')
    return root


@pytest.mark.slow
def test_halmstad2coco_keeps_every_step_th_labelled_frame(repo_root, tiny_halmstad, tmp_path):
    out = tmp_path / 'coco'
    stdout = run_tool(
        repo_root,
        'tools/dataset_converters/halmstad2coco.py',
        '--src',
        str(tiny_halmstad),
        '--out',
        str(out),
        '--step',
        '2',
    ).stdout
    assert (
        'train: 1 videos, 3 images, 5 boxes (AIRPLANE: 1, BIRD: 2, DRONE: 1, HELICOPTER: 1), '
        '1 dropped boxes'
    ) in stdout
    assert 'val: 1 videos, 1 images, 1 boxes' in stdout
    train = json.loads((out / 'annotations' / 'train.json').read_text())
    assert [c['name'] for c in train['categories']] == ['AIRPLANE', 'BIRD', 'DRONE', 'HELICOPTER']
    assert [c['id'] for c in train['categories']] == [1, 2, 3, 4]
    found = {}
    for image in train['images']:
        assert image['video'] == 'V_TEST_001'
        assert image['file_name'] == f'train/V_TEST_001/{image["frame_id"]:05d}.jpg'
        assert (image['width'], image['height']) == VIDEO_SIZE
        found[image['frame_id']] = [
            (a['category_id'], a['bbox'])
            for a in train['annotations']
            if a['image_id'] == image['id']
        ]
        # The written frame is the labelled one (decoded in order, not sought).
        img = cv2.imread(str(out / 'images' / image['file_name']))
        assert abs(img.mean() - frame_value(image['frame_id'])) < 10
    assert found == TINY_EXPECTED
    val = json.loads((out / 'annotations' / 'val.json').read_text())
    assert [(i['video'], i['frame_id']) for i in val['images']] == [('V_TEST_002', 1)]


def test_halmstad2coco_subset_of_videos_leaves_other_splits_alone(
    halmstad2coco, tiny_halmstad, tmp_path
):
    out = tmp_path / 'coco'
    halmstad2coco.main(['--src', str(tiny_halmstad), '--out', str(out), '--videos', 'V_TEST_002'])
    assert os.listdir(out / 'annotations') == ['val.json']
    with pytest.raises(ValueError, match=r"videos \['V_NOPE'\] are not in .*splits\.csv"):
        halmstad2coco.main(['--src', str(tiny_halmstad), '--out', str(out), '--videos', 'V_NOPE'])


def test_halmstad2coco_names_file_and_line_of_a_bad_label(halmstad2coco, tiny_halmstad, tmp_path):
    write_labels(
        tiny_halmstad / 'labels' / 'V_TEST_002_LABELS.csv',
        {0: [('DRONE', 1, 1, 2, 2)], 1: [('UFO', 2, 3, 4, 5)]},
    )
    with pytest.raises(ValueError, match=r"V_TEST_002_LABELS\.csv:3: unknown label 'UFO'"):
        halmstad2coco.main(['--src', str(tiny_halmstad), '--out', str(tmp_path / 'coco')])


# ---------------------------------------------------------------------------------------------
# halmstad2coco on real videos

REAL_VIDEOS = {'V_AIRPLANE_001': 'train', 'V_BIRD_023': 'val'}  # the birds: 2-3 per frame
REAL_STEP = 50


@pytest.fixture(scope='module')
def halmstad_root(repo_root):
    root = os.environ.get(
        'HALMSTAD_SKY_ROOT', osp.join(repo_root, '..', 'shared', 'data', 'halmstad-sky')
    )
    if not osp.isfile(osp.join(root, 'splits.csv')):
        pytest.skip(f'halmstad-sky not found at {osp.abspath(root)} (set HALMSTAD_SKY_ROOT)')
    return root


@pytest.fixture(scope='module')
def real_coco(repo_root, halmstad_root, tmp_path_factory):
    out = tmp_path_factory.mktemp('halmstad-coco')
    stdout = run_tool(
        repo_root,
        'tools/dataset_converters/halmstad2coco.py',
        '--src',
        halmstad_root,
        '--out',
        str(out),
        '--step',
        str(REAL_STEP),
        '--videos',
        *REAL_VIDEOS,
    ).stdout
    assert '0 dropped boxes' in stdout
    return out


def csv_boxes(halmstad_root, video):
    """``{frame: sorted [(category_id, x1, y1, x2, y2)]}`` straight from the CSV."""
    classes = ('AIRPLANE', 'BIRD', 'DRONE', 'HELICOPTER')
    boxes = defaultdict(list)
    with open(osp.join(halmstad_root, 'labels', f'{video}_LABELS.csv'), newline='') as f:
        for row in csv.DictReader(f):
            x, y, w, h = (float(row[k]) for k in ('x', 'y', 'width', 'height'))
            boxes[int(row['frame'])].append((classes.index(row['label']), x, y, x + w, y + h))
    return {frame: sorted(b) for frame, b in boxes.items()}


def halmstad_config(repo_root, out, split):
    """The base config, pointed at a converted split as its comment says."""
    cfg = Config.fromfile(osp.join(repo_root, 'configs/_base_/datasets/halmstad_sky.py'))
    cfg.merge_from_dict(
        {
            'test_dataloader.dataset.data_root': f'{out}/',
            'test_dataloader.dataset.ann_file': f'annotations/{split}.json',
            'test_evaluator.ann_file': f'{out}/annotations/{split}.json',
            'train_dataloader.dataset.data_root': f'{out}/',
        }
    )
    return cfg


@pytest.mark.slow
@pytest.mark.parametrize('video, split', REAL_VIDEOS.items())
def test_real_frames_load_with_the_csv_boxes(repo_root, halmstad_root, real_coco, video, split):
    expected = csv_boxes(halmstad_root, video)
    cfg = halmstad_config(repo_root, real_coco, split)
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    assert len(dataset) == len(range(0, len(expected), REAL_STEP))
    assert dataset.metainfo['classes'] == ('AIRPLANE', 'BIRD', 'DRONE', 'HELICOPTER')
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        frame = int(osp.splitext(osp.basename(info['img_path']))[0])
        assert frame == sorted(expected)[i * REAL_STEP]
        sample = dataset[i]
        assert tuple(sample['inputs'].shape) == (3, 512, 640)
        gt = sample['data_samples'].gt_instances
        found = sorted(zip(gt.labels.tolist(), *gt.bboxes.tensor.T.tolist()))
        np.testing.assert_allclose(found, expected[frame], atol=1e-3)
    assert evaluate_ground_truth(dataset, cfg.test_evaluator)['coco/bbox_mAP'] == (
        pytest.approx(1.0)
    )


@pytest.mark.slow
def test_real_frames_train_as_crops(repo_root, real_coco):
    cfg = halmstad_config(repo_root, real_coco, 'val')
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    assert len(dataset) == 7  # V_AIRPLANE_001 has 327 labelled frames
    sample = dataset[0]
    assert tuple(sample['inputs'].shape) == (3, 320, 320)
