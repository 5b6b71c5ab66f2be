"""Shared fixtures. Importing mmcofnet registers every component in mmdet's registries."""
import os.path as osp

import pytest

import mmcofnet  # noqa: F401

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO_ROOT
