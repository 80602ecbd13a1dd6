"""The text of the detail view (Enter on a row): full matrices. Pure: no textual here."""

from __future__ import annotations

import re

import numpy as np

from bpstep.core.engine import Walk
from bpstep.core.values import full, shape_text

MAX_ELEMENTS = 20_000  # a larger array shows its first rows, and says so


def matrix(value) -> list[str]:
    """``values.full`` of a value, indented; a huge array is cut to its first rows."""
    if isinstance(value, np.ndarray) and value.size > MAX_ELEMENTS and value.ndim >= 1:
        per_row = max(value.size // value.shape[0], 1)
        rows = max(MAX_ELEMENTS // per_row, 1)
        return ["  " + line for line in full(value[:rows])] + [
            f"  … {value.shape[0] - rows} more rows of {value.shape[0]} not shown"]
    return ["  " + line for line in full(value)]


def cache_detail(walk: Walk, row: int) -> tuple[str, str]:
    entry = walk.cache[row]
    where = "input" if entry.stage is None else f"stage {entry.stage}"
    title = f"{entry.label} · {where} · {shape_text(entry.value)}"
    if not entry.code:
        head = entry.label
    elif re.match(rf"{re.escape(entry.name)}\s*\+?=", entry.code):  # a whole statement
        head = entry.code
    else:  # an input given as an expression
        head = f"{entry.label} = {entry.code}"
    lines = [head, ""]
    lines += matrix(entry.value)
    return title, "\n".join(lines)


def gradient_detail(walk: Walk, name: str, position: int) -> tuple[str, str]:
    value = walk.value_at(name, position)
    kind = "gradient" if walk.is_gradient(name) else "backward local"
    title = f"{name} · {kind} · step {position} of {walk.total}"
    if value is None:
        return title, f"{name} has no value yet at step {position}."
    lines = [f"{name} at step {position}, shape {shape_text(value)}:"] + matrix(value)
    step = walk.step(position)
    if step is not None and step.target == name and step.accumulates:
        lines += ["", f"step {step.index} (stage {step.stage}): {step.code}", "before:"]
        lines += matrix(step.before) + ["+ contribution:"] + matrix(step.contribution)
        lines += ["= after:"] + matrix(step.after)
    contributions = walk.contributions_at(name, position)
    if contributions:
        lines += ["", "contributions:"]
    for c in contributions:
        where = "upstream" if c.stage is None else f"stage {c.stage}, step {c.step} ({c.op})"
        flag = "  DISCARDED by a later '='" if c.discarded else ""
        lines += [f"from {where}{flag}:"] + matrix(c.value)
    return title, "\n".join(lines)
