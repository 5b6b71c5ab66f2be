"""Motion targets of a frame pair: optical flow and a mask of independently moving objects."""

from __future__ import annotations

import math

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS

_DIS_PRESETS = {
    'ultrafast': cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    'fast': cv2.DISOPTICAL_FLOW_PRESET_FAST,
    'medium': cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_METHODS = ('dis', 'farneback')
_GLOBAL_MOTIONS = ('similarity', 'homography', 'translation')
_GAP_SCALINGS = {'none': lambda k: 1.0, 'sqrt': math.sqrt, 'linear': float}


def _gray(img: np.ndarray) -> np.ndarray:
    """[H, W] uint8 grey of a BGR (or grey) frame, uint8 or float in [0, 255]."""
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img


def textured_points(gradient: np.ndarray, min_texture: float = 9.0, cell: int = 8) -> np.ndarray:
    """Pixels whose flow can be trusted, spread over the frame: one per textured grid cell.

    Flow on a featureless sky is arbitrary (nothing to match), so the camera's motion is fitted
    on textured pixels only: in every ``cell`` x ``cell`` cell, the pixel of the largest
    gradient, if it is above ``min_texture`` (which sensor noise rarely reaches). One point per
    cell keeps a large bright object from outvoting the stars and clouds around it.

    Args:
        gradient (np.ndarray): [H, W] float32 gradient magnitude of frame t.
        min_texture (float): Smallest gradient magnitude of a textured pixel.
        cell (int): Side of the grid cells in pixels.

    Returns:
        np.ndarray: [N, 2] int64 (x, y) of the points.
    """
    height, width = gradient.shape
    rows, cols = -(-height // cell), -(-width // cell)
    padded = np.zeros((rows * cell, cols * cell), np.float32)
    padded[:height, :width] = gradient
    blocks = padded.reshape(rows, cell, cols, cell).transpose(0, 2, 1, 3).reshape(rows, cols, -1)
    best = blocks.argmax(axis=2)
    textured = np.take_along_axis(blocks, best[..., None], axis=2)[..., 0] > min_texture
    cy, cx = np.nonzero(textured)
    dy, dx = np.divmod(best[cy, cx], cell)
    return np.stack([cx * cell + dx, cy * cell + dy], axis=1).astype(np.int64)


def _gradient(img: np.ndarray) -> np.ndarray:
    """[H, W] float32 magnitude of the 3x3 Sobel gradient of a grey frame."""
    return cv2.magnitude(cv2.Sobel(img, cv2.CV_32F, 1, 0), cv2.Sobel(img, cv2.CV_32F, 0, 1))


def noise_level(prev: np.ndarray, nxt: np.ndarray, flat: np.ndarray) -> float:
    """Standard deviation of the frames' noise, from their difference where the sky is flat.

    On flat pixels the difference of two frames is only noise, whatever the motion; the median
    absolute difference (a robust estimate) measures it. Frames with few flat pixels (under a
    tenth) give 0.

    Args:
        prev (np.ndarray): [H, W] uint8 frame t.
        nxt (np.ndarray): [H, W] uint8 frame t+k.
        flat (np.ndarray): [H, W] bool, the flat pixels.

    Returns:
        float: The noise's standard deviation in grey levels.
    """
    if flat.mean() < 0.1:
        return 0.0
    counts = np.bincount(cv2.absdiff(prev, nxt)[flat], minlength=256)
    median = int(np.searchsorted(np.cumsum(counts), counts.sum() / 2))
    return median / (0.6745 * math.sqrt(2.0))


def _spread(points: np.ndarray, height: int, width: int) -> float:
    """How far a set of (x, y) points reaches across the frame, in [0, 1]."""
    if len(points) < 2:
        return 0.0
    extent = points.max(axis=0) - points.min(axis=0)
    return float(max(extent[0] / width, extent[1] / height))


def fit_camera_motion(
    flow: np.ndarray,
    points: np.ndarray,
    model: str = 'similarity',
    ransac_threshold: float = 1.0,
    min_spread: float = 0.5,
) -> tuple[np.ndarray, bool]:
    """The camera's motion in a flow field: a global motion fitted robustly to it.

    The fit maps the ``points`` p to p + flow(p) with RANSAC, so the moving objects (few
    points) are outliers. The camera's motion is only observable from points spread over the
    frame (a lone textured object would otherwise pass for the background): when the points
    reach less than ``min_spread`` of the frame's width and height, the camera is taken as
    still (identity). On a featureless sky that is harmless: nothing there changes, whatever
    the camera does; and the flow there is no evidence, since DIS fills it in from the only
    textured thing, the object. When the fit fails (degenerate, fewer than a quarter of the
    points are inliers, or inliers bunched together) the median flow of the points, a pure
    translation, stands in.

    Args:
        flow (np.ndarray): [H, W, 2] float32 flow (dx, dy) in pixels.
        points (np.ndarray): [N, 2] int (x, y) pixels to fit (see :func:`textured_points`).
        model (str): ``'similarity'`` (rotation, scale and translation:
            ``cv2.estimateAffinePartial2D``), ``'homography'`` (``cv2.findHomography``) or
            ``'translation'`` (the median flow of the points).
        ransac_threshold (float): RANSAC's inlier distance in pixels.
        min_spread (float): Smallest extent of the points, as a share of the frame's width or
            height, from which the camera's motion is estimated.

    Returns:
        tuple[np.ndarray, bool]: The 3x3 matrix (float64) that maps a pixel of frame t to its
        place in frame t+k, and whether the model fit (False when the identity or the median
        stood in).
    """
    height, width = flow.shape[:2]
    if len(points) < 8 or _spread(points, height, width) < min_spread:
        return np.eye(3), False
    src = points.astype(np.float32)
    dst = src + flow[points[:, 1], points[:, 0]]
    if model != 'translation':
        if model == 'similarity':
            matrix, inliers = cv2.estimateAffinePartial2D(
                src, dst, method=cv2.RANSAC, ransacReprojThreshold=ransac_threshold
            )
            matrix = None if matrix is None else np.vstack([matrix, [0.0, 0.0, 1.0]])
        else:
            matrix, inliers = cv2.findHomography(src, dst, cv2.RANSAC, ransac_threshold)
        if matrix is not None and inliers is not None and inliers.mean() >= 0.25:
            if _spread(points[inliers.ravel() > 0], height, width) >= min_spread:
                return matrix, True
    dx, dy = np.median(dst - src, axis=0)
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]]), model == 'translation'


def camera_flow(matrix: np.ndarray, height: int, width: int) -> np.ndarray:
    """The flow [H, W, 2] float32 that a global motion (3x3 ``matrix``) induces."""
    gx, gy = np.meshgrid(
        np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32), copy=False
    )
    m = matrix.astype(np.float32)
    mx = m[0, 0] * gx + m[0, 1] * gy + m[0, 2]
    my = m[1, 0] * gx + m[1, 1] * gy + m[1, 2]
    if not np.allclose(matrix[2], (0.0, 0.0, 1.0)):
        mz = m[2, 0] * gx + m[2, 1] * gy + m[2, 2]
        mz = np.where(np.abs(mz) < 1e-6, 1e-6, mz)
        mx, my = mx / mz, my / mz
    return np.stack([mx - gx, my - gy], axis=2)


@TRANSFORMS.register_module()
class MotionTargets(BaseTransform):
    """Optical flow from frame t to t+k, and a mask of what moves unlike the camera.

    1. Dense flow on the grey frames (OpenCV's DIS, or Farneback), once per pair; a ``flow``
       already in the sample (computed earlier in the pipeline) is reused.
    2. The camera's motion is removed: a global motion fitted robustly to the flow of the
       textured pixels (:func:`textured_points`, :func:`fit_camera_motion`) is subtracted.
    3. Pixels whose residual is above ``threshold * s(k)`` px are moving; ``s`` is
       ``gap_scaling`` of the frame gap k. The flow's error grows with the gap about like a random
       walk (``'sqrt'``, the default) while an object's displacement grows like k, so larger gaps
       find slower objects; ``'linear'`` makes the threshold a speed in px per frame.
    4. Flow on a featureless sky is arbitrary (nothing to match), so a moving pixel must also
       change: within ``change_radius`` px, frame t and frame t+k warped back by the camera's
       motion differ by more than ``change_threshold`` grey levels (compared after a 3x3
       median with ``despeckle``: a hot pixel is no object). Pixels that the camera's motion
       takes out of frame t+k, and a 2 px frame border, never move.
    5. A morphological opening (``open_kernel`` px) removes single-pixel noise, and only the
       connected components whose bounding box's longer side is within ``object_size`` are kept;
       the upper bound grows by the component's mean residual, since a moving object's mask
       spans its footprint plus its displacement, and never exceeds half the frame's shorter
       side. Smaller specks and larger regions (moving clouds, failed fits) are dropped.

    Required keys: ``img``, ``img_next`` ([H, W, 3] BGR), ``frame_gap`` (k, default 1).
    Added keys: ``flow`` ([H, W, 2] float32, the full flow (dx, dy) from frame t to frame t+k in
    pixels, camera motion included), ``motion_mask`` ([H, W] uint8 of 0/1), ``camera_motion``
    (3x3 float64: a pixel of frame t to its place in frame t+k, in the coordinates of the
    frames as this transform saw them) and ``camera_fit`` (bool: False when a still camera or the
    median flow stood in for the global fit). Run it after the geometric augmentation (see
    :mod:`~mmcofnet.datasets.transforms.frame_pairs`).

    Args:
        method (str): ``'dis'`` or ``'farneback'``.
        preset (str): DIS preset: ``'ultrafast'``, ``'fast'`` or ``'medium'``.
        finest_scale (int, optional): DIS's finest pyramid level, overriding the preset's
            (0: full resolution; the presets 'ultrafast' and 'fast' stop at 2, a quarter of it,
            where objects of a few pixels blur into the background).
        refine_iters (int, optional): DIS's variational refinement iterations, overriding the
            preset's (its smoothing spreads a small object's flow over its surroundings).
        global_motion (str): Camera model: ``'similarity'``, ``'homography'`` or
            ``'translation'`` (see :func:`fit_camera_motion`).
        threshold (float): Residual flow in pixels above which a pixel moves, at k = 1.
        gap_scaling (str): How the threshold grows with k: ``'sqrt'``, ``'linear'`` or
            ``'none'``.
        change_threshold (float): Grey-level change (0-255, after a 3x3 Gaussian blur) that a
            moving pixel needs nearby; 0 turns the check off.
        change_radius (int): How far in pixels from a change a moving pixel may be: the
            interior of a uniform object that moved less than its size does not change, and a
            thin change would not survive the opening. The mask is about this much wider than
            the object.
        despeckle (bool): Compare the frames after a 3x3 median filter, which removes hot
            pixels (a pixel that lights up in one frame is no object) and keeps objects of 3 px
            and more.
        object_size (tuple[int, int]): Range of the longer side in pixels of a kept component.
        open_kernel (int): Side of the elliptic opening kernel in pixels (< 2: no opening).
        min_texture (float): Smallest gradient magnitude (3x3 Sobel of the blurred grey
            frame, 0-255 scale) of a pixel that the global fit uses; noisy frames raise it to
            15 times their noise level (:func:`noise_level`).
        grid_step (int): The global fit uses at most one pixel per cell of this side.
        min_spread (float): How far, as a share of the frame's width or height, the fitted
            pixels must reach for the global fit (see :func:`fit_camera_motion`).
        ransac_threshold (float): RANSAC's inlier distance in pixels.
    """

    def __init__(
        self,
        method: str = 'dis',
        preset: str = 'ultrafast',
        finest_scale: int | None = 1,
        refine_iters: int | None = None,
        global_motion: str = 'similarity',
        threshold: float = 0.75,
        gap_scaling: str = 'sqrt',
        change_threshold: float = 12.0,
        change_radius: int = 2,
        despeckle: bool = True,
        object_size: tuple[int, int] = (4, 60),
        open_kernel: int = 3,
        min_texture: float = 9.0,
        grid_step: int = 8,
        min_spread: float = 0.5,
        ransac_threshold: float = 1.0,
    ) -> None:
        if method not in _METHODS:
            raise ValueError(f'MotionTargets: method={method!r} is not one of {_METHODS}')
        if preset not in _DIS_PRESETS:
            raise ValueError(f'MotionTargets: preset={preset!r} is not one of {list(_DIS_PRESETS)}')
        if global_motion not in _GLOBAL_MOTIONS:
            raise ValueError(
                f'MotionTargets: global_motion={global_motion!r} is not one of {_GLOBAL_MOTIONS}'
            )
        if gap_scaling not in _GAP_SCALINGS:
            raise ValueError(
                f'MotionTargets: gap_scaling={gap_scaling!r} is not one of {list(_GAP_SCALINGS)}'
            )
        if threshold <= 0 or len(object_size) != 2 or not 1 <= object_size[0] <= object_size[1]:
            raise ValueError(
                f'MotionTargets: threshold={threshold} must be > 0 and object_size={object_size} '
                '(lo, hi) with 1 <= lo <= hi'
            )
        if grid_step < 1 or change_radius < 0 or change_threshold < 0:
            raise ValueError(
                f'MotionTargets: grid_step={grid_step} must be >= 1, change_radius='
                f'{change_radius} and change_threshold={change_threshold} >= 0'
            )
        self.method = method
        self.preset = preset
        self.finest_scale = finest_scale
        self.refine_iters = refine_iters
        self.global_motion = global_motion
        self.threshold = float(threshold)
        self.gap_scaling = gap_scaling
        self.change_threshold = float(change_threshold)
        self.change_radius = int(change_radius)
        self.despeckle = bool(despeckle)
        self.object_size = (int(object_size[0]), int(object_size[1]))
        self.open_kernel = int(open_kernel)
        self.min_texture = float(min_texture)
        self.grid_step = int(grid_step)
        self.min_spread = float(min_spread)
        self.ransac_threshold = float(ransac_threshold)
        self._dis = None  # built on first use: OpenCV objects do not pickle to workers

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state['_dis'] = None
        return state

    def compute_flow(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """Dense flow [H, W, 2] float32 (dx, dy) between two grey frames ([H, W] uint8)."""
        if self.method == 'farneback':
            return cv2.calcOpticalFlowFarneback(prev, nxt, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        if self._dis is None:
            self._dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[self.preset])
            if self.finest_scale is not None:
                self._dis.setFinestScale(self.finest_scale)
            if self.refine_iters is not None:
                self._dis.setVariationalRefinementIterations(self.refine_iters)
        return self._dis.calc(prev, nxt, None)

    def motion_mask(
        self, prev: np.ndarray, nxt: np.ndarray, flow: np.ndarray, frame_gap: int = 1
    ) -> tuple[np.ndarray, np.ndarray, bool]:
        """Mask of independent motion of a pair, given its flow.

        Args:
            prev (np.ndarray): [H, W] uint8 grey frame t.
            nxt (np.ndarray): [H, W] uint8 grey frame t+k.
            flow (np.ndarray): [H, W, 2] float32 flow from frame t to t+k.
            frame_gap (int): k.

        Returns:
            tuple[np.ndarray, np.ndarray, bool]: The mask [H, W] uint8 of 0/1, the camera's
            motion (3x3) and whether its global fit succeeded.
        """
        height, width = prev.shape
        prev_blur = cv2.GaussianBlur(prev, (3, 3), 0)
        nxt_blur = cv2.GaussianBlur(nxt, (3, 3), 0)
        gradient = _gradient(prev_blur)
        noise = noise_level(prev_blur, nxt_blur, gradient < self.min_texture)
        min_texture = max(self.min_texture, 15.0 * noise)
        points = textured_points(gradient, min_texture, self.grid_step)
        matrix, fitted = fit_camera_motion(
            flow, points, self.global_motion, self.ransac_threshold, self.min_spread
        )
        camera = camera_flow(matrix, height, width)
        residual = cv2.magnitude(flow[..., 0] - camera[..., 0], flow[..., 1] - camera[..., 1])
        limit = self.threshold * _GAP_SCALINGS[self.gap_scaling](max(int(frame_gap), 1))
        mask = (residual > limit).astype(np.uint8)
        if self.despeckle:  # hot pixels are no objects: a 3x3 median removes them
            prev_blur, nxt_blur = (
                cv2.GaussianBlur(cv2.medianBlur(img, 3), (3, 3), 0) for img in (prev, nxt)
            )
        mask &= self._changed(prev_blur, nxt_blur, matrix)
        if self.open_kernel >= 2:
            kernel = cv2.getStructuringElement(
                cv2.MORPH_ELLIPSE, (self.open_kernel, self.open_kernel)
            )
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
        return self._keep_object_sized(mask, residual), matrix, fitted

    def _changed(
        self, prev_blur: np.ndarray, nxt_blur: np.ndarray, matrix: np.ndarray
    ) -> np.ndarray:
        """[H, W] uint8: 1 near a change between frame t and frame t+k warped back, inside
        the part of frame t that frame t+k still sees (2 px in from its edges, where blurs and
        warps meet the border)."""
        height, width = prev_blur.shape
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        ones = np.full(nxt_blur.shape, 255, np.uint8)
        if np.allclose(matrix[2], (0.0, 0.0, 1.0)):
            warped = cv2.warpAffine(nxt_blur, matrix[:2], (width, height), flags=flags)
            seen = cv2.warpAffine(ones, matrix[:2], (width, height), flags=flags)
        else:
            warped = cv2.warpPerspective(nxt_blur, matrix, (width, height), flags=flags)
            seen = cv2.warpPerspective(ones, matrix, (width, height), flags=flags)
        seen = cv2.erode(
            (seen == 255).astype(np.uint8),
            np.ones((5, 5), np.uint8),
            borderType=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
        if self.change_threshold <= 0:
            return seen
        changed = (cv2.absdiff(prev_blur, warped) > self.change_threshold).astype(np.uint8)
        if self.change_radius > 0:  # a uniform object's interior does not change
            side = 2 * self.change_radius + 1
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
            changed = cv2.dilate(changed, kernel)
        return changed & seen

    def _keep_object_sized(self, mask: np.ndarray, residual: np.ndarray) -> np.ndarray:
        count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        if count <= 1:
            return mask
        side = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
        mean_residual = np.bincount(labels.ravel(), residual.ravel(), count) / np.maximum(
            stats[:, cv2.CC_STAT_AREA], 1
        )
        lo, hi = self.object_size
        hi = min(hi, min(mask.shape) // 2)  # a region half the frame wide is no object
        keep = (side >= lo) & (side <= hi + mean_residual)
        keep[0] = False  # the background
        return keep[labels].astype(np.uint8)

    def transform(self, results: dict) -> dict:
        prev, nxt = _gray(results['img']), _gray(results['img_next'])
        flow = results.get('flow')
        if flow is None:
            flow = self.compute_flow(prev, nxt)
        mask, matrix, fitted = self.motion_mask(prev, nxt, flow, results.get('frame_gap', 1))
        results['flow'] = flow
        results['motion_mask'] = mask
        results['camera_motion'] = matrix
        results['camera_fit'] = fitted
        return results

    def __repr__(self) -> str:
        return (
            f'{type(self).__name__}(method={self.method!r}, preset={self.preset!r}, '
            f'finest_scale={self.finest_scale}, refine_iters={self.refine_iters}, '
            f'global_motion={self.global_motion!r}, threshold={self.threshold}, '
            f'gap_scaling={self.gap_scaling!r}, change_threshold={self.change_threshold}, '
            f'change_radius={self.change_radius}, despeckle={self.despeckle}, '
            f'object_size={self.object_size}, '
            f'open_kernel={self.open_kernel}, min_texture={self.min_texture}, '
            f'grid_step={self.grid_step}, min_spread={self.min_spread}, '
            f'ransac_threshold={self.ransac_threshold})'
        )
