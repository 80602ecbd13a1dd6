"""A scene as terminal characters: what the TUI's circuit widget paints, row by row.

:class:`Canvas` gives any row, or the visible part of it, as runs ``(text, role, hot)``:
consecutive cells with the same role and highlight, ready to become styled segments. Roles are the
scene's (``value`` green, ``gradient`` red, ``wire``, ``box``, ``name``, ...); the widget
decides the colours. Wires are box-drawing lines joined where one wire branches (a fork,
marked ``●``); two different wires crossing show ``┼``.
"""

from __future__ import annotations

from dataclasses import replace

from bpstep.core.circuit import CircuitView, Scene

Run = tuple[str, str, bool]

_LINES = {
    frozenset("EW"): "─", frozenset("NS"): "│", frozenset("ES"): "┌", frozenset("WS"): "┐",
    frozenset("EN"): "└", frozenset("WN"): "┘", frozenset("EWS"): "┬", frozenset("EWN"): "┴",
    frozenset("NSE"): "├", frozenset("NSW"): "┤", frozenset("NSEW"): "┼", frozenset("E"): "─",
    frozenset("W"): "─", frozenset("N"): "│", frozenset("S"): "│", frozenset(): "·",
}
_MARKS = {"fork": ("●", "fork"), "port": ("┤", "box"), "arrow": ("▶", "arrow")}


def _directions(points) -> dict[tuple[int, int], set[str]]:
    cells: dict[tuple[int, int], set[str]] = {}
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        dx, dy = (x1 > x0) - (x1 < x0), (y1 > y0) - (y1 < y0)
        forward = {(1, 0): "E", (-1, 0): "W", (0, 1): "S", (0, -1): "N"}[(dx, dy)]
        backward = {"E": "W", "W": "E", "S": "N", "N": "S"}[forward]
        steps = max(abs(x1 - x0), abs(y1 - y0))
        for k in range(steps + 1):
            dirs = cells.setdefault((x0 + dx * k, y0 + dy * k), set())
            if k < steps:
                dirs.add(forward)
            if k > 0:
                dirs.add(backward)
    if len(points) == 1:
        cells.setdefault(points[0], set()).update("EW")
    return cells


_OPPOSITE = {"E": "W", "W": "E", "S": "N", "N": "S"}
_BLOCK = 32  # rows: vertical segments are found by the blocks of rows they cross


class Canvas:
    """The characters of a scene, stored sparsely (only drawn cells), read row by row.

    A widget paints only what is visible: ``line(y, x0, width)`` costs the drawn cells of
    that row, not the width of the whole circuit (which is thousands of columns for
    hundreds of stages). A base canvas draws a row when it is first read: a circuit whose
    wires add up to millions of cells (one value read by hundreds of stages) is not drawn
    whole before its first frame."""

    def __init__(self, scene: Scene, base: "Canvas | None" = None) -> None:
        self.width, self.height = scene.width, scene.height
        self._rows: list[dict[int, tuple[str, str, bool]]] = [{} for _ in range(scene.height)]
        self._base = base
        self._pending: list[bool] | None = None  # rows of a base canvas not drawn yet
        if base is None:
            self._index(scene)
        else:
            self._overlay(scene, base)

    def _put(self, x: int, y: int, char: str, role: str, hot: bool) -> None:
        if 0 <= y < self.height and 0 <= x < self.width:
            self._rows[y][x] = (char, role, hot)

    def _row(self, y: int) -> dict[int, tuple[str, str, bool]]:
        if self._pending is not None and self._pending[y]:
            self._pending[y] = False
            self._draw_row(y)
        return self._rows[y]

    def _index(self, scene: Scene) -> None:
        """Each path's straight segments, the horizontal ones by row (drawn by _draw_row)."""
        self._scene = scene
        self._pending = [True] * self.height
        self._across: dict[int, list[tuple[int, int, int, str | None]]] = {}  # y -> (path, from x, to x, dir)
        # vertical segments by blocks of rows they cross: (path, x, from y, to y, dir)
        self._down: dict[int, list[tuple[int, int, int, int, str]]] = {}
        for p, path in enumerate(scene.paths):
            points = path.points
            if len(points) == 1:
                (x, y), = points
                self._across.setdefault(y, []).append((p, x, x, None))
            for (x0, y0), (x1, y1) in zip(points, points[1:]):
                if y0 == y1:
                    self._across.setdefault(y0, []).append((p, x0, x1, "E" if x1 > x0 else "W"))
                else:
                    segment = (p, x0, y0, y1, "S" if y1 > y0 else "N")
                    for block in range(min(y0, y1) // _BLOCK, max(y0, y1) // _BLOCK + 1):
                        self._down.setdefault(block, []).append(segment)

    def _draw_row(self, y: int) -> None:
        """Row ``y`` of the scene, put as drawing it whole would put it: wires, then boxes,
        then marks, then texts, each in scene order."""
        scene, put = self._scene, self._put
        cells: dict[int, dict[int, set[str]]] = {}  # x -> path -> directions out of the cell
        for p, xa, xb, forward in self._across.get(y, ()):
            if forward is None:  # a path of one point
                cells.setdefault(xa, {}).setdefault(p, set()).update("EW")
                continue
            step, steps = (1 if xb > xa else -1), abs(xb - xa)
            for k in range(steps + 1):
                dirs = cells.setdefault(xa + step * k, {}).setdefault(p, set())
                if k < steps:
                    dirs.add(forward)
                if k > 0:
                    dirs.add(_OPPOSITE[forward])
        for p, x, ya, yb, forward in self._down.get(y // _BLOCK, ()):
            if ya <= y <= yb or yb <= y <= ya:
                k, steps = abs(y - ya), abs(yb - ya)
                dirs = cells.setdefault(x, {}).setdefault(p, set())
                if k < steps:
                    dirs.add(forward)
                if k > 0:
                    dirs.add(_OPPOSITE[forward])
        for x, by_path in cells.items():
            owners: dict[str, tuple[set[str], bool]] = {}
            for p, dirs in by_path.items():
                path = scene.paths[p]
                old_dirs, old_hot = owners.get(path.wire, (set(), False))
                owners[path.wire] = (old_dirs | dirs, old_hot or path.hot)
            if len(owners) == 1:
                dirs, hot = next(iter(owners.values()))
                if dirs in (set("E"), set("W")):  # a wire's ends run on into the boxes
                    dirs = set("EW")
                put(x, y, _LINES[frozenset(dirs)], "wire", hot)
            else:  # two different wires crossing
                put(x, y, "┼", "wire", any(h for _, h in owners.values()))
        for rect in scene.rects:
            x0, y0, x1, y1 = rect.x, rect.y, rect.x + rect.width - 1, rect.y + rect.height - 1
            if not y0 <= y <= y1:
                continue
            if y in (y0, y1):
                for x in range(x0 + 1, x1):
                    put(x, y, "─", "box", rect.hot)
            if y0 < y < y1:
                for x in range(x0 + 1, x1):
                    put(x, y, " ", "box", rect.hot)
                put(x0, y, "│", "box", rect.hot)
                put(x1, y, "├" if x1 + 1 in cells else "│", "box", rect.hot)
            if y == y0:
                put(x0, y, "╭", "box", rect.hot)
                put(x1, y, "╮", "box", rect.hot)
            if y == y1:
                put(x0, y, "╰", "box", rect.hot)
                put(x1, y, "╯", "box", rect.hot)
        for mark in scene.marks:
            if mark.y == y:
                char, role = _MARKS[mark.kind]
                put(mark.x, mark.y, char, role, mark.hot)
        for text in scene.texts:
            if text.y == y:
                for i, char in enumerate(text.text):
                    put(text.x + i, text.y, char, text.role, text.hot)

    def _overlay(self, scene: Scene, base: "Canvas") -> None:
        """Only what changes with the position over a static base: highlighted wires and
        boxes (the base's characters, now hot; looked up as a cell is read, so that the base
        draws only the rows shown) and every text."""
        put = self._put
        self._hot_cells: set[tuple[int, int]] = set()
        for path in scene.paths:
            if path.hot:
                self._hot_cells.update(_directions(path.points))
        self._hot_rects = [rect for rect in scene.rects if rect.hot]
        for mark in scene.marks:
            if mark.hot:
                char, role = _MARKS[mark.kind]
                put(mark.x, mark.y, char, role, True)
        for text in scene.texts:
            for i, char in enumerate(text.text):
                put(text.x + i, text.y, char, text.role, text.hot)

    def cell(self, x: int, y: int) -> tuple[str, str, bool]:
        """(character, role, hot) of one cell; a blank is (" ", "", False)."""
        if not 0 <= y < self.height:
            return _BLANK
        found = self._row(y).get(x)
        if found is not None:
            return found
        if self._base is None:
            return _BLANK
        below = self._base.cell(x, y)
        if 0 <= x < self.width and (
                any(r.x <= x < r.x + r.width and r.y <= y < r.y + r.height for r in self._hot_rects)
                or (below[1] == "wire" and (x, y) in self._hot_cells)):
            return below[0], below[1], True
        return below

    def line(self, y: int, x0: int = 0, width: int | None = None) -> list[Run]:
        """Row ``y`` from column ``x0``, ``width`` cells (default: to the end), as runs."""
        width = self.width - x0 if width is None else width
        runs: list[Run] = []
        for x in range(x0, x0 + width):
            char, role, hot = self.cell(x, y)
            _append(runs, char, role, hot)
        return runs

    def lines(self) -> list[list[Run]]:
        return [self.line(y) for y in range(self.height)]


_BLANK = (" ", "", False)


class CircuitCanvas:
    """A view's circuit for a widget: the wires and boxes drawn once, and for each position
    a :class:`Canvas` that overlays only the texts and the highlights on them."""

    def __init__(self, view: CircuitView) -> None:
        self.view = view
        scene = view.scene(0)
        static = replace(scene, texts=(), paths=tuple(replace(p, hot=False) for p in scene.paths),
                         rects=tuple(replace(r, hot=False) for r in scene.rects),
                         marks=tuple(replace(m, hot=False) for m in scene.marks))
        self.base = Canvas(static)

    @property
    def width(self) -> int:
        return self.base.width

    @property
    def height(self) -> int:
        return self.base.height

    def frame(self, position: int) -> Canvas:
        return Canvas(self.view.scene(position), self.base)


def _append(runs: list[Run], text: str, role: str, hot: bool) -> None:
    if runs and runs[-1][1] == role and runs[-1][2] == hot:
        runs[-1] = (runs[-1][0] + text, role, hot)
    else:
        runs.append((text, role, hot))


def render(scene: Scene) -> list[list[Run]]:
    """The whole scene row by row, each row as runs of (text, role, hot)."""
    return Canvas(scene).lines()


def plain(scene: Scene) -> str:
    """The scene as plain text (no colours): for tests, logs and a quick look."""
    return "\n".join("".join(text for text, _, _ in row).rstrip() for row in render(scene)) + "\n"
