"""Convert a Roboflow YOLOv8 export (e.g. SkyWatch) into the COCO layout of mmcofnet's configs.

Input (what Roboflow's "YOLOv8" export unzips to):
    SRC/data.yaml                          ``names``: the class names, label 0 first
    SRC/{train,valid,test}/images/*.jpg
    SRC/{train,valid,test}/labels/*.txt    one ``cls cx cy w h`` line per box, normalised to [0, 1]
Output:
    OUT/annotations/{split}.json           category ids 1..N in the order of ``names``
    OUT/images/{split}/*.jpg               copies (or hard links, with ``--link``)

Images without a label file, or with an empty one, are kept as images without boxes. Boxes are
clipped to the image; boxes with no area left are dropped and counted. A polygon line
(``cls x1 y1 x2 y2 ...``, Roboflow's export of segmentation labels) becomes its bounding box.

Example:
    python tools/dataset_converters/yolo2coco.py ~/Downloads/skywatch-yolov8 data/skywatch
"""

from __future__ import annotations

import argparse
import json
import math
import os
import os.path as osp
import shutil
from collections import Counter

import yaml
from PIL import Image
from tqdm import tqdm

SPLITS = ('train', 'valid', 'test')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
# EXIF orientations that turn the stored image by 90 degrees: width and height swap.
EXIF_ORIENTATION_TAG = 0x0112
TRANSPOSED_ORIENTATIONS = (5, 6, 7, 8)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert a YOLOv8 export into COCO JSON + images')
    parser.add_argument('src', help='export root (with data.yaml and train/, valid/, test/)')
    parser.add_argument('out_dir', help='output root (annotations/ and images/ go under it)')
    parser.add_argument(
        '--splits',
        nargs='+',
        help=f'splits to convert (default: those of {", ".join(SPLITS)} that exist)',
    )
    parser.add_argument(
        '--link',
        action='store_true',
        help='hard-link the images instead of copying them (copies across file systems)',
    )
    return parser.parse_args(argv)


def read_class_names(src: str) -> list[str]:
    """Reads ``names`` of ``src/data.yaml`` (a list, or a ``{index: name}`` mapping)."""
    path = osp.join(src, 'data.yaml')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found: is {src} a YOLOv8 export?')
    with open(path) as f:
        meta = yaml.safe_load(f) or {}
    names = meta.get('names')
    if isinstance(names, dict):
        names = [names[index] for index in sorted(names)]
    if not isinstance(names, list) or not names:
        raise ValueError(f"{path}: 'names' must be a non-empty list of class names, got {names!r}")
    if 'nc' in meta and meta['nc'] != len(names):
        raise ValueError(f"{path}: 'nc' is {meta['nc']} but 'names' has {len(names)} entries")
    return [str(name) for name in names]


def image_size(path: str) -> tuple[int, int]:
    """(width, height) as decoded images have it, from the file header only.

    OpenCV (and so mmcv's loading) applies the EXIF orientation, so a turned image is read
    with its width and height swapped.
    """
    with Image.open(path) as img:
        width, height = img.size
        orientation = img.getexif().get(EXIF_ORIENTATION_TAG, 1)
    return (height, width) if orientation in TRANSPOSED_ORIENTATIONS else (width, height)


def parse_label_line(line: str, num_classes: int, where: str) -> tuple[int, list[float]]:
    """Parses ``cls cx cy w h`` (or a polygon ``cls x1 y1 x2 y2 ...``) into a normalised box.

    Args:
        line: The line, without its newline.
        num_classes: Number of classes; ``cls`` must be below it.
        where: ``file:line`` for the error messages.

    Returns:
        tuple[int, list[float]]: The class index and ``[x1, y1, x2, y2]`` in [0, 1] units
        (not clipped yet).
    """
    fields = line.split()
    is_polygon = len(fields) >= 7 and len(fields) % 2 == 1
    if len(fields) != 5 and not is_polygon:
        raise ValueError(
            f'{where}: expected "cls cx cy w h" (5 values) or a polygon '
            f'"cls x1 y1 x2 y2 ...", got {len(fields)} values: {line!r}'
        )
    try:
        cls = int(fields[0])
        values = [float(v) for v in fields[1:]]
    except ValueError:
        raise ValueError(f'{where}: expected an integer class and numbers, got {line!r}') from None
    if not 0 <= cls < num_classes:
        raise ValueError(f'{where}: class {cls} is not in [0, {num_classes}) (data.yaml names)')
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f'{where}: non-finite coordinate in {line!r}')
    if is_polygon:
        xs, ys = values[0::2], values[1::2]
        return cls, [min(xs), min(ys), max(xs), max(ys)]
    cx, cy, w, h = values
    if w < 0 or h < 0:
        raise ValueError(f'{where}: negative box size in {line!r}')
    return cls, [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def to_pixel_box(box: list[float], width: int, height: int) -> list[float] | None:
    """Normalised ``[x1, y1, x2, y2]`` -> COCO ``[x, y, w, h]`` in pixels, clipped to the image.

    Returns:
        list[float] | None: The box, or None when no area is left inside the image.
    """
    x1, x2 = (min(max(v * width, 0.0), width) for v in (box[0], box[2]))
    y1, y2 = (min(max(v * height, 0.0), height) for v in (box[1], box[3]))
    if x2 <= x1 or y2 <= y1:
        return None
    return [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]


def read_labels(path: str, num_classes: int) -> list[tuple[int, list[float]]]:
    """All boxes of a label file (none when the file is missing or empty)."""
    if not osp.isfile(path):
        return []
    with open(path) as f:
        lines = f.read().splitlines()
    return [
        parse_label_line(line, num_classes, f'{path}:{number}')
        for number, line in enumerate(lines, start=1)
        if line.strip()
    ]


def place_image(src: str, dst: str, link: bool) -> None:
    """Copies ``src`` to ``dst``, or hard-links it when asked and possible."""
    if osp.lexists(dst):
        os.remove(dst)
    if link:
        try:
            os.link(src, dst)
            return
        except OSError:  # another file system, or links not supported: copy instead
            pass
    shutil.copyfile(src, dst)


def convert_split(
    src: str, out_dir: str, split: str, names: list[str], link: bool = False
) -> tuple[dict, Counter]:
    """Converts one split and writes ``out_dir/annotations/{split}.json``.

    Returns:
        tuple[dict, Counter]: The COCO dictionary and counts for the summary (``dropped``:
        boxes with no area inside the image, ``empty``: images without boxes, ``orphans``:
        label files without an image).
    """
    image_dir, label_dir = osp.join(src, split, 'images'), osp.join(src, split, 'labels')
    if not osp.isdir(image_dir):
        raise FileNotFoundError(f'{image_dir} not found (split {split!r} of {src})')
    image_files = sorted(f for f in os.listdir(image_dir) if f.lower().endswith(IMAGE_EXTENSIONS))
    out_image_dir = osp.join(out_dir, 'images', split)
    os.makedirs(out_image_dir, exist_ok=True)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)

    coco = dict(
        images=[],
        annotations=[],
        categories=[dict(id=i + 1, name=name) for i, name in enumerate(names)],
    )
    counts = Counter()
    for image_id, file in enumerate(
        tqdm(image_files, desc=f'converting {split}', unit='img'), start=1
    ):
        src_path = osp.join(image_dir, file)
        width, height = image_size(src_path)
        place_image(src_path, osp.join(out_image_dir, file), link)
        coco['images'].append(
            dict(id=image_id, file_name=f'{split}/{file}', width=width, height=height)
        )
        labels = read_labels(osp.join(label_dir, osp.splitext(file)[0] + '.txt'), len(names))
        boxes = 0
        for cls, box in labels:
            bbox = to_pixel_box(box, width, height)
            if bbox is None:
                counts['dropped'] += 1
                continue
            coco['annotations'].append(
                dict(
                    id=len(coco['annotations']) + 1,
                    image_id=image_id,
                    category_id=cls + 1,
                    bbox=bbox,
                    area=round(bbox[2] * bbox[3], 2),
                    iscrowd=0,
                )
            )
            counts[names[cls]] += 1
            boxes += 1
        counts['empty'] += boxes == 0
    stems = {osp.splitext(f)[0] for f in image_files}
    if osp.isdir(label_dir):
        counts['orphans'] = sum(
            f.endswith('.txt') and osp.splitext(f)[0] not in stems for f in os.listdir(label_dir)
        )
    with open(osp.join(out_dir, 'annotations', f'{split}.json'), 'w') as f:
        json.dump(coco, f)
    return coco, counts


def summary_line(split: str, coco: dict, counts: Counter, names: list[str]) -> str:
    per_class = ', '.join(f'{name}: {counts[name]}' for name in names)
    line = (
        f'{split}: {len(coco["images"])} images ({counts["empty"]} without boxes), '
        f'{len(coco["annotations"])} boxes ({per_class}), {counts["dropped"]} dropped'
    )
    if counts['orphans']:
        line += f', {counts["orphans"]} label files without an image'
    return line


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    names = read_class_names(args.src)
    splits = args.splits or [s for s in SPLITS if osp.isdir(osp.join(args.src, s))]
    if not splits:
        raise FileNotFoundError(f'{args.src} has none of the split folders {SPLITS}')
    lines = []
    for split in splits:
        coco, counts = convert_split(args.src, args.out_dir, split, names, args.link)
        lines.append(summary_line(split, coco, counts, names))
    print(f'wrote {args.out_dir}:\n  ' + '\n  '.join(lines))


if __name__ == '__main__':
    main()
