"""Timing for the benchmarks: one synchronised timer, calls taking turns."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch


def synchronize(device: str | torch.device) -> None:
    """Waits for the device's queued kernels (CUDA); a no-op on the CPU. Timers call it first."""
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)


def time_call_ms(
    fn: Callable[[], object],
    device: str | torch.device = 'cpu',
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Milliseconds (by ``clock``) of one call of ``fn``, the device synchronised at both ends.

    On CUDA the synchronisation makes the time count the kernels, not their launch.
    """
    synchronize(device)
    start = clock()
    fn()
    synchronize(device)
    return (clock() - start) * 1000


def time_in_turns_ms(
    fns: Sequence[Callable[[], object]],
    repeat: int,
    warmup: int = 1,
    device: str | torch.device = 'cpu',
    clock: Callable[[], float] = time.perf_counter,
) -> list[list[float]]:
    """``repeat`` timed calls of each of ``fns`` after ``warmup`` untimed ones, taking turns.

    The calls go round robin rather than one function after the other, so that a slow spell of a
    shared machine falls on all of them alike and the ratios between them stay meaningful.

    Args:
        fns (Sequence[Callable]): The functions to time (no arguments).
        repeat (int): Timed calls of each.
        warmup (int): Untimed calls of each first.
        device (str | torch.device): Device to synchronise.
        clock (Callable): Seconds, e.g. ``time.perf_counter`` (wall) or ``time.process_time``.

    Returns:
        list[list[float]]: Per function, its ``repeat`` times in milliseconds.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, fn_times in zip(fns, times):
            fn_times.append(time_call_ms(fn, device, clock))
    return times
