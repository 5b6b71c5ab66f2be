"""SkyVideoPairDataset and the frame-pair transforms: sampling, sources, shared augmentation."""

import logging
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmdet.registry import DATASETS, TRANSFORMS
from mmdet.structures import DetDataSample

from mmcofnet.datasets import scene_boxes, sky_video_pairs

PACK = dict(type='PackPairInputs')


def write_frame_folder(folder, num_frames, size=(32, 24)):
    """Frames whose every pixel is 10 * (their index + 1)."""
    os.makedirs(folder)
    for i in range(num_frames):
        frame = np.full((size[1], size[0], 3), 10 * (i + 1), np.uint8)
        cv2.imwrite(osp.join(folder, f'{i:03d}.png'), frame)


def write_video(path, num_frames, size=(64, 48), fourcc='mp4v'):
    """A flat video whose frame i has grey level 20 * (i + 1)."""
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), 10, size)
    assert writer.isOpened()
    for i in range(num_frames):
        writer.write(np.full((size[1], size[0], 3), 20 * (i + 1), np.uint8))
    writer.release()


def coordinate_frames(width=40, height=30):
    """A pair whose pixels encode their coordinates: (x, y, 0) in frame t, (x, y, 1) in t+k."""
    ys, xs = np.mgrid[0:height, 0:width]
    img = np.stack([xs, ys, np.zeros_like(xs)], axis=2).astype(np.uint8)
    img_next = img.copy()
    img_next[..., 2] = 1
    return img, img_next


def test_frame_folders_pair_sampling(tmp_path):
    write_frame_folder(str(tmp_path / 'clips' / 'a'), 6)
    write_frame_folder(str(tmp_path / 'clips' / 'b'), 3)
    dataset = DATASETS.build(
        dict(
            type='SkyVideoPairDataset',
            data_root=str(tmp_path),
            video_glob='clips/*',
            frame_gap=(1, 3),
            pairs_per_clip=5,
            pipeline=[dict(type='LoadFramePair')],
        )
    )
    assert len(dataset) == 2 * 5
    info = dataset.get_data_info(0)
    assert info['source'] == 'frames' and info['num_frames'] == 6
    assert info['img_path'] == str(tmp_path / 'clips' / 'a')
    gaps = set()
    for _ in range(40):
        for index in (0, 7):
            results = dataset[index]
            t, k, n = results['frame_index'], results['frame_gap'], results['num_frames']
            assert 1 <= k <= min(3, n - 1) and 0 <= t and t + k < n
            # The pixels say which frames were loaded.
            assert (results['img'] == 10 * (t + 1)).all()
            assert (results['img_next'] == 10 * (t + k + 1)).all()
            assert results['img_shape'] == results['ori_shape'] == (24, 32)
            gaps.add(k)
    assert gaps == {1, 2, 3}  # random per call, every gap of the range


def test_video_source_reads_frames_t_and_t_plus_k(tmp_path):
    write_video(str(tmp_path / 'clip.mp4'), 8)
    dataset = DATASETS.build(
        dict(
            type='SkyVideoPairDataset',
            data_root=str(tmp_path),
            video_glob='*.mp4',
            frame_gap=(2, 2),
            pipeline=[dict(type='LoadFramePair')],
        )
    )
    assert len(dataset) == 1 and dataset.get_data_info(0)['num_frames'] == 8
    for _ in range(5):
        results = dataset[0]
        t = results['frame_index']
        assert results['frame_gap'] == 2 and t + 2 < 8
        assert results['img'].dtype == np.uint8 and results['img'].shape == (48, 64, 3)
        assert abs(results['img'].mean() - 20 * (t + 1)) < 4
        assert abs(results['img_next'].mean() - 20 * (t + 3)) < 4


def test_unreadable_videos_are_skipped_with_a_warning(tmp_path, monkeypatch):
    write_video(str(tmp_path / 'good.mp4'), 5)
    write_video(str(tmp_path / 'one_frame.mp4'), 1)
    (tmp_path / 'garbage.mp4').write_bytes(b'not a video' * 100)
    write_video(str(tmp_path / 'full.avi'), 10, fourcc='MJPG')
    data = (tmp_path / 'full.avi').read_bytes()
    (tmp_path / 'truncated.avi').write_bytes(data[: len(data) // 2])  # header says 10 frames
    os.remove(tmp_path / 'full.avi')
    logged = []
    monkeypatch.setattr(
        sky_video_pairs,
        'print_log',
        lambda msg, logger=None, level=None: logged.append((msg, level)),
    )
    dataset = DATASETS.build(
        dict(type='SkyVideoPairDataset', data_root=str(tmp_path), video_glob='*', pairs_per_clip=3)
    )
    assert len(dataset) == 3
    assert dataset.get_data_info(0)['img_path'] == str(tmp_path / 'good.mp4')
    skipped = {osp.basename(msg.split('skipped ')[1].split(':')[0]) for msg, _ in logged}
    assert skipped == {'one_frame.mp4', 'garbage.mp4', 'truncated.avi'}
    assert all(level == logging.WARNING for _, level in logged)

    with pytest.raises(ValueError, match=r'no readable clip.*' + str(tmp_path) + r".*\['ga\*'\]"):
        DATASETS.build(dict(type='SkyVideoPairDataset', data_root=str(tmp_path), video_glob='ga*'))


def test_pair_random_crop_cuts_one_window_from_both_frames():
    crop = TRANSFORMS.build(dict(type='PairRandomCrop', crop_size=(16, 12)))
    origins = set()
    for _ in range(20):
        img, img_next = coordinate_frames()
        flow = np.stack([img[..., 0], img[..., 1]], axis=2).astype(np.float32)
        results = crop(dict(img=img, img_next=img_next, flow=flow))
        a, b = results['img'], results['img_next']
        assert a.shape == b.shape == (12, 16, 3) and results['img_shape'] == (12, 16)
        assert (a[..., :2] == b[..., :2]).all() and (b[..., 2] == 1).all()
        x0, y0 = results['crop_origin']
        assert a[0, 0, 0] == x0 and a[0, 0, 1] == y0
        assert (a[..., 0] == x0 + np.arange(16)).all() and (a[..., 1].T == y0 + np.arange(12)).all()
        assert (results['flow'][..., 0] == a[..., 0]).all()  # the targets follow the window
        origins.add((x0, y0))
    assert len(origins) > 1


def test_pair_random_crop_pads_small_frames_by_replicating_edges():
    img, img_next = coordinate_frames(10, 8)
    results = TRANSFORMS.build(dict(type='PairRandomCrop', crop_size=(14, 11)))(
        dict(img=img, img_next=img_next, motion_mask=np.ones((8, 10), np.uint8))
    )
    a, b = results['img'], results['img_next']
    assert a.shape == b.shape == (11, 14, 3) and results['crop_origin'] == (0, 0)
    assert (a[:, 10:, 0] == 9).all() and (a[8:, :, 1] == 7).all()  # the last column / row
    assert (a[..., :2] == b[..., :2]).all()
    assert results['motion_mask'][:8, :10].all() and not results['motion_mask'][8:].any()


def test_pair_random_flip_flips_both_frames_and_the_flow():
    img, img_next = coordinate_frames()
    flow = np.zeros((30, 40, 2), np.float32)
    flow[..., 0], flow[..., 1] = 3.0, -2.0
    flow[5, 7] = (1.0, 4.0)
    results = TRANSFORMS.build(dict(type='PairRandomFlip', prob=1.0))(
        dict(img=img, img_next=img_next, flow=flow)
    )
    a, b = results['img'], results['img_next']
    assert results['flip'] and results['flip_direction'] == 'horizontal'
    assert (a[0, :, 0] == np.arange(39, -1, -1)).all() and (a[..., :2] == b[..., :2]).all()
    assert (results['flow'][5, 39 - 7] == (-1.0, 4.0)).all()
    assert (results['flow'][0, 0] == (-3.0, -2.0)).all()

    unflipped = TRANSFORMS.build(dict(type='PairRandomFlip', prob=0.0))(
        dict(img=img, img_next=img_next)
    )
    assert not unflipped['flip'] and unflipped['flip_direction'] is None
    assert (unflipped['img'] == img).all()


def test_pack_pair_inputs_shapes_dtypes_and_metainfo():
    img, img_next = coordinate_frames(20, 16)
    mask = np.zeros((16, 20), np.uint8)
    mask[3:6, 4:9] = 1
    flow = np.zeros((16, 20, 2), np.float32)
    flow[..., 0], flow[..., 1] = 1.5, -0.5
    results = dict(
        img=img,
        img_next=img_next,
        motion_mask=mask,
        flow=flow,
        img_path='clip.mp4',
        frame_index=4,
        frame_gap=2,
        img_shape=(16, 20),
        ori_shape=(512, 640),
        flip=True,
    )
    packed = TRANSFORMS.build(PACK)(results)
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (6, 16, 20)
    assert (inputs[:3].permute(1, 2, 0).numpy() == img).all()
    assert (inputs[3:].permute(1, 2, 0).numpy() == img_next).all()
    assert isinstance(sample, DetDataSample)
    assert sample.img_path == 'clip.mp4' and sample.frame_index == 4 and sample.frame_gap == 2
    assert sample.img_shape == sample.pad_shape == (16, 20) and sample.ori_shape == (512, 640)
    assert sample.scale_factor == (1.0, 1.0) and sample.flip is True
    motion, flow_data = sample.motion_mask.data, sample.flow.data
    assert motion.dtype == torch.float32 and motion.shape == (1, 16, 20)
    assert motion.sum() == 15 and set(motion.unique().tolist()) == {0.0, 1.0}
    assert flow_data.dtype == torch.float32 and flow_data.shape == (2, 16, 20)
    assert (flow_data[0] == 1.5).all() and (flow_data[1] == -0.5).all()

    with pytest.raises(KeyError, match='MotionTargets'):
        TRANSFORMS.build(PACK)(dict(img=img, img_next=img_next))


def test_synthetic_clips_pan_and_their_objects_move():
    dataset = DATASETS.build(
        dict(
            type='SkyVideoPairDataset',
            synthetic=dict(
                num_clips=3,
                img_size=(96, 64),
                seed=1,
                num_frames=6,
                scene_cfg=dict(num_objects=(2, 3), size_range=(6.0, 12.0)),
            ),
            frame_gap=(1, 2),
            pairs_per_clip=2,
            pipeline=[
                dict(type='LoadFramePair'),
                dict(type='PairRandomCrop', crop_size=(64, 48)),
                dict(type='PairRandomFlip'),
                dict(type='MotionTargets'),
                PACK,
            ],
        )
    )
    assert len(dataset) == 6
    for index in range(0, 6, 2):
        info = dataset.get_data_info(index)
        scene = info['scene']
        assert info['source'] == 'synthetic' and info['num_frames'] == 6
        assert scene.pan != (0.0, 0.0) and scene.margin >= max(map(abs, scene.pan)) * 6
        packed = dataset[index]
        sample = packed['data_samples']
        t, k = sample.frame_index, sample.frame_gap
        assert 1 <= k <= 2 and t + k < 6
        assert packed['inputs'].shape == (6, 48, 64)
        assert sample.motion_mask.data.shape == (1, 48, 64)
        # Between the two frames, every object moved and the frames differ.
        before, _, ids_before = scene_boxes(scene, t)
        after, _, ids_after = scene_boxes(scene, t + k)
        common = np.intersect1d(ids_before, ids_after)
        assert len(common) > 0
        for obj_id in common:
            moved = after[ids_after == obj_id] - before[ids_before == obj_id]
            assert np.abs(moved).max() > 0.5
        inputs = packed['inputs'].float()
        assert (inputs[:3] - inputs[3:]).abs().mean() > 0.5


def test_real_halmstad_video_pair(repo_root):
    root = os.environ.get(
        'HALMSTAD_SKY_ROOT', osp.join(repo_root, '..', 'shared', 'data', 'halmstad-sky')
    )
    folder = osp.join(root, 'videos', 'val')
    videos = sorted(os.listdir(folder)) if osp.isdir(folder) else []
    if not videos:
        pytest.skip(f'halmstad-sky is not at {root} (set HALMSTAD_SKY_ROOT)')
    dataset = DATASETS.build(
        dict(
            type='SkyVideoPairDataset',
            data_root=root,
            video_glob=f'videos/val/{videos[0]}',
            frame_gap=(1, 3),
            pipeline=[
                dict(type='LoadFramePair'),
                dict(type='PairRandomCrop', crop_size=(160, 128)),
                dict(type='MotionTargets'),
                PACK,
            ],
        )
    )
    info = dataset.get_data_info(0)
    assert info['source'] == 'video' and info['num_frames'] > 100
    assert (info['width'], info['height']) == (640, 512)
    packed = dataset[0]
    sample = packed['data_samples']
    assert packed['inputs'].shape == (6, 128, 160) and sample.ori_shape == (512, 640)
    assert 1 <= sample.frame_gap <= 3 and sample.frame_index + sample.frame_gap < info['num_frames']
    assert sample.flow.data.shape == (2, 128, 160)
