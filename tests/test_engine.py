"""The step engine: positions, stages, contributions, overwrites, versions, attribution."""

import numpy as np
import pytest

from bpstep.core.engine import load_walk, run_text
from bpstep.core.errors import ScenarioError


@pytest.fixture
def complex_walk(scenario_dir):
    return load_walk(str(scenario_dir / "complex.yaml"))


def test_positions_move_by_stage_both_ways(complex_walk):
    w = complex_walk
    forward = [0]
    while forward[-1] < w.total:
        forward.append(w.next_stage(forward[-1]))
    # stage boundaries: after stage 8 (2 steps), 7, 6, 5, 4, 3, 2, 1
    assert forward == [0, 2, 3, 5, 6, 8, 9, 11, 12]
    back = [w.total]
    while back[-1] > 0:
        back.append(w.previous_stage(back[-1]))
    assert back == list(reversed(forward))
    # from the middle of a stage, "next stage" finishes it and "previous" goes to its start
    assert w.next_stage(1) == 2 and w.previous_stage(1) == 0
    assert w.stage_at(0) == 8 and w.stage_at(10) == 2 and w.stage_at(12) == 1
    assert w.stage_position(4) == 8 and w.stage_position(99) is None


def test_values_at_any_position_without_rerunning(complex_walk):
    w = complex_walk
    assert w.value_at("dx", 6) is None
    assert w.value_at("dx", 7) == pytest.approx(1.583186894545187)
    assert w.value_at("dx", 9) == pytest.approx(1.583186894545187 - 0.0357615478)
    assert w.value_at("df", 0) == 1.0
    # going back gives exactly the earlier objects: nothing was recomputed or mutated
    assert w.value_at("dx", 7) is w.steps[6].after
    assert w.gradients_at(0) == {"df": 1.0}
    assert set(w.gradients_at(12)) >= {"dx", "dy", "dnum", "dinven"}


def test_accumulation_records_before_contribution_after(complex_walk):
    step = complex_walk.step(10)
    assert (step.op, step.target, step.stage) == ("+=", "dx", 2)
    assert step.before is complex_walk.step(9).after
    assert step.after == pytest.approx(step.before + step.contribution)
    assert step.previous == 9
    assert [(r.name, r.kind) for r in step.reads] == [("dnum", "gradient")]
    reads = {(r.name, r.kind) for r in complex_walk.step(3).reads}
    assert reads == {("den", "forward"), ("dinven", "local")}


def test_contributions_carry_their_stage(complex_walk):
    contribs = complex_walk.contributions_at("dx", 12)
    assert [(c.stage, c.op) for c in contribs] == [(4, "="), (3, "+="), (2, "+=")]
    assert sum(c.value for c in contribs) == pytest.approx(complex_walk.final_gradients()["dx"])
    assert [c.stage for c in complex_walk.contributions_at("dx", 9)] == [4, 3]


def test_steps_are_immutable(complex_walk):
    step = complex_walk.step(1)
    with pytest.raises(AttributeError):
        step.after = 0
    arrays = load_walk("scenarios/matmul.yaml")
    with pytest.raises(ValueError):
        arrays.step(1).after[0, 0] = 1.0


OVERWRITE = """
bpstep: 1
title: overwrite bug
inputs: {x: 3.0}
forward: |
  a = x * 2
  b = x * 3
  f = a + b
backward: |
  da = df
  db = df
  dx = 3 * db #(2)
  dx = 2 * da #(1)
"""


def test_overwrite_at_a_fork_is_flagged():
    w = run_text(OVERWRITE)
    last = w.step(4)
    assert last.op == "=" and last.overwrites == (2,)
    contribs = w.contributions_at("dx", 4)
    assert [(c.stage, c.discarded) for c in contribs] == [(2, True), (1, False)]
    assert w.final_gradients()["dx"] == 2.0  # the bug's result, shown as it is (true value: 5)


def test_unmarked_backward_lines_are_attributed_to_the_reading_stage():
    w = run_text("""
bpstep: 1
title: attribution
inputs: {x: 2.0, y: 5.0}
forward: |
  a = x * y
  b = a * x
  f = b + a
backward: |
  db = df
  da = df
  da += x * db
  dx = a * db
  dx += y * da
  dy = x * da
""")
    # db: only stage 3 reads b. da: stages 2 and 3 read a; 'da = df' reads df (f is stage 3's
    # output) and 'da += x * db' reads db (stage 2's output). dx: stages 1 and 2 read x.
    assert [s.stage for s in w.steps] == [3, 3, 2, 2, 1, 1]
    f = lambda x, y: (x * y) * x + x * y
    h = 1e-6
    assert w.final_gradients()["dx"] == pytest.approx((f(2 + h, 5) - f(2 - h, 5)) / (2 * h), rel=1e-7)
    assert w.final_gradients()["dy"] == pytest.approx((f(2, 5 + h) - f(2, 5 - h)) / (2 * h), rel=1e-7)


def test_ambiguous_backward_line_asks_for_a_marker():
    with pytest.raises(ScenarioError) as err:
        run_text("""bpstep: 1
title: t
inputs: {x: 2.0}
forward: |
  a = x * 2
  b = x * 3
  f = a + b
backward: |
  dx = 1.0
""", path="amb.yaml")
    assert err.value.line == 9 and err.value.col == 3
    assert "read by stages 1 and 2" in err.value.message and "#(n)" in err.value.message


def test_rebound_forward_names_are_versions():
    w = run_text("""bpstep: 1
title: versions
inputs: {c: 2.0}
forward: |
  c += c + 1
  c = c * 3
backward: |
  dc = 3 * dc #(2)
""")
    assert [(e.label, e.stage, float(e.value)) for e in w.cache] == [
        ("c", None, 2.0), ("c#2", 1, 5.0), ("c#3", 2, 15.0)]  # 2 + (2 + 1), then * 3
    assert w.output == "c"


def test_backward_stages_run_in_reverse_even_when_written_out_of_order():
    w = run_text("""bpstep: 1
title: order
inputs: {x: 2.0}
forward: |
  a = x * 2
  f = a * a
backward: |
  dx = 2 * da #(1)
  da = 2 * a * df #(2)
""")
    assert [s.stage for s in w.steps] == [2, 1]
    assert w.final_gradients()["dx"] == pytest.approx(8 * 2.0)  # f = (2x)^2, f' = 8x


def test_upstream_code_block_and_default_ones():
    w = run_text("""bpstep: 1
title: up
seed: 3
inputs: {v: [1.0, 2.0, 3.0]}
forward: |
  y = v * 2
upstream: |
  dy = np.random.rand(*y.shape)
backward: |
  dv = 2 * dy
""")
    expected = np.random.RandomState(3).rand(3)
    np.testing.assert_allclose(w.upstream, expected)
    np.testing.assert_allclose(w.final_gradients()["dv"], 2 * expected)
    plain = run_text("bpstep: 1\ntitle: t\ninputs: {v: [1.0, 2.0]}\nforward: |\n  y = v * 2\n")
    np.testing.assert_array_equal(plain.upstream, [1.0, 1.0])
    assert plain.derived and plain.total == 1  # no backward: block, so bpstep derived it
    np.testing.assert_array_equal(plain.final_gradients()["dv"], [2.0, 2.0])


def test_numerical_trouble_is_a_value_not_a_crash():
    w = run_text("""bpstep: 1
title: trouble
inputs: {x: 0.0}
forward: |
  a = 1.0 / x
  b = np.log(x) * 0
  f = a + b
backward: |
  da = df
  db = df
  dx = -1.0 / (x**2) * da
""")
    assert np.isinf(w.cache_value("a")) and np.isnan(w.cache_value("b"))
    assert np.isinf(w.final_gradients()["dx"])


def test_gradient_of_an_earlier_version_belongs_to_the_stage_that_read_it():
    """x is re-bound; dx_1 (the input's gradient) without a marker goes to stage 1, which read
    x#1, not to the stage of the line before it. f = 3 * (2x + 1), so df/dx = 6."""
    w = run_text("""bpstep: 1
title: rebound
inputs: {x: 1.5}
forward: |
  a = x * 2
  x = a + 1
  f = x * 3
backward: |
  dx = 3 * df
  da = dx
  dx_1 = 2 * da
""")
    assert [(s.target, s.stage) for s in w.steps] == [("dx", 3), ("da", 2), ("dx_1", 1)]
    assert w.final_gradients()["dx_1"] == pytest.approx(6.0)


def test_the_run_budget_counts_what_accumulations_keep():
    """Each += keeps its contribution and a new sum: both count against --max-total-elements."""
    from bpstep.core.expr import Limits

    text = """bpstep: 1
title: budget
inputs: |
  x = np.random.rand(10, 10)
forward: |
  a = x * 2
  f = a * 3
backward: |
  da = 3 * df
  da += 1 * df
  da += 2 * df
  dx = 2 * da
"""
    # kept, 100 elements each: x, a, f; da, its 2 contributions and 2 sums, dx (900 in all;
    # without counting the sums, 700, and 800 would pass)
    run_text(text, limits=Limits(max_total_elements=900))
    with pytest.raises(ScenarioError) as err:
        run_text(text, limits=Limits(max_total_elements=800))
    assert "limit for a whole run is 800" in err.value.message



def test_the_run_budget_stops_at_the_same_quick_line_as_at_a_parsed_one(monkeypatch):
    """A quick line's value (one number) is counted by the engine's loops themselves: for every
    limit, the run stops at the statement where the kept values pass it, as when every line is
    parsed and walked; each number more lets the run go one statement further."""
    from bpstep.core import program
    from bpstep.core.expr import Limits

    # f = (3x + x) 3x - 1 = 12 x^2 - 1: df/dx = 24 x = 48 at x = 2
    text = ("bpstep: 1\ntitle: budget\ninputs:\n  x: 2.0\nforward: |\n  v1 = x * 3\n  v2 = v1 + x\n"
            "  v3 = v2 * v1\n  v4 = v3 - 1\nbackward: |\n  dv3 = dv4\n  dv2 = dv3 * v1\n  dv1 = dv3 * v2\n"
            "  dv1 += dv2\n  dx = dv2\n  dx += 3 * dv1\n")

    def outcomes():
        found = []
        for limit in range(1, 20):
            try:
                found.append(run_text(text, limits=Limits(max_total_elements=limit)).final_gradients()["dx"])
            except ScenarioError as exc:
                assert f"limit for a whole run is {limit}" in exc.message
                found.append(exc.line)
        return found

    fast = outcomes()
    monkeypatch.setattr(program, "_quick_body", lambda *args: None)  # every line parsed and walked
    assert fast == outcomes()
    lines = [item for item in fast if isinstance(item, int)]
    assert lines == sorted(lines) and len(set(lines)) >= 9  # forward and backward statements, in order
    assert fast[len(lines):] == [pytest.approx(48.0)] * (len(fast) - len(lines))


def test_the_gradients_of_earlier_versions_are_gradients():
    """dc_1 is the gradient of c#1 (an earlier version of a re-bound c): its step, and every
    read of it, say so, and no hint calls it a misspelling. f = (3x)^2 + x: df/dx = 18x + 1."""
    walk = run_text("bpstep: 1\ntitle: rebound\ninputs:\n  x: 2.0\nforward: |\n  c = x * 3 #(1)\n"
                    "  c = c * c #(2)\n  f = c + x #(3)\nbackward: |\n  dc = df #(3)\n  dx = df #(3)\n"
                    "  dc_1 = 2 * c_1 * dc #(2)\n  dx += 3 * dc_1 #(1)\n")
    assert walk.final_gradients()["dx"] == pytest.approx(18 * 2.0 + 1)
    by_target = {step.target: step for step in walk.steps}
    assert by_target["dc_1"].gradient_of == "c_1" and by_target["dc"].gradient_of == "c"
    kinds = {read.name: read.kind for step in walk.steps for read in step.reads}
    assert kinds == {"df": "gradient", "dc": "gradient", "c_1": "forward", "dc_1": "gradient"}
    assert walk.hints == ()
    assert walk.gradient_label("dc_1") == "c#1" and walk.gradient_label("dc") == "c#2"
