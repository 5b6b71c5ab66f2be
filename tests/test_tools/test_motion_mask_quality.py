"""tools/analysis_tools/motion_mask_quality.py on a tiny fake halmstad-sky."""

import csv
import json
import os

import cv2
import numpy as np
import pytest
from conftest import load_tool

TOOL = 'tools/analysis_tools/motion_mask_quality.py'
WIDTH, HEIGHT, FRAMES, SIDE = 160, 128, 10, 16


def write_video(root, name, label, pan):
    """A textured sky panning by ``pan`` px per frame, crossed by a bright square (3 px / frame)
    that the labels follow."""
    rng = np.random.default_rng(len(name))
    noise = rng.integers(0, 255, (HEIGHT + 80, WIDTH + 80)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 1.5)
    texture = cv2.normalize(texture, None, 40, 200, cv2.NORM_MINMAX).astype(np.uint8)
    path = os.path.join(root, 'videos', 'val', f'{name}.mp4')
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*'mp4v'), 10, (WIDTH, HEIGHT))
    rows = []
    for t in range(FRAMES):
        x0, y0 = 10 + pan[0] * t, 10 + pan[1] * t
        gray = texture[y0 : y0 + HEIGHT, x0 : x0 + WIDTH].copy()
        x, y = 30 + 3 * t, 50 + t
        gray[y : y + SIDE, x : x + SIDE] = 250
        writer.write(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
        rows.append([t, label, x, y, SIDE, SIDE])
    writer.release()
    with open(os.path.join(root, 'labels', f'{name}_LABELS.csv'), 'w', newline='') as f:
        csv.writer(f).writerows([['frame', 'label', 'x', 'y', 'width', 'height'], *rows])


@pytest.fixture(scope='module')
def fake_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('halmstad-sky')
    for folder in ('videos/val', 'labels'):
        os.makedirs(root / folder)
    write_video(str(root), 'V_BIRD_001', 'BIRD', pan=(0, 0))
    write_video(str(root), 'V_DRONE_002', 'DRONE', pan=(2, 1))
    (root / 'splits.csv').write_text('video,split\nV_BIRD_001,val\nV_DRONE_002,val\nV_X,train\n')
    return str(root)


def test_moving_squares_are_covered_and_little_lies_outside(repo_root, fake_root):
    tool = load_tool(repo_root, TOOL)
    args = tool.parse_args(
        ['--root', fake_root, '--pairs-per-video', '4', '--frame-gap', '1', '2', '--seed', '3']
    )
    rows = {row['class']: row for row in tool.run(args)}
    assert set(rows) == {'BIRD', 'DRONE', 'all'}
    overall = rows['all']
    assert overall['objects'] == overall['pairs'] == 8
    assert overall['coverage'] >= 0.9 and rows['DRONE']['coverage'] >= 0.75  # the panning one
    assert overall['outside'] <= 0.2 and overall['empty'] <= 0.125
    assert overall['motion_ms'] > 0 and overall['load_ms'] > 0
    assert overall['frame_shape'] == [HEIGHT, WIDTH]


def test_crops_and_json_output(repo_root, fake_root, capsys):
    tool = load_tool(repo_root, TOOL)
    tool.main(['--root', fake_root, '--pairs-per-video', '2', '--crop', '64', '--json'])
    rows = json.loads(capsys.readouterr().out)
    overall = rows[-1]
    assert overall['class'] == 'all' and overall['frame_shape'] == [64, 64]
    assert overall['coverage'] >= 0.75 and overall['outside'] <= 0.3

    tool.main(['--root', fake_root, '--pairs-per-video', '1', '--videos', 'V_BIRD_001'])
    table = capsys.readouterr().out
    assert 'BIRD' in table and 'coverage' in table and 'MotionTargets' in table


def test_bad_arguments_are_refused(repo_root, fake_root):
    tool = load_tool(repo_root, TOOL)
    with pytest.raises(SystemExit):
        tool.parse_args(['--frame-gap', '3', '1'])
    with pytest.raises(ValueError, match='no videos'):
        tool.run(tool.parse_args(['--root', fake_root, '--split', 'test']))
