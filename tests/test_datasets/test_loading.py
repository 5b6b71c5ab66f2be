"""LoadCheckedImageFromFile: corrupt and truncated images named, or skipped in training."""

import json
import logging

import cv2
import numpy as np
import pytest
from mmdet.registry import DATASETS, TRANSFORMS

from mmcofnet.datasets.transforms import loading


def write_frames(tmp_path, contents):
    """Images ``frame{i}.jpg`` with the given bytes (None: a good JPEG) and a COCO file."""
    (tmp_path / 'images').mkdir()
    good = cv2.imencode('.jpg', np.random.default_rng(0).integers(0, 255, (32, 48, 3), np.uint8))
    images, annotations = [], []
    for i, content in enumerate(contents, start=1):
        (tmp_path / 'images' / f'frame{i}.jpg').write_bytes(content or good[1].tobytes())
        images.append(dict(id=i, file_name=f'frame{i}.jpg', width=48, height=32))
        annotations.append(
            dict(id=i, image_id=i, category_id=1, bbox=[4, 4, 8, 8], area=64, iscrowd=0)
        )
    coco = dict(images=images, annotations=annotations, categories=[dict(id=1, name='BIRD')])
    (tmp_path / 'ann.json').write_text(json.dumps(coco))
    return good[1].tobytes()


def dataset(tmp_path, test_mode, skip_corrupt):
    return DATASETS.build(
        dict(
            type='SkyCocoDataset', data_root=str(tmp_path), ann_file='ann.json',
            data_prefix=dict(img='images/'), metainfo=dict(classes=('BIRD',)), test_mode=test_mode,
            pipeline=[dict(type='LoadCheckedImageFromFile', skip_corrupt=skip_corrupt)],
        )
    )  # fmt: skip


@pytest.fixture
def logged(monkeypatch):
    messages = []
    monkeypatch.setattr(
        loading, 'print_log', lambda msg, logger=None, level=None: messages.append((msg, level))
    )
    return messages


def test_truncated_and_unreadable_frames_are_errors_that_name_them(tmp_path):
    good = write_frames(tmp_path, [None, None])
    (tmp_path / 'images' / 'frame1.jpg').write_bytes(good[: len(good) * 3 // 4])
    (tmp_path / 'images' / 'frame2.jpg').write_bytes(b'not an image')
    data = dataset(tmp_path, test_mode=True, skip_corrupt=False)
    with pytest.raises(OSError, match=r'frame1\.jpg: not a readable image'):
        data[0]
    with pytest.raises(OSError, match=r'frame2\.jpg: not a readable image'):
        data[1]
    (tmp_path / 'images' / 'frame2.jpg').unlink()
    with pytest.raises(FileNotFoundError, match='frame2.jpg'):
        data[1]


def test_training_skips_corrupt_frames_with_one_warning_each(tmp_path, logged):
    good = write_frames(tmp_path, [None, None, None])
    (tmp_path / 'images' / 'frame2.jpg').write_bytes(good[: len(good) // 2])
    data = dataset(tmp_path, test_mode=False, skip_corrupt=True)
    loaded = [data[1]['img_path'] for _ in range(5)]  # each draws another frame instead
    assert all(path.endswith(('frame1.jpg', 'frame3.jpg')) for path in loaded)
    assert data[0]['img'].shape == (32, 48, 3)
    assert len(logged) == 1 and logged[0][1] == logging.WARNING
    message = logged[0][0]
    assert message.startswith('skipped ') and 'frame2.jpg: not a readable image' in message


def test_options_that_would_hide_missing_files_are_refused():
    with pytest.raises(ValueError, match='ignore_empty'):
        TRANSFORMS.build(dict(type='LoadCheckedImageFromFile', ignore_empty=True))


def test_broken_annotation_json_names_the_file(tmp_path):
    write_frames(tmp_path, [None])
    (tmp_path / 'ann.json').write_text('{"images": [')
    with pytest.raises(ValueError, match=rf'{tmp_path}/ann.json: not valid JSON'):
        dataset(tmp_path, test_mode=True, skip_corrupt=False)
