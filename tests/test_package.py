"""Package import: registration and version guards."""

import importlib.metadata

import pytest
from mmdet.registry import DATASETS, TRANSFORMS

import mmcofnet


def test_import_registers_components():
    assert DATASETS.get('SyntheticSkyDataset') is mmcofnet.datasets.SyntheticSkyDataset
    assert TRANSFORMS.get('LoadSyntheticSkyImage') is not None
    assert TRANSFORMS.get('SmallObjectCrop') is not None


def test_version_guard_names_the_package(monkeypatch):
    import mmdet

    monkeypatch.setattr(mmdet, '__version__', '2.28.0')
    with pytest.raises(ImportError, match=r'mmdet>=3\.0\.0,<4\.0\.0.*mmdet==2\.28\.0'):
        mmcofnet._check_versions()


def test_installed_version_is_the_package_version():
    # setup.cfg reads the version from mmcofnet/version.py: the installed metadata must agree.
    assert importlib.metadata.version('mmcofnet') == mmcofnet.__version__
