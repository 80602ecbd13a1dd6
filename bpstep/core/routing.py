"""Orthogonal routing between the layers of a layout (see :mod:`bpstep.core.layout`).

In each gap between two layers, every net (a node's output and all its branches into the
next layer) that must change row gets its own vertical track. Tracks are ordered so that no
two nets share a stretch of wire: a net whose source row is another net's target row must
turn first. Such constraints can form a cycle (three nets in rotation); each cycle is broken
with a dogleg (one net leaves on an extra track and crosses over on a free row).

``g`` is the layout's working graph: nodes with ``layer``, ``width``, ``out_y``, ``in_y``,
``down`` (segments leaving) and segments ``seg_from``/``seg_to``; ``g.real`` counts the nodes
that are not dummies.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

Point = tuple[int, int]


@dataclass
class _Net:
    source: int
    row: int
    segments: list[int]
    rows: list[int]  # the target row of each segment

    def key(self) -> tuple:
        mean = sum(self.rows) / len(self.rows)
        downward = mean > self.row
        # downward nets: the lower source gets the left track; upward nets: the upper one
        return (0, -self.row, self.source) if downward else (1, self.row, self.source)


def route_gaps(g, order: list[list[int]], widths: list[int], y: list[int], port: list[int],
               track_gap: int, min_layer_gap: int):
    """Column x of every layer, the tracks of every net, and the fork point of every real
    node whose wire splits. A net's tracks are (first, row, main): it leaves its source on
    column ``first``, crosses to column ``main`` on ``row`` (a dogleg, only to break a cycle
    of constraints; otherwise first == main and row is the source row)."""
    x: list[int] = []
    tracks: dict[int, tuple[int, int, int]] = {}
    forks: dict[int, Point] = {}
    left = 0
    for li, row in enumerate(order):
        x.append(left)
        right = left + widths[li]
        if li == len(order) - 1:
            left = right
            break
        nets = []
        for node in row:
            if g.down[node]:
                segs = sorted(g.down[node], key=lambda s: y[g.seg_to[s]] + g.in_y[g.seg_to[s]][port[s]])
                rows = [y[g.seg_to[s]] + g.in_y[g.seg_to[s]][port[s]] for s in segs]
                nets.append(_Net(node, y[node] + g.out_y[node], segs, rows))
        used = {net.row for net in nets} | {r for net in nets for r in net.rows}
        bending = [net for net in nets if any(r != net.row for r in net.rows)]
        ordered, split = _track_order(bending)
        count = len(ordered) + len(split)
        span = track_gap * count + 1 if count else 0
        gap = max(min_layer_gap, span)
        start = right + (gap - span) // 2 + 1
        for k, net in enumerate(split):  # the dogleg nets leave first, on the left
            free = _free_row(net, used)
            used.add(free)
            tracks[net.source] = (start + track_gap * k, free, 0)
        for k, net in enumerate(ordered, start=len(split)):
            main = start + track_gap * k
            first, cross, _ = tracks.get(net.source, (main, net.row, 0))
            tracks[net.source] = (first, cross, main)
            if net.source < g.real and len(net.segments) > 1:
                forks[net.source] = (main, cross)
        left = right + gap
    return x, tracks, forks, left


def _free_row(net: _Net, used: set[int]) -> int:
    """The row nearest the net's source that no wire of the gap starts or ends on."""
    for distance in range(1, len(used) + 2):
        for candidate in (net.row + distance, net.row - distance):
            if candidate not in used:
                return candidate
    raise AssertionError("unreachable: some row near the source is free")


def _track_order(nets: list[_Net]) -> tuple[list[_Net], list[_Net]]:
    """Order the nets of one gap left to right: a net whose source row is another net's target
    row must turn before that net's last stretch starts (else the two share a stretch).
    Constraints can form a cycle (three nets in rotation); each cycle is broken by giving one
    net a dogleg: it leaves on an extra track left of all the others, which frees it of the
    constraints it had as a source. Returns (ordered nets, nets with a dogleg)."""
    by_target: dict[int, list[int]] = {}
    for i, net in enumerate(nets):
        for r in net.rows:
            by_target.setdefault(r, []).append(i)
    after: list[list[int]] = [[] for _ in nets]
    indegree = [0] * len(nets)
    for i, net in enumerate(nets):
        for j in by_target.get(net.row, []):
            if j != i:
                after[i].append(j)
                indegree[j] += 1
    keys = [net.key() for net in nets]
    heap = [(keys[i], i) for i in range(len(nets)) if indegree[i] == 0]
    heapq.heapify(heap)
    out: list[int] = []
    split: list[int] = []
    placed = [False] * len(nets)
    while len(out) < len(nets):
        if not heap:  # a cycle: the waiting net with the most waiting dependants gets a dogleg
            waiting = [i for i in range(len(nets)) if not placed[i] and i not in split]
            i = max(waiting, key=lambda i: (sum(not placed[j] for j in after[i]), [-k for k in keys[i][1:]]))
            split.append(i)
            for j in after[i]:
                indegree[j] -= 1
                if indegree[j] == 0 and not placed[j]:
                    heapq.heappush(heap, (keys[j], j))
            after[i] = []
            if indegree[i] == 0:
                heapq.heappush(heap, (keys[i], i))
            continue
        _, i = heapq.heappop(heap)
        if placed[i]:
            continue
        placed[i] = True
        out.append(i)
        for j in after[i]:
            indegree[j] -= 1
            if indegree[j] == 0 and not placed[j]:
                heapq.heappush(heap, (keys[j], j))
    return [nets[i] for i in out], [nets[i] for i in split]


def hop(g, sid: int, x: list[int], y: list[int], port: list[int],
         tracks: dict[int, tuple[int, int, int]]) -> list[Point]:
    a, b = g.seg_from[sid], g.seg_to[sid]
    start = x[g.layer[a]] + g.width[a]
    end = x[g.layer[b]] - 1
    s = y[a] + g.out_y[a]
    t = y[b] + g.in_y[b][port[sid]]
    if s == t and a not in tracks:
        return [(start, s), (end, t)]
    first, cross, main = tracks[a]
    return [(start, s), (first, s), (first, cross), (main, cross), (main, t), (end, t)]


def simplify(points: list[Point]) -> tuple[Point, ...]:
    out: list[Point] = []
    for p in points:
        if out and out[-1] == p:
            continue
        if len(out) >= 2:
            (x0, y0), (x1, y1) = out[-2], out[-1]
            if (x0 == x1 == p[0]) or (y0 == y1 == p[1]):
                out[-1] = p
                continue
        out.append(p)
    return tuple(out)
