"""The UI's pure layer (bpstep/ui/state.py, detail.py): what a position highlights."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from app_support import COMPLEX, MATMUL, complex_contributions, close
from bpstep.core.engine import load_walk, run_text
from bpstep.ui.detail import MAX_ELEMENTS, gradient_detail, matrix
from bpstep.ui.state import Index, changed_names, comment_of, focus_at, position_text, touched_steps

REF = complex_contributions()


def test_comment_loses_its_stage_marker():
    assert comment_of("sigy = 1.0 / (1 + math.exp(-y)) # sigmoid in numerator #(1)") == "# sigmoid in numerator"
    assert comment_of("xpy = x + y #(4)") == ""
    assert comment_of("dx += ((1 - sigx) * sigx) * dsigx # Notice += !! See notes below #(3)") == \
        "# Notice += !! See notes below"
    assert comment_of("a = (1 +\n     2)  # two lines") == "# two lines"
    assert comment_of("b = 2") == ""
    assert comment_of("a = (1 +\n     2)") == "" and comment_of("# only #(3)") == "# only"
    assert comment_of("v = x #(12)\t") == "" and comment_of("v = x #(12) # why") == "# why"
    assert comment_of("v = (x # a\n  ) #(3)") == ""  # the last line's comment


@pytest.mark.parametrize("text", [
    open(COMPLEX, encoding="utf-8").read(), open(MATMUL, encoding="utf-8").read(),
    "bpstep: 1\ntitle: re-bound\ninputs:\n  x: 2.0\nforward: |\n  c = x * 3\n  c += c * 2\n  y = c * x\n"
    "backward: |\n  dc = x * dy\n  dx = c * dy\n  dc_1 = 3 * dc #(2)\n  dx += 3 * dc_1 #(1)\n",
])
def test_the_index_is_what_a_walk_through_the_steps_finds(text):
    """Index builds its maps from pairs (dict(zip(...))); here they are found one step at a time."""
    walk = run_text(text)
    index = Index(walk)
    first, last = {}, {}
    for position in range(1, walk.total + 1):
        stage = walk.step(position).stage
        first.setdefault(stage, position)
        last[stage] = position
    assert index.stage_first == first and index.stage_last == last
    rows = {}
    for row, entry in enumerate(walk.cache):
        rows[walk.value_name(entry)] = row
    assert index.cache_row == rows and ("c_1" in rows) == ("c_1" in text)
    assert index.forward_row == {s.stage: row for row, s in enumerate(walk.forward)}
    assert index.max_stage == max(s.stage for s in walk.forward)


def test_the_widest_value_is_found_with_each_number_formatted_once():
    from bpstep.core.values import brief
    from bpstep.ui.panes import _widest_brief

    rng = np.random.default_rng(4)
    numbers = [np.float64(v) for v in rng.normal(0, 1e3, 300)] + [np.float64(v) for v in
                                                                   (-0.0, 0.0, np.nan, -np.inf, -1e300, 3.0, -99999.0)]
    for values in (numbers, numbers[:5], [np.ones((2, 3)) * -1.5, np.float64(2)], [np.zeros(40)], [np.float64(-0.0)]):
        assert _widest_brief(values) == max(len(brief(v)) for v in values)


def test_focus_of_the_stage_2_accumulation():
    walk = load_walk(COMPLEX)
    focus = focus_at(walk, 10)
    assert focus.step.code == "dx += (1) * dnum" and focus.stage == 2 and focus.target == "dx"
    assert focus.gradient_reads == {"dnum"} and focus.forward_reads == set()
    start = focus_at(walk, 0)
    assert start.step is None and start.stage == 8 and start.target is None


def test_position_text_and_stage_states():
    walk = load_walk(COMPLEX)
    index = Index(walk)
    assert position_text(walk, index, 0) == "stage 8 of 8 · step 0 of 12"
    assert position_text(walk, index, 10) == "stage 2 of 8 · step 10 of 12"
    assert [index.stage_state(s, 4) for s in (8, 7, 6, 5)] == ["done", "done", "current", "pending"]
    assert index.stage_last[2] == 11 and index.stage_first[2] == 10


def test_changed_names_compares_values_not_writes():
    text = textwrap.dedent("""\
        bpstep: 1
        title: t
        inputs:
          x: 2
        forward: |
          a = x * 1
          b = a * 1
        backward: |
          da = 1.0 * db
          dx = 1.0 * da
          dx = dx * 1
        """)
    walk = run_text(text)
    assert changed_names(walk, 0, 2) == {"da", "dx"}
    assert changed_names(walk, 2, 3) == set()  # dx was written, but to the same value
    assert changed_names(walk, 3, 1) == {"dx"}  # going back: dx has no value at 1


def test_touched_steps_gives_up_on_long_jumps():
    walk = load_walk(COMPLEX)
    assert list(touched_steps(walk, 3, 5)) == [4, 5]
    assert list(touched_steps(walk, 5, 3)) == [4, 5]


def test_gradient_detail_spells_out_the_accumulation():
    walk = load_walk(COMPLEX)
    title, body = gradient_detail(walk, "dx", 10)
    assert title == "dx · gradient · step 10 of 12"
    lines = body.split("\n")
    before = lines[lines.index("before:") + 1]
    contribution = lines[lines.index("+ contribution:") + 1]
    after = lines[lines.index("= after:") + 1]
    assert close(before, REF["dx stage 4"] + REF["dx stage 3"])
    assert close(contribution, REF["dx stage 2"])
    assert close(after, REF["dx stage 4"] + REF["dx stage 3"] + REF["dx stage 2"])
    assert "from stage 4, step 7 (=):" in lines and "from stage 2, step 10 (+=):" in lines
    assert gradient_detail(walk, "dy", 3)[1] == "dy has no value yet at step 3."


def test_the_detail_gives_each_value_to_its_last_digit():
    """A newcomer's run: Enter promised the full value and showed the table's five digits
    (2.0596), which cannot be checked against a hand calculation."""
    walk = load_walk(COMPLEX)
    lines = gradient_detail(walk, "dx", 12)[1].split("\n")
    exact = REF["dx stage 4"] + REF["dx stage 3"] + REF["dx stage 2"]
    assert float(lines[1]) == pytest.approx(exact, rel=1e-13, abs=0) and len(lines[1].strip()) > 12
    rows = matrix(load_walk(MATMUL).cache_value("W"))
    drawn = np.random.RandomState(0).randn(5, 10)  # matmul.yaml: seed 0, W drawn first
    assert [float(x) for x in rows[0].split()] == list(drawn[0])
    assert matrix(np.array([3.0, np.nan, -np.inf, 0.1]))[0].split() == ["3", "nan", "-inf", "0.1"]
    assert matrix(np.array([-0.0, 0.0]))[0].split() == ["-0.0", "0"]  # a review: the sign was lost


def test_huge_arrays_are_cut_in_the_detail():
    import numpy as np

    value = np.arange(3 * MAX_ELEMENTS, dtype=float).reshape(300, -1)
    lines = matrix(value)
    assert len(lines) == 101 and lines[-1] == "  … 200 more rows of 300 not shown"
    assert len(matrix(load_walk(MATMUL).cache_value("W"))) == 5


def test_the_core_and_the_pure_ui_layer_do_not_load_textual():
    code = ("import sys, bpstep.cli, bpstep.core.engine, bpstep.core.report, bpstep.ui.state, "
            "bpstep.ui.detail; print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
