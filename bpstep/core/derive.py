"""Deriving the backward pass from the forward pass, written as the notes write it.

For every stage, last first, and every place in its expression where a name is read, one
statement ``dname = <local gradient> * doutput`` (``+=`` once ``dname`` holds a contribution),
marked ``#(stage)``: a name read twice (``b = a + a``) gets two contributions, the second a
``+=``, and a name read by several stages collects one from each. The local gradients come from
the table in :mod:`bpstep.core.rules`; operands that were broadcast get their gradient summed
back to their own shape (``db1 = dZ.sum(axis=0)``).

Re-bound names (``c += c + 1``) are versions (see :mod:`bpstep.core.versions`): the
backward pass reads an earlier version ``k`` as ``c_k`` and writes its gradient to ``dc_k``,
so every version gets its gradient and the code runs as written in the engine, which binds
forward names to their last values and runs the stages in reverse.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from bpstep.core.errors import reported_at
from bpstep.core.expr import DEFAULT_LIMITS, Limits, Walker, names_read, quiet, shape_of
from bpstep.core.program import Statement, node_source, parse_block
from bpstep.core.codetext import atom, unbroadcast
from bpstep.core.rules import RULES, Op, classify, vjp
from bpstep.core.source import MAX_LINE_LENGTH, CodeBlock
from bpstep.core.versions import Timeline, aliases, timeline

MARKER_COLUMN = 52  # derived statements are padded so that their #(n) markers line up
_PLACEHOLDER = "__bpstep_g__"


@dataclass(frozen=True)
class Derivation:
    """The derived backward pass: its code (with ``#(n)`` markers), the parsed statements
    (each mapped to its forward statement's line) and what every gradient name is of."""

    text: str
    statements: tuple[Statement, ...]
    gradients: dict[str, tuple[str, int]]  # gradient name -> (forward name, version)


def derive(scenario, limits: Limits = DEFAULT_LIMITS) -> Derivation:
    """Derive the backward pass of a loaded scenario (its own ``backward:`` is ignored)."""
    from bpstep.core.engine import run

    walk = run(scenario, limits, backward=[])
    return derive_backward(walk.forward, walk.cache, walk.output, limits)


def load_derivation(path: str, limits: Limits = DEFAULT_LIMITS) -> Derivation:
    from bpstep.core.scenario import load

    scenario = load(path, limits)
    with reported_at(path), quiet():  # inf and nan are values: no numpy warnings on stderr
        return derive(scenario, limits)


def derive_backward(forward: Iterable[Statement], cache: Iterable[Any], output: str,
                    limits: Limits = DEFAULT_LIMITS) -> Derivation:
    """The backward pass of ``forward`` (numbered statements) given its cache (inputs first,
    then one entry per statement, as :func:`bpstep.core.engine.run` records it)."""
    forward = list(forward)
    _check_order(forward)
    line = timeline(cache)
    known = set(line.after)
    available = set(aliases(cache, known))
    top = (output, line.final[output])
    reached = {top}
    written = {line.gradient_name(*top)}
    gradients: dict[str, tuple[str, int]] = {}
    groups: list[tuple[Statement, list[str], str]] = []
    for j in reversed(range(len(forward))):
        statement = forward[j]
        if line.produced[j] not in reached:
            groups.append((statement, [], f"{statement.target} does not reach the output {output}"))
            continue
        stage = _Stage(statement, line, j, limits, available, known)
        codes = []
        for leaf, code in stage.contributions():
            name = stage.gradient_name(*leaf)
            codes.append(f"{name} {'+=' if name in written else '='} {code}")
            laid_out = len(codes[-1]) + 2 + len(f"#({statement.stage})")  # as _layout writes it, at least
            if laid_out > MAX_LINE_LENGTH:  # nested calls: the derived code grows with their square
                raise statement.error(f"bpstep cannot derive this stage: its contribution to {name} would "
                                      f"be a line of {laid_out} characters, over the limit of "
                                      f"{MAX_LINE_LENGTH}; split the expression into stages (or write the "
                                      "backward: block yourself)")
            written.add(name)
            reached.add(leaf)
            gradients[name] = leaf
        groups.append((statement, codes, "" if codes else "no gradient flows back through it"))
    text, origins = _layout(groups)
    statements = parse_block(CodeBlock("backward", text, origins), limits) if text else []
    return Derivation(text, tuple(statements), gradients)


def _check_order(forward: list[Statement]) -> None:
    for earlier, later in zip(forward, forward[1:]):
        if later.stage <= earlier.stage:
            raise later.error(f"bpstep derives a backward pass only when the forward stages are "
                              f"numbered in order, but stage {later.stage} comes after stage "
                              f"{earlier.stage} (line {earlier.line}); fix the #(n) markers or "
                              "write the backward: block yourself")


def _layout(groups: list[tuple[Statement, list[str], str]]) -> tuple[str, tuple[tuple[int, int], ...]]:
    codes = [code for _, lines, _ in groups for code in lines]
    width = min(max((len(c) for c in codes), default=0), MARKER_COLUMN) + 2
    lines, origins = [], []
    for statement, codes, note in groups:
        comment = f"# backprop {statement.code}" + (f"  ({note})" if note else "")
        if len(comment) > MAX_LINE_LENGTH:  # only a comment: cut, so that a long statement can be derived
            comment = comment[:MAX_LINE_LENGTH - 1] + "…"
        lines.append(comment)
        origins.append((statement.line, statement.col))
        for code in codes:
            lines.append(code + " " * max(width - len(code), 2) + f"#({statement.stage})")
            origins.append((statement.line, statement.col))
    return "\n".join(lines), tuple(origins)


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]):
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.copy_location(ast.Name(self.names.get(node.id, node.id), node.ctx), node)


class _Stage:
    """One forward statement being differentiated: its operations' code, values and shapes
    in the environment it ran in, and the contributions it sends back."""

    def __init__(self, statement: Statement, line: Timeline, j: int, limits: Limits,
                 available: set[str], known: set[str]):
        self.statement, self.line, self.limits = statement, line, limits
        self.lines = statement.block.split_lines  # split once per block, not once per stage
        self.available, self.known = available, known
        self.env, self.seen = line.before[j], line.seen[j]
        self.target, self.version = line.produced[j]
        self.synthetic: set[int] = set()
        self._values: dict[int, Any] = {}
        self._texts: dict[int, str] = {}
        self._keep: list[ast.AST] = []  # keeps synthetic nodes alive while their ids are used
        if statement.op == "=":
            self.root = statement.value
        else:  # c += e is c#k = c#(k-1) + e
            old = ast.copy_location(ast.Name(self.target, ast.Load()), statement.value)
            self.root = ast.copy_location(ast.BinOp(old, ast.Add(), statement.value), statement.value)
            self.synthetic |= {id(old), id(self.root)}
            self._keep += [old, self.root]

    # -- names ------------------------------------------------------------------------------
    def value_name(self, name: str, version: int) -> str:
        text = self.line.value_name(name, version)
        if text != name and text not in self.available:
            raise self.statement.error(
                f"cannot derive the backward pass: it reads the earlier value of '{name}' "
                f"(version {version}) as '{text}', but '{text}' is a name of this scenario; "
                "rename one of them")
        return text

    def gradient_name(self, name: str, version: int) -> str:
        text = "d" + self.value_name(name, version)
        if text in self.known:
            raise self.statement.error(f"cannot derive the backward pass: the gradient of "
                                       f"'{self.line.label(name, version)}' would be '{text}', which "
                                       "is a forward name of this scenario; rename it")
        return text

    # -- code, values and shapes of the expression's parts ----------------------------------
    def text(self, node: ast.AST) -> str:
        key = id(node)  # asked for a node, its arguments, and again as the node's own arguments
        if key not in self._texts:
            self._texts[key] = self._text(node)
        return self._texts[key]

    def _text(self, node: ast.AST) -> str:
        renames = {}
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in self.seen:
                text = self.value_name(sub.id, self.seen[sub.id])
                if text != sub.id:
                    renames[sub.id] = text
        if id(node) not in self.synthetic and not renames:
            segment = node_source(self.lines, node)
            if segment is not None and "#" not in segment:
                return " ".join(segment.split())
        return ast.unparse(_Rename(renames).visit(copy.deepcopy(node)))

    def value(self, node: ast.AST) -> Any:
        key = id(node)
        if key not in self._values:
            walker = Walker(self.env, self.statement.block, limits=self.limits)
            self._values[key] = walker.evaluate(node)
        return self._values[key]

    def shape(self, node: ast.AST) -> tuple[int, ...]:
        return shape_of(self.value(node))

    def out(self, node: ast.AST) -> str:
        if node is self.root and self.statement.op == "=":
            return self.value_name(self.target, self.version)
        return atom(self.text(node))

    # -- the walk down the expression ---------------------------------------------------------
    def contributions(self) -> list[tuple[tuple[str, int], str]]:
        """(name, version) read and the code of its contribution, in reading order."""
        upstream = self.gradient_name(self.target, self.version)
        found: list[tuple[tuple[str, int], str]] = []
        self._visit(self.root, upstream, upstream, found)
        return found

    def _visit(self, node: ast.AST, g: str, upstream: str, found: list) -> None:
        kind, args, params = classify(node)
        if kind == "name":
            if node.id in self.seen:
                found.append(((node.id, self.seen[node.id]), f"(1) * {g}" if g == upstream else g))
            return
        rule = RULES.get(kind)
        if rule is None:
            return
        op = self._op(kind, node, args, params)
        for i, arg in enumerate(args):
            if op.consts[i]:
                continue
            result = vjp(rule, op, i, g, op.shapes[i])
            if result is not None:
                text, shape = result
                self._visit(arg, unbroadcast(text, shape, op.shapes[i]), upstream, found)

    def _op(self, kind: str, node: ast.AST, args: tuple, params: dict) -> Op:
        consts = tuple(not names_read(a) for a in args)
        shapes = tuple(self.shape(a) for a in args)
        extra: dict[str, Any] = {k: v for k, v in params.items() if k == "style"}
        if kind == "pow" and consts[1]:
            exponent = self.value(args[1])
            if not shape_of(exponent):
                extra["exponent"] = float(exponent)
                extra["literal"] = isinstance(args[1], ast.Constant) or (
                    isinstance(args[1], ast.UnaryOp) and isinstance(args[1].op, ast.USub)
                    and isinstance(args[1].operand, ast.Constant))
        elif kind in ("sum", "mean"):
            extra.update(self._reduction(params["keywords"], shapes[0]))
        elif kind == "expand_dims":
            axis = int(self.value(params["axis_node"]))
            extra["axis"] = axis + len(shapes[0]) + 1 if axis < 0 else axis
        elif kind == "scatter":
            where = params["where"]
            extra["item_shape"] = self.shape(where)
            gather = ast.Subscript(ast.Name(_PLACEHOLDER, ast.Load()), copy.deepcopy(where.slice), ast.Load())
            extra["gather"] = self.text_of_copy(gather).replace(_PLACEHOLDER, "{ga}")
        return Op(kind, node, tuple(args), tuple(self.text(a) for a in args), shapes, self.shape(node),
                  self.text(node), self.out(node), consts, extra)

    def text_of_copy(self, node: ast.AST) -> str:
        renames = {sub.id: self.value_name(sub.id, self.seen[sub.id]) for sub in ast.walk(node)
                   if isinstance(sub, ast.Name) and sub.id in self.seen}
        return ast.unparse(_Rename(renames).visit(node))

    def _reduction(self, keywords: dict[str, ast.AST], shape: tuple[int, ...]) -> dict[str, Any]:
        axis_node = keywords.get("axis")
        keepdims = keywords.get("keepdims")
        axis = None
        if axis_node is not None and not (isinstance(axis_node, ast.Constant) and axis_node.value is None):
            axis = int(self.value(axis_node))
            axis = axis + max(len(shape), 1) if axis < 0 else axis
        count = int(np.prod(shape)) if axis is None else (shape[axis] if shape else 1)
        return {"axis": axis, "keepdims": bool(keepdims is not None and keepdims.value), "count": count}
