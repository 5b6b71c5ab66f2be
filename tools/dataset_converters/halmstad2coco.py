"""Convert halmstad-sky (videos + per-frame box CSVs) into JPEG frames and COCO JSON per split.

Input (see ../shared/data/halmstad-sky/README.md):
    SRC/videos/{train,val}/<video>.mp4
    SRC/labels/<video>_LABELS.csv     frame,label,x,y,width,height (0-based frames, pixels)
    SRC/splits.csv                    video,split
Output:
    OUT/annotations/{split}.json      categories AIRPLANE, BIRD, DRONE, HELICOPTER (ids 1-4);
                                      each image keeps its ``video`` and ``frame_id``
    OUT/images/{split}/<video>/<frame:05d>.jpg

Every ``--step``-th labelled frame of each video is kept (a frame is labelled when the CSV has
a row for it). Boxes are clipped to the frame; boxes with no area left are dropped and counted.

Example:
    python tools/dataset_converters/halmstad2coco.py --src ../shared/data/halmstad-sky \
        --out data/halmstad-sky-coco --step 10
"""

from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import cv2
import numpy as np
from tqdm import tqdm

from mmcofnet.datasets.halmstad_sky import HALMSTAD_CLASSES as CLASSES
from mmcofnet.datasets.halmstad_sky import Box, read_labels, read_splits

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_SRC = osp.join(REPO_ROOT, '..', 'shared', 'data', 'halmstad-sky')
DEFAULT_OUT = osp.join(REPO_ROOT, 'data', 'halmstad-sky-coco')


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert halmstad-sky into COCO JSON + frames')
    parser.add_argument(
        '--src',
        default=DEFAULT_SRC,
        help='halmstad-sky root (default: ../shared/data/halmstad-sky beside the repository)',
    )
    parser.add_argument(
        '--out',
        default=DEFAULT_OUT,
        help='output root (default: data/halmstad-sky-coco in the repository)',
    )
    parser.add_argument(
        '--step', type=int, default=10, help='keep every step-th labelled frame of each video'
    )
    parser.add_argument(
        '--splits', nargs='+', default=['train', 'val'], help='splits of splits.csv to convert'
    )
    parser.add_argument(
        '--videos', nargs='+', help='convert only these videos (names without .mp4), e.g. for tests'
    )
    parser.add_argument('--jpeg-quality', type=int, default=95)
    args = parser.parse_args(argv)
    if args.step < 1:
        parser.error(f'--step must be >= 1, got {args.step}')
    return args


@dataclass
class Frame:
    """A frame written to disk, with its clipped boxes."""

    frame_id: int
    file_name: str
    width: int
    height: int
    boxes: list[Box] = field(default_factory=list)


def select_videos(
    splits: dict[str, str],
    wanted_splits: list[str],
    wanted_videos: list[str] | None,
    splits_file: str = 'splits.csv',
) -> dict[str, list[str]]:
    """``{split: [video, ...]}`` (sorted) for the requested splits and videos.

    A split left without videos by ``wanted_videos`` is left out, so that converting a few
    videos never overwrites another split's annotation file with an empty one.
    """
    unknown_splits = sorted(set(wanted_splits) - set(splits.values()))
    if unknown_splits:
        raise ValueError(
            f'splits {unknown_splits} are not in {splits_file} (it has '
            f'{sorted(set(splits.values()))})'
        )
    unknown_videos = sorted(set(wanted_videos or []) - set(splits))
    if unknown_videos:
        raise ValueError(f'videos {unknown_videos} are not in {splits_file}')
    selected = {split: [] for split in wanted_splits}
    for video, split in sorted(splits.items()):
        if split in selected and (wanted_videos is None or video in wanted_videos):
            selected[split].append(video)
    return {split: videos for split, videos in selected.items() if videos}


def clip_box(box: Box, width: int, height: int) -> Box | None:
    """The part of ``box`` inside the frame (coordinates rounded to 0.01 px), or None if empty."""
    x1, y1 = min(max(box.x, 0.0), width), min(max(box.y, 0.0), height)
    x2, y2 = min(max(box.x + box.w, 0.0), width), min(max(box.y + box.h, 0.0), height)
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        return None
    return Box(box.category_id, round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2))


def read_frames(video_path: str, wanted: set[int]) -> Iterator[tuple[int, np.ndarray]]:
    """Yields ``(index, BGR image)`` of the ``wanted`` frames, decoding the video in order.

    Seeking is unreliable with H.264 (it lands on key frames), so every frame is grabbed and
    only the wanted ones are converted to images (``retrieve``), which keeps this fast.
    """
    cap = cv2.VideoCapture(video_path)
    if not cap.isOpened():
        raise OSError(f'OpenCV cannot open the video {video_path}')
    try:
        last = max(wanted, default=-1)
        index = 0
        while index <= last and cap.grab():
            if index in wanted:
                ok, img = cap.retrieve()
                if not ok:
                    raise OSError(f'{video_path}: could not decode frame {index}')
                yield index, img
            index += 1
    finally:
        cap.release()


def convert_video(
    src: str, out_dir: str, split: str, video: str, step: int, jpeg_quality: int, counts: Counter
) -> list[Frame]:
    """Writes every ``step``-th labelled frame of one video and returns them with their boxes.

    ``counts`` gains ``dropped`` (boxes with no area inside the frame) and ``missing``
    (labelled frames past the end of the video).
    """
    labels = read_labels(osp.join(src, 'labels', f'{video}_LABELS.csv'))
    keep = sorted(labels)[::step]
    video_path = osp.join(src, 'videos', split, f'{video}.mp4')
    if not osp.isfile(video_path):
        raise FileNotFoundError(f'video {video_path} not found (split {split!r} in splits.csv)')
    os.makedirs(osp.join(out_dir, 'images', split, video), exist_ok=True)
    frames = []
    for index, img in read_frames(video_path, set(keep)):
        file_name = f'{split}/{video}/{index:05d}.jpg'
        path = osp.join(out_dir, 'images', file_name)
        if not cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]):
            raise OSError(f'could not write image {path}')
        height, width = img.shape[:2]
        clipped = [clip_box(box, width, height) for box in labels[index]]
        counts['dropped'] += sum(box is None for box in clipped)
        frames.append(
            Frame(index, file_name, width, height, [box for box in clipped if box is not None])
        )
    if len(frames) < len(keep):
        counts['missing'] += len(keep) - len(frames)
        tqdm.write(
            f'warning: {video_path} ends before {len(keep) - len(frames)} of its labelled frames'
        )
    return frames


def to_coco(video_frames: list[tuple[str, list[Frame]]]) -> dict:
    """The COCO dictionary of the frames of a split (image and annotation ids from 1)."""
    coco = dict(
        images=[],
        annotations=[],
        categories=[dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)],
    )
    for video, frames in video_frames:
        for frame in frames:
            image_id = len(coco['images']) + 1
            coco['images'].append(
                dict(
                    id=image_id,
                    file_name=frame.file_name,
                    width=frame.width,
                    height=frame.height,
                    video=video,
                    frame_id=frame.frame_id,
                )
            )
            for box in frame.boxes:
                coco['annotations'].append(
                    dict(
                        id=len(coco['annotations']) + 1,
                        image_id=image_id,
                        category_id=box.category_id,
                        bbox=[box.x, box.y, box.w, box.h],
                        area=round(box.w * box.h, 2),
                        iscrowd=0,
                    )
                )
    return coco


def convert_split(
    src: str, out_dir: str, split: str, videos: list[str], step: int, jpeg_quality: int = 95
) -> tuple[dict, Counter]:
    """Converts the videos of one split and writes ``out_dir/annotations/{split}.json``.

    Returns:
        tuple[dict, Counter]: The COCO dictionary and the ``dropped`` / ``missing`` counts.
    """
    counts = Counter()
    video_frames = []
    for video in tqdm(videos, desc=f'converting {split}', unit='video'):
        video_frames.append(
            (video, convert_video(src, out_dir, split, video, step, jpeg_quality, counts))
        )
    coco = to_coco(video_frames)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    with open(osp.join(out_dir, 'annotations', f'{split}.json'), 'w') as f:
        json.dump(coco, f)
    return coco, counts


def summary_line(split: str, num_videos: int, coco: dict, counts: Counter) -> str:
    per_class = Counter(ann['category_id'] for ann in coco['annotations'])
    classes = ', '.join(f'{name}: {per_class[i + 1]}' for i, name in enumerate(CLASSES))
    line = (
        f'{split}: {num_videos} videos, {len(coco["images"])} images, '
        f'{len(coco["annotations"])} boxes ({classes}), {counts["dropped"]} dropped boxes'
    )
    if counts['missing']:
        line += f', {counts["missing"]} labelled frames missing from the videos'
    return line


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    selected = select_videos(
        read_splits(args.src), args.splits, args.videos, osp.join(args.src, 'splits.csv')
    )
    lines = []
    for split, videos in selected.items():
        coco, counts = convert_split(
            args.src, args.out, split, videos, args.step, args.jpeg_quality
        )
        lines.append(summary_line(split, len(videos), coco, counts))
    print(
        f'wrote {args.out} (step {args.step}: one in {args.step} labelled frames) in '
        f'{time.perf_counter() - start:.1f} s:\n  ' + '\n  '.join(lines)
    )


if __name__ == '__main__':
    main()
