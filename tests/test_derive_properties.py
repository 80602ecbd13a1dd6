"""Property test: derived gradients of random forward passes agree with central differences.

Each random graph (see ``graphs.py``) is bpstep code plus an independent numpy function. The
derived gradient of every input is compared with five-point central differences of
``sum(upstream * output)`` computed on the numpy function; graphs whose nudged evaluations
overflow or cross a kink are rejected (the kink conventions have their own unit tests).
The derived code, pasted back as a ``backward:`` block, must give the same gradients.
Hypothesis draws the graphs of the first test (and shrinks a failure); a fixed seeded corpus,
the same in every process, is checked the same way and must cover every rule.

Set BPSTEP_GRAPH_STATS=1 to print the number of graphs and the largest relative error.
"""

from __future__ import annotations

import ast
import os

import numpy as np
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from bpstep.core.rules import RULES, classify
from derive_support import derived_text, input_gradient, relative_error, run_text, scenario_text
from graphs import Drawn, Reject, Seeded, program

GRAPHS = 600  # examples hypothesis runs; the test requires at least 500 to have been checked
CORPUS = 300  # seeded graphs whose coverage of the language is asserted (the same in every process)
H = 1e-4  # the five-point stencil's error is O(h^4)


def numeric_gradients(prog) -> dict:
    """Five-point central differences of sum(upstream * output) on the numpy function; raises
    ``Reject`` when a nudge overflows or changes a kink's branch."""
    base_record: list = []
    prog.total(prog.inputs, base_record)
    out = {}
    for name, value in prog.inputs.items():
        base = np.array(value, dtype=np.float64)
        grad = np.zeros(base.size)
        for i in range(base.size):
            totals = []
            for step in (2 * H, H, -H, -2 * H):
                nudged = base.reshape(-1).copy()
                nudged[i] += step
                env = dict(prog.inputs)
                env[name] = nudged.reshape(base.shape) if base.ndim else np.float64(nudged[0])
                record: list = []
                totals.append(prog.total(env, record))
                if len(record) != len(base_record) or not all(
                        np.array_equal(a, b) for a, b in zip(record, base_record)):
                    raise Reject  # the nudge crossed a kink
            grad[i] = (-totals[0] + 8 * totals[1] - 8 * totals[2] + totals[3]) / (12 * H)
        out[name] = grad.reshape(base.shape) if base.ndim else grad[0]
    return out


def check_program(prog, stats: dict) -> None:
    stats["attempts"] += 1
    numeric = numeric_gradients(prog)
    text = scenario_text(prog.inputs, prog.forward, output=prog.output, upstream=prog.upstream)
    walk = run_text(text)
    assert walk.derived
    assert np.allclose(walk.cache_value(prog.output), prog.evaluate(prog.inputs, []), rtol=1e-12, atol=1e-12)
    for name, expected in numeric.items():
        analytic = input_gradient(walk, name)
        if analytic is None:
            analytic = np.zeros(np.shape(expected))
        assert np.shape(analytic) == np.shape(expected), (name, text)
        biggest = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
        tolerance = 1e-6 * biggest + 1e-8
        assert np.all(np.abs(np.asarray(analytic) - expected) <= tolerance), (name, analytic, expected, text)
        error = relative_error(analytic, expected, floor=1e-8 * max(1.0, biggest))
        if error > stats["max_error"]:
            stats["max_error"], stats["worst"] = error, text
    # pasted back as the backward: block, the derived code runs and gives the same gradients
    pasted = run_text(scenario_text(prog.inputs, prog.forward, output=prog.output, upstream=prog.upstream,
                                    backward=derived_text(text)))
    assert not pasted.derived
    derived_state, pasted_state = walk.gradients_at(walk.total), pasted.gradients_at(pasted.total)
    assert derived_state.keys() == pasted_state.keys()
    assert all(np.array_equal(derived_state[k], pasted_state[k]) for k in derived_state)
    stats["graphs"] += 1
    stats["kinds"] |= prog.kinds
    for node in ast.walk(ast.parse(prog.forward)):
        if isinstance(node, ast.expr):
            stats["rules"].add(classify(node)[0])
    stats["statements"] += len(prog.statements)
    stats["rebinds"] += sum(1 for t, _, _ in prog.statements if t in prog.inputs or
                            sum(1 for u, _, _ in prog.statements if u == t) > 1)


def new_stats() -> dict:
    return {"graphs": 0, "max_error": 0.0, "worst": "", "kinds": set(), "rules": set(),
            "statements": 0, "rebinds": 0, "attempts": 0}


def print_stats(label: str, stats: dict) -> None:
    if os.environ.get("BPSTEP_GRAPH_STATS"):
        print(f"\n{label}: {stats['graphs']} graphs checked ({stats['attempts']} drawn), {stats['statements']} "
              f"statements, {stats['rebinds']} re-bound; largest relative error {stats['max_error']:.3e}\n"
              f"{stats['worst']}")


def test_random_graphs_agree_with_central_differences():
    stats = new_stats()

    @settings(max_examples=GRAPHS, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def graph(data):
        try:
            check_program(program(Drawn(data)), stats)
        except Reject:
            reject()

    graph()
    print_stats("hypothesis", stats)
    assert stats["graphs"] >= 500
    # No coverage assertion here: what hypothesis draws depends on process state (it mixes the
    # literals of every local module in sys.modules into its choices), so the rules a run happens
    # to reach differ between a lone run and the full suite. Coverage is the corpus' job, below.


def test_seeded_corpus_covers_every_rule():
    """The same check over a fixed corpus (``random.Random(seed)`` per graph, identical in every
    process), which must reach every rule of the language and the forms around them."""
    stats = new_stats()
    for seed in range(CORPUS):
        try:
            check_program(program(Seeded(seed)), stats)
        except Reject:
            continue
    print_stats("corpus", stats)
    assert stats["graphs"] >= CORPUS * 9 // 10
    assert set(RULES) <= stats["rules"], set(RULES) - stats["rules"]
    for kind in ("sigmoid", "relu", "cmp", "twice", "augment", "powvar", "reduce-max", "reduce-keepdims",
                 "dot.dot", "dot@", "dotnp.dot", "list", "transpose", "index", "scatter", "outer",
                 "expand_dims", "shape", "sign", "ones_like", "log", "sqrt", "math"):
        assert kind in stats["kinds"], kind
    assert stats["rebinds"] > 50
