"""Command-line helpers shared by the analysis tools (imported as ``from _cli import ...``)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable

import torch
from mmengine.config import DictAction
from mmengine.logging import MMLogger


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'{value} is not >= 1')
    return value


def detector_tool_parser(description: str) -> argparse.ArgumentParser:
    """Arguments of the tools that load a trained detector: ``config``, ``checkpoint``,
    ``--device`` (CUDA when there is one) and ``--cfg-options``; a tool adds its own.

    Args:
        description (str): The tool's description.

    Returns:
        argparse.ArgumentParser: The parser.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('config', help='detector config')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs',
    )
    return parser


def image_tool_parser(description: str, num: int, score_thr: float) -> argparse.ArgumentParser:
    """:func:`detector_tool_parser` with the test images to run on: ``--num`` (>= 1) images from
    ``--start`` (see ``mmcofnet.apis.load_test_batches``), and ``--score-thr``.

    Args:
        description (str): The tool's description.
        num (int): Default number of test images.
        score_thr (float): Default lowest score of the predictions used.

    Returns:
        argparse.ArgumentParser: The parser.
    """
    parser = detector_tool_parser(description)
    parser.add_argument('--num', type=_positive_int, default=num, help='number of test images')
    parser.add_argument('--start', type=int, default=0, help='index of the first test image')
    parser.add_argument(
        '--score-thr', type=float, default=score_thr, help='lowest score of the predictions used'
    )
    return parser


def print_rows(
    run: Callable[[], list[dict]],
    print_table: Callable[[list[dict]], None],
    as_json: bool,
    logger_name: str,
) -> None:
    """Runs a tool and prints its rows as a table, or as one JSON list alone on stdout.

    Args:
        run: Computes the rows (one dict per config).
        print_table: Prints the rows as a table.
        as_json: Print ``json.dumps(rows)`` on stdout, with all logging sent to stderr.
        logger_name: Name of the tool's MMLogger, created while stdout is redirected so that its
            handler writes to stderr.
    """
    if not as_json:
        print_table(run())
        return
    with contextlib.redirect_stdout(sys.stderr):
        MMLogger.get_instance(logger_name)
        rows = run()
    print(json.dumps(rows))
