"""tools/dataset_converters/video_subset.py: whole videos, the same share of every class."""

import json

import pytest
from conftest import load_tool


def coco(videos_per_class: dict[int, int], frames: int = 3) -> dict:
    """Videos of one class each (``category: videos``), ``frames`` frames of one object each."""
    images, annotations = [], []
    for category, count in videos_per_class.items():
        for v in range(count):
            for f in range(frames):
                images.append(dict(id=len(images) + 1, file_name=f'{category}_{v}/{f}.jpg',
                                   video=f'V{category}_{v:02d}', width=64, height=64))  # fmt: skip
                annotations.append(dict(id=len(annotations) + 1, image_id=len(images),
                                        category_id=category, bbox=[1, 1, 4, 4]))  # fmt: skip
    categories = [dict(id=c, name=str(c)) for c in videos_per_class]
    return dict(images=images, annotations=annotations, categories=categories)


def test_subset_keeps_whole_videos_and_each_class_share(repo_root, tmp_path):
    tool = load_tool(repo_root, 'tools/dataset_converters/video_subset.py')
    src, out = tmp_path / 'train.json', tmp_path / 'sub.json'
    src.write_text(json.dumps(coco({1: 20, 2: 10, 3: 3})))
    assert tool.main([str(src), str(out), '--fraction', '0.1', '--seed', '0']) == 0
    sub = json.loads(out.read_text())
    videos = {img['video'] for img in sub['images']}
    per_class = {c: sum(v.startswith(f'V{c}_') for v in videos) for c in (1, 2, 3)}
    assert per_class == {1: 2, 2: 1, 3: 1}  # 10% rounded, at least one per class
    assert len(sub['images']) == 3 * len(videos)  # every frame of a chosen video
    ids = {img['id'] for img in sub['images']}
    assert {a['image_id'] for a in sub['annotations']} == ids
    assert sub['categories'] == json.loads(src.read_text())['categories']
    # The same arguments give the same subset; another seed another one.
    again, other = tmp_path / 'again.json', tmp_path / 'other.json'
    tool.main([str(src), str(again), '--fraction', '0.1', '--seed', '0'])
    tool.main([str(src), str(other), '--fraction', '0.1', '--seed', '1'])
    assert again.read_text() == out.read_text() != other.read_text()


def test_subset_names_the_file_without_video_keys(repo_root, tmp_path):
    tool = load_tool(repo_root, 'tools/dataset_converters/video_subset.py')
    data = coco({1: 2})
    del data['images'][0]['video']
    src = tmp_path / 'plain.json'
    src.write_text(json.dumps(data))
    with pytest.raises(KeyError, match='plain.json: 1 images have no "video" key'):
        tool.main([str(src), str(tmp_path / 'x.json')])
