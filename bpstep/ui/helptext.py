"""The help text and the about text (Markdown). The key table is built from the bindings themselves,
so the help can never disagree with the Footer."""

from __future__ import annotations

from rich.console import Group
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.app import App
from textual.binding import Binding

from bpstep.core.engine import Walk
from bpstep.ui.rowview import RowView

MARKERS = [
    ("forward pass", "▶", "the stage being back-propagated"),
    ("", "✓", "a stage whose backward statements have all run"),
    ("backward pass", "▶", "the statement just run (its effect is in the step panel)"),
    ("", "+=", "an accumulation: gradients add up where a value forks"),
    ("", "=!", "an '=' that throws away another stage's contribution (the classic bug)"),
    ("", "●", "a breakpoint"),
    ("", "✓", "step taken, as the rules give it (dim: right, but fed by an earlier mistake)"),
    ("", "✗", "step taken, with a wrong local gradient"),
    ("", "=!", "(mark) an overwrite at a fork; ∅ a missing contribution; ⊠ a wrong shape"),
    ("", "?", "a backward local holding a gradient under another name (a hint)"),
    ("", "·", "a local of the backward pass (checked where it is used)"),
    ("", "≠", "replay: the recorded step's values differ from the scenario's now"),
    ("forward cache", "›", "a value the statement read"),
    ("", "▶", "the value computed by the stage being back-propagated"),
    ("gradients", "▶", "the gradient the statement wrote"),
    ("", "›", "a gradient (or backward local) the statement read"),
    ("", "*", "changed by the stage being back-propagated, so far"),
    ("", "!", "holds a contribution a later '=' discarded (struck through)"),
    ("", "—", "no value yet at this position"),
    ("circuit (v)", "●", "a fork: the gradients coming back along its branches add up here"),
    ("", "✗", "a branch's contribution that a later '=' threw away"),
]

NOTES = """\
Contributions are listed with the stage each came from; (up) is the upstream gradient. A name
in italics is a local of the backward pass, not the gradient of a forward value.

The position is the number of backward statements run so far: step 0 is the start (only the
upstream gradient is known), step M the end. Moving back undoes steps; what the screen shows
depends only on the position.

The circuit (v) draws the forward graph as the notes do: a wire's value above it (green) and,
once the backward pass has reached it, its gradient below it (red). The stage being
back-propagated is lit with its wires, and so are the labels its statement read or wrote. At a
fork, what came back along each branch is written where the branch enters its stage, and the
sum under the total. h/j/k/l and the page keys scroll it, f brings the stage back into view,
and a click on a stage goes to it. Enter on an array (cache or gradients) shows it as a
heatmap (red positive, blue negative; +/- and shades without colour) with its shape and, for
a matrix product, the dimension analysis.

Each backward step gets a mark once it is taken: the step against what bpstep's derived
backward pass gives from the gradients the step was given (as `bpstep check` does). The first
mistake is flagged in the warning colour and its finding is shown in the step panel; w jumps
to it. The gradients' check column is the central-difference check of each gradient, shown
once the gradient is final: good (<= 1e-7), kink (<= 1e-4, fine only near a kink),
suspicious (<= 1e-2), wrong (> 1e-2), not finite, skipped; with the relative error when the
panel is wide. A large scenario computes both in the background; they appear when ready."""

COMMANDS = """\
Go to stage…, first mistake, next/previous stage, start, end, continue, toggle breakpoint,
toggle circuit, toggle each panel (forward code, forward cache, backward code, gradients, step
panel), start/stop recording, theme, screenshot, about, help, quit; in a replay, its
next/previous action, play/pause, faster, slower."""

ROW_KEYS = {"enter": "on a row: its value to the last digit, or run to it (code panels)",
            "j": "move the row cursor down", "k": "move the row cursor up"}


def _keys(binding: Binding, app: App) -> str:
    return " / ".join(app.get_key_display(Binding(key, "")) for key in binding.key.split(","))


def app_bindings(app: App) -> list[Binding]:
    """The bindings bpstep's app classes declare, base class first (Textual's own are left out)."""
    classes = [c for c in reversed(type(app).__mro__) if c.__module__.startswith("bpstep.")]
    return [b for c in classes for b in c.__dict__.get("BINDINGS", [])]


def key_rows(app: App) -> list[tuple[str, str]]:
    """(keys, what they do) for every binding of the app and of its row views."""
    rows = []
    for binding in app_bindings(app):
        assert isinstance(binding, Binding)
        rows.append((_keys(binding, app), binding.tooltip or binding.description))
    for binding in RowView.BINDINGS:
        assert isinstance(binding, Binding)
        if binding.key in ROW_KEYS:
            rows.append((_keys(binding, app), ROW_KEYS[binding.key]))
    rows += [("tab / shift+tab", "move between panels"), ("ctrl+p", "command palette")]
    return rows


def help_text(app: App) -> Group:
    """Keys, markers, notes and commands. The keys and markers are grids, so that a long
    meaning wraps under itself instead of under the keys (a Text would wrap to column 0)."""
    heading = Style(bold=True, underline=True)
    keys = Table.grid(padding=(0, 2))
    keys.add_column(style="bold", no_wrap=True)
    keys.add_column()
    for key, what in key_rows(app):
        keys.add_row(key, what)
    markers = Table.grid(padding=(0, 1))
    markers.add_column(style="italic", no_wrap=True, min_width=14)
    markers.add_column(style="bold", no_wrap=True, min_width=2)
    markers.add_column()
    for where, marker, meaning in MARKERS:
        markers.add_row(where, marker, meaning)
    return Group(Text("Keys", heading), keys, Text(""), Text("Markers", heading), markers, Text(""),
                 Text(_reflow(NOTES)), Text(""), Text("Command palette (ctrl+p)", heading), Text(_reflow(COMMANDS)))


def _reflow(text: str) -> str:
    """Paragraphs as single lines, so that they wrap at the dialog's width, not the source's."""
    return "\n\n".join(" ".join(paragraph.split("\n")) for paragraph in text.split("\n\n"))


def about_markdown(walk: Walk) -> str:
    scenario = walk.scenario
    parts = [f"# {scenario.title}", "", f"`{scenario.path}`", ""]
    parts.append(scenario.about.strip() if scenario.about else "_This scenario has no `about:` text._")
    parts += ["", f"Output `{walk.output}`, upstream gradient `{walk.upstream_name}`; "
                  f"{walk.stage_count} forward stages, {walk.total} backward statements."]
    if walk.hints:
        parts += ["", "## Hints", ""] + [f"- {hint}" for hint in walk.hints]
    return "\n".join(parts) + "\n"
