"""keep_freed_memory and release_freed_memory: the glibc calls they make, on a fake libc."""

import ctypes

import pytest

from mmcofnet.utils import allocator, keep_freed_memory, release_freed_memory


class FakeLibc:
    """Records ``mallopt``/``malloc_trim`` calls and answers each with ``result``."""

    def __init__(self, result: int = 1):
        self.result, self.calls = result, []

    def mallopt(self, param, value):
        self.calls.append(('mallopt', param, value))
        return self.result

    def malloc_trim(self, pad):
        self.calls.append(('malloc_trim', pad))
        return self.result


class NoAllocatorLibc:
    """A C library that is not glibc: neither function exists."""


@pytest.fixture
def use_libc(monkeypatch):
    """``use_libc(lib)`` makes ``ctypes.CDLL`` return ``lib`` whatever the name."""
    monkeypatch.delenv('MMCOFNET_ALLOCATOR_TUNING', raising=False)

    def use(lib):
        monkeypatch.setattr(ctypes, 'CDLL', lambda name, *args, **kwargs: lib)
        return lib

    return use


def test_opt_out_by_environment(monkeypatch, use_libc):
    libc = use_libc(FakeLibc())
    monkeypatch.setenv('MMCOFNET_ALLOCATOR_TUNING', '0')
    assert keep_freed_memory() is False
    assert libc.calls == []


def test_keep_freed_memory_disables_mmap_and_trimming(use_libc):
    libc = use_libc(FakeLibc(result=1))
    assert keep_freed_memory() is True
    # M_MMAP_MAX = -4 set to 0, then M_TRIM_THRESHOLD = -1 set to 2 GiB - 1.
    assert libc.calls == [('mallopt', -4, 0), ('mallopt', -1, 2**31 - 1)]
    assert (allocator._M_MMAP_MAX, allocator._M_TRIM_THRESHOLD) == (-4, -1)


def test_keep_freed_memory_reports_a_refused_setting(use_libc):
    libc = use_libc(FakeLibc(result=0))
    assert keep_freed_memory() is False
    assert libc.calls == [('mallopt', -4, 0)]  # the first refusal stops it


def test_keep_freed_memory_without_mallopt(use_libc):
    use_libc(NoAllocatorLibc())
    assert keep_freed_memory() is False


@pytest.mark.parametrize('result, released', [(1, True), (0, False)])
def test_release_freed_memory_trims_with_no_padding(use_libc, result, released):
    libc = use_libc(FakeLibc(result=result))
    assert release_freed_memory() is released
    assert libc.calls == [('malloc_trim', 0)]


def test_release_freed_memory_without_malloc_trim(use_libc):
    use_libc(NoAllocatorLibc())
    assert release_freed_memory() is False


def test_a_missing_c_library_is_not_an_error(monkeypatch):
    monkeypatch.delenv('MMCOFNET_ALLOCATOR_TUNING', raising=False)

    def missing(name, *args, **kwargs):
        raise OSError(f'{name}: cannot open shared object file')

    monkeypatch.setattr(ctypes, 'CDLL', missing)
    assert keep_freed_memory() is False
    assert release_freed_memory() is False
