"""Layered left-to-right layout of a directed acyclic graph (Sugiyama style), on a grid.

1. Layers: longest path from the sources; a source is then pulled right, next to its first
   consumer, so that an input used late does not drag a long wire across the picture.
2. A dummy node in every layer that an edge skips, so every edge joins adjacent layers.
3. Order within layers: barycentric sweeps, down and up; the order with the fewest crossings
   (counted exactly, O(E log V) per sweep) is kept.
4. Vertical placement: each node as close as possible to the ports it connects to, in order
   and without overlap (isotonic regression, pool-adjacent-violators), swept down and up.
5. Orthogonal routing: in each gap between layers every net (a node's output and all its
   branches) that must change row gets its own vertical track, ordered so that no two nets
   share a stretch of wire.

Everything is in integer grid units (terminal cells; the SVG scales them) and deterministic:
nodes are taken in the order of their ``key`` (then ``str(id)``), never in the order a dict
or an edge list happens to give them. Work is near-linear in nodes + edges + dummies.

Conventions: a node's footprint is ``[x, x + width) x [y, y + height)``. Its output leaves at
row ``y + out_y`` from the cell just right of the footprint; in-port ``k`` is row
``y + in_y[k]`` and the wire ends in the cell just left of the footprint. In-ports are given
to a node's edges in the order of their sources, top to bottom. A route's points are the
corner cells of an orthogonal polyline; it never enters a footprint.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Hashable, Iterable, Mapping

from bpstep.core.routing import Point, hop, route_gaps, simplify


@dataclass(frozen=True)
class NodeSpec:
    width: int
    height: int
    out_y: int = 0
    in_y: tuple[int, ...] = (0,)  # one row per in-port, top to bottom; at least the in-degree
    key: tuple = ()  # ordering key; ties broken by str(id)


@dataclass(frozen=True)
class Options:
    node_gap: int = 1  # rows between footprints in one layer
    track_gap: int = 2  # columns between vertical tracks
    min_layer_gap: int = 2  # columns between layers
    sweeps: int = 16  # ordering sweeps (down, up, ...) at most
    rounds: int = 6  # placement rounds (down and up)


@dataclass(frozen=True)
class Placed:
    id: Hashable
    layer: int
    x: int
    y: int
    width: int
    height: int

    def contains(self, point: Point) -> bool:
        px, py = point
        return self.x <= px < self.x + self.width and self.y <= py < self.y + self.height


@dataclass(frozen=True)
class Route:
    source: Hashable
    target: Hashable
    port: int  # the target's in-port this edge uses
    points: tuple[Point, ...]  # corners of the orthogonal polyline, first cell to last
    fork: Point | None  # where this wire splits into its branches (None: it does not)


@dataclass(frozen=True)
class Layout:
    nodes: dict[Hashable, Placed]
    routes: tuple[Route, ...]  # in the canonical order of (source, target)
    width: int
    height: int
    layers: tuple[tuple[Hashable, ...], ...]  # real nodes, top to bottom
    crossings: int  # crossings of the chosen order (between adjacent layers)


class _Graph:
    """The working graph: real nodes 0..n-1, dummies after, segments between adjacent layers."""

    def __init__(self) -> None:
        self.real = 0  # nodes below this index are real; the rest are dummies
        self.layer: list[int] = []
        self.width: list[int] = []
        self.height: list[int] = []
        self.out_y: list[int] = []
        self.in_y: list[tuple[int, ...]] = []
        self.seg_from: list[int] = []
        self.seg_to: list[int] = []
        self.seg_edge: list[int] = []
        self.down: list[list[int]] = []  # segment ids leaving a node
        self.up: list[list[int]] = []  # segment ids entering a node

    def add_node(self, layer: int, width: int, height: int, out_y: int, in_y: tuple[int, ...]) -> int:
        self.layer.append(layer)
        self.width.append(width)
        self.height.append(height)
        self.out_y.append(out_y)
        self.in_y.append(in_y)
        self.down.append([])
        self.up.append([])
        return len(self.layer) - 1

    def add_segment(self, a: int, b: int, edge: int) -> int:
        self.seg_from.append(a)
        self.seg_to.append(b)
        self.seg_edge.append(edge)
        sid = len(self.seg_from) - 1
        self.down[a].append(sid)
        self.up[b].append(sid)
        return sid


def layout_size(nodes: Iterable[Hashable], edges: Iterable[tuple[Hashable, Hashable]]) -> int:
    """How many nodes :func:`layered_layout` would place: the real ones and a dummy in every
    layer an edge skips. Its time and memory grow with this number, which grows with the square
    of a graph's length when values made early are read late (each such wire skips most of the
    layers). Counted from the layers alone, without laying anything out."""
    ids = list(nodes)
    pairs = _pairs(ids, edges)
    layer = _layers(len(ids), pairs, ids)
    return len(ids) + sum(layer[v] - layer[u] - 1 for u, v in pairs)


def _pairs(ids: list, edges: Iterable[tuple[Hashable, Hashable]]) -> list[tuple[int, int]]:
    index = {node: i for i, node in enumerate(ids)}
    pairs = []
    for u, v in edges:
        if u not in index or v not in index:
            raise ValueError(f"edge {u!r} -> {v!r} names a node that is not in the graph")
        if u == v:
            raise ValueError(f"edge {u!r} -> {v!r} is a loop; the graph must be acyclic")
        pairs.append((index[u], index[v]))
    pairs.sort()
    return pairs


def layered_layout(nodes: Mapping[Hashable, NodeSpec], edges: Iterable[tuple[Hashable, Hashable]],
                   options: Options = Options()) -> Layout:
    ids = sorted(nodes, key=lambda n: (nodes[n].key, str(n)))
    pairs = _pairs(ids, edges)
    n = len(ids)
    layer = _layers(n, pairs, ids)
    specs = [nodes[node] for node in ids]
    indegree = [0] * n
    for _, v in pairs:
        indegree[v] += 1
    for i, spec in enumerate(specs):
        if len(spec.in_y) < indegree[i]:
            raise ValueError(f"node {ids[i]!r} has {indegree[i]} inputs but {len(spec.in_y)} in-ports")

    g = _Graph()
    for i, spec in enumerate(specs):
        g.add_node(layer[i], spec.width, spec.height, spec.out_y, spec.in_y)
    g.real = n
    chains: list[list[int]] = []  # per edge: its segment ids, source to target
    for e, (u, v) in enumerate(pairs):
        chain, previous = [], u
        for k in range(layer[u] + 1, layer[v]):
            dummy = g.add_node(k, 0, 0, 0, (0,))
            chain.append(g.add_segment(previous, dummy, e))
            previous = dummy
        chain.append(g.add_segment(previous, v, e))
        chains.append(chain)

    order, crossings = _order(g, max(layer, default=-1) + 1, options.sweeps)
    pos = [0] * len(g.layer)
    for row in order:
        for i, node in enumerate(row):
            pos[node] = i
    port = _ports(g, pos)
    y = _place(g, order, port, options)
    columns = [max((g.width[node] for node in row), default=0) for row in order]
    x, tracks, forks, width = route_gaps(g, order, columns, y, port, options.track_gap,
                                        options.min_layer_gap)

    placed = {ids[i]: Placed(ids[i], layer[i], x[layer[i]], y[i], specs[i].width, specs[i].height)
              for i in range(n)}
    routes = []
    for e, (u, v) in enumerate(pairs):
        points: list[Point] = []
        for sid in chains[e]:
            points.extend(hop(g, sid, x, y, port, tracks))
        routes.append(Route(ids[u], ids[v], port[chains[e][-1]], simplify(points), forks.get(u)))
    height = max((y[i] + g.height[i] for i in range(len(g.layer))), default=0)
    height = max(height, max((y[i] + 1 for i in range(n, len(g.layer))), default=0))
    layers = tuple(tuple(ids[node] for node in row if node < n) for row in order)
    return Layout(placed, tuple(routes), width, height, layers, crossings)


# -- 1. layers ----------------------------------------------------------------------------

def _layers(n: int, pairs: list[tuple[int, int]], ids: list) -> list[int]:
    succ: list[list[int]] = [[] for _ in range(n)]
    indegree = [0] * n
    for u, v in pairs:
        succ[u].append(v)
        indegree[v] += 1
    ready = [i for i in range(n) if indegree[i] == 0]
    heapq.heapify(ready)
    layer = [0] * n
    done = 0
    while ready:
        u = heapq.heappop(ready)
        done += 1
        for v in succ[u]:
            layer[v] = max(layer[v], layer[u] + 1)
            indegree[v] -= 1
            if indegree[v] == 0:
                heapq.heappush(ready, v)
    if done < n:
        stuck = next(i for i in range(n) if indegree[i] > 0)
        raise ValueError(f"the graph has a cycle (through {ids[stuck]!r}); it must be acyclic")
    has_pred = [False] * n
    for _, v in pairs:
        has_pred[v] = True
    for u in range(n):
        if not has_pred[u] and succ[u]:
            layer[u] = min(layer[v] for v in succ[u]) - 1
    return layer


# -- 3. ordering --------------------------------------------------------------------------

def _order(g: _Graph, count: int, sweeps: int) -> tuple[list[list[int]], int]:
    """Barycentric sweeps from a depth-first initial order; the best order seen is kept."""
    seen = [False] * len(g.layer)
    rank: list[int] = [0] * len(g.layer)
    counter = 0
    roots = [i for i in range(len(g.layer)) if not g.up[i]]
    for root in roots:  # iterative depth-first search, children in segment order
        stack = [root]
        while stack:
            node = stack.pop()
            if seen[node]:
                continue
            seen[node] = True
            rank[node] = counter
            counter += 1
            stack.extend(g.seg_to[s] for s in reversed(g.down[node]) if not seen[g.seg_to[s]])
    order: list[list[int]] = [[] for _ in range(count)]
    for node in sorted(range(len(g.layer)), key=lambda i: rank[i]):
        order[g.layer[node]].append(node)
    pos = [0] * len(g.layer)
    for row in order:
        for i, node in enumerate(row):
            pos[node] = i
    best = [row[:] for row in order]
    best_crossings = _crossings(g, order, pos)
    stale = 0
    for sweep in range(sweeps):
        if best_crossings == 0 or stale >= 4:  # four sweeps without a gain: settled
            break
        downward = sweep % 2 == 0
        sequence = range(1, count) if downward else range(count - 2, -1, -1)
        for li in sequence:
            row = order[li]
            keys = {}
            for node in row:
                segs = g.up[node] if downward else g.down[node]
                if segs:
                    other = g.seg_from if downward else g.seg_to
                    keys[node] = (sum(pos[other[s]] for s in segs) / len(segs), pos[node])
                else:
                    keys[node] = (float(pos[node]), pos[node])
            row.sort(key=keys.__getitem__)
            for i, node in enumerate(row):
                pos[node] = i
        found = _crossings(g, order, pos)
        if found < best_crossings:
            best_crossings, best, stale = found, [row[:] for row in order], 0
        else:
            stale += 1
    return best, best_crossings


def _crossings(g: _Graph, order: list[list[int]], pos: list[int]) -> int:
    total = 0
    for row in order[:-1]:
        pairs = sorted((pos[g.seg_from[s]], pos[g.seg_to[s]]) for node in row for s in g.down[node])
        if not pairs:
            continue
        size = max(p[1] for p in pairs) + 1
        tree = [0] * (size + 1)  # Fenwick tree over target positions
        seen = 0
        for _, target in pairs:
            # count earlier segments whose target is strictly greater (they cross this one)
            i, not_greater = target + 1, 0
            while i > 0:
                not_greater += tree[i]
                i -= i & -i
            total += seen - not_greater
            seen += 1
            i = target + 1
            while i <= size:
                tree[i] += 1
                i += i & -i
    return total


def _ports(g: _Graph, pos: list[int]) -> list[int]:
    """The in-port of each segment: a node's inputs, top to bottom, by source position."""
    port = [0] * len(g.seg_from)
    for node in range(len(g.layer)):
        ordered = sorted(g.up[node], key=lambda s: (pos[g.seg_from[s]], g.seg_edge[s]))
        for k, sid in enumerate(ordered):
            port[sid] = k
    return port


# -- 4. vertical placement ----------------------------------------------------------------

def _place(g: _Graph, order: list[list[int]], port: list[int], options: Options) -> list[int]:
    y = [0] * len(g.layer)
    for row in order:
        top = 0
        for node in row:
            y[node] = top
            top += g.height[node] + options.node_gap
    count = len(order)
    for round_ in range(options.rounds):
        sequence = list(range(1, count)) + list(range(count - 2, -1, -1))
        for step, li in enumerate(sequence):
            downward = step < count - 1
            _place_layer(g, order[li], y, port, downward, options.node_gap)
    low = min(y, default=0)
    return [v - low for v in y]


def _place_layer(g: _Graph, row: list[int], y: list[int], port: list[int], downward: bool,
                 gap: int) -> None:
    targets, weights, offsets = [], [], []
    offset = 0
    for node in row:
        wanted, weight = 0.0, 0.0
        for s in (g.up[node] if downward else g.down[node]):
            a, b = g.seg_from[s], g.seg_to[s]
            w = 4.0 if a >= g.real and b >= g.real else 1.0  # keep long wires straight
            if downward:  # y[node] + in_y == y[a] + out_y[a]
                wanted += w * (y[a] + g.out_y[a] - g.in_y[node][port[s]])
            else:  # y[node] + out_y == y[b] + in_y[b][port]
                wanted += w * (y[b] + g.in_y[b][port[s]] - g.out_y[node])
            weight += w
        if weight:
            targets.append(wanted / weight - offset)
            weights.append(weight)
        else:
            targets.append(float(y[node] - offset))
            weights.append(0.05)
        offsets.append(offset)
        offset += g.height[node] + gap
    fitted = _isotonic(targets, weights)
    previous_end = None
    for node, z, off in zip(row, fitted, offsets):
        value = int(z + off + 0.5) if z + off >= 0 else -int(-(z + off) + 0.5)
        if previous_end is not None and value < previous_end:
            value = previous_end
        y[node] = value
        previous_end = value + g.height[node] + gap


def _isotonic(targets: list[float], weights: list[float]) -> list[float]:
    """Non-decreasing least-squares fit (pool adjacent violators), O(n)."""
    blocks: list[list[float]] = []  # [weight, weighted sum, count]
    for t, w in zip(targets, weights):
        blocks.append([w, w * t, 1])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][0] > blocks[-1][1] / blocks[-1][0]:
            w2, s2, c2 = blocks.pop()
            blocks[-1][0] += w2
            blocks[-1][1] += s2
            blocks[-1][2] += c2
    out: list[float] = []
    for w, s, c in blocks:
        out.extend([s / w] * int(c))
    return out

