"""The layered layout: no overlapping nodes or wires, every edge drawn, layers respect edges,
deterministic on repeated runs and whatever order the nodes and edges come in; and the
circuits of the seed scenarios and of a generated 500-stage scenario keep the same rules
with every label in place at every position."""

from __future__ import annotations

import random

import pytest

from bpstep.core.cells import plain
from bpstep.core.circuit import CELLS, SVG, CircuitView
from bpstep.core.engine import load_walk, run_text
from bpstep.core.layout import Layout, NodeSpec, layered_layout, layout_size
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

SEEDS = [str(SCENARIOS / f"{name}.yaml") for name in ("sigmoid", "complex", "matmul")]


# -- an independent geometric checker --------------------------------------------------------

def route_cells(points):
    """Each grid cell of an orthogonal polyline, with the directions the wire leaves it by."""
    cells: dict[tuple[int, int], set[str]] = {}
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        assert x0 == x1 or y0 == y1, f"segment {(x0, y0)}-{(x1, y1)} is not axis-aligned"
        dx, dy = (x1 > x0) - (x1 < x0), (y1 > y0) - (y1 < y0)
        steps = max(abs(x1 - x0), abs(y1 - y0))
        for k in range(steps + 1):
            dirs = cells.setdefault((x0 + dx * k, y0 + dy * k), set())
            if k < steps:
                dirs.add({(1, 0): "E", (-1, 0): "W", (0, 1): "S", (0, -1): "N"}[(dx, dy)])
            if k > 0:
                dirs.add({(1, 0): "W", (-1, 0): "E", (0, 1): "N", (0, -1): "S"}[(dx, dy)])
    return cells


def problems(layout: Layout, edges) -> list[str]:
    """Every way a layout breaks the rules. Wires are nets (a source's branches may share
    cells); two nets may meet only where one passes straight across the other."""
    found: list[str] = []
    boxes = list(layout.nodes.values())
    for a in boxes:
        for b in boxes:
            if a.id < b.id and a.x < b.x + b.width and b.x < a.x + a.width \
                    and a.y < b.y + b.height and b.y < a.y + a.height:
                found.append(f"{a.id!r} and {b.id!r} overlap")
    wanted = sorted((str(u), str(v)) for u, v in edges)
    drawn = sorted((str(r.source), str(r.target)) for r in layout.routes)
    if wanted != drawn:
        found.append(f"the routes are not the edges: {drawn} != {wanted}")
    ports, owner = set(), {}
    occupied = {}
    for b in boxes:
        for x in range(b.x, b.x + b.width):
            for y in range(b.y, b.y + b.height):
                occupied[(x, y)] = b.id
    for r in layout.routes:
        src, dst = layout.nodes[r.source], layout.nodes[r.target]
        if dst.layer <= src.layer:
            found.append(f"{r.source!r} -> {r.target!r} does not go to a later layer")
        if dst.x <= src.x + src.width:
            found.append(f"{r.source!r} -> {r.target!r} does not go right")
        if r.points[0][0] != src.x + src.width:
            found.append(f"{r.source!r} -> {r.target!r} does not start at its source")
        if r.points[-1][0] != dst.x - 1:
            found.append(f"{r.source!r} -> {r.target!r} does not end at its target")
        if (r.target, r.port) in ports:
            found.append(f"in-port {r.port} of {r.target!r} is used twice")
        ports.add((r.target, r.port))
        for cell, dirs in route_cells(r.points).items():
            if cell in occupied:
                found.append(f"{r.source!r} -> {r.target!r} enters {occupied[cell]!r} at {cell}")
            if cell in owner and owner[cell][0] != r.source:
                straight = ({"E", "W"}, {"N", "S"})
                if not (dirs in straight and owner[cell][1] in straight and dirs != owner[cell][1]):
                    found.append(f"{r.source!r} -> {r.target!r} shares {cell} with the wire of "
                                 f"{owner[cell][0]!r}")
            else:
                owner[cell] = (r.source, owner.get(cell, (None, set()))[1] | dirs)
    return found


def random_dag(seed: int, n: int, reach: int):
    rng = random.Random(seed)
    edges = set()
    for v in range(1, n):
        for _ in range(rng.randint(0 if v > 1 else 1, 3)):
            edges.add((rng.randrange(max(0, v - reach), v), v))
    indegree: dict[int, int] = {}
    for _, v in edges:
        indegree[v] = indegree.get(v, 0) + 1
    nodes = {}
    for i in range(n):
        k = indegree.get(i, 0)
        nodes[f"n{i}"] = NodeSpec(rng.randint(2, 9), max(3, 2 * k + 1), 1,
                                  tuple(1 + 2 * j for j in range(max(k, 1))), (i,))
    return nodes, [(f"n{u}", f"n{v}") for u, v in sorted(edges)]


# -- the layout on its own ----------------------------------------------------------------

@pytest.mark.parametrize("seed", range(300))
def test_random_dags_keep_the_rules(seed):
    rng = random.Random(seed)
    nodes, edges = random_dag(seed, rng.randint(2, 45), rng.choice([2, 4, 8, 30]))
    assert problems(layered_layout(nodes, edges), edges) == []


def test_the_checker_catches_a_broken_layout():
    nodes, edges = random_dag(3, 12, 4)
    layout = layered_layout(nodes, edges)
    first, second = list(layout.nodes.values())[:2]
    moved = dict(layout.nodes)
    moved[second.id] = type(second)(second.id, second.layer, first.x, first.y, second.width, second.height)
    broken = Layout(moved, layout.routes[1:], layout.width, layout.height, layout.layers, 0)
    found = problems(broken, edges)
    assert any("overlap" in p for p in found)
    assert any("routes are not the edges" in p for p in found)


def test_layers_are_longest_paths_and_sources_sit_next_to_their_first_reader():
    spec = NodeSpec(3, 5, 1, (1, 3))
    nodes = {name: spec for name in "abcdl"}
    edges = [("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), ("l", "d")]
    layout = layered_layout(nodes, edges)
    layer = {k: v.layer for k, v in layout.nodes.items()}
    assert layer == {"a": 0, "b": 1, "c": 2, "d": 3, "l": 2}
    assert problems(layout, edges) == []


def test_a_fork_splits_once_and_reports_where():
    spec = NodeSpec(3, 3, 1, (1,))
    nodes = {"s": spec, "t1": spec, "t2": spec, "t3": spec}
    edges = [("s", "t1"), ("s", "t2"), ("s", "t3")]
    layout = layered_layout(nodes, edges)
    forks = {r.fork for r in layout.routes}
    assert len(forks) == 1 and None not in forks
    fork = forks.pop()
    for r in layout.routes:  # every branch passes through the fork point
        assert fork in route_cells(r.points)


def _signature(layout: Layout):
    return (sorted((str(k), v) for k, v in layout.nodes.items()),
            sorted((str(r.source), str(r.target), r.port, r.points, r.fork) for r in layout.routes),
            layout.width, layout.height)


@pytest.mark.parametrize("seed", [1, 7, 23])
def test_deterministic_on_repeated_runs_and_across_dict_and_edge_orders(seed):
    nodes, edges = random_dag(seed, 40, 8)
    reference = _signature(layered_layout(nodes, edges))
    assert _signature(layered_layout(nodes, edges)) == reference
    rng = random.Random(seed)
    for _ in range(3):
        keys = list(nodes)
        rng.shuffle(keys)
        shuffled_edges = list(edges)
        rng.shuffle(shuffled_edges)
        assert _signature(layered_layout({k: nodes[k] for k in keys}, shuffled_edges)) == reference


def test_cycles_and_unknown_nodes_are_refused():
    spec = NodeSpec(2, 3, 1, (1,))
    with pytest.raises(ValueError, match="cycle"):
        layered_layout({"a": spec, "b": spec}, [("a", "b"), ("b", "a")])
    with pytest.raises(ValueError, match="loop"):
        layered_layout({"a": spec}, [("a", "a")])
    with pytest.raises(ValueError, match="not in the graph"):
        layered_layout({"a": spec}, [("a", "zzz")])
    with pytest.raises(ValueError, match="in-ports"):
        layered_layout({"a": spec, "b": spec, "c": spec}, [("a", "c"), ("b", "c")])


# -- the circuits -------------------------------------------------------------------------

def generated_scenario(stages: int, seed: int = 0, reach: int = 12) -> str:
    """A long staged computation with a correct hand-written backward pass: stage i reads the
    value before it and one more from up to ``reach`` stages back (a skip connection), so
    every value is read and many fork."""
    rng = random.Random(seed)
    forward, reads = [], {}
    for i in range(1, stages + 1):
        previous = f"v{i - 1}" if i > 1 else "a"
        other = f"v{rng.randrange(max(1, i - reach), i - 1)}" if i > 2 else "b"
        c = rng.choice([0.5, -0.25, 0.75])
        forward.append(f"v{i} = {previous} * {c} + {other} #({i})")
        reads[i] = [(previous, c), (other, 1)]
    backward, seen = [], set()
    for i in range(stages, 0, -1):
        for name, c in reads[i]:
            op = "+=" if name in seen else "="
            seen.add(name)
            backward.append(f"d{name} {op} {c} * dv{i} #({i})")
    indent = "\n  "
    return (f"bpstep: 1\ntitle: generated {stages} stages\ninputs:\n  a: 1.5\n  b: -0.5\n"
            f"forward: |{indent}{indent.join(forward)}\nbackward: |{indent}{indent.join(backward)}\n")


def _label_problems(view: CircuitView, position: int) -> list[str]:
    """Texts stay inside their own footprints, clear of wires and of each other."""
    scene = view.scene(position)
    wire_cells = set()
    for path in scene.paths:
        wire_cells |= set(route_cells(path.points))
    found, taken = [], {}
    for text in scene.texts:
        for i in range(len(text.text)):
            cell = (text.x + i, text.y)
            if cell in wire_cells:
                found.append(f"{text.text!r} covers a wire at {cell}")
            if cell in taken:
                found.append(f"{text.text!r} and {taken[cell]!r} overlap at {cell}")
            taken[cell] = text.text
            if view.node_at(*cell) is None:
                found.append(f"{text.text!r} leaves its node at {cell}")
    return found


@pytest.mark.parametrize("labels", [CELLS, SVG], ids=["cells", "svg"])
@pytest.mark.parametrize("path", SEEDS)
def test_seed_circuits_keep_the_rules_at_every_position(path, labels):
    walk = load_walk(path)
    view = CircuitView(walk, labels)
    edges = [(e.source, e.target) for e in view.graph.edges]
    assert problems(view.layout, edges) == []
    for position in range(walk.total + 1):
        assert _label_problems(view, position) == []


@pytest.mark.parametrize("path", SEEDS)
def test_seed_circuits_fit_a_120_by_40_terminal(path):
    view = CircuitView(load_walk(path), CELLS)
    assert view.width <= 120 and view.height <= 40
    lines = plain(view.scene(0)).splitlines()
    assert max(map(len, lines)) <= 120 and len(lines) <= 40


def test_a_500_stage_scenario_lays_out():
    walk = run_text(generated_scenario(500))
    assert walk.stage_count == 500
    view = CircuitView(walk, CELLS)
    edges = [(e.source, e.target) for e in view.graph.edges]
    assert len(view.layout.nodes) == 503  # two inputs, 500 stages, one output
    assert problems(view.layout, edges) == []
    assert _label_problems(view, walk.total) == []
    assert sum(1 for w in view.graph.wires.values() if w.fork) > 100


# -- the size of a layout, before it is made ------------------------------------------------

def test_layout_size_counts_a_dummy_node_in_every_layer_an_edge_skips():
    # a -> b -> c -> d and a -> d: layers 0..3; a -> d skips two layers
    assert layout_size("abcd", [("a", "b"), ("b", "c"), ("c", "d"), ("a", "d")]) == 4 + 2
    # s feeds every node of a chain c1 -> ... -> ck: the wire to c_i skips i - 1 layers
    k = 10
    chain = [(f"c{i}", f"c{i + 1}") for i in range(1, k)]
    fan = [("s", f"c{i}") for i in range(1, k + 1)]
    nodes = ["s"] + [f"c{i}" for i in range(1, k + 1)]
    assert layout_size(nodes, chain + fan) == (k + 1) + k * (k - 1) // 2
    # an input read only at the end is pulled next to its reader: no long wire
    assert layout_size(["late", "c1", "c2", "c3"], [("c1", "c2"), ("c2", "c3"), ("late", "c3")]) == 4


def test_layout_size_is_the_number_of_nodes_the_layout_places(monkeypatch):
    import bpstep.core.layout as layout_module

    rng = random.Random(3)
    for _ in range(20):
        n = rng.randint(2, 30)
        edges = {(rng.randrange(0, j), j) for j in range(1, n) for _ in range(rng.randint(1, 2))}
        specs = {i: NodeSpec(3, 2, 0, (0, 1), (i,)) for i in range(n)}
        placed = []
        add_node = layout_module._Graph.add_node
        monkeypatch.setattr(layout_module._Graph, "add_node",
                            lambda self, *a: placed.append(a) or add_node(self, *a))
        layered_layout(specs, sorted(edges))
        monkeypatch.undo()
        assert layout_size(list(specs), sorted(edges)) == len(placed)
