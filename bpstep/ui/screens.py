"""Modal screens: help, about, the go-to-stage prompt, and a value's full detail."""

from __future__ import annotations

from typing import Callable

import numpy as np
from textual.command import CommandPalette
from textual.css.query import NoMatches
from textual.app import ComposeResult
from textual.binding import Binding
from rich.console import RenderableType
from textual.containers import ScrollableContainer, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from bpstep.ui.heatmapview import HeatmapView

CLOSE = [Binding("escape,q", "close", "Close"), Binding("question_mark,a", "close", "Close", show=False)]


class _Closable(ModalScreen[None]):
    BINDINGS = CLOSE
    AUTO_FOCUS = ".dialog"  # so that the arrow keys scroll it

    def action_close(self) -> None:
        self.dismiss(None)


class TextScreen(_Closable):
    """A text (help) or a Markdown document (about) in a scrolling box."""

    def __init__(self, title: str, body: RenderableType, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog") as box:
            box.border_title = self.title_text
            box.border_subtitle = "escape: close"
            if isinstance(self.body, str):
                from textual.widgets import Markdown  # pulls in pygments: 0.1 s of start-up

                yield Markdown(self.body)
            else:
                yield Static(self.body, classes="body")


class DetailScreen(_Closable):
    """Every element of a value (and of its contributions), one matrix row a line; an array
    (``value``) is first shown as a heatmap with its shape."""

    BINDINGS = CLOSE + [Binding("enter", "close", "Close", show=False)]

    def __init__(self, title: str, body: str, value=None) -> None:
        super().__init__(id="detail")
        self.title_text = title
        self.body = body
        self.value = value

    def compose(self) -> ComposeResult:
        with ScrollableContainer(classes="dialog") as box:
            box.border_title = self.title_text
            box.border_subtitle = "escape: close · arrows scroll"
            if self.value is not None and np.size(self.value) > 1:
                width, height = self.app.size
                room = min(int(width * 0.9), 100) - 4 - 5  # the dialog's frame and row numbers
                yield HeatmapView(self.value, max(height // 3, 4), max(room, 8),
                                  no_color=self.app.no_color, id="heatmap")
            yield Static(self.body, id="detail-body", markup=False)


class GotoStageScreen(ModalScreen[int | None]):
    """Ask for a stage number; ``check`` returns an error message or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "Input"

    def __init__(self, prompt: str, check: Callable[[int], str | None]) -> None:
        super().__init__(id="goto")
        self.prompt = prompt
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog prompt") as box:
            box.border_title = "Go to stage"
            yield Label(self.prompt, id="goto-prompt")
            yield Input(type="integer", id="goto-input")
            yield Label("", id="goto-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        try:
            stage = int(event.value)
        except ValueError:
            self.query_one("#goto-error", Label).update("type a stage number")
            return
        problem = self.check(stage)
        if problem:
            self.query_one("#goto-error", Label).update(problem)
            return
        self.dismiss(stage)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SafeCommandPalette(CommandPalette):
    """Textual 8.2's command palette has two races that end the whole app when keys come
    fast (found by tests/test_app_abuse.py): page up/down pressed before its list has been
    laid out raises KeyError, and its search worker still refreshing the list after the
    palette was dismissed raises NoMatches. Both are ignored here; the palette stays usable.
    (Private hooks of textual 8.x; pyproject pins textual below 9.)"""

    def _action_command_list(self, action: str) -> None:
        try:
            super()._action_command_list(action)
        except KeyError:
            pass

    def _refresh_command_list(self, *args, **kwargs) -> None:
        try:
            super()._refresh_command_list(*args, **kwargs)
        except NoMatches:
            pass
