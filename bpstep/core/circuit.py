"""The circuit as a picture: node footprints, their layout, and the drawing at a position.

A :class:`CircuitView` lays the graph of a walk out once (the layout does not move while
stepping: room for every label is reserved from the values the walk will show), then
:meth:`CircuitView.scene` turns any position into a :class:`Scene`: rectangles, orthogonal
wire paths, texts and marks in grid-cell coordinates, each with a ``role`` and a ``hot``
flag (part of the step being shown). The TUI paints a scene as characters
(:mod:`bpstep.core.cells`); the SVG scales a cell to pixels (:mod:`bpstep.core.svg`).

A node's footprint, left to right: an in-stub (room for the contribution that came back
along each branch of a fork, written under the wire), the box (its name on the top row, the
stage number and operation on the row of the first wire), and an out-stub: the value above
the wire (green), the gradient under it (red) and, at a fork, the sum of the contributions.
Backward locals written in a stage (the notes' ``dinven``) are listed under its box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from bpstep.core.engine import Contribution, Walk
from bpstep.core.errors import ScenarioError
from bpstep.core.graph import Circuit, CircuitState, Node, Wire
from bpstep.core.layout import Layout, NodeSpec, Options, layered_layout, layout_size
from bpstep.core.matrix import compact_shape
from bpstep.core.routing import simplify
from bpstep.core.values import number, terms

Point = tuple[int, int]


def short_number(x: float) -> str:
    """About three significant figures, for the terminal: 0.018, -0.792, 1.55, 3, 1.2e-05."""
    x = float(x)
    if not np.isfinite(x) or (x == int(x) and abs(x) < 1e6):
        return number(x)
    magnitude = abs(x)
    if 0.001 <= magnitude < 1e6:
        digits = max(0, 2 - int(np.floor(np.log10(magnitude))))
        text = f"{x:.{digits}f}"
        return text.rstrip("0").rstrip(".") if "." in text else text
    return f"{x:.2e}"


@dataclass(frozen=True)
class Labels:
    """How values are written: ``fmt`` for one number."""

    name: str
    fmt: Callable[[float], str]
    stacked: bool = False  # fork sums one contribution a line
    box_padding: int = 2  # columns in a box beside its widest text
    local_note: str = ""  # written after a backward local's value
    stage_mark: str = "{}"  # how a box shows its stage number

    def stage(self, node: Node) -> str:
        return self.stage_mark.format(node.stage)

    def value(self, value) -> str:
        """A scalar; a small array in full; else its shape and range: ``(5,10) -3.29…2.85``."""
        array = np.asarray(value)
        if array.ndim == 0:
            return self.fmt(float(array))
        if array.size <= 3:
            return _nested(array, self.fmt)
        finite = array[np.isfinite(array)]
        if not finite.size:
            return f"{compact_shape(array)} not finite"
        text = f"{compact_shape(array)} {self.fmt(finite.min())}…{self.fmt(finite.max())}"
        return text + (" (!)" if finite.size < array.size else "")

    def total(self, contributions: list[Contribution]) -> list[str]:
        """The live contributions adding up at a fork: one line, ``= 1.58 - 0.0358 + 0.512``,
        or in the terminal (where width is scarce) one line each, written as a sum:
        ``=1.58`` / ``-0.0358`` / ``+0.512``."""
        parts = [(sign or "=", text) for sign, text in terms((c.value for c in contributions), self.value)]
        if self.stacked:
            return [sign + text for sign, text in parts]
        return [" ".join(f"{sign} {text}" for sign, text in parts)]


def _nested(array: np.ndarray, fmt) -> str:
    if array.ndim == 1:
        return "[" + ", ".join(fmt(v) for v in array) + "]"
    return "[" + ", ".join(_nested(row, fmt) for row in array) + "]"


CELLS = Labels("cells", short_number, stacked=True)
SVG = Labels("svg", number, box_padding=4, local_note=" (local)", stage_mark="({})")


@dataclass(frozen=True)
class Footprint:
    node: Node
    in_width: int
    box_width: int
    out_width: int
    box_height: int
    height: int
    out_row: int
    in_rows: tuple[int, ...]
    locals_row: int

    @property
    def width(self) -> int:
        return self.in_width + self.box_width + self.out_width


# -- the drawing ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int
    role: str  # "stage" (a gate: a box); inputs and outputs have no box
    hot: bool
    node: str
    tooltip: str


@dataclass(frozen=True)
class Path:
    points: tuple[Point, ...]  # corner cells of an orthogonal polyline
    role: str  # "wire"
    hot: bool  # a wire of the stage being back-propagated
    wire: str
    source: str
    target: str


@dataclass(frozen=True)
class Text:
    x: int  # the first cell; the text covers x .. x + len(text) - 1 of row y
    y: int
    text: str
    role: str  # name, stage, op, value, gradient, sum, contribution, discarded, local
    hot: bool = False
    wire: str | None = None


@dataclass(frozen=True)
class Mark:
    x: int
    y: int
    kind: str  # "fork" (gradients add up here), "port" (a wire enters a box), "arrow" (an output)
    hot: bool = False
    wire: str | None = None


@dataclass(frozen=True)
class Scene:
    width: int
    height: int
    rects: tuple[Rect, ...]
    paths: tuple[Path, ...]  # the hot ones last
    texts: tuple[Text, ...]
    marks: tuple[Mark, ...]
    state: CircuitState


# Measured in pieces of about 16 us each (laying out, drawing and the first frame): a column a
# wire passes is one, a box with its labels about eight, a fork's label about an eighth.
BOX_WEIGHT = 8
LABEL_WEIGHT = 8


class CircuitTooLarge(ScenarioError):
    """The circuit would take too long to lay out (``--max-circuit-size``)."""


class CircuitView:
    """The laid-out circuit of a walk; :meth:`scene` draws it at any position.

    ``limit``: the most nodes its layout may place (:func:`bpstep.core.layout.layout_size`);
    above it :class:`CircuitTooLarge` is raised before any drawing work."""

    def __init__(self, walk: Walk, labels: Labels = CELLS, options: Options | None = None,
                 margin: int = 1, limit: int | None = None) -> None:
        self.walk = walk
        self.labels = labels
        self.margin = margin
        self.circuit = Circuit(walk)
        self.graph = self.circuit.graph
        if limit is not None:
            self._check_size(limit)
        self.footprints = self._footprints()
        self.edge_wire = {(e.source, e.target): e.wire for e in self.graph.edges}
        specs = {n.id: NodeSpec(fp.width, fp.height, fp.out_row, fp.in_rows or (fp.out_row,), (i,))
                 for i, (n, fp) in enumerate((n, self.footprints[n.id]) for n in self.graph.nodes)}
        self.layout: Layout = layered_layout(specs, [(e.source, e.target) for e in self.graph.edges],
                                             options or Options())
        self.width = self.layout.width + 2 * margin
        self.height = self.layout.height + 2 * margin

    def size(self) -> int:
        """The work of drawing the circuit, in pieces (see :data:`LABEL_WEIGHT`): a piece per
        column a wire passes (:func:`bpstep.core.layout.layout_size`), :data:`BOX_WEIGHT` per box,
        and for each gradient written more than once, its writes times its contributions (the
        texts a wire and its fork's branches show over the walk: a value read by k stages makes
        k^2)."""
        boxes = len(self.graph.nodes)
        pieces = layout_size([n.id for n in self.graph.nodes], [(e.source, e.target) for e in self.graph.edges])
        pieces += (BOX_WEIGHT - 1) * boxes  # layout_size counted each box as one
        writes: dict[str, int] = {}
        for step in self.walk.steps:
            writes[step.target] = writes.get(step.target, 0) + 1
        labels = sum(count * count for count in (writes.get(w.gradient_name, 0) for w in self.graph.wires.values())
                     if count > 1)
        return pieces + labels // LABEL_WEIGHT

    def _check_size(self, limit: int) -> None:
        size = self.size()
        if size > limit:
            line, col = self.walk.scenario.forward.position(1)
            stages = sum(1 for n in self.graph.nodes if n.kind == "stage")
            raise CircuitTooLarge(f"the circuit is too large to draw: its {stages} stages make {size} "
                                  f"pieces to lay out and label; the limit is {limit} "
                                  "(raise it with --max-circuit-size)", line, col)

    # -- geometry ---------------------------------------------------------------------------
    def box_of(self, node_id: str) -> tuple[int, int, int, int]:
        """The footprint of a node in scene cells: (x, y, width, height)."""
        placed = self.layout.nodes[node_id]
        return placed.x + self.margin, placed.y + self.margin, placed.width, placed.height

    def node_at(self, x: int, y: int) -> str | None:
        """The node whose footprint holds a scene cell (for a mouse click)."""
        for node_id in self.layout.nodes:
            bx, by, bw, bh = self.box_of(node_id)
            if bx <= x < bx + bw and by <= y < by + bh:
                return node_id
        return None

    # -- footprints -------------------------------------------------------------------------
    def _gradient_texts(self, wire: Wire) -> tuple[list[str], list[str]]:
        """Every gradient text and fork sum the wire can show over the walk."""
        first, start, end = self.circuit.window(wire)
        writes = [s.index for s in self.walk.step_list(wire.gradient_name) if start <= s.index <= end]
        gradients, sums = [], []
        for p in [start] + writes:
            state = self.circuit.wire_state(wire, p)
            if state.gradient is not None:
                gradients.append(self.labels.value(state.gradient))
            live = [c for c in state.contributions if not c.discarded]
            if wire.fork and live:
                sums.append(self.labels.total(live))
        return gradients, sums  # sums: the lines of each sum

    def _branch_widths(self, wire: Wire) -> dict[str, int]:
        """The widest text each branch of a fork shows over the walk, by target. One pass over
        the wire's writes for all its branches (a pass per branch was cubic in the fan-out: 30 s
        for one value read by 400 stages); a text is made only when its branch changed."""
        widest: dict[str, int] = {}
        shown: dict[str, tuple[tuple[int, bool], ...]] = {}
        for p in [s.index for s in self.walk.step_list(wire.gradient_name)]:
            for target, branch in self.circuit.wire_state(wire, p).branches.items():
                key = tuple((c.step, c.discarded) for c in branch)
                if not branch or shown.get(target) == key:
                    continue
                shown[target] = key
                widest[target] = max(widest.get(target, 0), len(self._branch_text(branch)))
        return widest

    def _branch_text(self, branch: tuple[Contribution, ...]) -> str:
        live = [c.value for c in branch if not c.discarded]
        if not live:
            return "✗ " + self.labels.value(branch[-1].value)
        total = live[0]
        for v in live[1:]:
            total = np.add(total, v)
        return self.labels.value(total)

    def _footprints(self) -> dict[str, Footprint]:
        graph = self.graph
        indegree: dict[str, int] = {}
        in_labels: dict[str, int] = {}
        branch_widths: dict[str, dict[str, int]] = {}  # by wire
        for edge in graph.edges:
            indegree[edge.target] = indegree.get(edge.target, 0) + 1
            wire = graph.wires[edge.wire]
            if wire.fork:
                if edge.wire not in branch_widths:
                    branch_widths[edge.wire] = self._branch_widths(wire)
                width = branch_widths[edge.wire].get(edge.target)
                if width is not None:
                    in_labels[edge.target] = max(in_labels.get(edge.target, 0), width)
        local_names = self.circuit.local_names()
        local_widths: dict[str, int] = {}  # a local's widest text over the walk
        out: dict[str, Footprint] = {}
        for node in graph.nodes:
            k = indegree.get(node.id, 0)
            in_rows = tuple(1 + 2 * i for i in range(k))
            out_row = in_rows[(k - 1) // 2] if k else 1
            texts, sums = [], []
            if node.wire is not None:
                wire = graph.wires[node.wire]
                gradients, sums = self._gradient_texts(wire)
                texts = [self.labels.value(wire.value)] + gradients + [line for lines in sums for line in lines]
            # the labels start one cell after the box; the wire runs on from the footprint's end
            out_width = max([len(t) for t in texts] + [1]) + 1 if node.wire is not None else 0
            in_width = in_labels[node.id] + 1 if node.id in in_labels else (1 if k else 0)
            if node.kind == "stage":
                box_width = max(len(node.name), len(f"{self.labels.stage(node)} {node.op}")) + self.labels.box_padding
                box_height = max(3, 2 * k + 1)
            elif node.kind == "input":
                box_width, box_height = len(node.name) + 1, 3
            else:  # an output terminal: an arrowhead
                in_width, box_width, box_height = 1, 0, 3
            below = out_row + 2 + max((len(lines) for lines in sums), default=0)
            locals_row = max(box_height, below)
            names = local_names.get(node.id, [])
            for name in names:  # a local is written under the box and the out-stub
                if name not in local_widths:  # once per name: a local reused by every stage was
                    local_widths[name] = max(len(self._local_text(name, s.after))  # quadratic
                                             for s in self.walk.step_list(name))
                out_width = max(out_width, local_widths[name] - box_width + 1)
            out[node.id] = Footprint(node, in_width, box_width, out_width, box_height,
                                     locals_row + len(names), out_row, in_rows, locals_row)
        return out

    # -- the scene --------------------------------------------------------------------------
    def scene(self, position: int) -> Scene:
        state = self.circuit.state_at(position)
        graph, m = self.graph, self.margin
        rects: list[Rect] = []
        texts: list[Text] = []
        marks: list[Mark] = []
        origin = {}
        for node in graph.nodes:
            fp = self.footprints[node.id]
            placed = self.layout.nodes[node.id]
            x, y = placed.x + m, placed.y + m
            origin[node.id] = (x, y)
            hot = node.id == state.active
            bx = x + fp.in_width
            if node.kind == "stage":
                rects.append(Rect(bx, y, fp.box_width, fp.box_height, "stage", hot, node.id,
                                  f"stage {node.stage}: {node.code}"))
                texts.append(Text(bx + (fp.box_width - len(node.name)) // 2, y, node.name, "name", hot))
                number = self.labels.stage(node)
                lx = bx + (fp.box_width - len(number) - 1 - len(node.op)) // 2
                texts.append(Text(lx, y + fp.out_row, number, "stage", hot))
                texts.append(Text(lx + len(number) + 1, y + fp.out_row, node.op, "op", hot))
                for row in fp.in_rows:
                    marks.append(Mark(bx, y + row, "port", hot))
            elif node.kind == "input":
                texts.append(Text(bx, y + fp.out_row, node.name, "name"))
            else:
                marks.append(Mark(x, y + 1, "arrow", False, node.name))
            if node.wire is not None:
                texts.extend(self._wire_texts(state, node, x, y, fp))
            for i, (name, value) in enumerate(state.locals.get(node.id, ())):
                texts.append(Text(bx, y + fp.locals_row + i, self._local_text(name, value), "local",
                                  state.step is not None and state.step.target == name))
        paths: list[Path] = []
        forks: set[Point] = set()  # one mark per fork, however many branches leave it
        for route in self.layout.routes:
            edge_wire = self.edge_wire[(route.source, route.target)]
            sx, sy = origin[route.source]
            tx, ty = origin[route.target]
            sfp, tfp = self.footprints[route.source], self.footprints[route.target]
            row = ty + tfp.in_rows[route.port]
            points = ((sx + sfp.in_width + sfp.box_width, sy + sfp.out_row),) + tuple(
                (px + m, py + m) for px, py in route.points) + ((tx + tfp.in_width - 1, row),)
            hot = (route.source, route.target) in state.active_edges
            paths.append(Path(simplify(list(points)), "wire", hot, edge_wire, route.source, route.target))
            if route.fork is not None and graph.wires[edge_wire].fork:
                fork = (route.fork[0] + m, route.fork[1] + m)
                if fork not in forks:
                    forks.add(fork)
                    ws = state.wires[edge_wire]
                    marks.append(Mark(fork[0], fork[1], "fork", edge_wire == state.written and ws.reached,
                                      edge_wire))
            wire = graph.wires[edge_wire]
            if wire.fork:
                branch = state.wires[edge_wire].branches.get(route.target, ())
                if branch:
                    live = any(not c.discarded for c in branch)
                    just = state.step is not None and any(c.step == state.step.index for c in branch)
                    texts.append(Text(tx, row + 1, self._branch_text(branch),
                                      "contribution" if live else "discarded", just, edge_wire))
        paths.sort(key=lambda p: p.hot)
        return Scene(self.width, self.height, tuple(rects), tuple(paths), tuple(texts), tuple(marks), state)

    def _local_text(self, name: str, value) -> str:
        return f"{name} {self.labels.value(value)}{self.labels.local_note}"

    def _wire_texts(self, state: CircuitState, node: Node, x: int, y: int, fp: Footprint) -> list[Text]:
        ws = state.wires[node.wire]
        sx = x + fp.in_width + fp.box_width + 1
        row = y + fp.out_row
        out = [Text(sx, row - 1, self.labels.value(ws.wire.value), "value",
                    node.wire in state.read_values, node.wire)]
        if ws.gradient is not None:
            hot = node.wire in state.read_gradients or node.wire == state.written
            out.append(Text(sx, row + 1, self.labels.value(ws.gradient), "gradient", hot, node.wire))
            live = [c for c in ws.contributions if not c.discarded]
            if ws.wire.fork and (len(live) > 1 or len(live) < len(ws.contributions)):
                for i, line in enumerate(self.labels.total(live)):
                    out.append(Text(sx, row + 2 + i, line, "sum", node.wire == state.written, node.wire))
        return out

