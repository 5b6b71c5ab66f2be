"""MotionTargets: flow, camera-motion removal and the motion mask, on pairs with known motion."""

import pickle

import cv2
import numpy as np
import pytest
from mmdet.registry import TRANSFORMS

from mmcofnet.datasets.transforms import camera_flow, fit_camera_motion, textured_points

SIZE = 96
SQUARE = 8


@pytest.fixture(scope='module')
def texture():
    """A smooth random texture, large enough to cut shifted frames from."""
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.integers(0, 255, (200, 200)).astype(np.float32), (0, 0), 2)
    return cv2.normalize(noise, None, 40, 200, cv2.NORM_MINMAX).astype(np.uint8)


def frame(texture, shift=(0, 0), square=None, size=SIZE):
    """The texture seen by a camera moved by ``shift`` (content moves by -shift), with a bright
    square whose top-left corner is at ``square`` (frame coordinates)."""
    x, y = 20 + shift[0], 20 + shift[1]
    img = texture[y : y + size, x : x + size].copy()
    if square is not None:
        img[square[1] : square[1] + SQUARE, square[0] : square[0] + SQUARE] = 255
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


def run(img, img_next, frame_gap=1, **kwargs):
    return TRANSFORMS.build(dict(type='MotionTargets', **kwargs))(
        dict(img=img, img_next=img_next, frame_gap=frame_gap)
    )


def square_box(corner, margin=0):
    x, y = corner
    return slice(y - margin, y + SQUARE + margin), slice(x - margin, x + SQUARE + margin)


@pytest.mark.parametrize('method', ['dis', 'farneback'])
def test_a_moving_square_is_masked_where_it_moved(texture, method):
    start, end = (40, 40), (43, 42)
    results = run(frame(texture, square=start), frame(texture, square=end), method=method)
    mask, flow = results['motion_mask'], results['flow']
    assert mask.dtype == np.uint8 and mask.shape == (SIZE, SIZE) and set(np.unique(mask)) <= {0, 1}
    assert flow.dtype == np.float32 and flow.shape == (SIZE, SIZE, 2)
    assert mask[square_box(start)].mean() > 0.8  # the square in frame t
    # Nothing far from the square's path moves.
    near = np.zeros_like(mask, bool)
    near[35:56, 35:56] = True
    assert mask[~near].sum() == 0
    # The flow inside the square points along its motion (3, 2).
    dx, dy = np.median(flow[square_box(start, -2)].reshape(-1, 2), axis=0)
    assert dx > 1.5 and dy > 1.0


@pytest.mark.parametrize('method', ['dis', 'farneback'])
def test_a_pure_camera_pan_gives_no_mask(texture, method):
    results = run(frame(texture), frame(texture, shift=(3, 2)), method=method)
    assert results['motion_mask'].mean() < 0.002
    assert results['camera_fit']
    # Content moves by -shift: flow and the fitted camera motion are (-3, -2).
    assert np.median(results['flow'].reshape(-1, 2), axis=0) == pytest.approx((-3, -2), abs=0.2)
    assert results['camera_motion'][:2, 2] == pytest.approx((-3, -2), abs=0.3)


def test_a_square_moving_under_a_panning_camera_is_masked(texture):
    start = (40, 40)
    img = frame(texture, square=start)
    img_next = frame(texture, shift=(3, 2), square=(44, 41))  # camera (-3, -2), square (+4, +1)
    mask = run(img, img_next)['motion_mask']
    assert mask[square_box(start)].mean() > 0.8
    near = np.zeros_like(mask, bool)
    near[35:60, 35:60] = True  # the square's path, in frame t's coordinates
    assert mask[~near].sum() == 0


def test_only_object_sized_regions_are_kept(texture):
    img = frame(texture, size=160)
    img_next = img.copy()
    img_next[40:110, 40:110] = frame(texture, shift=(-4, -4), size=160)[40:110, 40:110]  # a cloud
    img_next[20:23, 130:133] = 255  # a speck
    assert run(img, img_next)['motion_mask'].sum() == 0
    # The same region is kept when objects may be that large.
    mask = run(img, img_next, object_size=(4, 100))['motion_mask']
    assert mask[40:110, 40:110].mean() > 0.3 and not mask[:30, 120:].any()


def test_the_threshold_grows_with_the_frame_gap(texture):
    img, img_next = frame(texture, square=(40, 40)), frame(texture, square=(41, 40))
    assert run(img, img_next, threshold=0.6)['motion_mask'].any()  # 1 px: above 0.6
    # At k = 4 the threshold is 0.6 * 2 (sqrt) or 0.6 * 4 (linear): the square is too slow.
    assert not run(img, img_next, frame_gap=4, threshold=0.6)['motion_mask'].any()
    assert not run(img, img_next, 4, threshold=0.6, gap_scaling='linear')['motion_mask'].any()
    assert run(img, img_next, 4, threshold=0.6, gap_scaling='none')['motion_mask'].any()


def test_a_flow_already_present_is_reused(texture):
    img, img_next = frame(texture, square=(40, 40)), frame(texture, square=(43, 42))
    still = np.zeros((SIZE, SIZE, 2), np.float32)
    transform = TRANSFORMS.build(dict(type='MotionTargets'))
    results = transform(dict(img=img, img_next=img_next, flow=still))
    assert results['flow'] is still and not results['motion_mask'].any()


def test_flow_of_flipped_frames_is_the_flipped_flow(texture):
    img, img_next = frame(texture, square=(30, 40)), frame(texture, shift=(3, 2), square=(36, 42))
    flip = TRANSFORMS.build(dict(type='PairRandomFlip', prob=1.0))
    before = flip(run(img, img_next))  # targets, then flip (flow flipped by the transform)
    after = run(**{k: v for k, v in flip(dict(img=img, img_next=img_next)).items() if 'img' in k})
    inner = (slice(8, -8), slice(8, -8))
    assert np.median(np.abs(before['flow'][inner] - after['flow'][inner])) < 0.1
    assert np.median(after['flow'][..., 0]) == pytest.approx(3, abs=0.2)  # -(-3)
    overlap = (before['motion_mask'] & after['motion_mask']).sum()
    assert overlap > 0.7 * max(before['motion_mask'].sum(), 1)


def test_hot_pixels_are_not_objects():
    rng = np.random.default_rng(1)
    sky = np.full((SIZE, SIZE, 3), 20, np.uint8)
    img, img_next = sky.copy(), sky.copy()
    for target in (img, img_next):
        ys, xs = rng.integers(5, SIZE - 5, (2, 6))
        target[ys, xs] = 150
    assert not run(img, img_next)['motion_mask'].any()


def test_fit_camera_motion_recovers_a_similarity_among_outliers():
    height, width = 80, 100
    angle, scale, shift = np.deg2rad(2.0), 1.01, (1.5, -2.0)
    matrix = np.eye(3)
    matrix[:2, :2] = scale * np.array(
        [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
    )
    matrix[:2, 2] = shift
    flow = camera_flow(matrix, height, width)
    flow[30:45, 40:55] += (6.0, 3.0)  # an object
    ys, xs = np.mgrid[2:height:6, 2:width:6]
    points = np.stack([xs.ravel(), ys.ravel()], axis=1)
    fitted, ok = fit_camera_motion(flow, points)
    assert ok and np.abs(fitted - matrix).max() < 1e-3
    homography, ok = fit_camera_motion(flow, points, model='homography')
    assert (
        ok
        and np.abs(
            camera_flow(homography, height, width) - camera_flow(matrix, height, width)
        ).max()
        < 0.05
    )

    # Points bunched on one object tell nothing of the camera: it is taken as still.
    still, ok = fit_camera_motion(flow, np.array([[40 + i % 10, 30 + i // 10] for i in range(50)]))
    assert not ok and (still == np.eye(3)).all()
    # Without a consistent majority, the median flow stands in.
    noisy = np.random.default_rng(0).normal(0, 5, (height, width, 2)).astype(np.float32)
    median, ok = fit_camera_motion(noisy + 2.0, points)
    assert not ok and median[:2, 2] == pytest.approx((2.0, 2.0), abs=1.0)


def test_textured_points_skip_the_flat_sky():
    gradient = np.zeros((64, 64), np.float32)
    gradient[10, 20] = gradient[11, 21] = 30.0  # one cell, two candidates: its best is kept
    gradient[50, 60] = 20.0
    gradient[30, 30] = 5.0  # below min_texture
    points = textured_points(gradient, min_texture=9.0, cell=8)
    assert sorted(map(tuple, points.tolist())) == [(20, 10), (60, 50)]


def test_motion_targets_pickles_after_use(texture):
    transform = TRANSFORMS.build(dict(type='MotionTargets'))
    transform(dict(img=frame(texture), img_next=frame(texture, shift=(1, 0))))
    clone = pickle.loads(pickle.dumps(transform))  # dataloader workers receive a copy
    assert clone(dict(img=frame(texture), img_next=frame(texture)))['motion_mask'].sum() == 0


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match='method'):
        TRANSFORMS.build(dict(type='MotionTargets', method='lucas-kanade'))
    with pytest.raises(ValueError, match='preset'):
        TRANSFORMS.build(dict(type='MotionTargets', preset='slow'))
    with pytest.raises(ValueError, match='object_size'):
        TRANSFORMS.build(dict(type='MotionTargets', object_size=(10, 4)))
