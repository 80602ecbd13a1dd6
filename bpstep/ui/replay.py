"""Replaying a recorded session in the debugger (``bpstep replay FILE``, issue 4).

:class:`ReplayApp` is the debugger with a replay cursor over a core :class:`Replay`: ``played``
actions (0..length) have been played back. ``.`` plays the next action and ``,`` goes back one;
space plays them one after another at ``speed`` actions a second (``+``/``-`` change it). Each
move goes through ``goto`` like any other, to ``replay.position(played)``, so the screen shows
exactly what the position shows. The user may still step freely with the debugger's keys; the
next ``.`` goes on from the recording. Recorded breakpoint toggles are played back too: the
breakpoints are those of the recording after ``played`` actions.

When the scenario has changed since the recording, the app warns (a notification, and the
replay bar) and marks the steps whose values now differ with ``≠`` in the backward listing.
"""

from __future__ import annotations

import re
from typing import Iterable

from rich.text import Text
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static

from bpstep.core.expr import DEFAULT_LIMITS
from bpstep.core.transcript import Replay, TranscriptWriter
from bpstep.ui.app import BpstepApp

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)  # autoplay, in actions per second
MIN_SPEED, MAX_SPEED = 0.05, 50.0  # what --speed accepts
BREAKPOINT = re.compile(r"breakpoint (on|off) (\d+)")


def faster(speed: float) -> float:
    return min((s for s in SPEEDS if s > speed), default=max(speed, SPEEDS[-1]))


def slower(speed: float) -> float:
    return max((s for s in SPEEDS if s < speed), default=min(speed, SPEEDS[0]))


def speed_text(speed: float) -> str:
    return f"{speed:g}/s"


def action_label(name: str) -> str:
    """A recorded action as a reader says it: ``next_stage`` -> ``next stage``."""
    return name.replace("_", " ")


def breakpoints_after(replay: Replay, played: int) -> frozenset[int]:
    """The breakpoints once the first ``played`` actions are played back (their toggles)."""
    points: set[int] = set()
    for action in replay.transcript.actions[:played]:
        found = BREAKPOINT.fullmatch(action.action)
        if found:
            index = int(found.group(2))
            (points.add if found.group(1) == "on" else points.discard)(index)
    return frozenset(points)


def move_text(replay: Replay, k: int) -> str:
    """What action ``k`` does now: ``next stage (step 2 → 4)``, ``breakpoint on 9 (stays at step 4)``."""
    before, after = replay.position(k - 1), replay.position(k)
    where = f"step {before} → {after}" if before != after else f"stays at step {after}"
    return f"{action_label(replay.action(k).action)} ({where})"


def status_text(replay: Replay, played: int, position: int, playing: bool) -> Text:
    """Where the replay is, what comes next, and what differs from the recording:
    ``‖ REPLAY 3/7 · next: next stage (step 2 → 4) · ≠ step 2 differs from the recording``."""
    length = replay.length
    text = Text.assemble(("▶ REPLAY" if playing else "‖ REPLAY", "bold"), f" {played}/{length}")
    if not length:
        text.append(" · the recording has no actions")
    elif played < length:
        text.append(" · next: ")
        text.append(move_text(replay, played + 1), "bold")
    else:
        text.append(" · end of the recording")
    if length and position != replay.position(played):
        text.append(f" · you moved: . goes on to step {replay.position(min(played + 1, length))}", "italic")
    if position in replay.differing_steps:
        text.append(f" · ≠ step {position} differs from the recording", "bold")
    elif replay.changed:
        count = len(replay.differing_steps)
        text.append(f" · the scenario has changed: {count} step{'s' * (count != 1)} ≠", "bold")
    return text


def notes_text(playing: bool, speed: float) -> Text:
    """How it plays, and the keys."""
    return Text.assemble(f"{'playing' if playing else 'paused'} {speed_text(speed)}",
                         (" · . next · , back · space play · +/- speed", "italic"))


WIDE = 140  # from this many columns, the replay bar is one line; below, two


def bar_text(status: Text, notes: Text, width: int) -> Text:
    """One line on a wide screen, else two (a function of the width alone, so that the bar's
    height never changes with the step)."""
    if width >= WIDE:
        return Text.assemble(status, "   ", notes)
    return Text("\n").join([status, notes])


class ReplayBar(Static):
    """The replay's status and keys, on one line or two (``bar_text``)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.parts = (Text(), Text())

    def show(self, status: Text, notes: Text) -> None:
        self.parts = (status, notes)
        self.update(bar_text(status, notes, self.app.size.width), layout=False)  # its height is fixed

    def on_resize(self) -> None:
        self.styles.height = 1 if self.app.size.width >= WIDE else 2
        self.update(bar_text(*self.parts, self.app.size.width), layout=False)


class ReplayApp(BpstepApp):
    BINDINGS = [
        # show=False: the replay bar shows these keys (the footer has no room left at 80 columns)
        Binding("full_stop", "replay_next", "Next action", show=False,
                tooltip="Replay: play the next recorded action"),
        Binding("comma", "replay_back", "Prev. action", show=False, tooltip="Replay: back one recorded action"),
        Binding("space", "autoplay", "Play/pause", show=False,
                tooltip="Replay: play the recorded actions one after another, or pause"),
        Binding("plus,equals_sign", "faster", "Faster", show=False, tooltip="Replay: play faster"),
        Binding("minus", "slower", "Slower", show=False, tooltip="Replay: play slower"),
    ]

    def __init__(self, replay: Replay, *, autoplay: bool = False, speed: float = 1.0,
                 record: TranscriptWriter | None = None,
                 circuit_limit: int = DEFAULT_LIMITS.max_circuit_size) -> None:
        super().__init__(replay.walk, record, circuit_limit)
        self.replay = replay
        self.played = 0
        self._own: dict[int, bool] = {}  # breakpoints the user set (True) or cleared during the replay
        self.speed = speed
        self.playing = False
        self._autoplay_at_start = autoplay
        self._timer: Timer | None = None
        self.backward_source.differs = {
            d.index: ("now missing" if d.now is None else f"{', '.join(d.fields)} differ from the recording")
            for diffs in replay.differences.values() for d in diffs}
        self.goto_hooks.append(lambda action, before, after: self._show_bar())

    def compose(self) -> ComposeResult:
        yield from super().compose()
        yield ReplayBar(id="replay")

    def on_mount(self) -> None:
        self.call_later(self._begin)  # after BpstepApp's on_mount has drawn position 0

    def _begin(self) -> None:
        for warning in self.replay.warnings:
            self.notify(warning, title="Replay", severity="warning", timeout=10, markup=False)
        self._play(0)
        if self._autoplay_at_start:
            self.action_autoplay()

    # -- moving through the recording --------------------------------------------------------
    def _play(self, played: int) -> None:
        """Show the session as it was after its first ``played`` actions."""
        self.played = min(max(played, 0), self.replay.length)
        recorded = {p for p in breakpoints_after(self.replay, self.played) if p <= self.walk.total}
        # the user's own b override the recording's (a hunt: the next action wiped them)
        points = {p for p in recorded if self._own.get(p, True)} | {p for p, on in self._own.items() if on}
        if points != self.backward_source.breakpoints:
            self.backward_source.breakpoints = set(points)
            self.view("backward").refresh()
        self.goto(self.replay.position(self.played), f"replay {self.played}")

    def action_toggle_breakpoint(self) -> None:
        before = set(self.backward_source.breakpoints)
        super().action_toggle_breakpoint()
        for index in before ^ self.backward_source.breakpoints:
            self._own[index] = index in self.backward_source.breakpoints

    def action_replay_next(self) -> None:
        self._pause()
        self._next()

    def _next(self) -> bool:
        if self.played >= self.replay.length:
            self.notify(f"End of the recording ({self.replay.length} actions); , goes back, "
                        "space plays it again.", title="Replay", timeout=4)
            return False
        self._play(self.played + 1)
        return True

    def action_replay_back(self) -> None:
        self._pause()
        if self.played == 0:
            self.notify("Already at the start of the recording.", title="Replay", timeout=3)
            return
        self._play(self.played - 1)

    # -- autoplay ----------------------------------------------------------------------------
    def action_autoplay(self) -> None:
        if self.playing:
            self._pause()
            return
        if self.played >= self.replay.length:
            self._play(0)  # at the end: play it again from the start
        self.playing = True
        self._restart_timer()
        self._show_bar()

    def _tick(self) -> None:
        if not self._next() or self.played >= self.replay.length:
            self._pause()

    def _pause(self) -> None:
        self.playing = False
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._show_bar()

    def _restart_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_interval(1 / self.speed, self._tick, name="replay")

    def action_faster(self) -> None:
        self._set_speed(faster(self.speed))

    def action_slower(self) -> None:
        self._set_speed(slower(self.speed))

    def _set_speed(self, speed: float) -> None:
        self.speed = speed
        if self.playing:
            self._restart_timer()
        self._show_bar()

    # -- showing it --------------------------------------------------------------------------
    def _show_bar(self) -> None:
        bars = self.query(ReplayBar)
        if bars:
            bars.first().show(status_text(self.replay, self.played, self.position, self.playing),
                              notes_text(self.playing, self.speed))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if screen is not self.screen_stack[0]:  # over a dialog, as the debugger's own commands
            return
        yield SystemCommand("Replay: next action", "Play the next recorded action", self.action_replay_next)
        yield SystemCommand("Replay: previous action", "Back one recorded action", self.action_replay_back)
        yield SystemCommand("Replay: play/pause", "Play the recorded actions one after another",
                            self.action_autoplay)
        yield SystemCommand("Replay: faster", "Play faster", self.action_faster)
        yield SystemCommand("Replay: slower", "Play slower", self.action_slower)
        yield SystemCommand("Replay: from the start", "Back to where the recording started",
                            lambda: (self._pause(), self._play(0)))
        yield SystemCommand("Replay: to the end", "Play every recorded action",
                            lambda: (self._pause(), self._play(self.replay.length)))
