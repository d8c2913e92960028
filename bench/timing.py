"""Timing on a shared, noisy machine: medians after warm-up, and comparisons measured interleaved."""

from __future__ import annotations

import statistics
import time


def median_seconds(fn, repeats: int, warmup: bool = True) -> float:
    if warmup:
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


PAUSE = 0.05
"""Seconds between two timed calls of a pair. onnxruntime's CPU threads keep spinning for a while after a run
by default (the raw baseline's session does; the engine's stop at the end of each run), and a run that starts
meanwhile shares the cores with them: without the pause, whichever session runs second pays for the first."""


def after_pause(fn) -> float:
    """Seconds `fn` takes, timed after PAUSE."""
    time.sleep(PAUSE)
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def paired(fn_a, fn_b, repeats: int, warmup: bool = True) -> tuple[float, float]:
    """Medians of two timings taken alternately, so both see the same background load, in A B, B A, A B, ...
    order: running second is not neutral (a session timed right after another ran 1-3% slower in a fixed A B
    order; 31 shuffled rounds put the engine's session at 0.99-1.01x raw where A B pairs said 1.035)."""
    if warmup:
        fn_a(), fn_b()
    a, b = [], []
    for round_ in range(repeats):
        pair = ((fn_a, a), (fn_b, b))
        for fn, times in pair if round_ % 2 == 0 else pair[::-1]:
            times.append(after_pause(fn))
    return statistics.median(a), statistics.median(b)
