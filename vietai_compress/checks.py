"""Argument checks shared by every module: one convention for bad input.

``TypeError`` when a value has the wrong type, ``ValueError`` when it has the right type but lies
outside the accepted range. Every message names the argument and what it accepts.
"""
from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, Iterable, Mapping


def check_int(value: Any, argument: str, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in [low, high] (either bound may be None). Bools are not ints here."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{argument} must be an int, got {type(value).__name__} {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{argument} must be an int {_range(low, high)}, got {value}")
    return value


def check_real(value: Any, argument: str, low: float = -math.inf, high: float = math.inf,
               low_open: bool = False) -> float:
    """``value`` as a finite float in [low, high] ((low, high] with ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{argument} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    too_low = value <= low if low_open else value < low
    if not math.isfinite(value) or too_low or value > high:
        raise ValueError(f"{argument} must be a finite number {_range(low, high, low_open)}, got {value}")
    return value


def check_choice(value: Any, argument: str, choices: Iterable[str]) -> str:
    """``value`` as one of the strings ``choices``."""
    choices = tuple(choices)
    if not isinstance(value, str):
        raise TypeError(f"{argument} must be a string, one of {choices}, got {type(value).__name__} {value!r}")
    if value not in choices:
        raise ValueError(f"{argument} must be one of {choices}, got {value!r}")
    return value


def check_layer_names(mapping: Mapping[str, Any], names: Iterable[str], argument: str) -> None:
    """A per-layer setting must name every layer once: ``{"fc1": ..., "fc2": ..., "fc3": ...}``."""
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{argument} must be a mapping of layer name to value, got {type(mapping).__name__}")
    names = list(names)
    unknown, missing = sorted(set(mapping) - set(names)), [name for name in names if name not in mapping]
    if unknown or missing:
        raise ValueError(f"{argument} must name every layer {names} once; unknown {unknown}, missing {missing}")


def _range(low, high, low_open: bool = False) -> str:
    has_low = low is not None and low != -math.inf
    has_high = high is not None and high != math.inf
    if has_low and has_high:
        return f"in {'(' if low_open else '['}{low}, {high}]"
    if has_low:
        return f"{'>' if low_open else '>='} {low}"
    if has_high:
        return f"<= {high}"
    return ""
