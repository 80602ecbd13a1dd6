"""Shared by the tests of JSON written in pieces (run --json, check --json): a scenario of many
arrays, and the traced memory peak of writing a document."""

from __future__ import annotations

import tracemalloc
from typing import Callable, Iterable


def tanh_chain(stages: int) -> str:
    """``stages`` stages h_k = tanh(h_{k-1}) on a 60x60 array, with their backward pass."""
    forward = "".join(f"  h{k} = np.tanh({'x' if k == 0 else f'h{k - 1}'})\n" for k in range(stages))
    backward = "".join(f"  d{'x' if k == 0 else f'h{k - 1}'} = (1 - h{k}**2) * dh{k}\n"
                       for k in reversed(range(stages)))
    return ("bpstep: 1\ntitle: big\nseed: 1\ninputs: |\n  x = np.random.randn(60, 60)\n"
            f"forward: |\n{forward}backward: |\n{backward}")


def written_and_peak(pieces: Callable[[], Iterable[str]]) -> tuple[int, int]:
    """Characters written and the traced memory peak while ``pieces()`` are made one by one."""
    tracemalloc.start()
    try:
        written = sum(len(piece) for piece in pieces())
        return written, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
