"""keep_freed_memory: applied on glibc, switchable off."""

import platform

import pytest

from mmcofnet.utils import keep_freed_memory


def test_opt_out_by_environment(monkeypatch):
    monkeypatch.setenv('MMCOFNET_ALLOCATOR_TUNING', '0')
    assert keep_freed_memory() is False


@pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='mallopt is glibc-only')
def test_applied_on_glibc():
    assert keep_freed_memory() is True


@pytest.mark.skipif(platform.libc_ver()[0] != 'glibc', reason='malloc_trim is glibc-only')
def test_release_freed_memory_runs_on_glibc():
    from mmcofnet.utils import release_freed_memory

    assert isinstance(release_freed_memory(), bool)
