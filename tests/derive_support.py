"""Helpers for the derivation tests: scenario text, and numbers computed without bpstep.

Numeric gradients here use a closed-form numpy function written by the test (never bpstep's
walker or engine) and the five-point central difference
``(-f(x+2h) + 8 f(x+h) - 8 f(x-h) + f(x-2h)) / 12h``, whose error is O(h^4).
"""

from __future__ import annotations

import textwrap
from typing import Callable

import numpy as np

from bpstep.core.derive import derive
from bpstep.core.engine import Walk, run
from bpstep.core.scenario import parse


def literal(value) -> str:
    """A number or nested list as YAML flow text (floats always with a dot, for YAML 1.1)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return np.format_float_positional(float(arr), trim="0")
    return "[" + ", ".join(literal(v) for v in arr) + "]"


def scenario_text(inputs: dict, forward: str, *, output: str | None = None, upstream=None,
                  backward: str | None = None, title: str = "test") -> str:
    lines = ["bpstep: 1", f"title: {title}", "inputs:"]
    lines += [f"  {name}: {literal(value)}" for name, value in inputs.items()]
    lines.append("forward: |")
    lines += ["  " + line for line in textwrap.dedent(forward).strip("\n").split("\n")]
    if output:
        lines.append(f"output: {output}")
    if upstream is not None:
        lines.append(f"upstream: {literal(upstream)}")
    if backward is not None:
        lines.append("backward: |")
        lines += ["  " + line for line in backward.split("\n")]
    return "\n".join(lines) + "\n"


def run_text(text: str) -> Walk:
    return run(parse(text, "<test>"))


def derived_text(text: str) -> str:
    return derive(parse(text, "<test>")).text


def five_point(fn: Callable[[dict], float], inputs: dict, h: float = 1e-4) -> dict[str, np.ndarray]:
    """d fn / d input, element by element, for every input."""
    out = {}
    for name, value in inputs.items():
        base = np.array(value, dtype=np.float64)
        grad = np.zeros(base.size)
        for i in range(base.size):
            values = []
            for step in (2 * h, h, -h, -2 * h):
                nudged = base.copy().reshape(-1)
                nudged[i] += step
                env = dict(inputs)
                env[name] = nudged.reshape(base.shape) if base.ndim else nudged[0]
                values.append(fn(env))
            grad[i] = (-values[0] + 8 * values[1] - 8 * values[2] + values[3]) / (12 * h)
        out[name] = grad.reshape(base.shape) if base.ndim else grad[0]
    return out


def relative_error(a, n, floor: float = 0.0) -> float:
    """The largest CS231n relative error |a - n| / max(|a|, |n|) over the elements (0/0 = 0,
    and 0 where both are at most ``floor``)."""
    a, n = np.asarray(a, dtype=np.float64), np.asarray(n, dtype=np.float64)
    scale = np.maximum(np.abs(a), np.abs(n))
    with np.errstate(all="ignore"):
        err = np.where(scale <= floor, 0.0, np.abs(a - n) / np.where(scale == 0, 1, scale))
    return float(np.max(err)) if err.size else 0.0


def input_gradient(walk: Walk, name: str):
    """The walk's gradient of an input: ``dx``, or ``dx_1`` when the forward pass re-binds x."""
    state = walk.gradients_at(walk.total)
    versions = [e.version for e in walk.cache if e.name == name]
    key = "d" + name if max(versions) == 1 else f"d{name}_1"
    return state.get(key)
