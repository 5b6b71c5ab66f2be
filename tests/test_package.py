"""Package import: registration and version guards."""

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


def test_version_is_a_string():
    assert isinstance(mmcofnet.__version__, str) and mmcofnet.__version__.count('.') == 2
