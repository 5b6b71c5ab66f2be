"""halmstad-sky's label files: ``splits.csv`` and ``labels/<video>_LABELS.csv``."""

from __future__ import annotations

import csv
import os.path as osp
from collections import defaultdict
from dataclasses import dataclass

HALMSTAD_CLASSES = ('AIRPLANE', 'BIRD', 'DRONE', 'HELICOPTER')
CSV_COLUMNS = ('frame', 'label', 'x', 'y', 'width', 'height')


@dataclass
class Box:
    """One CSV row: a box in pixels (top-left corner and size) and its category id."""

    category_id: int
    x: float
    y: float
    w: float
    h: float


def read_splits(src: str) -> dict[str, str]:
    """``{video: split}`` from ``src/splits.csv``."""
    path = osp.join(src, 'splits.csv')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found: is {src} the halmstad-sky root?')
    with open(path, newline='') as f:
        rows = list(csv.DictReader(f))
    if rows and not {'video', 'split'} <= set(rows[0]):
        raise ValueError(f'{path}: expected the columns video,split, got {list(rows[0])}')
    return {row['video']: row['split'] for row in rows}


def read_labels(path: str) -> dict[int, list[Box]]:
    """``{frame: [Box, ...]}`` from a ``<video>_LABELS.csv`` file.

    Raises:
        ValueError: On a missing column, an unknown label or a value that is not a number,
            naming the file and line.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'label file {path} not found')
    boxes = defaultdict(list)
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        missing = set(CSV_COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise ValueError(
                f'{path}: missing columns {sorted(missing)} (expected {",".join(CSV_COLUMNS)})'
            )
        for row in reader:
            where = f'{path}:{reader.line_num}'
            if row['label'] not in HALMSTAD_CLASSES:
                raise ValueError(
                    f'{where}: unknown label {row["label"]!r} (expected one of {HALMSTAD_CLASSES})'
                )
            try:
                frame = int(row['frame'])
                x, y, w, h = (float(row[key]) for key in ('x', 'y', 'width', 'height'))
            except (TypeError, ValueError):
                raise ValueError(
                    f'{where}: frame must be an integer and x,y,width,height numbers, got {row}'
                ) from None
            if frame < 0:
                raise ValueError(f'{where}: negative frame index {frame}')
            boxes[frame].append(Box(HALMSTAD_CLASSES.index(row['label']) + 1, x, y, w, h))
    return dict(boxes)
