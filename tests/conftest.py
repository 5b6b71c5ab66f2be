"""Shared fixtures. Importing mmcofnet registers every component in mmdet's registries."""
import os.path as osp

import pytest
from mmdet.utils import register_all_modules

import mmcofnet  # noqa: F401

# Outside a Runner, builders look up names in the default scope: make it mmdet's, as configs do.
register_all_modules(init_default_scope=True)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO_ROOT
