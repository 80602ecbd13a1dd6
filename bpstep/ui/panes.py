"""The four row sources: forward code, forward cache, backward code, gradient table.

Each renders one row on demand from the walk at the current position (a plain attribute the
app sets); none holds per-row state, so nothing is rebuilt when the position moves.
Styles come from the view's component classes (``style_of``), so they follow the theme.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text

from bpstep.core.engine import Walk
from bpstep.core.values import brief, terms
from bpstep.ui.state import Index, comment_of, stage_of
from bpstep.ui.verdicts import Verdicts, check_text

StyleOf = Callable[[str], Style]


def _cell(text: str | Text, width: int, style: str | Style = "") -> Text:
    cell = text.copy() if isinstance(text, Text) else Text(text, style=style)
    cell.truncate(max(width, 0), overflow="ellipsis", pad=True)
    return cell


class _Source:
    def __init__(self, walk: Walk, index: Index):
        self.walk = walk
        self.index = index
        self.style_of: StyleOf = lambda name: Style()  # the RowView showing this source sets it
        self.position = 0
        self.verdicts: Verdicts | None = None  # step marks and gradient checks (bpstep/ui/verdicts.py)

    def header(self, width: int) -> Text | None:
        return None

    def key_style(self, marks: frozenset[str], style: str | Style = "") -> str | Style:
        """The style of a row's key cells (its name, or its stage and code), where the row
        cursor is drawn (a newcomer's run: on a stage number alone, and blank on a stage's
        later rows, it was missed, and a breakpoint went on the wrong line)."""
        return self.style_of("cursor") if "cursor" in marks else style

    def width_hint(self) -> int:
        return 0


def _widest_brief(values: list) -> int:
    """The longest ``brief`` of the values. A number's is a function of its value, and a long
    walk writes many equal numbers (a gradient passed on, dv = dw): each distinct one is
    formatted once (7,500 of 15,500 at 10,000 stages)."""
    numbers: set[float] = set()  # -0.0 and 0.0 are one: both are written "0"
    widest = 0
    for value in values:
        if type(value) is np.float64:
            numbers.add(value)
        else:
            widest = max(widest, len(brief(value)))
    return max(widest, max(map(len, map(brief, numbers)), default=0))


def _widest_cells(texts: list[str]) -> int:
    """The most terminal cells one of the names takes (0 for none): their lengths when all are
    ASCII (printable: a scenario's text holds no control character), without a call per name
    (10,000 at a large scenario's start)."""
    if "".join(texts).isascii():
        return max(map(len, texts), default=0)
    return max(map(cell_len, texts), default=0)


class ForwardSource(_Source):
    """The forward pass, one row per stage: ``▶ 3 │ sigx = ...  # comment``."""

    def __init__(self, walk: Walk, index: Index):
        super().__init__(walk, index)
        self.stage_width = len(str(max(map(stage_of, walk.forward), default=1)))
        self.comments = [comment_of(s.source) for s in walk.forward]
        self._widest = max((len(s.code) + len(c) + 2 for s, c in zip(walk.forward, self.comments)),
                           default=0) + self.stage_width + 5

    def count(self) -> int:
        return len(self.walk.forward)

    def width_hint(self) -> int:
        return self._widest

    def render(self, row: int, marks: frozenset[str], width: int) -> Text:
        statement = self.walk.forward[row]
        state = self.index.stage_state(statement.stage, self.position)
        glyph = "▶" if "current" in marks else "✓" if state == "done" else " "
        text = Text.assemble((glyph, self.style_of("glyph")), " ",
                             (f"{statement.stage:>{self.stage_width}}", self.key_style(marks, self.style_of("gutter"))),
                             (" │ ", self.style_of("gutter")), (statement.code, self.key_style(marks)))
        if self.comments[row]:
            text.append("  " + self.comments[row], self.style_of("comment"))
        return text


class BackwardSource(_Source):
    """The backward pass in run order: ``●▶ 3 += │ dx += ...``, a stage number on its first row."""

    def __init__(self, walk: Walk, index: Index):
        super().__init__(walk, index)
        self.breakpoints: set[int] = set()  # step indexes
        self.differs: dict[int, str] = {}  # replay: step index -> what differs from the recording
        self.stage_width = len(str(max(map(stage_of, walk.steps), default=1)))
        self.comments = [comment_of(s.source) for s in walk.steps]
        self._widest = max((len(s.code) + len(c) + 2 for s, c in zip(walk.steps, self.comments)),
                           default=0) + self.stage_width + 12

    def count(self) -> int:
        return self.walk.total

    def width_hint(self) -> int:
        return self._widest

    def render(self, row: int, marks: frozenset[str], width: int) -> Text:
        step = self.walk.steps[row]
        first = self.index.stage_first.get(step.stage) == step.index
        stage = f"{step.stage:>{self.stage_width}}" if first else " " * self.stage_width
        if step.accumulates:
            op = ("+=", self.style_of("accum"))
        elif step.overwrites:
            op = ("=!", self.style_of("warn"))
        else:
            op = ("  ", "")
        differs = self.differs.get(step.index)
        if step.index in self.breakpoints or not differs:
            gutter = ("●" if step.index in self.breakpoints else " ", self.style_of("breakpoint"))
        else:
            gutter = ("≠", self.style_of("warn"))
        mark = self.verdicts.mark(step.index, self.position) if self.verdicts else None
        mark_cell = (f"{mark.text:<2} ", self.style_of(mark.style) if mark.style else "") if mark else ""
        text = Text.assemble(gutter,
                             ("▶" if "current" in marks else " ", self.style_of("glyph")),
                             " ", mark_cell, (stage, self.key_style(marks, self.style_of("gutter"))), " ", op,
                             (" │ ", self.style_of("gutter")), (step.code, self.key_style(marks)))
        if self.comments[row]:
            text.append("  " + self.comments[row], self.style_of("comment"))
        if differs:
            text.append(f"  ≠ {differs}", self.style_of("differs"))
        return text


class CacheSource(_Source):
    """The forward cache: name, stage, value (compact, with its shape when large)."""

    def __init__(self, walk: Walk, index: Index):
        super().__init__(walk, index)
        self.name_width = min(max(4, _widest_cells([e.label for e in walk.cache])), 14)  # cells: a CJK name's are 2
        self.stage_width = max([5] + [len(str(e.stage)) for e in walk.cache if e.stage is not None])
        self._values: dict[int, str] = {}  # rendered lazily: cache values never change

    def count(self) -> int:
        return len(self.walk.cache)

    def header(self, width: int) -> Text | None:
        return Text.assemble("  ", _cell("name", self.name_width), " ", _cell("stage", self.stage_width),
                             " value")

    def render(self, row: int, marks: frozenset[str], width: int) -> Text:
        entry = self.walk.cache[row]
        if row not in self._values:
            self._values[row] = brief(entry.value)
        glyph = "›" if "read" in marks else "▶" if "stage" in marks else " "
        stage = "input" if entry.stage is None else str(entry.stage)
        rest = width - self.name_width - self.stage_width - 4
        return Text.assemble((glyph, self.style_of("glyph")), " ",
                             _cell(entry.label, self.name_width, self.key_style(marks)), " ",
                             _cell(stage.rjust(self.stage_width), self.stage_width, self.style_of("gutter")),
                             " ", _cell(self._values[row], rest))


class GradientSource(_Source):
    """Every name the backward pass writes: its value now, and its contributions by stage."""

    def __init__(self, walk: Walk, index: Index):
        super().__init__(walk, index)
        self.name_width = min(max(4, _widest_cells(index.names)), 14)
        self.value_width = min(max(_widest_brief([walk.upstream] + [s.after for s in walk.steps]), 5), 18)

    def count(self) -> int:
        return len(self.index.names)

    def header(self, width: int) -> Text | None:
        size = self.check_width(width >= 60)
        value_width, rest = self.columns(width, size)
        head = Text.assemble("  ", _cell("name", self.name_width), " ", _cell("value", value_width))
        if rest:
            head.append(" ")
            head.append_text(_cell("contributions (stage)" if rest >= 21 or not size else "contributions", rest))
        if size:
            head.append(" " + "check".rjust(size))
        return head

    def columns(self, width: int, check: int) -> tuple[int, int]:
        """Widths of the value and contributions columns in a row ``width`` wide, with a check
        column ``check`` wide (0: none). Where the contributions have no room (a narrow
        terminal) they are left out, and the value takes what is left, so that the check
        column stays under its heading."""
        fixed = 2 + self.name_width + 1 + (check + 1 if check else 0)  # marks, name, its space, check
        rest = width - fixed - self.value_width - 1
        if rest >= 1:
            return self.value_width, rest
        return max(width - fixed, 1), 0

    def render(self, row: int, marks: frozenset[str], width: int) -> Text:
        name = self.index.names[row]
        value = self.walk.value_at(name, self.position)
        contributions = self.walk.contributions_at(name, self.position)
        discarded = any(c.discarded for c in contributions)
        first = "▶" if "written" in marks else "›" if "read" in marks else " "
        second = "!" if discarded else "*" if "changed" in marks else " "
        local = not self.walk.is_gradient(name) and name != self.walk.upstream_name
        name_cell = _cell(name, self.name_width, self.key_style(marks, self.style_of("local") if local else ""))
        check = self.check_cell(name, width)
        value_width, rest = self.columns(width, check.cell_len if check is not None else 0)
        if value is None:
            value_cell = _cell("—", value_width, self.style_of("comment"))
        else:
            value_cell = _cell(brief(value), value_width)
        parts = Text()
        if len(contributions) == 1 and value is not None:  # the value itself: say where from
            c = contributions[0]
            where = "upstream" if c.stage is None else f"from stage {c.stage}"
            contributions = []
            parts.append(where, self.style_of("gutter"))
        for (sign, term), c in zip(terms(c.value for c in contributions), contributions):
            if sign:
                parts.append(f" {sign} ", self.style_of("gutter"))
            where = "up" if c.stage is None else str(c.stage)
            piece = Text.assemble(term, (f" ({where})", self.style_of("gutter")))
            if c.discarded:
                piece.stylize(self.style_of("discarded"))
            parts.append_text(piece)
        if local and value is not None:
            parts.append("  local", self.style_of("comment"))
        line = Text.assemble((first + second, self.style_of("glyph")), name_cell, " ", value_cell)
        if rest:
            line.append(" ")
            line.append_text(_cell(parts, rest))
        if check is not None:
            line.append(" ")
            line.append_text(check)
        return line

    def check_cell(self, name: str, width: int) -> Text | None:
        """The gradient's central-difference verdict, right-aligned at the row's end, once it is
        final at the position (blank before); None when there are no checks to show."""
        verdicts = self.verdicts
        if verdicts is None or verdicts.report is None:
            return None
        wide = width >= 60
        size = self.check_width(wide)
        result = verdicts.check(name, self.position)
        if result is None:
            return Text(" " * size)
        glyph = check_text(result, wide)
        return Text(glyph.text.rjust(size), style=self.style_of(glyph.style))

    def check_width(self, wide: bool) -> int:
        """The check column's width: the widest verdict text, found once per report (it was
        recomputed over every gradient for every row drawn: 2.3x the step latency at 10,000)."""
        report = self.verdicts.report if self.verdicts else None
        if report is None:
            return 0
        key = (id(report), wide)
        cached = getattr(self, "_check_width", None)
        if cached is None or cached[0] != key:
            width = max([5] + [len(check_text(r, wide).text) for r in report.results.values()])
            self._check_width = cached = (key, width)
        return cached[1]
