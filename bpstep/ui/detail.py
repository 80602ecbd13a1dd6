"""The text of the detail view (Enter on a row): full matrices. Pure: no textual here."""

from __future__ import annotations

import re

import numpy as np

from bpstep.core.engine import Walk
from bpstep.core.matrix import dimension_analysis, forward_dimensions, stage_dimensions
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


def dimensions(stage: int, lines: list[str]) -> list[str]:
    """The dimension analysis of a stage with a matrix product, as the notes spell it out."""
    if not lines:
        return []
    return [f"dimension analysis (stage {stage}):"] + ["  " + line for line in lines] + [""]


def gradient_dimensions(walk: Walk, name: str, position: int) -> list[str]:
    """For each stage whose steps wrote ``name`` by ``position`` with a matrix product: the
    stage's forward product and those steps' products (``dW (5,10) = dD (5,3) . X.T (3,10)``)."""
    by_stage: dict[int, list[str]] = {}
    for step in walk.steps[:position]:
        if step.target == name:
            text = dimension_analysis(walk, step)
            if text:
                by_stage.setdefault(step.stage, []).append(text)
    out = []
    for stage, lines in by_stage.items():
        forward = forward_dimensions(walk, stage)
        out += dimensions(stage, ([forward] if forward else []) + lines)
    return out


def cache_detail(walk: Walk, row: int, position: int | None = None) -> tuple[str, str]:
    """A cached value in full; for a stage with a matrix product, its dimension analysis
    (the backward steps' too, those run by ``position``)."""
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
    if entry.stage is not None:
        lines += dimensions(entry.stage, stage_dimensions(walk, entry.stage, position))
    lines += matrix(entry.value)
    return title, "\n".join(lines)


def gradient_detail(walk: Walk, name: str, position: int) -> tuple[str, str]:
    value = walk.value_at(name, position)
    kind = "gradient" if walk.is_gradient(name) else "backward local"
    title = f"{name} · {kind} · step {position} of {walk.total}"
    if value is None:
        return title, f"{name} has no value yet at step {position}."
    lines = gradient_dimensions(walk, name, position)
    lines += [f"{name} at step {position}, shape {shape_text(value)}:"] + matrix(value)
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
