"""Matrices for people: the dimension analysis of a matrix product, and a heatmap model.

:func:`dimension_analysis` spells out the shapes of a step that multiplies matrices, as the
notes teach (``dW (5,10) = dD (5,3) . X.T (3,10)``): the shapes must match up, and the
result must have the shape of the value whose gradient it is. Operands are re-evaluated
with the whitelisting walker against the values the step saw; nothing is executed.

:class:`Heatmap` is what a widget paints for an array: every cell's intensity in [-1, 1]
(the value over the largest magnitude, so that sign shows as colour), with the shape, range
and scale, pooled by block means when the array is larger than the room given.
"""

from __future__ import annotations

import ast
import math
from collections import ChainMap
from dataclasses import dataclass

import numpy as np

from bpstep.core.engine import Step, Walk
from bpstep.core.errors import ScenarioError
from bpstep.core.expr import Value, Walker, qualified_name
from bpstep.core.program import Statement, node_source
from bpstep.core.values import number


def compact_shape(value: Value) -> str:
    """``(5,10)`` for a matrix, ``(3,)`` for a vector, ``()`` for a scalar."""
    shape = np.shape(value)
    return "(" + ",".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def find_product(node: ast.AST) -> ast.AST | None:
    """The outermost matrix product in an expression: ``a.dot(b)``, ``np.dot(a, b)``, ``a @ b``."""
    queue = [node]
    while queue:
        current = queue.pop(0)
        if _operands(current) is not None:
            return current
        queue.extend(ast.iter_child_nodes(current))
    return None


def _operands(node: ast.AST) -> tuple[ast.AST, ast.AST] | None:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        return node.left, node.right
    if isinstance(node, ast.Call):
        if qualified_name(node.func) == "np.dot" and len(node.args) == 2:
            return node.args[0], node.args[1]
        if (isinstance(node.func, ast.Attribute) and node.func.attr == "dot" and len(node.args) == 1
                and qualified_name(node.func) is None):
            return node.func.value, node.args[0]
    return None


def _describe(statement: Statement, env, head: str, op: str, result: Value | None) -> str | None:
    product = find_product(statement.value)
    if product is None:
        return None
    left, right = _operands(product)
    lines = statement.block.split_lines  # ast.get_source_segment splits the whole block each time
    try:
        walker = Walker(env, statement.block)
        a, b = walker.evaluate(left), walker.evaluate(right)
        if product is not statement.value or result is None:
            result = walker.evaluate(product)
    except ScenarioError:
        return None
    if product is not statement.value:
        head = node_source(lines, product) or head
        op = "="
    left_text = node_source(lines, left) or "?"
    right_text = node_source(lines, right) or "?"
    return (f"{head} {compact_shape(result)} {op} {left_text} {compact_shape(a)} . "
            f"{right_text} {compact_shape(b)}")


def dimension_analysis(walk: Walk, step: Step) -> str | None:
    """``dW (5,10) = dD (5,3) . X.T (3,10)`` for a backward step with a matrix product;
    None for a step without one. For ``+=`` the shape is the contribution's."""
    statement = walk.backward[step.index - 1]
    if find_product(statement.value) is None:  # before gathering the values it would read
        return None
    env = ChainMap(dict(walk.gradients_at(step.index - 1)), _forward_env(walk, None))
    return _describe(statement, env, step.target, step.op, step.contribution)


def forward_dimensions(walk: Walk, stage: int) -> str | None:
    """``D (5,3) = W (5,10) . X (10,3)`` for a forward stage with a matrix product."""
    statement = next((s for s in walk.forward if s.stage == stage), None)
    if statement is None or find_product(statement.value) is None:
        return None
    entry = next(e for e in walk.cache if e.stage == stage)
    value = entry.value if statement.op == "=" else None
    return _describe(statement, _forward_env(walk, stage), statement.target, statement.op, value)


def stage_dimensions(walk: Walk, stage: int, position: int | None = None) -> list[str]:
    """The dimension analysis of a stage: its forward product, then each backward step of the
    stage with a product (only the steps applied by ``position``, if given)."""
    out = []
    forward = forward_dimensions(walk, stage)
    if forward:
        out.append(forward)
    for step in walk.steps:
        if step.stage == stage and (position is None or step.index <= position):
            text = dimension_analysis(walk, step)
            if text:
                out.append(text)
    return out


def dimension_notes(walk: Walk, position: int) -> list[tuple[int, str]]:
    """``(stage, line)``: :func:`stage_dimensions` of every forward statement's stage, in order,
    with one pass over the steps (a pass per stage was quadratic: minutes for a long SVG)."""
    first: dict[int, Statement] = {}
    for statement in walk.forward:
        first.setdefault(statement.stage, statement)
    taken: dict[int, list[Step]] = {}
    for step in walk.steps:
        if step.index <= position:
            taken.setdefault(step.stage, []).append(step)
    out = []
    for statement in walk.forward:
        stage = statement.stage
        forward = forward_dimensions(walk, stage) if find_product(first[stage].value) is not None else None
        lines = [forward] if forward else []
        lines += [text for text in (dimension_analysis(walk, step) for step in taken.get(stage, ())) if text]
        out.extend((stage, line) for line in lines)
    return out


def _forward_env(walk: Walk, stage: int | None) -> dict[str, Value]:
    """The forward values as the stage saw them (None: as the backward pass saw them)."""
    env: dict[str, Value] = {}
    for entry in walk.cache:
        if stage is not None and entry.stage is not None and entry.stage >= stage:
            continue
        env[entry.name] = entry.value
    return env


# -- heatmap ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Heatmap:
    shape: tuple[int, ...]  # the array's own shape
    cells: tuple[tuple[float | None, ...], ...]  # rows of intensities in [-1, 1]; None: not finite
    low: float  # smallest finite value (nan when there is none)
    high: float
    scale: float  # the magnitude that intensity 1 stands for
    block: tuple[int, int]  # rows and columns of the array pooled into one cell

    @property
    def rows(self) -> int:
        return len(self.cells)

    @property
    def cols(self) -> int:
        return len(self.cells[0]) if self.cells else 0

    @property
    def trouble(self) -> bool:
        return any(c is None for row in self.cells for c in row)

    def caption(self) -> str:
        """``(5,10)  min -2.55  max 2.27`` (and the pooling, if any)."""
        text = f"{compact_shape(np.zeros(self.shape))}  min {number(self.low)}  max {number(self.high)}"
        if self.block != (1, 1):
            text += f"  ({self.block[0]}x{self.block[1]} per cell)"
        if self.trouble:
            text += "  (!) not finite"
        return text


def heatmap(value: Value, max_rows: int | None = None, max_cols: int | None = None) -> Heatmap:
    """The heatmap of a scalar, vector (one row) or matrix; higher dimensions fold into columns.
    With ``max_rows``/``max_cols``, larger arrays are pooled by block means to fit."""
    array = np.asarray(value, dtype=np.float64)
    shape = tuple(array.shape)
    grid = array.reshape(1, 1) if array.ndim == 0 else array.reshape(1, -1) if array.ndim == 1 \
        else array.reshape(array.shape[0], -1)
    rows, cols = grid.shape
    br = math.ceil(rows / max_rows) if max_rows and rows > max_rows else 1
    bc = math.ceil(cols / max_cols) if max_cols and cols > max_cols else 1
    finite = np.isfinite(grid)
    values = grid[finite]
    low = float(values.min()) if values.size else math.nan
    high = float(values.max()) if values.size else math.nan
    scale = float(np.abs(values).max()) if values.size else 0.0
    out = []
    for r0 in range(0, rows, br):
        row = []
        for c0 in range(0, cols, bc):
            block = grid[r0:r0 + br, c0:c0 + bc]
            if not np.all(np.isfinite(block)):
                row.append(None)
                continue
            mean = float(block.mean())
            row.append(mean / scale if scale > 0 else 0.0)
        out.append(tuple(row))
    return Heatmap(shape, tuple(out), low, high, scale, (br, bc))
