"""The forward graph of a walk (the notes' circuit) and what it shows at a position.

:func:`build_graph` makes a node per input and per forward stage, plus a terminal node for
each value nothing reads (the output), and a wire per cached value: a wire runs from the node
that made the value to every stage that reads it. A wire with more than one reader is a fork:
gradients add up there.

:func:`state_at` says what the circuit shows at a position ``p``: each wire's value (always)
and its gradient once the backward pass has reached it; the stage being back-propagated, the
wires its current step read and the wire it wrote; and, on every branch of a fork, the
contribution that came back along it. Nothing here mutates the walk.
"""

from __future__ import annotations

import ast
import bisect
from dataclasses import dataclass, field

from bpstep.core.engine import CacheEntry, Contribution, Step, Walk
from bpstep.core.expr import Value, qualified_name


@dataclass(frozen=True)
class Node:
    id: str  # "in:x", "st:3" (stage 3), "out:f#2"
    kind: str  # "input", "stage" or "output"
    name: str  # the value it makes (input, stage) or receives (output)
    stage: int | None
    op: str  # a short operation symbol: "+", "*", "σ", "1/x", "**2", "dot", ...
    code: str  # the statement that makes the value ("" for a literal input)
    line: int
    wire: str | None  # the wire it drives (None for an output)


@dataclass(frozen=True)
class Wire:
    id: str  # the cache label: "x", or "c#2" for a second version of c
    name: str
    version: int
    source: str  # node id
    targets: tuple[str, ...]  # reading nodes, in stage order (an output node last)
    value: Value
    stage: int | None  # the stage that made it (None: an input)

    @property
    def fork(self) -> bool:
        return len(self.targets) > 1

    @property
    def gradient_name(self) -> str:
        return "d" + self.name


@dataclass(frozen=True)
class Edge:
    wire: str
    source: str
    target: str


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]  # inputs, then stages in order, then outputs
    wires: dict[str, Wire]
    edges: tuple[Edge, ...]
    output: str  # the wire of the walk's output
    _by_id: dict[str, Node] = field(default_factory=dict, repr=False)
    _versions: dict[str, list[Wire]] = field(default_factory=dict, repr=False)

    def node(self, node_id: str) -> Node:
        return self._by_id[node_id]

    def stage_node(self, stage: int) -> Node | None:
        return self._by_id.get(f"st:{stage}")

    @property
    def forks(self) -> list[Wire]:
        return [w for w in self.wires.values() if w.fork]

    def inputs_of(self, node_id: str) -> list[Edge]:
        return [e for e in self.edges if e.target == node_id]

    def wire_for(self, name: str, stage: int, output_first: bool = False) -> Wire | None:
        """The version of ``name`` that ``stage`` deals with: the one it reads or the one it
        makes (the backward pass of a stage reads its output's gradient and writes its inputs'
        gradients, hence ``output_first`` for a gradient read); else the latest made before it."""
        versions = self._versions.get(name)
        if not versions:
            return None
        node = self.stage_node(stage)
        made = self.wires[node.wire] if node is not None and node.wire else None
        read = next((w for w in versions if node is not None and node.id in w.targets), None)
        for wire in ((made, read) if output_first else (read, made)):
            if wire is not None and wire.name == name:
                return wire
        before = [w for w in versions if (w.stage or 0) < stage]
        return before[-1] if before else versions[0]


def op_symbol(node: ast.AST) -> str:
    """A short symbol for the operation at the top of an expression (the gate in the circuit)."""
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Div) and _is_one(node.left):
            right = node.right
            if (isinstance(right, ast.BinOp) and isinstance(right.op, ast.Add) and _is_one(right.left)
                    and isinstance(right.right, ast.Call) and _call_name(right.right) == "exp"
                    and right.right.args and isinstance(right.right.args[0], ast.UnaryOp)
                    and isinstance(right.right.args[0].op, ast.USub)):
                return "σ"
            return "1/x"
        if isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant):
            return f"**{node.right.value}"
        return {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
                ast.MatMult: "@"}.get(type(node.op), "?")
    if isinstance(node, ast.UnaryOp):
        return "-x" if isinstance(node.op, ast.USub) else "+x"
    if isinstance(node, ast.Call):
        name = _call_name(node)
        return {"maximum": "max", "minimum": "min"}.get(name, name)
    if isinstance(node, ast.Compare):
        return {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}.get(type(node.ops[0]), "cmp")
    if isinstance(node, ast.List):
        return "[…]"
    if isinstance(node, ast.Subscript):
        return "[i]"
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return "="
    return "const"


def _is_one(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and not isinstance(node.value, bool) and node.value == 1


def _call_name(node: ast.Call) -> str:
    name = qualified_name(node.func)
    if name is not None:
        return name.rsplit(".", 1)[-1]
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return "call"


def build_graph(walk: Walk) -> Graph:
    nodes: list[Node] = []
    latest: dict[str, CacheEntry] = {}
    wire_source: dict[str, str] = {}
    readers: dict[str, list[str]] = {}
    edges: list[Edge] = []
    statements = {s.stage: s for s in walk.forward}
    for entry in walk.cache:
        if entry.stage is None:
            node = Node(f"in:{entry.label}", "input", entry.name, None, entry.name, entry.code,
                        entry.line, entry.label)
        else:
            statement = statements[entry.stage]
            node = Node(f"st:{entry.stage}", "stage", entry.name, entry.stage, op_symbol(statement.value),
                        statement.code, statement.line, entry.label)
            for name in statement.reads:
                if name in latest:
                    label = latest[name].label
                    readers.setdefault(label, []).append(node.id)
                    edges.append(Edge(label, wire_source[label], node.id))
        nodes.append(node)
        latest[entry.name] = entry
        wire_source[entry.label] = node.id
    output_label = latest[walk.output].label
    # every value that nothing reads ends in a terminal node, the output first
    terminals = [output_label] + [e.label for e in walk.cache
                                  if e.label not in readers and e.label != output_label]
    for label in terminals:
        entry = next(e for e in walk.cache if e.label == label)
        node = Node(f"out:{label}", "output", entry.name, None, entry.name, "", entry.line, None)
        nodes.append(node)
        readers.setdefault(label, []).append(node.id)
        edges.append(Edge(label, wire_source[label], node.id))
    wires = {e.label: Wire(e.label, e.name, e.version, wire_source[e.label], tuple(readers.get(e.label, ())),
                           e.value, e.stage) for e in walk.cache}
    versions: dict[str, list[Wire]] = {}
    for wire in wires.values():
        versions.setdefault(wire.name, []).append(wire)
    return Graph(tuple(nodes), wires, tuple(edges), output_label, {n.id: n for n in nodes}, versions)


# -- what the circuit shows at a position -------------------------------------------------

@dataclass(frozen=True)
class WireState:
    wire: Wire
    gradient: Value | None  # None until the backward pass reaches this wire
    contributions: tuple[Contribution, ...]  # to this wire's gradient so far, in order
    branches: dict[str, tuple[Contribution, ...]]  # reading node id -> what came back from it
    stray: tuple[Contribution, ...] = ()  # contributions from stages that do not read the wire

    @property
    def reached(self) -> bool:
        return self.gradient is not None


@dataclass(frozen=True)
class CircuitState:
    position: int
    stage: int | None  # the stage being back-propagated (the next one, at position 0)
    step: Step | None  # the step applied last (None at position 0)
    active: str | None  # the node of that stage
    wires: dict[str, WireState]
    read_values: frozenset[str]  # wires whose values the step read
    read_gradients: frozenset[str]  # wires whose gradients the step read
    written: str | None  # the wire whose gradient the step wrote
    active_edges: frozenset[tuple[str, str]]  # (source, target) of the active stage's wires
    locals: dict[str, tuple[tuple[str, Value], ...]]  # node id -> backward locals written there


class Circuit:
    """A graph bound to its walk, answering :meth:`state_at` for any position."""

    def __init__(self, walk: Walk, graph: Graph | None = None) -> None:
        self.walk = walk
        self.graph = graph or build_graph(walk)
        # steps run by stage, highest first: the number of steps of stages >= s, for any s
        self._stages_desc = [-step.stage for step in walk.steps]
        self._local_writes: dict[str, list[Step]] = {}  # node id -> steps writing a local
        for step in walk.steps:
            node = self.graph.stage_node(step.stage)
            if step.gradient_of is None and node is not None:
                self._local_writes.setdefault(node.id, []).append(step)

    def steps_from(self, stage: float) -> int:
        """How many steps belong to stages >= ``stage`` (they all run before the others)."""
        return bisect.bisect_right(self._stages_desc, -stage)

    def window(self, wire: Wire) -> tuple[int, int, int]:
        """(first, start, end) for a wire's gradient: ``d<name>`` means this version's gradient
        from position ``start`` (after the stage that made the next version) to ``end``
        (before the stage that made this one); its contributions are steps first+1..end."""
        versions = self.graph._versions[wire.name]  # version k is versions[k - 1]
        if wire.version < len(versions):
            following = versions[wire.version].stage or 0
            start = self.steps_from(following)
            first = self.steps_from(following + 1)
        else:
            start = first = 0
        end = self.walk.total if wire.stage is None else self.steps_from(wire.stage + 1)
        return first, start, end

    def wire_state(self, wire: Wire, position: int) -> WireState:
        first, start, end = self.window(wire)
        if position < start:
            return WireState(wire, None, (), {})
        at = min(position, end)
        gradient = self.walk.value_at(wire.gradient_name, at)
        last = wire.version == len(self.graph._versions[wire.name])  # the upstream's version
        contributions = tuple(c for c in self.walk.contributions_at(wire.gradient_name, at)
                              if (c.step == 0 and last) or first < c.step <= end)
        branches: dict[str, list[Contribution]] = {t: [] for t in wire.targets}
        stray = []
        for c in contributions:
            if c.stage is None:
                target = f"out:{wire.id}"
            else:
                target = f"st:{c.stage}"
            if target in branches:
                branches[target].append(c)
            else:
                stray.append(c)
        return WireState(wire, gradient, contributions, {k: tuple(v) for k, v in branches.items()},
                         tuple(stray))

    def state_at(self, position: int) -> CircuitState:
        walk, graph = self.walk, self.graph
        position = walk.clamp(position)
        step = walk.step(position)
        stage = walk.stage_at(position)
        active = graph.stage_node(stage).id if stage is not None and graph.stage_node(stage) else None
        read_values, read_gradients = set(), set()
        written = None
        if step is not None:
            for read in step.reads:
                if read.kind == "forward":
                    wire = graph.wire_for(read.name, step.stage)
                    if wire:
                        read_values.add(wire.id)
                elif read.kind == "gradient":
                    wire = graph.wire_for(read.name[1:], step.stage, output_first=True)
                    if wire:
                        read_gradients.add(wire.id)
            if step.gradient_of is not None:
                wire = graph.wire_for(step.gradient_of, step.stage)
                written = wire.id if wire else None
        active_edges = frozenset((e.source, e.target) for e in graph.edges
                                 if active is not None and active in (e.source, e.target))
        locals_: dict[str, dict[str, Value]] = {}
        for node_id, writes in self._local_writes.items():
            for s in writes:
                if s.index <= position:
                    locals_.setdefault(node_id, {})[s.target] = s.after
        wires = {wire.id: self.wire_state(wire, position) for wire in graph.wires.values()}
        return CircuitState(position, stage, step, active, wires, frozenset(read_values),
                            frozenset(read_gradients), written, active_edges,
                            {k: tuple(v.items()) for k, v in locals_.items()})

    def local_names(self) -> dict[str, list[str]]:
        """Every backward local written in each stage node (for reserving room to show it)."""
        out: dict[str, list[str]] = {}
        for node_id, writes in self._local_writes.items():
            out[node_id] = list(dict.fromkeys(s.target for s in writes))
        return out
