"""The bpstep debugger: a Textual app over one Walk.

Every user action that moves the position (and every breakpoint toggled) goes through
:meth:`BpstepApp.goto`, which redraws what changed and then calls each of ``goto_hooks`` with
``(action, before, after)``: the session recorder hooks in there. Actions are named like
``next_step``, ``next_stage``, ``goto_stage 3``, ``run_to 7``, ``breakpoint on 9``. What the
screen shows depends only on the position (and on the breakpoints, which are drawn in it).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
from typing import Callable, Iterable

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from rich.cells import cell_len
from rich.text import Text
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from typing import TYPE_CHECKING

from bpstep.core.engine import Step, Walk
from bpstep.core.expr import DEFAULT_LIMITS
from bpstep.ui.circuitview import CircuitPanel
from bpstep.ui.panes import BackwardSource, CacheSource, ForwardSource, GradientSource
from bpstep.ui.recording import Recorder, RecordingIndicator
from bpstep.ui.rowview import RowView
from bpstep.ui.state import Focus, Index, changed_names, focus_at, position_text, touched_steps
from bpstep.ui.steppanel import StepPanel
from bpstep.ui.verdicts import Verdicts

# The detail, help and dialog screens are imported when first opened, not before the
# first frame (issue 8).
if TYPE_CHECKING:
    from bpstep.core.transcript import TranscriptWriter

PANELS = {"forward": "forward code", "cache": "forward cache", "backward": "backward code",
          "gradients": "gradients", "step": "step panel"}

GotoHook = Callable[[str, int, int], None]
SWITCH_INTERVAL = 0.001  # seconds: the GIL's switch interval while the checks run in the background
_switching = {"workers": 0, "before": 0.0}  # the interval is the process's: set by the first, restored by the last
_switching_lock = threading.Lock()


def _fast_switching(on: bool) -> None:
    with _switching_lock:
        if on:
            if _switching["workers"] == 0:
                _switching["before"] = sys.getswitchinterval()
                sys.setswitchinterval(min(_switching["before"], SWITCH_INTERVAL))
            _switching["workers"] += 1
        else:
            _switching["workers"] -= 1
            if _switching["workers"] == 0:
                sys.setswitchinterval(_switching["before"])


class BpstepApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "bpstep"
    AUTO_FOCUS = "#gradients"
    BINDINGS = [
        Binding("n,right", "next_stage", "Stage", tooltip="Run the whole next stage"),
        Binding("s,down", "next_step", "Step", tooltip="Run the next backward statement"),
        Binding("p,left", "previous_stage", "Back", tooltip="Back one stage (to its start)"),
        Binding("up", "previous_step", "Step back", show=False, tooltip="Undo the last statement"),
        Binding("home", "start", "Start", show=False, tooltip="Back to the start"),
        Binding("end", "end", "End", show=False, tooltip="Run to the end"),
        Binding("g", "goto_stage", "Goto", tooltip="Go to a stage (asks for its number)"),
        Binding("b", "toggle_breakpoint", "Break",
                tooltip="Breakpoint on/off at the backward cursor's statement"),
        Binding("c", "continue", "Cont", tooltip="Run until a breakpoint's statement has run (or the end)"),
        Binding("v", "toggle_circuit", "Circuit",
                tooltip="Show or hide the circuit: values green above the wires, gradients red below"),
        Binding("w", "first_mistake", "First mistake", show=False,  # the footer keeps ? and q at 80 columns
                tooltip="Jump to the first step that differs from the derived backward pass"),
        Binding("a", "about", "About", show=False, tooltip="About this scenario"),
        Binding("question_mark", "help", "Help", tooltip="Keys, markers and commands"),
        Binding("q", "quit", "Quit", tooltip="Quit bpstep"),
    ]

    def __init__(self, walk: Walk, record: TranscriptWriter | None = None,
                 circuit_limit: int = DEFAULT_LIMITS.max_circuit_size) -> None:
        super().__init__()
        self.walk = walk
        self.circuit_limit = circuit_limit  # a larger circuit is not drawn (--max-circuit-size)
        self._verdicts_thread: threading.Thread | None = None  # computing a large walk's verdicts
        self.index = Index(walk)
        self.position = 0
        self.goto_hooks: list[GotoHook] = []
        self.recorder = Recorder(self, walk, record)  # writes every action of goto_hooks while on
        self.title = " ".join(walk.scenario.title.split())  # one line: newlines or tabs would push the position off
        self.forward_source = ForwardSource(walk, self.index)
        self.cache_source = CacheSource(walk, self.index)
        self.backward_source = BackwardSource(walk, self.index)
        self.gradient_source = GradientSource(walk, self.index)
        self.sources = (self.forward_source, self.cache_source, self.backward_source, self.gradient_source)
        self.verdicts = Verdicts(walk)  # step marks and gradient checks, once computed
        self.backward_source.verdicts = self.gradient_source.verdicts = self.verdicts

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="titlebar")
        yield CircuitPanel(self.walk, limit=self.circuit_limit, id="circuit")
        with Horizontal(id="panes"):
            with Vertical(id="left"):
                yield RowView(self.forward_source, title="Forward pass (stage)", id="forward")
                yield RowView(self.cache_source, title="Forward cache", id="cache")
            with Vertical(id="right"):
                yield RowView(self.backward_source, title="Backward pass", id="backward")
                yield RowView(self.gradient_source, title="Gradients", id="gradients")
        yield StepPanel(id="step")
        yield RecordingIndicator(self.recorder, id="recording")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._show(0, 0, whole=True)
        # after the first frame: computing them would delay it, and a worker thread started
        # now would hold the GIL half the time while it is drawn (issue 8)
        self.call_after_refresh(self._start_verdicts)

    def _start_verdicts(self) -> None:
        """Compute the marks and checks now, or in a worker for a large scenario (they appear
        when ready)."""
        verdicts = self.verdicts
        if verdicts.ready:  # a key typed ahead of the first frame asked for them already
            return
        if not verdicts.background:
            self._verdicts_ready(verdicts.compute())
            return

        def work() -> None:
            try:
                result = verdicts.compute()
            finally:
                _fast_switching(False)
            if not self.is_running:  # quit while they were computed: nobody to show them to
                return
            try:
                self.call_from_thread(self._verdicts_ready, result)
            except Exception:  # noqa: BLE001 - the app went while they were handed over
                pass

        # a daemon thread, not a Textual worker: those run in asyncio's default executor, which
        # is joined when the app exits, so q waited (minutes, on a large scenario) for checks
        # nobody would see. The work only reads the walk; the result is handed over on the
        # app's own thread.
        self._verdicts_thread = threading.Thread(target=work, name="bpstep-verdicts", daemon=True)
        # while it runs, the app's thread waits for the GIL at every turn of its event loop: up to
        # the switch interval each time. 1 ms instead of 5 made keys answer in 24 ms instead of 35
        # (10,000 stages, in tmux; 10 ms once the checks are done)
        _fast_switching(True)
        # the checks pause the (process-wide) collector and freeze what they leave: first collect
        # the garbage of the start-up, which would be frozen with it (15,000 objects at 10,000
        # stages, found by a review); 10-20 ms, after the first frame
        gc.collect()
        self._verdicts_thread.start()

    async def verdicts_computed(self) -> None:
        """Wait until the marks and checks have been handed to the app (tests, tools): they
        start after the first frame, in a worker for a large scenario."""
        while not self.verdicts.ready and self._verdicts_thread is None and self.is_running:
            await asyncio.sleep(0.01)
        thread = self._verdicts_thread
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join)

    def _verdicts_ready(self, result) -> None:
        if not self.is_running:
            return
        self.verdicts.set(result)
        self._show(self.position, self.position, whole=True, follow=False)  # cursors stay where the user put them

    def format_title(self, title: str, sub_title: str) -> Content:
        """``title — stage k of N · step i of M``; on a narrow screen the position comes first.
        Either way a long title is what gets cut, never the position (a hunt: a long title hid
        it at 80 columns and more)."""
        if self.size.width < 80:
            return Content.assemble(sub_title, (" — ", "dim"), (title, "bold"))
        room = self.size.width - cell_len(sub_title) - 5
        if cell_len(title) > room:
            cut = Text(title)
            cut.truncate(max(room, 1), overflow="ellipsis")
            title = cut.plain
        return Content.assemble((title, "bold"), ("  —  ", "dim"), sub_title)

    def _show_title(self) -> None:
        self.screen_stack[0].query_one("#titlebar", Static).update(self.format_title(self.title, self.sub_title),
                                                   layout=False)  # one line, fixed height

    def on_resize(self) -> None:
        # Textual's App._on_resize stores the new size after this handler: read it next
        self.call_next(self._resized)

    def _resized(self) -> None:
        self._show_title()  # the narrow form puts the position first
        self.screen_stack[0].query_one(StepPanel).rewrap()  # a finding's lines depend on the height

    def view(self, name: str) -> RowView:
        """One of the four panes: forward, cache, backward, gradients."""
        return self.query_one(f"#{name}", RowView)

    # -- the one way the position moves --------------------------------------------------
    def goto(self, position: int, action: str) -> None:
        """Move to ``position`` (clamped) because of ``action``; redraw what changed."""
        before = self.position
        after = self.walk.clamp(position)
        self.position = after
        if after != before:
            self._show(before, after)
        for hook in self.goto_hooks:
            hook(action, before, after)

    def _show(self, before: int, after: int, whole: bool = False, follow: bool = True) -> None:
        """Redraw for a move: only the rows whose marks or values change (``whole``: all).
        ``follow``: the panes' cursors go to the step, its stage and what it read."""
        walk = self.walk
        focus = focus_at(walk, after)
        for source in self.sources:
            source.position = after
        touched = None if whole else touched_steps(walk, before, after)
        steps = None if touched is None else [walk.steps[i - 1] for i in touched]
        # Not `self.sub_title = ...`: that reactive repaints the whole screen and Textual's
        # Header relayouts on every change, which doubled the step latency (issue 8).
        self.set_reactive(App.sub_title, position_text(walk, self.index, after))
        self._show_title()
        self._show_forward(focus, steps, follow)
        self._show_cache(focus, follow)
        self._show_backward(focus, steps, follow)
        self._show_gradients(focus, steps, follow)
        self.query_one(StepPanel).show(walk, focus, self.verdicts.finding_text(after))

    def _show_forward(self, focus: Focus, steps: list[Step] | None, follow: bool) -> None:
        """The stage being back-propagated; ✓ on the stages the move completed or undid."""
        view, rows = self.view("forward"), self.index.forward_row
        row = rows.get(focus.stage) if focus.stage is not None else None
        dirty = None if steps is None else {rows[s.stage] for s in steps if s.stage in rows}
        view.set_marks({row: frozenset({"current"})} if row is not None else {}, dirty)
        if row is not None and follow:
            view.move_cursor_to(row)

    def _show_cache(self, focus: Focus, follow: bool) -> None:
        """The values the step read, and the one its stage computed (cache values never change)."""
        view, index = self.view("cache"), self.index
        marks: dict[int, frozenset[str]] = {}
        own = index.stage_cache_row.get(focus.stage) if focus.stage is not None else None
        if own is not None:
            marks[own] = frozenset({"stage"})
        reads = sorted(index.cache_row[n] for n in focus.forward_reads if n in index.cache_row)
        for row in reads:
            marks[row] = frozenset({"read"})
        view.set_marks(marks, ())
        if marks and follow:
            view.move_cursor_to(reads[0] if reads else own, also=list(marks))

    def _show_backward(self, focus: Focus, steps: list[Step] | None, follow: bool) -> None:
        """The step applied last; the marks of the steps the move took or undid."""
        step = focus.step
        marks = {}
        if step is not None:
            marks[step.index - 1] = frozenset({"current", "warning"} if step.overwrites else {"current"})
        flagged = self.verdicts.flagged_row(focus.position)  # the first mistake, once taken
        if flagged is not None:
            marks[flagged] = marks.get(flagged, frozenset()) | {"warning"}
        self.view("backward").set_marks(marks, None if steps is None else [s.index - 1 for s in steps])
        if follow:
            self.view("backward").move_cursor_to(step.index - 1 if step else 0)

    def _show_gradients(self, focus: Focus, steps: list[Step] | None, follow: bool) -> None:
        """What the step wrote and read, and what changed during the current stage so far."""
        walk, rows = self.walk, self.index.gradient_row
        marks: dict[int, frozenset[str]] = {}
        for name in changed_names(walk, walk.previous_stage(focus.position), focus.position):
            marks[rows[name]] = frozenset({"changed"})
        for name in focus.gradient_reads:
            if name in rows:
                marks[rows[name]] = marks.get(rows[name], frozenset()) | {"read"}
        step = focus.step
        if step is not None:
            extra = {"written", "warning"} if step.overwrites else {"written"}
            marks[rows[step.target]] = marks.get(rows[step.target], frozenset()) | extra
        dirty = None if steps is None else {rows[s.target] for s in steps}
        view = self.view("gradients")
        view.set_marks(marks, dirty)
        if follow:
            view.move_cursor_to(rows[step.target] if step else 0,
                                also=[r for r, m in marks.items() if "read" in m])

    # -- stepping -------------------------------------------------------------------------
    def action_next_step(self) -> None:
        self.goto(self.position + 1, "next_step")

    def action_previous_step(self) -> None:
        self.goto(self.position - 1, "previous_step")

    def action_next_stage(self) -> None:
        self.goto(self.walk.next_stage(self.position), "next_stage")

    def action_previous_stage(self) -> None:
        self.goto(self.walk.previous_stage(self.position), "previous_stage")

    def action_start(self) -> None:
        self.goto(0, "start")

    def action_end(self) -> None:
        self.goto(self.walk.total, "end")

    def action_continue(self) -> None:
        ahead = [b for b in self.backward_source.breakpoints if b > self.position]
        if ahead:
            self.goto(min(ahead), "continue")
        else:
            if self.position < self.walk.total:
                self.notify("No breakpoint ahead: ran to the end.", timeout=3)
            self.goto(self.walk.total, "continue")

    def action_first_mistake(self) -> None:
        if not self.verdicts.ready and not self.verdicts.background:  # typed ahead of the first frame
            self._start_verdicts()
        note = self.verdicts.first_mistake_note()
        if note is not None:
            self.notify(note, title="First mistake", timeout=4)
            return
        self.goto(self.verdicts.first_position, "first_mistake")

    def action_toggle_breakpoint(self) -> None:
        view = self.view("backward")
        if not self.walk.total:
            return
        if not view.display:  # its cursor is not to be seen: nothing to put a breakpoint on
            self.notify("The backward code is hidden: show it (ctrl+p, Toggle backward code) to set a "
                        "breakpoint.", severity="warning", timeout=4)
            return
        index = view.cursor + 1
        self.backward_source.breakpoints ^= {index}
        view.refresh_row(view.cursor)
        on = "on" if index in self.backward_source.breakpoints else "off"
        self.goto(self.position, f"breakpoint {on} {index}")  # no move; the hooks still hear it

    def action_goto_stage(self) -> None:
        stages = sorted(self.index.stage_last, reverse=True)
        if not stages:
            self.notify("This scenario has no backward pass.", severity="warning")
            return

        def check(stage: int) -> str | None:
            if stage in self.index.stage_last:
                return None
            if stage in self.index.forward_row:
                return f"stage {stage} has no backward statements"
            return f"no stage {stage}; the stages run from {self.index.max_stage} down to 1"

        def chosen(stage: int | None) -> None:
            if stage is not None:
                self.goto(self.index.stage_last[stage], f"goto_stage {stage}")

        prompt = f"Stage number, from {stages[0]} (runs first) to {stages[-1]}:"
        from bpstep.ui.screens import GotoStageScreen

        self.push_screen(GotoStageScreen(prompt, check), chosen)

    # -- rows: Enter on a row --------------------------------------------------------------
    def on_row_view_activated(self, event: RowView.Activated) -> None:
        view_id = event.view.id
        if view_id == "backward":
            self.goto(event.row + 1, f"run_to {event.row + 1}")
        elif view_id == "forward":
            stage = self.walk.forward[event.row].stage
            if stage in self.index.stage_last:
                self.goto(self.index.stage_last[stage], f"goto_stage {stage}")
        elif view_id in ("cache", "gradients"):
            self._show_detail(view_id, event.row)

    def _show_detail(self, view_id: str, row: int) -> None:
        from bpstep.ui.detail import cache_detail, gradient_detail
        from bpstep.ui.screens import DetailScreen

        if view_id == "cache":
            self.push_screen(DetailScreen(*cache_detail(self.walk, row, self.position),
                                          value=self.walk.cache[row].value))
        else:
            name = self.index.names[row]
            self.push_screen(DetailScreen(*gradient_detail(self.walk, name, self.position),
                                          value=self.walk.value_at(name, self.position)))

    # -- the circuit (v) ---------------------------------------------------------------------
    def action_toggle_circuit(self) -> None:
        self.query_one(CircuitPanel).toggle(self.position)

    def on_circuit_panel_stage_clicked(self, event: CircuitPanel.StageClicked) -> None:
        if event.stage in self.index.stage_last:
            self.goto(self.index.stage_last[event.stage], f"goto_stage {event.stage}")

    # -- other screens and commands --------------------------------------------------------
    def action_command_palette(self) -> None:
        from bpstep.ui.screens import SafeCommandPalette

        if self.use_command_palette and not SafeCommandPalette.is_open(self):
            self.push_screen(SafeCommandPalette(id="--command-palette"))

    def action_help(self) -> None:
        from bpstep.ui.helptext import help_text
        from bpstep.ui.screens import TextScreen

        self.push_screen(TextScreen("Help", help_text(self), id="help"))

    def action_about(self) -> None:
        from bpstep.ui.helptext import about_markdown
        from bpstep.ui.screens import TextScreen

        self.push_screen(TextScreen(self.walk.scenario.title, about_markdown(self.walk), id="about"))

    def action_toggle_panel(self, name: str) -> None:
        widget = self.query_one(f"#{name}")
        widget.display = not widget.display
        for column in self.query("#left, #right"):
            shown = [child for child in column.children if child.display]
            column.display = bool(shown)
            column.set_class(len(shown) == 1, "-alone")  # the code pane alone takes the column
        if self.focused is not None and not self.focused.display:
            self.screen.focus_next()
            if self.focused is not None and not self.focused.display:  # every pane hidden: keys such
                self.screen.set_focus(None)  # as j and Enter must not act on one (a hunt)

    def action_save_screenshot(self) -> None:
        stem = os.path.splitext(os.path.basename(self.walk.scenario.path))[0] or "bpstep"
        path = self.save_screenshot(f"bpstep-{stem}-step{self.position}.svg", path=".")
        self.notify(f"Saved {path}", timeout=4)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        # Textual's own Screenshot saves to ~/Downloads, which may not exist ('Failed to save
        # screenshot', a hunt); bpstep's saves in the current folder and says where
        yield from (command for command in super().get_system_commands(screen) if command.title != "Screenshot")
        yield SystemCommand("Screenshot", "Save an SVG screenshot in the current directory",
                            self.action_save_screenshot)
        yield from self.recorder.commands()
        if screen is not self.screen_stack[0]:  # over a dialog: moving the debugger under it would
            return  # leave the dialog showing another step's values (a hunt)
        yield SystemCommand("Go to stage…", "Jump to a stage by its number", self.action_goto_stage)
        yield SystemCommand("Next stage", "Run the whole next stage", self.action_next_stage)
        yield SystemCommand("Previous stage", "Back to the start of the stage", self.action_previous_stage)
        yield SystemCommand("Start", "Back to the start of the backward pass", self.action_start)
        yield SystemCommand("End", "Run to the end of the backward pass", self.action_end)
        yield SystemCommand("Continue", "Run until a breakpoint's statement has run (or the end)",
                            self.action_continue)
        yield SystemCommand("First mistake", "Jump to the first step that differs from the derived "
                            "backward pass", self.action_first_mistake)
        yield SystemCommand("Toggle breakpoint", "On the statement under the backward cursor",
                            self.action_toggle_breakpoint)
        yield SystemCommand("Toggle circuit", "Show or hide the circuit diagram (values green, "
                            "gradients red)", self.action_toggle_circuit)
        for name, label in PANELS.items():
            yield SystemCommand(f"Toggle {label}", f"Show or hide the {label}{'' if label.endswith('panel') else ' panel'}",
                                lambda name=name: self.action_toggle_panel(name))
        yield SystemCommand("About this scenario", "Its about: text and hints", self.action_about)
        yield SystemCommand("Help", "Keys, markers and commands", self.action_help)

