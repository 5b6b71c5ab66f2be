"""Procedural night-sky renderer: the embedded default data of mmcofnet.

A scene is a complete, picklable description of one image or clip (sky, stars, clouds, noise,
camera pan and objects); rendering is a pure function of the scene and the frame time, so every
image is deterministic per (seed, index) and needs no files.

Classes follow SkyWatch: ``Plane`` (small light clusters with red/green navigation lights and a
white strobe, or short light trails), ``WildLife`` (small dark or lit bird silhouettes) and
``meteorite`` (thin bright streaks with fading tails, rare). Ground-truth boxes are the tight
bounds of each object's rendered footprint, so they agree with the pixels exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

SKY_CLASSES = ('Plane', 'WildLife', 'meteorite')
PLANE, WILDLIFE, METEORITE = range(3)

# Footprint threshold (fraction of an object's peak emission/occlusion) that defines its box.
_BOX_THRESHOLD = 0.1
_SUPERSAMPLE = 4


@dataclass(frozen=True)
class SkyObject:
    """One object of a scene, in frame coordinates at t = 0.

    Attributes:
        label (int): Class index into :data:`SKY_CLASSES`.
        cx, cy (float): Centre in pixels at t = 0.
        vx, vy (float): Velocity in pixels per frame (for clips).
        size (float): Extent of the longer side in pixels.
        angle (float): Orientation in radians.
        brightness (float): Peak emission (lights, streaks) or opacity (silhouettes), in [0, 1].
        style (int): Variant within the class (plane: 0 lights, 1 trail; wildlife: 0 dark, 1 lit).
        phase (float): Blink phase of plane strobes / wing phase of birds, in [0, 1).
    """

    label: int
    cx: float
    cy: float
    vx: float
    vy: float
    size: float
    angle: float
    brightness: float
    style: int
    phase: float


@dataclass(frozen=True)
class SkyScene:
    """A full description of a night-sky image or clip.

    Attributes:
        width, height (int): Frame size in pixels.
        seed (int): Seed of the background detail (stars, cloud texture, sensor noise).
        sky_top, sky_bottom (tuple[float, float, float]): BGR sky colours at the top and bottom
            of the frame, in [0, 1].
        light_pollution (float): Strength of the orange glow near the horizon (bottom).
        star_density (float): Stars per 10,000 pixels.
        cloud_cover (float): Opacity of the thin clouds, in [0, 1].
        noise_sigma (float): Standard deviation of the Gaussian read noise, in [0, 1] units.
        pan (tuple[float, float]): Camera motion (dx, dy) in pixels per frame; the background
            moves by ``-pan``.
        margin (int): Extra background rendered around the frame so that panning clips stay
            covered.
        objects (tuple[SkyObject, ...]): The objects of the scene.
    """

    width: int
    height: int
    seed: int
    sky_top: tuple[float, float, float]
    sky_bottom: tuple[float, float, float]
    light_pollution: float
    star_density: float
    cloud_cover: float
    noise_sigma: float
    pan: tuple[float, float] = (0.0, 0.0)
    margin: int = 0
    objects: tuple[SkyObject, ...] = field(default_factory=tuple)


class SkySceneSampler:
    """Samples random :class:`SkyScene` layouts, deterministically per (seed, index).

    Args:
        width (int): Frame width in pixels.
        height (int): Frame height in pixels.
        num_objects (tuple[int, int]): Inclusive range of the number of objects per scene.
        class_probs (tuple[float, float, float]): Probability of each class in
            :data:`SKY_CLASSES`; meteorites are rare.
        size_range (tuple[float, float]): Range of object sizes (longer side) in pixels.
        max_speed (float): Largest object speed in pixels per frame (used by clips).
        max_pan (float): Largest camera pan in pixels per frame (0 for still images).
        num_frames (int): Frames a clip spans, which sets how much background margin panning
            needs.
    """

    def __init__(
        self,
        width: int = 1080,
        height: int = 720,
        num_objects: tuple[int, int] = (1, 6),
        class_probs: tuple[float, float, float] = (0.5, 0.4, 0.1),
        size_range: tuple[float, float] = (4.0, 60.0),
        max_speed: float = 0.0,
        max_pan: float = 0.0,
        num_frames: int = 1,
    ) -> None:
        if width < 32 or height < 32:
            raise ValueError(f'SkySceneSampler: image size {width}x{height} is below 32x32')
        if len(class_probs) != len(SKY_CLASSES) or min(class_probs) < 0 or sum(class_probs) <= 0:
            raise ValueError(
                f'SkySceneSampler: class_probs={class_probs} must be '
                f'{len(SKY_CLASSES)} non-negative weights'
            )
        lo, hi = size_range
        if not 2 <= lo <= hi:
            raise ValueError(f'SkySceneSampler: size_range={size_range} must satisfy 2 <= lo <= hi')
        if not 0 <= num_objects[0] <= num_objects[1]:
            raise ValueError(f'SkySceneSampler: num_objects={num_objects} is not a valid range')
        self.width, self.height = int(width), int(height)
        self.num_objects = num_objects
        probs = np.asarray(class_probs, dtype=np.float64)
        self.class_probs = probs / probs.sum()
        self.size_range = (float(lo), float(hi))
        self.max_speed = float(max_speed)
        self.max_pan = float(max_pan)
        self.num_frames = int(num_frames)

    def sample(self, seed: int, index: int) -> SkyScene:
        """Returns the scene of image ``index`` under ``seed`` (same inputs, same scene)."""
        rng = np.random.default_rng([seed, index])
        pollution = rng.uniform(0.1, 0.8)
        top = np.array([0.06, 0.03, 0.02]) * rng.uniform(0.5, 2.5)
        bottom = top + np.array([0.05, 0.07, 0.10]) * rng.uniform(0.5, 2.0)
        pan = (rng.uniform(-1, 1) * self.max_pan, rng.uniform(-1, 1) * self.max_pan)
        margin = int(math.ceil(max(abs(pan[0]), abs(pan[1])) * self.num_frames)) + 2
        count = int(rng.integers(self.num_objects[0], self.num_objects[1] + 1))
        objects = tuple(self._sample_object(rng) for _ in range(count))
        return SkyScene(
            width=self.width,
            height=self.height,
            seed=int(rng.integers(2**31)),
            sky_top=tuple(float(c) for c in top),
            sky_bottom=tuple(float(c) for c in bottom),
            light_pollution=float(pollution),
            star_density=float(rng.uniform(0.5, 4.0)),
            cloud_cover=float(rng.uniform(0.0, 0.8) if rng.random() < 0.6 else 0.0),
            noise_sigma=float(rng.uniform(0.004, 0.02)),
            pan=(float(pan[0]), float(pan[1])),
            margin=margin,
            objects=objects,
        )

    def _sample_object(self, rng: np.random.Generator) -> SkyObject:
        label = int(rng.choice(len(SKY_CLASSES), p=self.class_probs))
        lo, hi = self.size_range
        if label == PLANE:
            style = int(rng.random() < 0.3)
            lo_c, hi_c = (max(lo, 6.0), hi) if style == 0 else (max(lo, 12.0), hi)
        elif label == WILDLIFE:
            style = int(rng.random() < 0.4)
            lo_c, hi_c = lo, min(hi, 40.0)
        else:
            style = 0
            lo_c, hi_c = max(lo, 12.0), hi
        lo_c, hi_c = min(lo_c, hi_c), hi_c
        size = float(math.exp(rng.uniform(math.log(lo_c), math.log(hi_c))))
        speed = rng.uniform(0.2, 1.0) * self.max_speed
        if label == METEORITE:
            speed *= 3.0  # meteors cross the frame far faster than planes or birds
        heading = rng.uniform(0, 2 * math.pi)
        pad = size / 2 + 2
        return SkyObject(
            label=label,
            cx=float(rng.uniform(pad, self.width - pad)),
            cy=float(rng.uniform(pad, self.height - pad)),
            vx=float(speed * math.cos(heading)),
            vy=float(speed * math.sin(heading)),
            size=size,
            angle=float(heading if label == METEORITE else rng.uniform(0, 2 * math.pi)),
            brightness=float(rng.uniform(0.5, 1.0)),
            style=style,
            phase=float(rng.random()),
        )


# ---------------------------------------------------------------------------------------------
# Objects: each is drawn into a small patch as additive emission [h, w, 3] and occlusion [h, w].


@dataclass
class _Patch:
    x0: int
    y0: int
    emission: np.ndarray  # [h, w, 3] float32, BGR light added on top of the background
    occlusion: np.ndarray  # [h, w] float32, fraction of the background hidden

    def footprint(self) -> np.ndarray:
        """Boolean [h, w] mask of the pixels that visibly belong to the object."""
        glow = self.emission.max(axis=2)
        mask = np.zeros(glow.shape, dtype=bool)
        if glow.max() > 0:
            mask |= glow > _BOX_THRESHOLD * glow.max()
        if self.occlusion.max() > 0:
            mask |= self.occlusion > _BOX_THRESHOLD * self.occlusion.max()
        return mask


def _patch_frame(cx: float, cy: float, extent: float) -> tuple[int, int, int, float, float]:
    """Square patch around a centre: origin (x0, y0), side, and the centre inside the patch."""
    side = int(math.ceil(extent)) + 6
    x0 = int(math.floor(cx - side / 2))
    y0 = int(math.floor(cy - side / 2))
    return x0, y0, side, cx - x0, cy - y0


def _rasterize(side: int, draw) -> np.ndarray:
    """Antialiased coverage [side, side] in [0, 1]: ``draw(canvas, scale)`` on a supersampled
    uint8 canvas, then area-averaged down, which gives sub-pixel accurate thin shapes."""
    canvas = np.zeros((side * _SUPERSAMPLE, side * _SUPERSAMPLE), dtype=np.uint8)
    draw(canvas, _SUPERSAMPLE)
    return cv2.resize(canvas, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32) / 255


def _blobs(side: int, centres: list[tuple[float, float]], sigma: float) -> list[np.ndarray]:
    """Gaussian light blobs, one [side, side] map per centre (patch coordinates)."""
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32) + 0.5
    return [np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)) for x, y in centres]


def _draw_plane(obj: SkyObject, cx: float, cy: float, t: float) -> _Patch:
    x0, y0, side, px, py = _patch_frame(cx, cy, obj.size + 4)
    emission = np.zeros((side, side, 3), dtype=np.float32)
    ux, uy = math.cos(obj.angle), math.sin(obj.angle)
    half = obj.size / 2 - 1
    if obj.style == 0:  # navigation lights: red and green wingtips, white strobe, faint body
        sigma = 0.6 + 0.04 * obj.size
        red, green, strobe = _blobs(
            side,
            [(px - ux * half, py - uy * half), (px + ux * half, py + uy * half), (px, py)],
            sigma,
        )
        blink = 1.0 if math.sin(2 * math.pi * (obj.phase + t / 12)) > -0.3 else 0.35
        emission += red[..., None] * np.array([0.25, 0.3, 1.0], np.float32)
        emission += green[..., None] * np.array([0.45, 1.0, 0.3], np.float32)
        emission += (blink * strobe)[..., None] * np.array([1.0, 1.0, 1.0], np.float32)
    else:  # long-exposure light trail: a dashed bright line
        a = (px - ux * half, py - uy * half)
        dashes = max(2, int(obj.size / 6))

        def draw(canvas: np.ndarray, s: int) -> None:
            for k in range(dashes):
                f0, f1 = k / dashes, (k + 0.6) / dashes
                p0 = (a[0] + 2 * half * ux * f0, a[1] + 2 * half * uy * f0)
                p1 = (a[0] + 2 * half * ux * f1, a[1] + 2 * half * uy * f1)
                cv2.line(
                    canvas,
                    (round(p0[0] * s), round(p0[1] * s)),
                    (round(p1[0] * s), round(p1[1] * s)),
                    255,
                    thickness=max(1, int(1.3 * s)),
                )

        trail = _rasterize(side, draw)
        emission += trail[..., None] * np.array([0.8, 0.9, 1.0], np.float32)
    emission *= obj.brightness
    return _Patch(x0, y0, emission, np.zeros((side, side), np.float32))


def _draw_bird(obj: SkyObject, cx: float, cy: float, t: float) -> _Patch:
    x0, y0, side, px, py = _patch_frame(cx, cy, obj.size + 2)
    ux, uy = math.cos(obj.angle), math.sin(obj.angle)  # wing axis
    nx, ny = -uy, ux  # body axis
    span = obj.size / 2
    flap = 0.35 * span * math.sin(2 * math.pi * (obj.phase + t / 6))

    def draw(canvas: np.ndarray, s: int) -> None:
        body = (round(px * s), round(py * s))
        axes = (max(1, round(0.22 * span * s)), max(1, round(0.08 * span * s) + s // 2))
        cv2.ellipse(canvas, body, axes, math.degrees(math.atan2(ny, nx)), 0, 360, 255, -1)
        for side_sign in (-1, 1):
            tip = (px + side_sign * ux * span + nx * flap, py + side_sign * uy * span + ny * flap)
            elbow = (
                px + side_sign * ux * span * 0.5 - nx * 0.15 * span,
                py + side_sign * uy * span * 0.5 - ny * 0.15 * span,
            )
            pts = np.array([[px, py], elbow, tip]) * s
            cv2.polylines(
                canvas,
                [np.round(pts).astype(np.int32)],
                False,
                255,
                thickness=max(s, round(0.1 * span * s)),
            )

    coverage = _rasterize(side, draw)
    if obj.style == 0:  # dark silhouette against the sky glow
        occlusion = coverage * obj.brightness
        emission = np.zeros((side, side, 3), np.float32)
    else:  # lit from below by ground lights
        occlusion = coverage
        tint = np.array([0.35, 0.5, 0.6], np.float32) * (0.4 + 0.6 * obj.brightness)
        emission = coverage[..., None] * tint
    return _Patch(x0, y0, emission.astype(np.float32), occlusion.astype(np.float32))


def _draw_meteorite(obj: SkyObject, cx: float, cy: float, t: float) -> _Patch:
    x0, y0, side, px, py = _patch_frame(cx, cy, obj.size + 4)
    ux, uy = math.cos(obj.angle), math.sin(obj.angle)  # direction of flight: head at +u
    half = obj.size / 2 - 1
    head = (px + ux * half, py + uy * half)
    tail = (px - ux * half, py - uy * half)

    def draw(canvas: np.ndarray, s: int) -> None:
        cv2.line(
            canvas,
            (round(tail[0] * s), round(tail[1] * s)),
            (round(head[0] * s), round(head[1] * s)),
            255,
            thickness=max(1, round(1.2 * s)),
        )

    streak = _rasterize(side, draw)
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32) + 0.5
    along = ((xs - tail[0]) * ux + (ys - tail[1]) * uy) / max(2 * half, 1e-6)
    fade = np.clip(along, 0.0, 1.0) ** 1.5  # bright head, tail fading to nothing
    glow = cv2.GaussianBlur(streak * fade, (0, 0), 0.8)
    emission = (streak * fade + 0.5 * glow)[..., None] * np.array([0.85, 1.0, 0.9], np.float32)
    emission *= 0.6 + 0.4 * obj.brightness
    return _Patch(x0, y0, emission, np.zeros((side, side), np.float32))


_DRAWERS = {PLANE: _draw_plane, WILDLIFE: _draw_bird, METEORITE: _draw_meteorite}


def _object_patch(obj: SkyObject, t: float) -> _Patch:
    return _DRAWERS[obj.label](obj, obj.cx + obj.vx * t, obj.cy + obj.vy * t, t)


def _clip_box(patch: _Patch, width: int, height: int) -> np.ndarray | None:
    """Tight box [x1, y1, x2, y2] of the visible footprint inside the frame, or None."""
    ys, xs = np.nonzero(patch.footprint())
    if len(xs) == 0:
        return None
    x1 = max(patch.x0 + xs.min(), 0)
    y1 = max(patch.y0 + ys.min(), 0)
    x2 = min(patch.x0 + xs.max() + 1, width)
    y2 = min(patch.y0 + ys.max() + 1, height)
    if x2 - x1 < 2 or y2 - y1 < 2:  # out of frame, or a sliver on its edge
        return None
    return np.array([x1, y1, x2, y2], dtype=np.float32)


def scene_boxes(scene: SkyScene, t: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground truth of a scene at frame time ``t``.

    Returns:
        tuple: ``boxes`` [K, 4] float32 (x1, y1, x2, y2 in pixels), ``labels`` [K] int64 and
        ``object_ids`` [K] int64 (index into ``scene.objects``, stable across a clip's frames).
        Objects that have left the frame are dropped.
    """
    boxes, labels, ids = [], [], []
    for k, obj in enumerate(scene.objects):
        box = _clip_box(_object_patch(obj, t), scene.width, scene.height)
        if box is not None:
            boxes.append(box)
            labels.append(obj.label)
            ids.append(k)
    if not boxes:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.stack(boxes), np.array(labels, np.int64), np.array(ids, np.int64)


# ---------------------------------------------------------------------------------------------
# Background


def _fractal_noise(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth [height, width] noise in about [0, 1], summed over three octaves."""
    out = np.zeros((height, width), np.float32)
    for cell, weight in ((160, 0.6), (64, 0.3), (24, 0.1)):
        grid = rng.random((height // cell + 3, width // cell + 3)).astype(np.float32)
        big = cv2.resize(
            grid,
            ((width // cell + 3) * cell, (height // cell + 3) * cell),
            interpolation=cv2.INTER_CUBIC,
        )
        out += weight * big[cell : cell + height, cell : cell + width]
    return out


def _render_background(scene: SkyScene) -> tuple[np.ndarray, np.ndarray]:
    """Sky, stars and clouds on the extended canvas (frame plus ``margin`` on every side).

    Returns:
        tuple: ``sky`` [H', W', 3] float32 and ``cloud`` alpha [H', W'] float32.
    """
    rng = np.random.default_rng([scene.seed, 0])
    m = scene.margin
    height, width = scene.height + 2 * m, scene.width + 2 * m
    rows = (np.arange(height, dtype=np.float32) - m) / scene.height
    ramp = np.clip(rows, 0, 1)[:, None] ** 1.5
    top, bottom = np.array(scene.sky_top, np.float32), np.array(scene.sky_bottom, np.float32)
    sky_col = top * (1 - ramp) + bottom * ramp  # [H', 3]
    glow = scene.light_pollution * np.exp(-np.clip(1 - rows, 0, None) / 0.25)[:, None]
    sky_col = sky_col + glow * np.array([0.10, 0.18, 0.30], np.float32)
    sky = cv2.repeat(np.ascontiguousarray(sky_col[:, None, :], np.float32), 1, width)

    num_stars = int(scene.star_density * height * width / 1e4)
    stars = np.zeros((height, width), np.float32)
    sy = rng.integers(0, height, num_stars)
    sx = rng.integers(0, width, num_stars)
    np.add.at(stars, (sy, sx), rng.exponential(0.35, num_stars).astype(np.float32))
    stars = cv2.GaussianBlur(stars, (0, 0), 0.6) * 3.0

    cloud = np.zeros((height, width), np.float32)
    if scene.cloud_cover > 0:
        texture = _fractal_noise(rng, height, width)
        cloud = np.clip((texture - 0.45) * 4.0, 0, 1) * scene.cloud_cover
        # Thin clouds hide the stars behind them and are lit from below by the city glow.
        stars *= 1 - cloud
        lit = (0.05 + 0.25 * scene.light_pollution) * np.array([0.7, 0.8, 0.9], np.float32)
        sky *= (1 - 0.3 * cloud)[..., None]
        sky += cloud[..., None] * lit
    sky += stars[..., None]  # stars are white: the same light in every channel
    return sky, cloud


def render_frame(scene: SkyScene, t: float = 0.0) -> np.ndarray:
    """Renders frame ``t`` of a scene (t = 0 for still images).

    Args:
        scene (SkyScene): The scene.
        t (float): Frame time; objects move by their velocity and the camera by ``scene.pan``
            per frame.

    Returns:
        np.ndarray: [height, width, 3] uint8 BGR image.
    """
    sky, cloud = _render_background(scene)
    m = scene.margin
    # Camera pan: the frame window slides over the extended background (sub-pixel, bilinear).
    centre = (
        m + scene.width / 2 - 0.5 + scene.pan[0] * t,
        m + scene.height / 2 - 0.5 + scene.pan[1] * t,
    )
    if m > 0:
        sky = cv2.getRectSubPix(sky, (scene.width, scene.height), centre)
        cloud = cv2.getRectSubPix(cloud, (scene.width, scene.height), centre)
    else:
        sky, cloud = sky.copy(), cloud
    for obj in scene.objects:
        _composite(sky, cloud, _object_patch(obj, t))
    frame_seed = (scene.seed * 1_000_003 + int(round(t * 1000))) % 2**31
    shot = cv2.sqrt(np.maximum(sky, 0)) * 0.02
    sky += _gaussian_noise(sky.shape, frame_seed) * (scene.noise_sigma + shot)
    hot = np.random.default_rng(frame_seed).integers(0, scene.height * scene.width, 8)
    sky.reshape(-1, 3)[hot] += 0.5
    return (np.clip(sky, 0, 1, out=sky) * 255 + 0.5).astype(np.uint8)


def _gaussian_noise(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Standard normal float32 noise, deterministic per seed (OpenCV's generator: ~6x faster
    than numpy's for a full frame, which matters when the renderer feeds training)."""
    noise = np.empty(shape, np.float32)
    cv2.setRNGSeed(seed)
    cv2.randn(noise, 0.0, 1.0)
    return noise


def _composite(img: np.ndarray, cloud: np.ndarray, patch: _Patch) -> None:
    """Blends an object patch into ``img`` in place; clouds dim what lies behind them."""
    h, w = patch.occlusion.shape
    x1, y1 = max(patch.x0, 0), max(patch.y0, 0)
    x2, y2 = min(patch.x0 + w, img.shape[1]), min(patch.y0 + h, img.shape[0])
    if x2 <= x1 or y2 <= y1:
        return
    px, py = x1 - patch.x0, y1 - patch.y0
    occ = patch.occlusion[py : py + y2 - y1, px : px + x2 - x1, None]
    emit = patch.emission[py : py + y2 - y1, px : px + x2 - x1]
    veil = 1 - 0.5 * cloud[y1:y2, x1:x2, None]
    region = img[y1:y2, x1:x2]
    region *= 1 - occ * veil
    region += emit * veil
