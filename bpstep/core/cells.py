"""A scene as terminal characters: what the TUI's circuit widget paints, row by row.

:func:`render` returns one list of runs per row; a run is ``(text, role, hot)``: consecutive
cells with the same role and highlight, ready to become styled segments. Roles are the
scene's (``value`` green, ``gradient`` red, ``wire``, ``box``, ``name``, ...); the widget
decides the colours. Wires are box-drawing lines joined where one wire branches (a fork,
marked ``●``); two different wires crossing show ``┼``.
"""

from __future__ import annotations

from bpstep.core.circuit import Scene

Run = tuple[str, str, bool]

_LINES = {
    frozenset("EW"): "─", frozenset("NS"): "│", frozenset("ES"): "┌", frozenset("WS"): "┐",
    frozenset("EN"): "└", frozenset("WN"): "┘", frozenset("EWS"): "┬", frozenset("EWN"): "┴",
    frozenset("NSE"): "├", frozenset("NSW"): "┤", frozenset("NSEW"): "┼", frozenset("E"): "─",
    frozenset("W"): "─", frozenset("N"): "│", frozenset("S"): "│", frozenset(): "·",
}
_MARKS = {"fork": ("●", "fork"), "port": ("┤", "box"), "arrow": ("▶", "wire")}


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


def grid(scene: Scene) -> list[list[tuple[str, str, bool]]]:
    """Every cell of the scene as (character, role, hot)."""
    rows = [[(" ", "", False)] * scene.width for _ in range(scene.height)]

    def put(x: int, y: int, char: str, role: str, hot: bool) -> None:
        if 0 <= y < scene.height and 0 <= x < scene.width:
            rows[y][x] = (char, role, hot)

    nets: dict[tuple[int, int], dict[str, tuple[set[str], bool]]] = {}
    for path in scene.paths:
        for cell, dirs in _directions(path.points).items():
            owners = nets.setdefault(cell, {})
            old_dirs, old_hot = owners.get(path.wire, (set(), False))
            owners[path.wire] = (old_dirs | dirs, old_hot or path.hot)
    for (x, y), owners in nets.items():
        if len(owners) == 1:
            dirs, hot = next(iter(owners.values()))
            # a wire's open ends are horizontal: its first and last cells continue the line
            if dirs in (set("E"), set("W")):
                dirs = set("EW")
            put(x, y, _LINES[frozenset(dirs)], "wire", hot)
        else:
            hot = any(h for _, h in owners.values())
            put(x, y, "┼", "wire", hot)
    for rect in scene.rects:
        x0, y0, x1, y1 = rect.x, rect.y, rect.x + rect.width - 1, rect.y + rect.height - 1
        for x in range(x0 + 1, x1):
            put(x, y0, "─", "box", rect.hot)
            put(x, y1, "─", "box", rect.hot)
            for y in range(y0 + 1, y1):
                put(x, y, " ", "box", rect.hot)
        for y in range(y0 + 1, y1):
            put(x0, y, "│", "box", rect.hot)
            put(x1, y, "├" if _joins(nets, x1 + 1, y) else "│", "box", rect.hot)
        put(x0, y0, "╭", "box", rect.hot)
        put(x1, y0, "╮", "box", rect.hot)
        put(x0, y1, "╰", "box", rect.hot)
        put(x1, y1, "╯", "box", rect.hot)
    for mark in scene.marks:
        char, role = _MARKS[mark.kind]
        put(mark.x, mark.y, char, role if mark.kind != "port" else "box", mark.hot)
    for text in scene.texts:
        for i, char in enumerate(text.text):
            put(text.x + i, text.y, char, text.role, text.hot)
    return rows


def _joins(nets, x: int, y: int) -> bool:
    return (x, y) in nets


def render(scene: Scene) -> list[list[Run]]:
    """The scene row by row, each row as runs of (text, role, hot)."""
    out = []
    for row in grid(scene):
        runs: list[Run] = []
        for char, role, hot in row:
            if runs and runs[-1][1] == role and runs[-1][2] == hot:
                runs[-1] = (runs[-1][0] + char, role, hot)
            else:
                runs.append((char, role, hot))
        out.append(runs)
    return out


def plain(scene: Scene) -> str:
    """The scene as plain text (no colours): for tests, logs and ``--text`` output."""
    return "\n".join("".join(char for char, _, _ in row).rstrip() for row in grid(scene)) + "\n"
