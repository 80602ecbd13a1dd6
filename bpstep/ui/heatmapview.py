"""An array as a heatmap, for the detail view (Enter on a cache or gradient row).

Each cell is two columns (about square in a terminal; a small array gets cells of four
columns and two lines): its colour runs from the ground
through blue for negative values to red for positive ones, the stronger the larger the
magnitude (:func:`bpstep.core.matrix.heatmap` scales by the largest magnitude). Without
colour (NO_COLOR) a cell is its sign and a shade, ``+▓`` or ``-░``, and a gap, so nothing is
lost.
A large array is pooled by block means to fit the screen; the caption says so.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widget import Widget

from bpstep.core.matrix import Heatmap, heatmap
from bpstep.core.values import number

NEGATIVE = Color(59, 130, 246)  # blue
POSITIVE = Color(225, 45, 45)  # red
SHADES = " ░▒▓█"
LEGEND = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)
COLUMN_TICK = 5  # a column number over every fifth cell


def shade(intensity: float | None) -> str:
    """A cell without colour: its sign and a shade for its magnitude: ``+▓``, ``-░``, `` ·``."""
    if intensity is None:
        return "!!"
    level = min(int(abs(intensity) * 4 + 0.5), 4)
    if level == 0:
        return " ·"
    return ("-" if intensity < 0 else "+") + SHADES[level]


class HeatmapView(Widget):
    """The heatmap of one array, with its shape, range and a colour scale."""

    DEFAULT_CSS = """
    HeatmapView {
        height: auto;
        width: auto;
        margin-bottom: 1;
    }
    """

    def __init__(self, value, max_rows: int, width: int, *, no_color: bool = False,
                 id: str | None = None) -> None:
        """At most ``max_rows`` lines of cells and ``width`` columns of them. With colour a
        cell is two columns, and a small array gets cells twice as large (four columns, two
        lines); without colour a cell is ``+▓`` and a gap."""
        super().__init__(id=id)
        self.no_color = no_color
        cell = 3 if no_color else 2
        self.map: Heatmap = heatmap(value, max_rows, max(width // cell, 1))
        m = self.map
        big = not no_color and m.block == (1, 1) and m.cols * 4 <= width and m.rows * 2 <= max_rows
        self.cell_width, self.cell_height = (4, 2) if big else (cell, 1)

    def _cell(self, intensity: float | None, ground: Color, width: int | None = None) -> tuple[str, Style]:
        width = width or self.cell_width
        if self.no_color:
            return shade(intensity).ljust(width), Style(bold=True)
        if intensity is None:
            return "!!".ljust(width), Style(color="black", bgcolor="yellow", bold=True)
        end = NEGATIVE if intensity < 0 else POSITIVE
        return " " * width, Style(bgcolor=ground.blend(end, min(abs(intensity), 1.0)).rich_color)

    def text(self) -> Text:
        m = self.map
        ground = self.background_colors[1]
        label_width = len(str(max(m.shape[0] - 1, 0))) if len(m.shape) >= 2 else 1
        out = Text(no_wrap=True)
        out.append("heatmap ", "bold")
        out.append(m.caption())
        out.append("\n")
        # the colour scale: -scale … 0 … +scale (none when every value is 0: it read '-0 … +0')
        out.append("scale ", "italic")
        if m.scale > 0:
            out.append(f"-{number(m.scale)} ")
            for intensity in LEGEND:
                out.append(*self._cell(intensity, ground, width=2))
            out.append(f" +{number(m.scale)}\n")
        else:
            out.append("none: every value is 0\n")
        # column numbers over every COLUMN_TICK-th cell (in the array's own columns)
        w = self.cell_width
        ticks = [" "] * (w * m.cols)
        for c in range(0, m.cols, COLUMN_TICK):
            for i, ch in enumerate(str(c * m.block[1])):
                if w * c + i < len(ticks):
                    ticks[w * c + i] = ch
        out.append(" " * (label_width + 1) + "".join(ticks).rstrip(), "dim")
        for r, row in enumerate(m.cells):
            for line in range(self.cell_height):
                label = str(r * m.block[0]) if len(m.shape) >= 2 and line == 0 else ""
                out.append("\n" + label.rjust(label_width) + " ", "dim")
                for intensity in row:
                    out.append(*self._cell(intensity, ground))
        return out

    def render(self) -> Text:
        return self.text()
