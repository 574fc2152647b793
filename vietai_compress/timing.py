"""The one way this project times inference: many single calls, warmed up, reported as p50 and p99.

Used by ``benchmarks/inference_speed.py`` and by notebooks 06, 08, 10 and 11. Variants are timed side by
side (``compare``: rounds that take turns), so that a slower moment of the machine falls on all of them
alike, and a ratio against a reference measured in the same run is the number to read. Imports no torch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from .checks import check_int, check_real


@dataclass
class Timing:
    """Seconds per call of one variant: the median (p50) and the 99th percentile (p99) of ``calls`` calls."""

    p50: float
    p99: float
    calls: int

    def per_second(self, batch: int) -> float:
        """Images per second at the median, for ``batch`` images per call."""
        return batch / self.p50


def _call_times(fn: Callable[[], object], calls: int) -> np.ndarray:
    times = np.empty(calls)
    for i in range(calls):
        start = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - start
    return times


def calls_for(fn: Callable[[], object], seconds: float) -> int:
    """How many calls of ``fn`` take about ``seconds`` (at least 5), from a short trial."""
    seconds = check_real(seconds, "seconds", 0.0, low_open=True)
    trial = _call_times(fn, 5)
    return max(5, int(seconds / max(float(np.median(trial)), 1e-7)))


def compare(variants: Mapping[str, Callable[[], object]], seconds: float = 1.0, rounds: int = 5,
            warmup: int = 10) -> dict[str, Timing]:
    """Time every variant for about ``seconds`` in all, in ``rounds`` turns (each variant once per round), after
    ``warmup`` calls each. Returns ``{name: Timing}`` over every timed call."""
    rounds, warmup = check_int(rounds, "rounds", 1), check_int(warmup, "warmup", 0)
    if not variants:
        raise ValueError("variants is empty: nothing to time")
    for fn in variants.values():
        _call_times(fn, warmup)
    per_round = {name: max(1, calls_for(fn, seconds) // rounds) for name, fn in variants.items()}
    times: dict[str, list[np.ndarray]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            times[name].append(_call_times(fn, per_round[name]))
    result = {}
    for name, chunks in times.items():
        every = np.concatenate(chunks)
        result[name] = Timing(float(np.percentile(every, 50)), float(np.percentile(every, 99)), len(every))
    return result


def time_calls(fn: Callable[[], object], seconds: float = 1.0, warmup: int = 10) -> Timing:
    """One variant alone: ``compare({"fn": fn}, seconds, 1, warmup)["fn"]``."""
    return compare({"fn": fn}, seconds, 1, warmup)["fn"]
