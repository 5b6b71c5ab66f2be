"""Write the synthetic night-sky data to disk as a COCO dataset (images + JSON).

The layout is the one mmcofnet's COCO configs read:
    OUT_DIR/annotations/{split}.json
    OUT_DIR/images/{split}/{index:06d}.{ext}

Example:
    python tools/dataset_converters/render_synthetic_sky.py data/sky-synth \
        --split train --num-images 2000 --seed 0
"""

import argparse
import json
import os
import os.path as osp

import cv2
from tqdm import tqdm

from mmcofnet.datasets import SKY_CLASSES, SkySceneSampler, render_frame, scene_boxes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Render synthetic sky images as a COCO dataset')
    parser.add_argument('out_dir', help='output root (annotations/ and images/ go under it)')
    parser.add_argument('--split', default='train', help='split name (file names use it)')
    parser.add_argument('--num-images', type=int, default=200)
    parser.add_argument('--seed', type=int, default=0, help='same seed as SyntheticSkyDataset')
    parser.add_argument(
        '--img-size', type=int, nargs=2, default=(1080, 720), metavar=('WIDTH', 'HEIGHT')
    )
    parser.add_argument(
        '--ext',
        choices=['png', 'jpg'],
        default='png',
        help='png keeps the exact pixels of the on-the-fly dataset',
    )
    return parser.parse_args()


def render_coco_split(
    out_dir: str,
    split: str,
    num_images: int,
    seed: int,
    img_size: tuple[int, int],
    ext: str = 'png',
) -> dict:
    """Renders ``num_images`` scenes and writes their images and COCO annotation file.

    Returns:
        dict: The COCO dictionary written to ``out_dir/annotations/{split}.json``.
    """
    sampler = SkySceneSampler(*img_size)
    image_dir = osp.join(out_dir, 'images', split)
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)
    coco = dict(
        images=[],
        annotations=[],
        categories=[dict(id=i + 1, name=name) for i, name in enumerate(SKY_CLASSES)],
    )
    for index in tqdm(range(num_images), desc=f'rendering {split}', unit='img'):
        scene = sampler.sample(seed, index)
        file_name = f'{split}/{index:06d}.{ext}'
        path = osp.join(out_dir, 'images', file_name)
        if not cv2.imwrite(path, render_frame(scene)):
            raise OSError(f'could not write image {path}')
        coco['images'].append(
            dict(id=index, file_name=file_name, width=scene.width, height=scene.height)
        )
        boxes, labels, _ = scene_boxes(scene)
        for (x1, y1, x2, y2), label in zip(boxes.tolist(), labels.tolist()):
            coco['annotations'].append(
                dict(
                    id=len(coco['annotations']) + 1,
                    image_id=index,
                    category_id=label + 1,
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    area=(x2 - x1) * (y2 - y1),
                    iscrowd=0,
                )
            )
    ann_path = osp.join(out_dir, 'annotations', f'{split}.json')
    with open(ann_path, 'w') as f:
        json.dump(coco, f)
    return coco


def main() -> None:
    args = parse_args()
    coco = render_coco_split(
        args.out_dir, args.split, args.num_images, args.seed, tuple(args.img_size), args.ext
    )
    counts = {name: 0 for name in SKY_CLASSES}
    for ann in coco['annotations']:
        counts[SKY_CLASSES[ann['category_id'] - 1]] += 1
    print(
        f'wrote {len(coco["images"])} images and {len(coco["annotations"])} boxes '
        f'({", ".join(f"{k}: {v}" for k, v in counts.items())}) to {args.out_dir}'
    )


if __name__ == '__main__':
    main()
