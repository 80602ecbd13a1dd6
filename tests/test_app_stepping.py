"""Pilot tests of the stepping keys: what the header, listings, tables and step panel show.

Reference numbers come from closed forms and central differences (tests/app_support.py),
never from the engine under test.
"""

from __future__ import annotations

import re

from app_support import COMPLEX, central, close, complex_contributions, complex_f, gradient_row, numbers
from bpstep.core.engine import load_walk
from bpstep.ui.app import BpstepApp
from bpstep.ui.screens import GotoStageScreen
from bpstep.ui.steppanel import StepPanel

REF = complex_contributions()


def make_app(path: str = COMPLEX) -> BpstepApp:
    return BpstepApp(load_walk(path))


def panel(app: BpstepApp) -> str:
    return app.query_one(StepPanel).plain


def current_rows(app: BpstepApp, view: str) -> list[int]:
    v = app.view(view)
    return [row for row, marks in v.marks.items() if "current" in marks]


async def test_start_shows_title_position_and_upstream_only():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.title == "Staged f(x, y)"
        assert app.sub_title == "stage 8 of 8 · step 0 of 12"
        assert current_rows(app, "backward") == []
        # the forward listing marks stage 8, the first to be back-propagated
        assert current_rows(app, "forward") == [7]
        assert app.view("forward").row_text(7).startswith("▶ 8 │ f = num * invden")
        _, _, value, contrib = gradient_row(app, "df")
        assert value == "1" and "upstream" in contrib
        for name in ("dnum", "dx", "dy"):
            assert gradient_row(app, name)[2] == "—"
        assert "next: dnum = invden" in panel(app)


async def test_s_runs_one_statement_and_up_undoes_it():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s")
        assert app.sub_title == "stage 8 of 8 · step 1 of 12"
        assert current_rows(app, "backward") == [0]
        assert app.view("backward").row_text(0).startswith(" ▶ ✓  8    │ dnum = invden")
        markers, _, value, contrib = gradient_row(app, "dnum")
        assert markers[0] == "▶" and close(value, REF["dnum"])
        assert "from stage 8" in contrib
        assert "dnum = " in panel(app) and "reads invden" in panel(app)
        await pilot.press("down")  # the same as s
        assert app.sub_title == "stage 8 of 8 · step 2 of 12"
        await pilot.press("up", "up")
        assert app.sub_title == "stage 8 of 8 · step 0 of 12"
        assert gradient_row(app, "dnum")[2] == "—"
        assert current_rows(app, "backward") == []
        await pilot.press("up")  # nothing before the start
        assert app.position == 0


async def test_n_and_p_move_by_whole_stages():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        assert app.sub_title == "stage 8 of 8 · step 2 of 12"  # dnum and dinven, both of stage 8
        await pilot.press("right")
        assert app.sub_title == "stage 7 of 8 · step 3 of 12"
        assert current_rows(app, "forward") == [6]
        assert app.view("forward").row_text(7).startswith("✓ 8")  # stage 8 done
        await pilot.press("n")
        assert app.sub_title == "stage 6 of 8 · step 5 of 12"
        # both statements of stage 6 ran: both gradients changed during this stage
        assert gradient_row(app, "dsigx")[0] == " *"
        assert gradient_row(app, "dxpysqr")[0] == "▶*"
        await pilot.press("s")  # into stage 5; p goes back to its start, then one more stage
        assert app.position == 6
        await pilot.press("p")
        assert app.position == 5
        await pilot.press("left")
        assert app.position == 3
        await pilot.press("p", "p", "p")
        assert app.position == 0


async def test_home_and_end_give_the_true_gradients():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("end")
        assert app.sub_title == "stage 1 of 8 · step 12 of 12"
        assert close(gradient_row(app, "dx")[2], central(complex_f, 3.0, -4.0, "x"))
        assert close(gradient_row(app, "dy")[2], central(complex_f, 3.0, -4.0, "y"))
        assert "End of the backward pass" in panel(app)
        await pilot.press("s")  # nothing after the end
        assert app.position == 12
        await pilot.press("home")
        assert app.sub_title == "stage 8 of 8 · step 0 of 12"
        assert gradient_row(app, "dx")[2] == "—"


async def test_accumulation_shows_before_plus_contribution_equals_after():
    app = make_app()
    # 124 columns: the three contributions fit beside the gradient check (dx is final at step 10)
    async with app.run_test(size=(124, 30)) as pilot:
        await pilot.press(*"s" * 10)
        assert app.sub_title == "stage 2 of 8 · step 10 of 12"
        row = app.view("backward").row_text(9)
        assert row.startswith(" ▶ ✓  2 += │ dx += (1) * dnum")
        match = re.search(r"dx: (\S+) \+ (\S+) = (\S+)", panel(app))
        assert match, panel(app)
        before = REF["dx stage 4"] + REF["dx stage 3"]
        assert close(match[1], before) and close(match[2], REF["dx stage 2"])
        assert close(match[3], before + REF["dx stage 2"])
        assert "reads dnum" in panel(app)
        markers, _, value, contrib = gradient_row(app, "dx")
        assert markers == "▶*"
        assert app.view("gradients").marks_of(app.index.gradient_row["dx"]) == {"written", "changed"}
        assert app.view("gradients").marks_of(app.index.gradient_row["dnum"]) == {"read"}
        assert re.findall(r"\((\d)\)", contrib) == ["4", "3", "2"]
        # a sum as written: "1.5832 (4) - 0.03576 (3) + 0.5121 (2)"
        terms = re.sub(r"([+-]) ", r"\1", contrib.replace("(4)", "").replace("(3)", "").replace("(2)", ""))
        assert " - " in contrib  # the negative contribution is subtracted, not "+ -0.03576"
        shown = numbers(terms)
        for got, want in zip(shown, [REF["dx stage 4"], REF["dx stage 3"], REF["dx stage 2"]]):
            assert close(str(got), want)


async def test_go_to_stage_prompt():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("g")
        assert isinstance(app.screen, GotoStageScreen)
        await pilot.press("9", "enter")
        assert isinstance(app.screen, GotoStageScreen)  # no stage 9: the prompt stays
        assert "no stage 9" in str(app.screen.query_one("#goto-error").render())
        await pilot.press("backspace", "2", "enter")
        assert not isinstance(app.screen, GotoStageScreen)
        assert app.sub_title == "stage 2 of 8 · step 11 of 12"  # after the last statement of stage 2
        await pilot.press("g", "5", "escape")
        assert app.position == 11  # cancelled


async def test_breakpoints_and_continue():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        backward = app.view("backward")
        backward.focus()
        await pilot.press(*"j" * 8, "b")  # step 9: dx += ... (stage 3)
        assert backward.row_text(8).startswith("●")
        await pilot.press("j", "j", "j", "b")  # step 12: dy += ... (stage 1)
        assert backward.row_text(11).startswith("●")
        assert app.position == 0  # setting breakpoints does not move
        await pilot.press("c")
        assert app.position == 9 and app.sub_title == "stage 3 of 8 · step 9 of 12"
        await pilot.press("c")
        assert app.position == 12
        await pilot.press("home")
        backward.focus()
        await pilot.press(*"j" * 8, "b")  # off again
        assert backward.row_text(8).startswith(" ")
        await pilot.press("c")
        assert app.position == 12


async def test_enter_on_backward_row_runs_to_it():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        app.view("backward").focus()
        await pilot.press("j", "j", "j", "enter")
        assert app.position == 4


async def test_a_position_looks_the_same_however_it_is_reached():
    """Marks, cursors, scroll offsets, header and step panel depend only on the position."""

    def screen_state(app):
        state = [app.sub_title, panel(app)]
        for name in ("forward", "cache", "backward", "gradients"):
            view = app.view(name)
            state.append((name, view.cursor, round(view.scroll_y), sorted(view.marks.items()),
                          [view.row_text(r) for r in range(view.source.count())]))
        return state

    routes = [["s"] * 6, ["n"] * 4, ["end"] + ["up"] * 6, ["g", "5", "enter"], ["s"] * 9 + ["p", "p"]]
    seen = []
    for keys in routes:
        app = make_app()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press(*keys)
            await pilot.pause()
            assert app.position == 6, keys
            seen.append(screen_state(app))
    assert all(state == seen[0] for state in seen[1:])


async def test_clicking_a_statement_twice_runs_to_it():
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        backward = app.view("backward")
        assert round(backward.scroll_y) == 0
        await pilot.click("#backward", offset=(12, 1 + 2))  # below the title line: the third row
        assert backward.cursor == 2 and app.position == 0
        await pilot.click("#backward", offset=(12, 1 + 2))
        assert app.position == 3 and app.sub_title == "stage 7 of 8 · step 3 of 12"


async def test_every_action_reaches_the_goto_hooks():
    app = make_app()
    heard = []
    app.goto_hooks.append(lambda action, before, after: heard.append((action, before, after)))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s", "n", "up", "p", "end", "home", "right", "left", "down")
        await pilot.press("g", "4", "enter", "b", "c", "s")  # s at the end: heard, no move
        await pilot.press("up", "up", "up", "up", "up", "up", "up", "s")
    assert heard == [
        ("next_step", 0, 1), ("next_stage", 1, 2), ("previous_step", 2, 1), ("previous_stage", 1, 0),
        ("end", 0, 12), ("start", 12, 0), ("next_stage", 0, 2), ("previous_stage", 2, 0),
        ("next_step", 0, 1), ("goto_stage 4", 1, 8), ("breakpoint on 8", 8, 8), ("continue", 8, 12),
        ("next_step", 12, 12), ("previous_step", 12, 11), ("previous_step", 11, 10),
        ("previous_step", 10, 9), ("previous_step", 9, 8), ("previous_step", 8, 7),
        ("previous_step", 7, 6), ("previous_step", 6, 5), ("next_step", 5, 6),
    ]


REBOUND = """bpstep: 1
title: re-bound names
inputs:
  x: 1.5
  y: 2.0
forward: |
  x = x * 2
  x = x + y
  y = x * y
  x = x * y
"""


async def test_reads_of_earlier_versions_are_marked_in_the_cache(tmp_path):
    """A hunt: a step reading x_3 (x's third version) or y_1 (the input y) marked nothing in
    the forward cache: its rows were found by bare name, which is the last version's."""
    path = tmp_path / "rebound.yaml"
    path.write_text(REBOUND)
    app = BpstepApp(load_walk(str(path)))
    cache = app.walk.cache
    last = {e.name: e.version for e in cache}

    def entry_of(name: str) -> tuple[str, int]:  # x_3 is x's version 3 (walk.aliases); x the last
        return app.walk.aliases.get(name, (name, last.get(name)))

    seen = set()
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(app.walk.total):
            await pilot.press("s")
            await pilot.pause()
            step = app.walk.step(app.position)
            marked = {(cache[row].name, cache[row].version) for row in range(len(cache))
                      if "read" in app.view("cache").marks_of(row)}
            wanted = {entry_of(r.name) for r in step.reads if r.kind == "forward"}
            assert marked == wanted, (step.code, marked, wanted)
            seen |= marked
    assert ("x", 3) in seen and ("y", 1) in seen  # the two the hunt found unmarked
