"""A line-based list of rows (Textual's Line API): only visible rows are ever rendered.

A :class:`RowView` draws rows that a :class:`RowSource` renders on demand. Each row carries a
small set of marks ("current", "read", ...) that map to component styles in app.tcss. A move
of the position changes the marks of a few rows; :meth:`RowView.set_marks` refreshes exactly
those lines, so stepping costs the same for 10 rows as for 10,000.
"""

from __future__ import annotations

from typing import Callable, Iterable, Protocol

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

# Marks that colour a whole row, weakest first: a later one's background wins.
ROW_STYLES = ("stage", "read", "changed", "written", "warning", "current")
# Styles a source may use for parts of a row. A source draws the row cursor itself, on the
# row's key cell (a name or a stage number), so that the cursor never hides a row's marks.
TEXT_STYLES = ("glyph", "gutter", "comment", "accum", "warn", "breakpoint", "local", "discarded", "cursor",
               "differs")
# step marks and gradient checks (bpstep/ui/verdicts.py)
TEXT_STYLES += ("mark-ok", "mark-stale", "mark-bad", "mark-first", "mark-hint",
                "check-good", "check-kink", "check-suspicious", "check-wrong")


class RowSource(Protocol):
    """What a RowView asks of its content."""

    def count(self) -> int: ...

    def header(self, width: int) -> Text | None: ...

    def render(self, row: int, marks: frozenset[str], width: int) -> Text: ...

    style_of: Callable[[str], Style]  # set by the view: a TEXT_STYLES name -> its style

    def width_hint(self) -> int:
        """The widest row, for horizontal scrolling (0: rows are cut to the view's width)."""
        ...


class RowView(ScrollView, can_focus=True, inherit_bindings=False):
    """Rows from a RowSource, a row cursor (j/k, click), Enter to activate the cursor row."""

    COMPONENT_CLASSES = {
        "rowview--header",
        *(f"rowview--{name}" for name in ROW_STYLES + TEXT_STYLES),
    }
    BINDINGS = [
        Binding("enter", "activate", "Open row", show=False),
        Binding("j", "move_cursor(1)", "Cursor down", show=False),
        Binding("k", "move_cursor(-1)", "Cursor up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
    ]

    class Activated(Message):
        """Enter (or a click on the cursor row) on a row."""

        def __init__(self, view: "RowView", row: int) -> None:
            super().__init__()
            self.view = view
            self.row = row

        @property
        def control(self) -> "RowView":
            return self.view

    def __init__(self, source: RowSource, *, title: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        source.style_of = self.text_style
        self.border_title = title
        self.marks: dict[int, frozenset[str]] = {}
        self.cursor = 0
        self._shown: tuple[int, tuple[int, ...]] = (0, ())
        self._header_lines = 1 if source.header(80) is not None else 0
        self.virtual_size = Size(source.width_hint(), source.count() + self._header_lines)

    # -- what the view shows ------------------------------------------------------------
    @property
    def rows_visible(self) -> int:
        return max(self.scrollable_content_region.height - self._header_lines, 1)

    def marks_of(self, row: int) -> frozenset[str]:
        return self.marks.get(row, frozenset())

    def row_text(self, row: int) -> str:
        """The plain text of a row as it is drawn now (for tests and tools)."""
        return self.source.render(row, self._all_marks(row), self._width()).plain.rstrip()

    def header_text(self) -> str:
        header = self.source.header(self._width())
        return header.plain.rstrip() if header is not None else ""

    # -- changing it (each refreshes only the lines that change) -----------------------
    def set_marks(self, marks: dict[int, frozenset[str]], dirty: Iterable[int] | None = ()) -> None:
        """Replace the row marks; ``dirty`` rows changed content too (None: all rows)."""
        old = self.marks
        self.marks = {row: m for row, m in marks.items() if m}
        if dirty is None:
            self.refresh()
            return
        rows = set(dirty)
        rows.update(r for r in old.keys() | self.marks.keys() if old.get(r) != self.marks.get(r))
        for row in rows:
            self.refresh_row(row)

    def refresh_row(self, row: int) -> None:
        if 0 <= row < self.source.count():
            self.refresh_line(row + self._header_lines)

    def move_cursor_to(self, row: int, *, scroll: bool = True, also: Iterable[int] = ()) -> None:
        """Put the cursor on ``row`` and show it where the position puts it (see show_row)."""
        count = self.source.count()
        if not count:
            return
        row = min(max(row, 0), count - 1)
        if row != self.cursor:
            previous, self.cursor = self.cursor, row
            self.refresh_row(previous)
            self.refresh_row(row)
        if scroll:
            self.show_row(row, also)

    def _nudge_cursor(self, row: int) -> None:
        """The user moves the cursor: scroll only as far as needed to keep it in view."""
        self.move_cursor_to(row, scroll=False)
        top, visible = round(self.scroll_y), self.rows_visible
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False)

    def show_row(self, row: int, also: Iterable[int] = ()) -> None:
        """Scroll (without animation) so that ``row`` and as many of the ``also`` rows as fit
        are visible, placed a third of the way down. The scroll offset is a function of the
        rows alone, not of where the view was before, so a position always looks the same."""
        self._shown = (row, tuple(also))  # again on a resize
        if not self.size.height:
            return
        visible = self.rows_visible
        low = high = row
        for other in sorted(also, key=lambda r: abs(r - row)):
            if max(high, other) - min(low, other) + 1 <= visible:
                low, high = min(low, other), max(high, other)
        slack = visible - (high - low + 1)
        top = min(max(low - slack // 3, 0), max(self.source.count() - visible, 0))
        if top != round(self.scroll_y):
            self.scroll_to(y=top, animate=False)

    def text_style(self, name: str) -> Style:
        return self.get_component_rich_style(f"rowview--{name}", partial=True)

    # -- the Line API ---------------------------------------------------------------------
    def _width(self) -> int:
        return max(self.scrollable_content_region.width, self.source.width_hint(), 1)

    def _all_marks(self, row: int) -> frozenset[str]:
        marks = self.marks_of(row)
        if row == self.cursor and self.has_focus:
            marks = marks | {"cursor"}
        return marks

    def _row_style(self, base: Style, marks: frozenset[str]) -> Style:
        style = base
        for name in ROW_STYLES:
            if name in marks:
                style += self.get_component_rich_style(f"rowview--{name}")
        return style

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y < self._header_lines:
            style = base + self.get_component_rich_style("rowview--header")
            text = self.source.header(self._width()) or Text()
        else:
            row = scroll_y + y - self._header_lines
            if row >= self.source.count():
                return Strip.blank(width, base)
            marks = self._all_marks(row)
            style = self._row_style(base, marks)
            text = self.source.render(row, marks, self._width())
            scroll_x = scroll_x if self.source.width_hint() else 0
        text.no_wrap = True
        text.stylize_before(style)
        strip = Strip(text.render(self.app.console), text.cell_len)
        if text.cell_len > scroll_x + width > scroll_x:  # cut here: say so, as "…"
            cut = strip.crop(scroll_x, scroll_x + width - 1)
            return Strip.join([cut, Strip([Segment("…", style)], 1)]).crop_extend(0, width, style)
        return strip.crop_extend(scroll_x, scroll_x + width, style)

    # -- input --------------------------------------------------------------------------
    def action_move_cursor(self, delta: int) -> None:
        self._nudge_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._nudge_cursor(self.cursor + direction * self.rows_visible)

    def action_activate(self) -> None:
        if self.source.count():
            self.post_message(self.Activated(self, self.cursor))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < self._header_lines:
            return
        row = round(self.scroll_y) + offset.y - self._header_lines
        if not 0 <= row < self.source.count():
            return
        if row == self.cursor and self.has_focus:
            self.post_message(self.Activated(self, row))
        else:
            self.move_cursor_to(row, scroll=False)

    def on_focus(self) -> None:
        self.refresh_row(self.cursor)

    def on_blur(self) -> None:
        self.refresh_row(self.cursor)

    def on_resize(self) -> None:
        self.show_row(*self._shown)
