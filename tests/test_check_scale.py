"""The marks and checks of a long scenario (`bpstep check`, and the TUI's verdicts): the work
grows linearly with the stages. Work is counted, not timed: the splits of a code block into
lines, the runs of the scenario, the expressions scanned again while central differences
replay the forward pass. Two scalars are compared without arrays, by numpy's own test."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

import bpstep.core.engine as engine_module
import bpstep.core.expr as expr_module
from bpstep.core.engine import run_text
from counting import counting
from bpstep.core.findings import ATOL, RTOL, magnitude, same
from bpstep.core.gradcheck import STATEMENT_COST, STATEMENT_NODES, check_walk
from bpstep.core.source import CodeBlock
from bpstep.core.verify import verify


def chain(k: int, mistake: bool = False) -> str:
    """k stages v_i = v_{i-1} * w_i + 0.5, and their hand-written backward pass (one wrong
    local gradient at stage 3 when ``mistake``)."""
    forward = ["  v1 = x * w1 + 0.5  #(1)"]
    forward += [f"  v{i} = v{i - 1} * w{i} + 0.5  #({i})" for i in range(2, k + 1)]
    backward = []
    for i in range(k, 1, -1):
        wrong = mistake and i == 3
        backward += [f"  dv{i - 1} = dv{i} * {'v' if wrong else 'w'}{i}  #({i})", f"  dw{i} = dv{i} * v{i - 1}  #({i})"]
    backward += ["  dx = dv1 * w1  #(1)", "  dw1 = dv1 * x  #(1)"]
    inputs = "\n".join(f"  w{i}: {0.9 + 0.01 * (i % 5)}" for i in range(1, k + 1))
    return (f"bpstep: 1\ntitle: chain of {k}\ninputs:\n  x: 0.5\n{inputs}\nforward: |\n" + "\n".join(forward)
            + "\nbackward: |\n" + "\n".join(backward) + "\n")


def test_the_chain_is_right_and_its_mistake_is_found():
    # the scenario of these tests, checked independently: dx is the product of the w's
    walk = run_text(chain(6), "chain6.yaml")
    dx = walk.gradients_at(walk.total)["dx"]
    assert dx == pytest.approx(math.prod(0.9 + 0.01 * (i % 5) for i in range(1, 7)), rel=1e-12)
    assert verify(walk).first is None
    wrong = verify(run_text(chain(6, mistake=True), "wrong.yaml")).first
    assert wrong is not None and wrong.stage == 3 and wrong.gradient == "dv2"


def lines_split(k: int, monkeypatch) -> int:
    walk = run_text(chain(k), f"chain{k}.yaml")
    calls = []
    original = CodeBlock.lines
    monkeypatch.setattr(CodeBlock, "lines", lambda self: calls.append(self.key) or original(self))
    assert verify(walk).first is None
    monkeypatch.undo()
    return len(calls)


def test_the_derivation_splits_each_block_once_not_once_per_stage(monkeypatch):
    # a dict's setdefault evaluated its default, the whole block split, for every stage:
    # quadratic, 2.3 of the 5.6 seconds the TUI's checks took at 10,000 stages
    assert lines_split(10, monkeypatch) == lines_split(40, monkeypatch)


def test_verify_runs_the_scenario_once_for_its_reference(monkeypatch):
    walk = run_text(chain(8), "chain8.yaml")
    runs = []
    original = engine_module._run
    monkeypatch.setattr(engine_module, "_run", lambda *a: runs.append(a) or original(*a))
    verification = verify(walk)
    assert verification.reference is not None and verification.first is None
    # the derivation reuses the walk's forward pass and cache; only the reference is run
    assert len(runs) == 1


def test_the_replays_of_central_differences_do_not_scan_expressions_again(monkeypatch):
    walk = run_text(chain(12), "chain12.yaml")
    scans = []
    original = expr_module.scan
    monkeypatch.setattr(expr_module, "scan", lambda node: scans.append(node) or original(node))
    report = check_walk(walk)
    assert report.get("dx").verdict == "good"
    # each replay re-evaluates up to 12 statements, for each of 13 inputs' elements, twice;
    # their depths were computed when they were parsed
    assert scans == []


def reference_same(a: float, b: float, scale: float) -> bool:
    """numpy's own test, as ``same`` documents it."""
    top = 1.0
    if np.isfinite(b):
        top = max(top, abs(float(b)))
    with np.errstate(all="ignore"):
        return bool(np.allclose(np.float64(a), np.float64(b), rtol=RTOL, atol=ATOL * max(scale, top),
                                equal_nan=True))


SPECIAL = [0.0, -0.0, 1.0, -1.0, 1e-12, 1e-9, 3e-9, 1e300, -1e300, math.inf, -math.inf, math.nan,
           3.0, 3.000001, 3.00001, 5e-324]


@pytest.mark.parametrize("a", SPECIAL)
@pytest.mark.parametrize("b", SPECIAL)
def test_two_scalars_compare_as_numpy_compares_them(a, b):
    for scale in (1.0, 1e3):
        assert same(np.float64(a), np.float64(b), scale) == reference_same(a, b, scale)
        assert same(a, b, scale) == reference_same(a, b, scale)
    assert magnitude([np.float64(b)]) == magnitude([np.array([b])])


def test_two_scalars_whose_difference_overflows_compare_without_a_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's scalar subtraction warned of the overflow
        assert not same(np.float64(1e308), np.float64(-1e308))
        assert not same(np.float64(-1.7e308), np.float64(1.7e308), 1e3)
        assert same(np.float64(1.7e308), np.float64(1.7e308))


def test_random_scalars_near_the_tolerance_compare_as_numpy_compares_them():
    rng = random.Random(7)
    for _ in range(5000):
        a = rng.choice([1, -1]) * 10 ** rng.uniform(-12, 12)
        b = a * (1 + rng.choice([0.0, 5e-7, 1e-6, 1.5e-6, 1e-5]) * rng.choice([1, -1]))
        scale = rng.choice([1.0, 10.0, 1e6])
        assert same(np.float64(a), np.float64(b), scale) == reference_same(a, b, scale), (a, b, scale)


def shared(k: int) -> str:
    """k stages v_i = v_{i-1} * w + 0.5 sharing one weight w, with their backward pass."""
    forward = ["  v1 = x * w + 0.5  #(1)"] + [f"  v{i} = v{i - 1} * w + 0.5  #({i})" for i in range(2, k + 1)]
    backward = []
    for i in range(k, 1, -1):
        backward += [f"  dv{i - 1} = dv{i} * w  #({i})", f"  dw {'=' if i == k else '+='} dv{i} * v{i - 1}  #({i})"]
    backward += ["  dx = dv1 * w  #(1)", "  dw += dv1 * x  #(1)"]
    return ("bpstep: 1\ntitle: shared weight\ninputs:\n  x: 0.5\n  w: 0.9\nforward: |\n" + "\n".join(forward)
            + "\nbackward: |\n" + "\n".join(backward) + "\n")


def test_a_long_scenarios_inputs_are_checked_before_its_other_values():
    # the budget is too small for everything: both inputs still get their checks (each costs
    # two whole forward passes), and the values get what is left, those nearer the output
    # (shorter replays) first. Shared among all the values at once, the inputs were skipped.
    walk = run_text(shared(200), "shared.yaml")
    dx = walk.gradients_at(walk.total)["dx"]
    assert dx == pytest.approx(0.9 ** 200, rel=1e-9)  # independent: d v200 / dx = w^200
    report = check_walk(walk, budget=10_000_000)
    assert report.get("dx").verdict == "good" and report.get("dw").verdict == "good"
    others = [r for name, r in report.results.items() if name not in ("dx", "dw")]
    assert len(others) == 199 and all(r.verdict in ("good", "skipped") for r in others)
    assert any(r.verdict == "skipped" for r in others)  # the budget did bind
    assert report.get("dv199").verdict == "good"  # the shortest replay


def large_inputs(n: int) -> str:
    return (f"bpstep: 1\ntitle: large inputs\nseed: 1\ninputs: |\n  A = np.random.randn({n}, {n})\n"
            f"  B = np.random.randn({n}, {n})\nforward: |\n  C = A.dot(B) * 0.1\n  D = C.dot(B) * 0.1\n"
            "  E = np.tanh(D)\n  L = np.sum(E * E)\n")


def test_large_inputs_leave_half_the_budget_to_the_values_between():
    # two 30x30 inputs could take the whole budget (two replays of the whole forward pass for
    # each element checked); capped at half, C and D between them and the output are checked too
    walk = run_text(large_inputs(30), "large.yaml")
    report = check_walk(walk, budget=2_000_000)
    checked = {name: r.checked for name, r in report.results.items()}
    assert all(count > 0 for count in checked.values()), checked  # with the whole budget: dC 0
    assert all(r.verdict == "good" for r in report.results.values())


def test_the_forward_values_of_re_bound_names_are_found_in_one_pass():
    # a = a * 1, 60 times: 60 earlier versions, each read by the backward pass as a_k; their
    # values were found by a scan of the whole cache each (255 s for 'bpstep check' at 40,000)
    from bpstep.core.records import replace
    from bpstep.core.verify import _forward_env

    forward = "\n".join(["  a = x * 1.5"] + ["  a = a * 1.01"] * 60)
    walk = run_text(f"bpstep: 1\ntitle: re-bound\ninputs:\n  x: 2\nforward: |\n{forward}\n", "rebound.yaml")
    assert len(walk.aliases) == 60
    cache = counting(tuple)(walk.cache)
    env = _forward_env(replace(walk, cache=cache))
    assert cache.loops <= 2
    # a#1 = 3, a#k = 3 * 1.01^(k-1): the aliases a_1 .. a_60 hold the earlier versions
    assert env["a_1"] == pytest.approx(3.0) and env["a_60"] == pytest.approx(3 * 1.01 ** 59)
    assert env["a"] == pytest.approx(3 * 1.01 ** 60)


def balanced(terms: int) -> str:
    """A sum of ``terms`` constants as a balanced tree (a flat one nests as deep as it is long)."""
    if terms == 1:
        return "0.001"
    return f"({balanced(terms // 2)} + {balanced(terms - terms // 2)})"


def long_sums(stages: int, terms: int) -> str:
    """Each stage adds a long sum of constants: v_i = v_(i-1) + (0.001 + 0.001 + ...)."""
    ones = balanced(terms)
    forward = ["  v1 = x * 1.5"] + [f"  v{i} = v{i - 1} + ({ones})" for i in range(2, stages + 1)]
    return "bpstep: 1\ntitle: long sums\ninputs:\n  x: 0.5\nforward: |\n" + "\n".join(forward) + "\n"


def test_the_checks_budget_charges_a_long_expression_by_its_length(monkeypatch):
    # a statement was charged as one, however long: 400 stages of 500 terms took 84 s
    import bpstep.core.gradcheck as gradcheck_module

    walk = run_text(long_sums(30, 200), "long.yaml")
    evaluated = []
    evaluate = gradcheck_module.Walker.evaluate
    monkeypatch.setattr(gradcheck_module.Walker, "evaluate",
                        lambda self, node, depth=None: evaluated.append(1) or evaluate(self, node, depth))
    budget = 30_000_000
    report = check_walk(walk, budget=budget)
    assert report.get("dx").verdict == "good"  # d v30 / dx = 1.5, and the check says so
    assert walk.gradients_at(walk.total)["dx"] == pytest.approx(1.5)
    # each of those statements is charged for its syntax nodes, so the budget pays for about
    # as many nodes as it would in short statements: far fewer long statements (it paid for
    # as many statements: 960 of them here, against 162)
    import ast

    nodes = sum(1 for _ in ast.walk(walk.forward[1].value))
    assert nodes > 500
    short = STATEMENT_NODES * budget // STATEMENT_COST
    assert len(evaluated) * nodes <= 3 * short



def test_when_only_some_inputs_fit_the_first_ones_are_checked():
    # f = x0 + x1 + ... + x59, one stage each: every input's check replays all 60 stages twice.
    # Shared fairly, each input's share was too small until the unused budget piled up for the
    # last ones: the inputs checked were the file's last, not its first.
    n = 60
    inputs = "\n".join(f"  x{i}: {0.5 + i / 100}" for i in range(n))
    forward = "\n".join(["  f = x0 * 1.0"] + [f"  f = f + x{i}" for i in range(1, n)])
    walk = run_text(f"bpstep: 1\ntitle: many inputs\ninputs:\n{inputs}\nforward: |\n{forward}\n", "many.yaml")
    report = check_walk(walk, budget=5_000_000)
    verdicts = [report.get(f"dx{i}").verdict for i in range(n)]
    checked = [i for i, v in enumerate(verdicts) if v != "skipped"]
    assert checked and checked == list(range(len(checked))) and len(checked) < n  # a prefix, in order
    assert all(verdicts[i] == "good" for i in checked)  # df/dx_i = 1 for each of them
    assert all(walk.gradients_at(walk.total)[f"dx{i}"] == 1.0 for i in range(n))


def test_the_checks_pause_the_garbage_collector_and_give_it_back():
    """At 100,000 stages the checks took 19 s, 8 of them in the cyclic collector traversing the
    objects they make, up to 0.9 s at a time (the TUI's keys waited for it). Counted, not timed:
    no collection starts while they run but the one each asks for at its end, and the
    collector is on again afterwards."""
    import gc

    walk = run_text(chain(2000), "chain2000.yaml")
    started = []
    callback = lambda phase, info: phase == "start" and started.append(info["generation"])  # noqa: E731
    assert gc.isenabled()
    gc.callbacks.append(callback)
    try:
        assert verify(walk).first is None
        report = check_walk(walk)
    finally:
        gc.callbacks.remove(callback)
    assert started == [2, 2] and gc.isenabled()  # only the one pass each asks for at its end (see below)
    assert report.results["dx"].verdict == "good"
    # paused, not turned off: a collection still starts when asked for (the callback sees it)
    started.clear()
    gc.callbacks.append(callback)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(callback)
    assert started == [2]


def test_garbage_made_while_the_checks_pause_the_collector_is_collected_not_frozen():
    """A review: the pause is the whole process's, and what the checks left was frozen for good,
    other threads' garbage of those seconds included (the TUI's: 15,000 objects at 10,000
    stages). Garbage made after the checks' reference run is collected before the freeze."""
    import gc
    import weakref

    from bpstep.core.expr import bulk

    class Node:
        pass

    def cycle() -> weakref.ref:
        a, b = Node(), Node()
        a.other, b.other = b, a
        return weakref.ref(a)

    with bulk(collect=True):
        inner = cycle()  # as another thread's garbage would be, while the collector is paused
    assert inner() is None and gc.isenabled()
    older = cycle()
    held = older()  # alive through a collection: promoted out of the young generation
    gc.collect(0)
    with bulk(collect=True):
        del held  # a review: garbage from before the pause, dropped during it, was frozen for good
    assert older() is None
    with bulk():  # a run's own pause: no pass over what it made (its walk is frozen as it is)
        kept = cycle()
    assert kept() is not None and gc.isenabled()
    gc.unfreeze()  # let this test's own garbage go again
    gc.collect()
    gc.freeze()
    assert kept() is None
