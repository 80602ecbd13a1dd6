"""Step marks, the first-mistake flag and `w`, and the gradient-check column (bpstep/ui/verdicts.py).

Where the mistake is comes from the scenario file itself (the line with the bug, counted among
the backward statements), not from the checker under test.
"""

from __future__ import annotations

import subprocess
import sys
import threading

from app_support import COMPLEX, SCENARIOS, gradient_check, plain
from bpstep.core.engine import load_walk, run_text
from bpstep.ui.app import BpstepApp
from bpstep.ui.steppanel import StepPanel
from bpstep.ui.verdicts import SYNC_STEPS, Verdicts

OVERWRITE = str(SCENARIOS / "buggy" / "complex_overwrite.yaml")
FAILING_GLYPHS = {"✗", "=!", "∅", "⊠"}


def mark(app, row: int) -> str:
    """The mark column of a backward row (after the breakpoint gutter and the ▶)."""
    return app.view("backward").row_text(row)[3:5].strip()


def statement_position(path: str, needle: str) -> int:
    """The position (1-based count of backward statements run) of the backward line containing
    ``needle``, counted in the file: non-blank, non-comment lines of the backward: block."""
    lines = open(path, encoding="utf-8").read().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("backward:"))
    count = 0
    for line in lines[start + 1:]:
        code = line.strip()
        if not code or code.startswith("#"):
            continue
        count += 1
        if needle in line:
            return count
    raise AssertionError(f"{needle!r} not in {path}")


def messages(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_marks_appear_as_steps_are_taken_and_the_first_mistake_is_flagged():
    bug = statement_position(OVERWRITE, "should be +=")  # dx = ... at stage 3: the '=' at a fork
    app = BpstepApp(load_walk(OVERWRITE))
    async with app.run_test(size=(120, 40)) as pilot:
        backward = app.view("backward")
        assert all(mark(app, row) == "" for row in range(app.walk.total))  # nothing taken yet
        await pilot.press("s", "s", "s")
        assert [mark(app, row) for row in range(4)] == ["✓", "?", "✓", ""]  # dinven: a misnamed hint
        await pilot.press(*"s" * (bug - 1 - 3))
        assert app.position == bug - 1
        assert all(mark(app, row) == "✓" for row in range(2, bug - 1))
        assert mark(app, bug - 1) == "" and "warning" not in backward.marks_of(bug - 1)
        await pilot.press("s")  # take the wrong step
        assert mark(app, bug - 1) == "=!"
        assert "warning" in backward.marks_of(bug - 1)
        panel = app.query_one(StepPanel)
        assert "FIRST MISTAKE" in panel.plain and "use +=" in panel.plain
        assert panel.has_class("-warning")
        await pilot.press("s")  # past it: still flagged; the next step's panel has no finding
        assert "warning" in backward.marks_of(bug - 1)
        assert "FIRST MISTAKE" not in panel.plain
        assert mark(app, bug) == "✓"  # right by the rule, from the (wrong) dx it was given
        await pilot.press("up", "up")
        assert mark(app, bug - 1) == "" and "warning" not in backward.marks_of(bug - 1)


async def test_w_jumps_to_the_first_mistake():
    bug = statement_position(OVERWRITE, "should be +=")
    app = BpstepApp(load_walk(OVERWRITE))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("end", "w")
        assert app.position == bug
        assert app.walk.step(bug).code.startswith("dx = ((1 - sigx) * sigx) * dsigx")
        await pilot.press("home", "w")
        assert app.position == bug
        assert not any("No mistake" in m for m in messages(app))


async def test_a_correct_pass_has_only_ok_marks_and_w_says_so():
    app = BpstepApp(load_walk(COMPLEX))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("end")
        walk = app.walk
        for step in walk.steps:
            expected = "✓" if walk.is_gradient(step.target) else "?"  # dinven is the notes' local
            assert mark(app, step.index - 1) == expected, step.code
        assert not any("warning" in app.view("backward").marks_of(r) for r in range(walk.total))
        await pilot.press("w")
        assert app.position == walk.total  # stayed
        assert any(m.startswith("No mistake") for m in messages(app))


async def test_first_mistake_is_a_palette_command():
    bug = statement_position(OVERWRITE, "should be +=")
    app = BpstepApp(load_walk(OVERWRITE))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.press(*"First mistake")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.position == bug


async def test_gradient_check_column():
    good = BpstepApp(load_walk(COMPLEX))
    async with good.run_test(size=(120, 40)) as pilot:
        dx_final = max(s.index for s in good.walk.steps if s.target == "dx")
        await pilot.press(*"s" * (dx_final - 1))
        assert gradient_check(good, "dx") == ""  # not final yet: more is added later
        await pilot.press("s")
        assert gradient_check(good, "dx").split()[0] == "good"
        assert "check" in good.view("gradients").header_text()
    bad = BpstepApp(load_walk(OVERWRITE))
    async with bad.run_test(size=(120, 40)) as pilot:
        await pilot.press("end")
        assert gradient_check(bad, "dx").split()[0] == "wrong"
        assert gradient_check(bad, "dy").split()[0] == "good"  # the bug only loses part of dx


async def test_gradient_check_is_coloured_by_its_verdict():
    app = BpstepApp(load_walk(OVERWRITE))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("end")
        source = app.gradient_source
        width = app.view("gradients")._width()
        wrong = source.check_cell("dx", width).style
        good = source.check_cell("dy", width).style
        assert wrong == source.style_of("check-wrong") and good == source.style_of("check-good")
        assert wrong.color != good.color


def chain(n: int, bad: int | None = None) -> str:
    """v_i = 1.5 * v_(i-1); the backward statement for stage ``bad`` uses 2.5 (a wrong local gradient)."""
    forward = "\n".join(f"  v{i} = v{i - 1} * 1.5" for i in range(1, n + 1))
    backward = "\n".join(f"  dv{i - 1} = {2.5 if i == bad else 1.5} * dv{i}" for i in range(n, 0, -1))
    return f"bpstep: 1\ntitle: chain of {n}\ninputs:\n  v0: 0.5\nforward: |\n{forward}\nbackward: |\n{backward}\n"


async def test_a_large_scenario_gets_its_verdicts_from_a_worker(monkeypatch):
    """Above SYNC_STEPS the first frame comes before the verdicts; they appear when ready."""
    n = SYNC_STEPS + 50
    bad = n - 9  # the 10th backward statement
    release = threading.Event()
    compute = Verdicts.compute

    def held(self):
        assert release.wait(30)
        return compute(self)

    monkeypatch.setattr(Verdicts, "compute", held)
    app = BpstepApp(run_text(chain(n, bad), "chain.yaml"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s", "s")
        assert not app.verdicts.ready and mark(app, 0) == ""  # drawn and stepping without them
        await pilot.press("w")
        assert app.position == 2 and any("Still checking" in m for m in messages(app))
        release.set()
        await app.verdicts_computed()
        await pilot.pause()
        assert app.verdicts.ready and mark(app, 0) == "✓" and mark(app, 1) == "✓"
        await pilot.press("w")
        assert app.position == 10
        assert mark(app, 9) == "✗" and "warning" in app.view("backward").marks_of(9)


async def test_verdicts_arriving_leave_the_cursors_where_the_user_put_them(monkeypatch):
    n = SYNC_STEPS + 50
    release = threading.Event()
    compute = Verdicts.compute
    monkeypatch.setattr(Verdicts, "compute", lambda self: release.wait(30) and compute(self))
    app = BpstepApp(run_text(chain(n, n - 9), "chain.yaml"))
    async with app.run_test(size=(100, 30)) as pilot:
        backward, gradients = app.view("backward"), app.view("gradients")
        backward.focus()
        await pilot.press("s", *"j" * 7)  # position 1; the backward cursor moved on by hand
        assert backward.cursor == 7 and not app.verdicts.ready
        gradients_cursor = gradients.cursor
        release.set()
        await app.verdicts_computed()
        await pilot.pause()
        assert app.verdicts.ready and mark(app, 0) == "✓"
        assert backward.cursor == 7 and gradients.cursor == gradients_cursor and app.position == 1


async def test_a_small_scenario_computes_its_marks_after_its_first_frame(monkeypatch):
    """Below SYNC_STEPS the verdicts are computed on the main thread, once the panes have
    been drawn: they do not delay the first frame."""
    from bpstep.ui.rowview import RowView

    drawn = []
    render_line, compute = RowView.render_line, Verdicts.compute
    monkeypatch.setattr(RowView, "render_line", lambda self, y: drawn.append(self.id) or render_line(self, y))
    seen_at_compute = []
    monkeypatch.setattr(Verdicts, "compute", lambda self: seen_at_compute.append(set(drawn)) or compute(self))
    app = BpstepApp(load_walk(COMPLEX))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.verdicts.ready and app._verdicts_thread is None
        assert seen_at_compute == [{"forward", "cache", "backward", "gradients"}]
        await pilot.press("s")
        assert mark(app, 0) == "✓"


async def test_w_typed_ahead_of_the_first_frame_still_jumps():
    app = BpstepApp(load_walk(OVERWRITE))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("w")  # before the verdicts' turn after the first frame
        assert app.position == 9 and app.verdicts.ready
        assert not any("Still checking" in m for m in messages(app))


def test_help_lists_the_key_and_the_marks():
    from bpstep.ui.helptext import help_text

    text = plain(help_text(BpstepApp(load_walk(COMPLEX))), width=200)
    assert any(line.startswith("w ") and "first step that differs" in line for line in text.splitlines())
    for glyph in ("✗", "∅", "⊠"):
        assert glyph in text


def test_a_long_help_line_wraps_under_its_own_column():
    """The help's key and marker meanings wrap under themselves, not at column 0 (a newcomer's
    report: "red below" under the keys)."""
    from bpstep.ui.helptext import MARKERS, help_text, key_rows

    app = BpstepApp(load_walk(COMPLEX))
    lines = plain(help_text(app), width=60).splitlines()
    keys = key_rows(app)
    column = max(len(k) for k, _ in keys) + 2
    first = lines.index("Keys") + 1
    block = lines[first:lines.index("", first)]
    assert len(block) > len(keys)  # some meanings did wrap at 60 columns
    starts = {k for k, _ in keys}
    for line in block:
        if not any(line.startswith(k + " ") for k in starts):
            assert line[:column].strip() == "" and line[column] != " ", line
    marker_lines = lines[lines.index("Markers") + 1:]
    marker_lines = marker_lines[:marker_lines.index("")]
    assert len(marker_lines) > len(MARKERS)
    meaning_column = 14 + 1 + 2 + 1  # where, a space, the marker, a space
    for line in marker_lines:
        head, meaning = line[:meaning_column], line[meaning_column:]
        assert head.endswith(" ") and meaning and not meaning.startswith(" "), line
    notes = lines[lines.index("", lines.index("Markers") + 1) + 1:lines.index("Command palette (ctrl+p)")]
    assert all(len(line) > 40 for line in "\n".join(notes).split("\n\n")[0].split("\n")[:-1]), notes


QUIT_WHILE_CHECKING = """
import os, threading
import bpstep.ui.app
from bpstep.core.engine import run_text
from bpstep.ui.app import BpstepApp
from bpstep.ui.verdicts import SYNC_STEPS, Verdicts

started = threading.Event()
Verdicts.compute = lambda self: started.set() or threading.Event().wait()  # checks that never end

class Quitting(BpstepApp):
    CSS_PATH = os.path.join(os.path.dirname(bpstep.ui.app.__file__), BpstepApp.CSS_PATH)

    def on_mount(self):
        super().on_mount()
        self.set_interval(0.05, lambda: started.is_set() and self.exit())  # q once they run

n = SYNC_STEPS + 50
forward = "\\n".join(f"  v{i} = v{i - 1} * 1.5" for i in range(1, n + 1))
Quitting(run_text(f"bpstep: 1\\ntitle: t\\ninputs:\\n  v0: 1\\nforward: |\\n{forward}\\n", "t.yaml")).run(headless=True)
print("quit while checking" if started.is_set() else "never started checking")
"""


def test_quitting_does_not_wait_for_the_checks_to_finish(tmp_path):
    # the checks of a long scenario ran in Textual's thread worker, which the exit joins: q left
    # a blank screen for as long as they took (minutes, for 40,000 re-bound stages)
    script = tmp_path / "quit.py"
    script.write_text(QUIT_WHILE_CHECKING)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and done.stdout.strip().endswith("quit while checking"), done.stderr[-2000:]


async def test_the_gil_changes_hands_faster_while_the_checks_run(monkeypatch):
    # the app's thread waits for the GIL at each turn of its event loop, up to the switch
    # interval each time: shorter while the worker runs, as before once it is done
    from bpstep.ui.app import SWITCH_INTERVAL

    before = sys.getswitchinterval()
    release = threading.Event()
    compute = Verdicts.compute
    seen = []
    monkeypatch.setattr(Verdicts, "compute",
                        lambda self: seen.append(sys.getswitchinterval()) or release.wait(30) and compute(self))
    app = BpstepApp(run_text(chain(SYNC_STEPS + 50, 3), "chain.yaml"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        try:
            assert sys.getswitchinterval() == SWITCH_INTERVAL < before
        finally:
            release.set()
        await app.verdicts_computed()
        await pilot.pause()
        assert app.verdicts.ready and seen == [SWITCH_INTERVAL]
        assert sys.getswitchinterval() == before


def test_the_switch_interval_is_restored_by_the_last_of_overlapping_workers():
    from bpstep.ui.app import SWITCH_INTERVAL, _fast_switching

    before = sys.getswitchinterval()
    _fast_switching(True)  # two apps' workers in one process (a test run, a tool)
    _fast_switching(True)
    _fast_switching(False)
    assert sys.getswitchinterval() == SWITCH_INTERVAL
    _fast_switching(False)
    assert sys.getswitchinterval() == before


async def test_checks_finishing_after_the_app_quit_are_dropped(monkeypatch):
    errors = []
    monkeypatch.setattr(threading, "excepthook", lambda args: errors.append(args.exc_value))
    release = threading.Event()
    compute = Verdicts.compute
    monkeypatch.setattr(Verdicts, "compute", lambda self: release.wait(30) and compute(self))
    app = BpstepApp(run_text(chain(SYNC_STEPS + 50, 3), "chain.yaml"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
    release.set()  # the checks end after the quit: nothing to show them on
    await app.verdicts_computed()
    assert errors == [] and not app.verdicts.ready


def shown_lines(widget) -> list[str]:
    """What a widget draws, line by line, as the terminal shows it (cut where it is cut)."""
    return [widget.render_line(y).text.rstrip() for y in range(widget.size.height)]


async def test_the_first_mistake_is_shown_to_its_advice_at_80_columns():
    """A newcomer's report: at 100 columns or fewer the explanation was cut before "use +="."""
    app = BpstepApp(load_walk(OVERWRITE))
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(StepPanel)
        assert panel.outer_size.height == 4
        await pilot.press("w")
        await pilot.pause()
        shown = shown_lines(panel)
        text = " ".join(line.strip() for line in shown)
        assert "FIRST MISTAKE" in text and text.endswith("use +="), shown
        assert panel.outer_size.height == len(shown) + 1 > 4 and all(len(line) <= 80 for line in shown)
        await pilot.press("s")  # the next step has no finding: the panel is three lines again
        await pilot.pause()
        assert panel.outer_size.height == 4
        await pilot.press("up")
        await pilot.resize_terminal(160, 24)
        await pilot.pause()
        wide = shown_lines(panel)
        assert panel.outer_size.height < len(shown) + 1 and " ".join(x.strip() for x in wide).endswith("use +=")


async def test_a_missing_contribution_says_its_mark_is_not_a_wrong_line():
    """A newcomer's run: ∅ sat on 'dsigy = (1) * dnum', a right line, and nothing said that the
    mistake is a statement that is not there."""
    app = BpstepApp(load_walk(str(SCENARIOS / "buggy" / "complex_missing.yaml")))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("w")
        await pilot.pause()
        text = " ".join(line.strip() for line in shown_lines(app.query_one(StepPanel)))
        assert "missing contribution" in text and "not a wrong line" in text, text
        assert mark(app, app.position - 1) == "∅"


CJK = """bpstep: 1
title: cjk
inputs:
  输入值变量: 2.0
forward: |
  中间结果变量 = 输入值变量 * 3  #(1)
  最终输出变量 = 中间结果变量 * 中间结果变量  #(2)
backward: |
  d中间结果变量 = 中间结果变量 * d最终输出变量  #(2)
  d输入值变量 = 3 * d中间结果变量  #(1)
"""


async def test_a_finding_wraps_by_cells_and_gives_way_on_a_short_terminal():
    """Wide characters take two cells (a wrap by characters overflowed and cut the advice); at
    16 rows the finding keeps to one line, so that the panes keep theirs."""
    from bpstep.core.engine import run_text
    from rich.cells import cell_len

    app = BpstepApp(run_text(CJK))
    async with app.run_test(size=(70, 30)) as pilot:
        await pilot.press("w")
        await pilot.pause()
        panel = app.query_one(StepPanel)
        shown = shown_lines(panel)
        assert "mistake" in shown[2].lower() and len(shown) > 3
        assert all(cell_len(line) <= panel.content_size.width for line in shown)
        assert not any(line.endswith("…") for line in shown[2:]), shown
    app = BpstepApp(load_walk(OVERWRITE))
    async with app.run_test(size=(80, 16)) as pilot:
        await pilot.press("w")
        await pilot.pause()
        panel = app.query_one(StepPanel)
        assert panel.outer_size.height == 4 and shown_lines(panel)[2].endswith("…")


async def test_a_finding_gives_way_when_only_the_height_changes():
    """A height-only resize left the panel's own width alone, so it kept the lines it took at
    the old height: a finding wrapped over four lines at 24 rows kept them at 21 (one allowed),
    and one shown at 21 rows stayed on one line once the terminal was tall again."""
    app = BpstepApp(load_walk(OVERWRITE))
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(StepPanel)
        await pilot.press("w")
        await pilot.pause()
        tall = panel.outer_size.height
        assert tall > 4
        await pilot.resize_terminal(80, 21)
        await pilot.pause()
        assert panel.outer_size.height == 4 and shown_lines(panel)[2].endswith("…")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert panel.outer_size.height == tall
        assert " ".join(line.strip() for line in shown_lines(panel)).endswith("use +=")


async def test_wide_character_names_are_not_cut_to_a_prefix():
    """A hunt: name columns were as wide as the longest name's characters, not its cells, so
    'd中间结果变量' showed as 'd中间…' beside plenty of room (and the cache the same)."""
    from bpstep.core.engine import run_text

    app = BpstepApp(run_text(CJK))
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("end")
        await pilot.pause()
        gradients = " ".join(app.view("gradients").render_line(y).text for y in range(8))
        cache = " ".join(app.view("cache").render_line(y).text for y in range(5))
    assert "d中间结果变量" in gradients and "d输入值变量" in gradients, gradients
    assert "中间结果变量" in cache and "最终输出变量" in cache, cache
