"""Recording the session (DESIGN.md section 4, issue 4): a TranscriptWriter hooked into the
app's ``goto_hooks``, the indicator that shows it, and the prompt that starts it from the palette.

The writer writes each action in one unbuffered write before the hook returns, so a session
killed with ``kill -9`` keeps every completed action. A writer error (disk full, file gone)
stops the recording with a notification; it never stops the debugger.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Callable, Iterable

from rich.text import Text
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from typing import TYPE_CHECKING

from bpstep.core.errors import ScenarioError

if TYPE_CHECKING:  # loaded when a recording starts, not at every start-up
    from bpstep.core.transcript import TranscriptWriter


def default_name(now: datetime | None = None) -> str:
    """``bpstep-session-YYYYMMDD-HHMMSS.jsonl``, in the current directory."""
    return f"bpstep-session-{(now or datetime.now()):%Y%m%d-%H%M%S}.jsonl"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


class Recorder:
    """Owns the transcript writer of one app (or none). ``hook`` is in the app's goto_hooks for
    the app's whole life; it writes only while a writer is open. ``listeners`` are called
    (without arguments) whenever what the indicator shows changes."""

    def __init__(self, app: App, walk, writer: TranscriptWriter | None = None) -> None:
        self.app = app
        self.walk = walk
        self.writer: TranscriptWriter | None = None
        self.listeners: list[Callable[[], None]] = []
        app.goto_hooks.append(self.hook)
        if writer is not None:
            self.start(writer)

    @property
    def recording(self) -> bool:
        return self.writer is not None

    @property
    def path(self) -> str | None:
        return self.writer.path if self.writer else None

    @property
    def count(self) -> int:
        return self.writer.count if self.writer else 0

    def start(self, writer: TranscriptWriter) -> None:
        self.close()
        self.writer = writer
        self._changed()

    def hook(self, action: str, before: int, after: int) -> None:
        """One user action: write its line (the goto hook)."""
        if self.writer is None:
            return
        try:
            self.writer.record(action, before, after)
        except (OSError, ValueError) as exc:
            problem = getattr(exc, "strerror", None) or str(exc)
            path, count = self.writer.path, self.writer.count
            self.close()
            self.app.notify(f"Recording stopped: cannot write {path}: {problem}. The {plural(count, 'action')} "
                            "before it are in the file.", title="Recording", severity="error", timeout=10,
                            markup=False)
            self._changed()
            return
        self._changed()

    def stop(self) -> None:
        """Stop recording (the palette command)."""
        if self.writer is None:
            return
        path, count = self.writer.path, self.writer.count
        self.close()
        self.app.notify(f"Recording stopped: {path} ({plural(count, 'action')}).", title="Recording", timeout=5,
                        markup=False)
        self._changed()

    def close(self) -> None:
        """Close the writer, if any (also when the app exits)."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def open(self, path: str) -> str | None:
        """Start recording to a new file ``path``; a reason why not, or None."""
        path = os.path.expanduser(path.strip())
        if not path:
            return "type a file name"
        if os.path.exists(path):
            return f"{path} already exists: choose another name"
        try:
            from bpstep.core.transcript import TranscriptWriter

            writer = TranscriptWriter.open(path, self.walk)
        except ScenarioError as exc:
            return exc.message
        self.start(writer)
        self.app.notify(f"Recording to {path}: every move from here is written as it happens.",
                        title="Recording", timeout=5, markup=False)
        return None

    def prompt(self) -> None:
        """Ask for a file name and start recording (the palette command)."""
        self.app.push_screen(RecordScreen(default_name(), self.open))

    def commands(self) -> Iterable[SystemCommand]:
        if self.writer is None:
            yield SystemCommand("Start recording…", "Write this session's transcript (JSON Lines) to a file",
                                self.prompt)
        else:
            yield SystemCommand("Stop recording", f"Close {self.writer.path} ({plural(self.count, 'action')} "
                                "so far)", self.stop)

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()


class RecordingIndicator(Static):
    """``● REC FILE · n actions``: one line, shown only while recording."""

    def __init__(self, recorder: Recorder, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.recorder = recorder

    def on_mount(self) -> None:
        self.recorder.listeners.append(self.show)
        self.show()

    def on_unmount(self) -> None:
        if self.show in self.recorder.listeners:
            self.recorder.listeners.remove(self.show)

    def show(self) -> None:
        recorder = self.recorder
        self.display = recorder.recording  # a change of display relayouts by itself
        if recorder.recording:  # one fixed line: the count changing needs no relayout
            self.update(Text.assemble(("● REC", "bold"), f"  {recorder.path} · {plural(recorder.count, 'action')}",
                                      ("   ctrl+p: Stop recording", "italic")), layout=False)


class RecordScreen(ModalScreen[None]):
    """Ask for the transcript's file name; ``opener`` starts recording or says why not."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "Input"

    def __init__(self, default: str, opener: Callable[[str], str | None]) -> None:
        super().__init__(id="record")
        self.default = default
        self.opener = opener

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog prompt") as box:
            box.border_title = "Start recording"
            box.border_subtitle = "enter: start · escape: cancel"
            yield Label("Write the session's transcript (JSON Lines) to:")
            yield Input(self.default, id="record-input")
            yield Label("", id="record-error", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        problem = self.opener(event.value)
        if problem:
            self.query_one("#record-error", Label).update(problem)
            return
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
