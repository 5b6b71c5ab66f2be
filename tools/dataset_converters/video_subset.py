"""A fixed share of a COCO file's videos, whole videos at a time, the same share of every class.

For the low-label arm of a study (e.g. self-supervised pretraining then fine-tuning on 10% of
halmstad-sky's labelled training videos): frames of one video are near-duplicates, so the subset
keeps or drops whole videos. Each video is assigned to the class most of its objects carry, and
from every class the same share of videos is drawn (at least one), with a seeded generator: the
same arguments give the same subset. Prints the chosen videos.

Example:
    python tools/dataset_converters/video_subset.py data/halmstad-sky-coco/annotations/train.json \\
        data/halmstad-sky-coco/annotations/train_10pct.json --fraction 0.1 --seed 0
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter, defaultdict


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Whole-video, class-balanced COCO subset')
    parser.add_argument('ann_file', help='COCO JSON whose images carry a "video" key')
    parser.add_argument('out_file', help='where the subset is written')
    parser.add_argument('--fraction', type=float, default=0.1, help="share of each class's videos")
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if not 0 < args.fraction <= 1:
        parser.error(f'--fraction must be in (0, 1], got {args.fraction}')
    return args


def video_classes(coco: dict, ann_file: str) -> dict[str, int]:
    """The majority category of each video's objects (videos without objects are left out)."""
    missing = [img['id'] for img in coco['images'] if 'video' not in img]
    if missing:
        raise KeyError(
            f'{ann_file}: {len(missing)} images have no "video" key (e.g. image id {missing[0]}); '
            'this tool needs halmstad2coco.py output or the same key'
        )
    video_of = {img['id']: img['video'] for img in coco['images']}
    counts: dict[str, Counter] = defaultdict(Counter)
    for ann in coco['annotations']:
        counts[video_of[ann['image_id']]][ann['category_id']] += 1
    return {video: c.most_common(1)[0][0] for video, c in counts.items()}


def choose_videos(classes: dict[str, int], fraction: float, seed: int) -> list[str]:
    """``fraction`` of each class's videos (rounded, at least one), drawn with ``seed``."""
    by_class: dict[int, list[str]] = defaultdict(list)
    for video, category in sorted(classes.items()):
        by_class[category].append(video)
    rng = random.Random(seed)
    chosen = []
    for category in sorted(by_class):
        videos = by_class[category]
        chosen += rng.sample(videos, max(1, round(fraction * len(videos))))
    return sorted(chosen)


def subset(coco: dict, videos: list[str]) -> dict:
    """The COCO dict restricted to the images of ``videos`` and their annotations."""
    keep = set(videos)
    images = [img for img in coco['images'] if img.get('video') in keep]
    ids = {img['id'] for img in images}
    annotations = [ann for ann in coco['annotations'] if ann['image_id'] in ids]
    return dict(coco, images=images, annotations=annotations)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with open(args.ann_file) as f:
        coco = json.load(f)
    videos = choose_videos(video_classes(coco, args.ann_file), args.fraction, args.seed)
    out = subset(coco, videos)
    with open(args.out_file, 'w') as f:
        json.dump(out, f)
    print(
        f'{len(videos)} videos, {len(out["images"])} of {len(coco["images"])} images, '
        f'{len(out["annotations"])} of {len(coco["annotations"])} objects -> {args.out_file}'
    )
    print('videos:', ' '.join(videos))
    return 0


if __name__ == '__main__':
    sys.exit(main())
