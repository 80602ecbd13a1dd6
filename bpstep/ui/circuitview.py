"""The circuit panel (`v`): the forward graph as the notes draw it, values green above each
wire and gradients red below, painted with the Line API.

The layout is made once, the first time the panel is shown (:class:`CircuitView`); the
wires and boxes are drawn once (:class:`CircuitCanvas`); a move of the position only makes
the frame of texts and highlights for the new position. Painting asks the frame for the
visible part of each visible row, so a step costs the rows on the screen, not the size of
the circuit. The panel follows every move through ``app.goto_hooks`` and scrolls so that the
stage being back-propagated is in view.
"""

from __future__ import annotations

import time

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the circuit modules load when the panel is first shown (40 ms of start-up)
    from bpstep.core.cells import Canvas, CircuitCanvas
    from bpstep.core.circuit import CircuitView
from bpstep.core.engine import Walk

# Roles of the canvas (bpstep.core.cells / circuit): each has a component style in app.tcss.
ROLES = ("wire", "box", "fork", "arrow", "name", "stage", "op", "value", "gradient", "sum",
         "contribution", "discarded", "local")
LINE_ROLES = frozenset({"wire", "fork", "arrow"})  # a hot one is coloured, not underlaid

TITLE = "Circuit · value above a wire (green), gradient below it (red)"
REFUSAL_SHOWN = 10.0  # seconds the message that a circuit is too large to draw stays up


class CircuitPanel(ScrollView, can_focus=True, inherit_bindings=False):
    """The circuit of a walk at the app's position; scrolls with h/j/k/l, the page keys and
    the mouse. A click on a stage's box goes to that stage."""

    COMPONENT_CLASSES = {f"circuit--{role}" for role in ROLES} | {"circuit--hot", "circuit--hot-line"}
    BINDINGS = [
        Binding("j", "scroll_by(0, 1)", "Scroll down", show=False),
        Binding("k", "scroll_by(0, -1)", "Scroll up", show=False),
        Binding("l", "scroll_by(4, 0)", "Scroll right", show=False),
        Binding("h", "scroll_by(-4, 0)", "Scroll left", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("f", "follow", "Show the stage", show=False),
    ]

    class StageClicked(Message):
        def __init__(self, stage: int) -> None:
            super().__init__()
            self.stage = stage

    def __init__(self, walk: Walk, *, limit: int | None = None, id: str | None = None) -> None:
        super().__init__(id=id)
        self.walk = walk
        self.limit = limit  # the most nodes its layout may place (bpstep.core.layout.layout_size)
        self.position = 0
        self.border_title = TITLE
        self._canvas: CircuitCanvas | None = None
        self._refused: str | None = None  # why the circuit is not drawn (too large), once known
        self._refused_at = -REFUSAL_SHOWN  # when that was last shown
        self.frame: Canvas | None = None
        self._focus_before: Widget | None = None
        self.display = False

    # -- the circuit ------------------------------------------------------------------------
    @property
    def canvas(self) -> CircuitCanvas:
        """The laid-out circuit with its wires and boxes drawn (made once, when first needed)."""
        if self._canvas is None:
            from bpstep.core.cells import CircuitCanvas
            from bpstep.core.circuit import CircuitView

            self._canvas = CircuitCanvas(CircuitView(self.walk, limit=self.limit))
            self.virtual_size = Size(self._canvas.width, self._canvas.height)
        return self._canvas

    @property
    def view(self) -> CircuitView:
        return self.canvas.view

    def toggle(self, position: int) -> bool:
        """Show the panel (drawn at ``position``, with the focus, so that its keys scroll it)
        or hide it (giving the focus back); True if it is now shown."""
        if not self.display and self._canvas is None:
            from bpstep.core.circuit import CircuitTooLarge

            try:
                if self._refused is None:
                    self.canvas  # laid out here, once: a circuit too large to draw says so instead
            except CircuitTooLarge as exc:
                self._refused = exc.message
            if self._refused is not None:
                now = time.monotonic()
                if now - self._refused_at >= REFUSAL_SHOWN:  # one message at a time, not a pile
                    self._refused_at = now
                    self.app.notify(self._refused, title="Circuit", severity="warning", timeout=REFUSAL_SHOWN)
                return False
        self.display = not self.display
        if self.display:
            self._focus_before = self.app.focused
            self.show(position)
            self.focus()
        elif self.app.focused is None or self.app.focused is self:
            before = self._focus_before
            if before is not None and before.is_attached and before.display:
                before.focus()
            else:
                self.screen.focus_next()
        return self.display

    def show(self, position: int) -> None:
        """Draw the frame of ``position`` and bring its stage into view (only when shown:
        a hidden panel does no work)."""
        self.position = position
        if not self.display:
            return
        self.frame = self.canvas.frame(position)
        self.refresh()
        self.follow()

    def on_mount(self) -> None:
        self.app.goto_hooks.append(self._moved)

    def on_unmount(self) -> None:
        if self._moved in self.app.goto_hooks:
            self.app.goto_hooks.remove(self._moved)

    def _moved(self, action: str, before: int, after: int) -> None:
        if after != self.position or self.frame is None:
            self.show(after)

    # -- text, for tests and tools ------------------------------------------------------------
    def row_text(self, y: int, x0: int = 0, width: int | None = None) -> str:
        """Row ``y`` of the circuit (all of it, or ``width`` cells from ``x0``) as plain text."""
        if self.frame is None:
            return ""
        return "".join(text for text, _, _ in self.frame.line(y, x0, width))

    def visible_text(self) -> list[str]:
        """The rows as the screen shows them now."""
        x, y = self.scroll_offset
        region = self.scrollable_content_region
        width = max(min(region.width, self.canvas.width - x), 0)
        return [self.row_text(y + i, x, width).rstrip()
                for i in range(min(region.height, self.canvas.height - y))]

    # -- scrolling ----------------------------------------------------------------------------
    def active_node(self) -> str | None:
        stage = self.walk.stage_at(self.position)
        node = self.view.graph.stage_node(stage) if stage is not None else None
        return node.id if node is not None else None

    def follow(self) -> None:
        """Scroll (without animation) so that the active stage is in the middle of the view,
        as far as the circuit allows: the scroll is a function of the position alone."""
        node = self.active_node()
        region = self.scrollable_content_region
        if node is None or not region.width or not region.height:
            return
        x, y, width, height = self.view.box_of(node)
        left = max(min(x + width // 2 - region.width // 2, self.canvas.width - region.width), 0)
        top = max(min(y + height // 2 - region.height // 2, self.canvas.height - region.height), 0)
        if (left, top) != (round(self.scroll_x), round(self.scroll_y)):
            self.scroll_to(left, top, animate=False, immediate=True)

    def action_follow(self) -> None:
        self.follow()

    def action_scroll_by(self, dx: int, dy: int) -> None:
        self.scroll_to(self.scroll_x + dx, self.scroll_y + dy, animate=False)

    def action_page(self, direction: int) -> None:
        height = max(self.scrollable_content_region.height - 1, 1)
        self.scroll_to(y=self.scroll_y + direction * height, animate=False)

    def on_resize(self) -> None:
        if self.display and self.frame is not None:
            self.follow()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or self._canvas is None:
            return
        node_id = self.view.node_at(offset.x + round(self.scroll_x), offset.y + round(self.scroll_y))
        node = self.view.graph.node(node_id) if node_id else None
        if node is not None and node.stage is not None:
            self.post_message(self.StageClicked(node.stage))

    # -- the Line API -------------------------------------------------------------------------
    def _style(self, role: str, hot: bool) -> Style:
        """The role's colour; a hot line (wire, fork, arrow) in the accent colour, any other
        hot cell (the active box, the labels the step read or wrote) on an accent ground."""
        line = role in LINE_ROLES
        style = self.get_component_rich_style("circuit--hot") if hot and not line else self.rich_style
        if role in ROLES:
            style += self.get_component_rich_style(f"circuit--{role}", partial=True)
        if hot and line:
            style += self.get_component_rich_style("circuit--hot-line", partial=True)
        return style

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        row = scroll_y + y
        frame = self.frame
        if frame is None or row >= frame.height or scroll_x >= frame.width:
            return Strip.blank(width, base)
        runs = frame.line(row, scroll_x, min(width, frame.width - scroll_x))
        strip = Strip([Segment(text, self._style(role, hot)) for text, role, hot in runs])
        return strip.crop_extend(0, width, base)
