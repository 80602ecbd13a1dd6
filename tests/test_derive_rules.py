"""Every derivative rule, each against a closed form or five-point central differences of a
numpy function written here (not bpstep's walker)."""

from __future__ import annotations

import ast
import math

import numpy as np
import pytest

from bpstep.core.expr import Walker
from bpstep.core.codetext import atom, product_safe, unbroadcast
from bpstep.core.rules import RULES, classify
from bpstep.core.source import CodeBlock
from derive_support import (derived_text, five_point, input_gradient, relative_error, run_text,
                            scenario_text)

rng = np.random.RandomState(7)
X23 = rng.uniform(-1.5, 1.5, (2, 3)).round(3)
Y23 = rng.uniform(-1.5, 1.5, (2, 3)).round(3)
X32 = rng.uniform(-1.5, 1.5, (3, 2)).round(3)
V3 = rng.uniform(-1.5, 1.5, 3).round(3)
V2 = rng.uniform(-1.5, 1.5, 2).round(3)
P23 = rng.uniform(0.5, 2.0, (2, 3)).round(3)  # positive
S = 0.8
sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731

# (id, inputs, forward, output, numpy function of the inputs, code the derivation must contain)
CASES = [
    ("add-broadcast", {"x": X23, "b": V3}, "z = x + b", None, lambda e: e["x"] + e["b"],
     ["dx = (1) * dz", "db = dz.sum(axis=0)"]),
    ("add-keepdims", {"x": X23, "b": [[0.5], [-1.0]]}, "z = x + b", None, lambda e: e["x"] + e["b"],
     ["db = dz.sum(axis=1, keepdims=True)"]),
    ("add-scalar", {"x": X23, "s": S}, "z = s + x", None, lambda e: e["s"] + e["x"], ["ds = np.sum(dz)"]),
    ("sub", {"x": X23, "y": Y23}, "z = x - y", None, lambda e: e["x"] - e["y"], ["dy = (-1) * dz"]),
    ("mul", {"x": X23, "y": Y23}, "z = x * y", None, lambda e: e["x"] * e["y"], ["dx = y * dz", "dy = x * dz"]),
    ("div", {"x": X23, "den": P23}, "z = x / den", None, lambda e: e["x"] / e["den"],
     ["dx = (1 / den) * dz", "dden = (-x / (den**2)) * dz"]),
    ("div-notes", {"den": P23}, "invden = 1.0 / den", None, lambda e: 1.0 / e["den"],
     ["dden = (-1.0 / (den**2)) * dinvden"]),
    ("pow-2", {"xpy": X23}, "xpysqr = xpy**2", None, lambda e: e["xpy"] ** 2, ["dxpy = (2 * xpy) * dxpysqr"]),
    ("pow-3", {"x": X23}, "z = x**3", None, lambda e: e["x"] ** 3, ["(3 * x**2) * dz"]),
    ("pow-half", {"p": P23}, "z = p**0.5", None, lambda e: e["p"] ** 0.5, ["(0.5 * p**-0.5) * dz"]),
    ("pow-negative", {"p": P23}, "z = p**-2", None, lambda e: e["p"] ** -2.0, ["(-2 * p**-3) * dz"]),
    ("pow-variable", {"p": P23, "y": Y23}, "z = p ** y", None, lambda e: e["p"] ** e["y"],
     ["(y * p**(y - 1)) * dz", "(np.log(p) * z) * dz"]),
    ("pow-constant-base", {"y": V3}, "z = 2 ** y", None, lambda e: 2.0 ** e["y"], ["(np.log(2) * z) * dz"]),
    ("neg-pos", {"x": X23, "y": Y23}, "z = -x + (+y)", None, lambda e: -e["x"] + e["y"],
     ["dx = (-1) * dz", "dy = (1) * dz"]),
    ("exp", {"x": X23}, "e = np.exp(x)", None, lambda e: np.exp(e["x"]), ["dx = e * de"]),
    ("exp-inner", {"x": X23}, "z = 2 * np.exp(x)", None, lambda e: 2 * np.exp(e["x"]),
     ["dx = np.exp(x) * 2 * dz"]),
    ("log", {"p": P23}, "z = np.log(p)", None, lambda e: np.log(e["p"]), ["dp = (1 / p) * dz"]),
    ("sqrt", {"p": P23}, "s = np.sqrt(p)", None, lambda e: np.sqrt(e["p"]), ["dp = (0.5 / s) * ds"]),
    ("tanh", {"x": X23}, "t = np.tanh(x)", None, lambda e: np.tanh(e["x"]), ["dx = (1 - t**2) * dt"]),
    ("math-scalar", {"x": S}, "z = math.exp(x) + math.log(x) + math.sqrt(x) + math.tanh(x)", None,
     lambda e: math.exp(e["x"]) + math.log(e["x"]) + math.sqrt(e["x"]) + math.tanh(e["x"]), []),
    ("sigmoid", {"y": -4.0}, "sigy = 1.0 / (1 + math.exp(-y))", None, lambda e: sig(e["y"]),
     ["dy = ((1 - sigy) * sigy) * dsigy"]),
    ("sigmoid-reversed", {"z": X23}, "s = 1 / (np.exp(-z) + 1)", None, lambda e: sig(e["z"]),
     ["dz = ((1 - s) * s) * ds"]),
    ("sigmoid-inner", {"z": X23}, "f = 3 * (1.0 / (1 + np.exp(-z)))", None, lambda e: 3 * sig(e["z"]),
     ["((1 - (1.0 / (1 + np.exp(-z)))) * (1.0 / (1 + np.exp(-z))))"]),
    ("abs", {"x": X23}, "z = abs(x) + np.abs(x)", None, lambda e: 2 * np.abs(e["x"]), ["np.sign(x) * dz"]),
    ("relu", {"z": X23}, "h = np.maximum(0, z)", None, lambda e: np.maximum(0, e["z"]),
     ["dz = (z > 0) * dh"]),
    ("relu-swapped", {"z": X23}, "h = np.maximum(z, 0)", None, lambda e: np.maximum(e["z"], 0),
     ["dz = (z > 0) * dh"]),
    ("maximum", {"x": X23, "y": Y23}, "z = np.maximum(x, y)", None, lambda e: np.maximum(e["x"], e["y"]),
     ["dx = (x >= y) * dz", "dy = (y > x) * dz"]),
    ("minimum", {"x": X23, "y": Y23}, "z = np.minimum(x, y)", None, lambda e: np.minimum(e["x"], e["y"]),
     ["dx = (x <= y) * dz", "dy = (y < x) * dz"]),
    ("max-builtin", {"x": X23, "y": Y23}, "z = max(x, y, 0.1)", None,
     lambda e: np.maximum(np.maximum(e["x"], e["y"]), 0.1), ["dx = (x >= y) * (x > 0.1) * dz"]),
    ("min-builtin", {"x": V3, "y": 0.3}, "z = min(x, y)", None, lambda e: np.minimum(e["x"], e["y"]),
     ["dy = np.sum((y < x) * dz)"]),
    ("max-reduce", {"x": X23}, "m = max(x)", None, lambda e: np.max(e["x"]),
     ["dx = ((x >= m) / np.sum(x >= m)) * dm"]),
    ("min-reduce", {"x": V3}, "m = min(x)", None, lambda e: np.min(e["x"]), ["dx = ((x <= m) / np.sum(x <= m)) * dm"]),
    ("sum", {"x": X23}, "s = np.sum(x)", None, lambda e: np.sum(e["x"]), ["dx = np.ones_like(x) * ds"]),
    ("sum-axis", {"x": X23}, "s = x.sum(axis=0)", None, lambda e: e["x"].sum(axis=0),
     ["dx = np.ones_like(x) * np.expand_dims(ds, 0)"]),
    ("sum-keepdims", {"x": X23}, "s = np.sum(x, axis=1, keepdims=True)", None,
     lambda e: e["x"].sum(axis=1, keepdims=True), ["dx = np.ones_like(x) * ds"]),
    ("mean", {"x": X23}, "m = x.mean()", None, lambda e: e["x"].mean(), ["dx = (np.ones_like(x) / 6) * dm"]),
    ("mean-axis", {"x": X23}, "m = np.mean(x, axis=-1)", None, lambda e: e["x"].mean(axis=-1),
     ["dx = (np.ones_like(x) / 3) * np.expand_dims(dm, 1)"]),
    ("dot", {"W": X23, "X": X32}, "D = W.dot(X)", None, lambda e: e["W"].dot(e["X"]),
     ["dW = dD.dot(X.T)", "dX = W.T.dot(dD)"]),
    ("matmul-at", {"W": X23, "X": X32}, "D = W @ X", None, lambda e: e["W"] @ e["X"],
     ["dW = dD @ X.T", "dX = W.T @ dD"]),
    ("np-dot", {"W": X23, "X": X32}, "D = np.dot(W, X)", None, lambda e: e["W"] @ e["X"],
     ["dW = np.dot(dD, X.T)", "dX = np.dot(W.T, dD)"]),
    ("dot-matrix-vector", {"W": X23, "v": V3}, "y = W.dot(v)", None, lambda e: e["W"] @ e["v"],
     ["dW = np.outer(dy, v)", "dv = W.T.dot(dy)"]),
    ("dot-vector-matrix", {"u": V2, "W": X23}, "y = u.dot(W)", None, lambda e: e["u"] @ e["W"],
     ["du = W.dot(dy)", "dW = np.outer(u, dy)"]),
    ("dot-vector-vector", {"u": V3, "v": V3[::-1].copy()}, "y = u.dot(v)", None, lambda e: e["u"] @ e["v"],
     ["du = v * dy", "dv = u * dy"]),
    ("dot-scalar", {"s": S, "X": X23}, "y = np.dot(s, X)", None, lambda e: e["s"] * e["X"],
     ["ds = np.sum(X * dy)"]),
    ("transpose", {"X": X23, "Y": X32}, "z = X.T * Y", None, lambda e: e["X"].T * e["Y"], ["dX = (Y * dz).T"]),
    ("index", {"w": V3, "x": V2}, "dot = w[0]*x[0] + w[1]*x[1] + w[2]", None,
     lambda e: e["w"][0] * e["x"][0] + e["w"][1] * e["x"][1] + e["w"][2],
     ["dw = scatter(w[0], x[0] * ddot)", "dw += scatter(w[2], ddot)"]),
    ("index-slices", {"X": X23}, "z = X[:, 1] * X[1, ::-1][:2] + X[0][-1] + X[1:, 0]", None,
     lambda e: e["X"][:, 1] * e["X"][1, ::-1][:2] + e["X"][0][-1] + e["X"][1:, 0], ["scatter(X[:, 1], "]),
    ("list", {"a": S, "b": V3}, "v = [a, b[0] * 2, 3.0]", None,
     lambda e: np.array([e["a"], e["b"][0] * 2, 3.0]), ["da = dv[0]", "db = scatter(b[0], 2 * dv[1])"]),
    ("compare", {"x": X23, "y": Y23}, "z = (x > 0) * y", None, lambda e: (e["x"] > 0) * e["y"],
     ["dy = (x > 0) * dz"]),
    ("const", {"x": X23}, "z = x * np.pi + 2", None, lambda e: e["x"] * np.pi + 2, ["dx = np.pi * dz"]),
    ("shape", {"x": V3}, "z = x / x.shape[0]", None, lambda e: e["x"] / 3, ["dx = (1 / x.shape[0]) * dz"]),
    ("outer", {"u": V2, "v": V3}, "z = np.outer(u, v)", None, lambda e: np.outer(e["u"], e["v"]),
     ["du = dz.dot(v)", "dv = dz.T.dot(u)"]),
    ("expand-dims", {"v": V3}, "z = np.expand_dims(v, -1) * v", None, lambda e: e["v"][:, None] * e["v"],
     [".sum(axis=1)"]),
    ("scatter", {"x": X23, "g": V3}, "z = scatter(x[1], g) * x", None,
     lambda e: np.stack([np.zeros(3), e["g"]]) * e["x"], ["dg = (x * dz)[1]"]),
    ("sign-ones-like", {"x": X23, "y": Y23}, "z = np.sign(x) * y + np.ones_like(x) * y", None,
     lambda e: np.sign(e["x"]) * e["y"] + e["y"], ["dy = np.sign(x) * dz"]),
    ("compound", {"x": 1.5}, "z = 2 * x + 2 + x", None, lambda e: 3 * e["x"] + 2,
     ["dx = 2 * dz", "dx += (1) * dz"]),
    ("name-twice", {"a": V3}, "b = a + a", None, lambda e: 2 * e["a"], ["da = (1) * db", "da += (1) * db"]),
    ("bias", {"X": X32, "W1": X23, "b1": V3}, "Z = X.dot(W1) + b1", None, lambda e: e["X"] @ e["W1"] + e["b1"],
     ["db1 = dZ.sum(axis=0)", "dW1 = X.T.dot(dZ)", "dX = dZ.dot(W1.T)"]),
    ("versions-augmented", {"x": V3}, "c = x * 2\nc += c + 1\nf = c * c", None,
     lambda e: (2 * (2 * e["x"]) + 1) ** 2, ["dc_1 = (1) * dc", "dc_1 += (1) * dc", "dx = 2 * dc_1"]),
    ("versions-rebind", {"x": V3}, "c = x + 1\nc = c * c\nc = c * 2\nf = c * x", None,
     lambda e: ((e["x"] + 1) ** 2 * 2) * e["x"], ["dc_2 = 2 * dc", "dc_1 = c_1 * dc_2", "dc_1 += c_1 * dc_2"]),
    ("versions-input", {"x": V3}, "x += 1\nx = np.tanh(x)\nf = x * 3", None, lambda e: np.tanh(e["x"] + 1) * 3,
     ["dx_2 = (1 - x**2) * dx", "dx_1 = (1) * dx_2"]),
    ("versions-output", {"x": V3}, "f = x * x\nf = f * 2", "f", lambda e: e["x"] * e["x"] * 2,
     ["df_1 = 2 * df"]),
]


def _ids(cases):
    return [c[0] for c in cases]


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_rule_against_central_differences(case):
    name, inputs, forward, output, fn, expected = case
    base = fn({k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()})
    upstream = np.random.RandomState(len(name)).uniform(-1, 1, np.shape(base)).round(3)
    if not np.shape(base):
        upstream = float(upstream)
    text = scenario_text(inputs, forward, output=output, upstream=upstream)
    walk = run_text(text)
    assert walk.derived
    assert np.allclose(walk.cache_value(walk.output), base)
    code = derived_text(text)
    for piece in expected:
        assert piece in code, f"{piece!r} not in derived code:\n{code}"

    def total(env):
        return float(np.sum(upstream * fn({k: np.asarray(v, dtype=np.float64) for k, v in env.items()})))

    numeric = five_point(total, {k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()})
    for var, expected_gradient in numeric.items():
        analytic = input_gradient(walk, var)
        if analytic is None:  # no gradient written: it must be zero
            assert np.allclose(expected_gradient, 0, atol=1e-9), var
            continue
        assert np.shape(analytic) == np.shape(inputs[var]) or np.shape(analytic) == np.shape(expected_gradient)
        assert relative_error(analytic, expected_gradient, floor=1e-9) < 1e-7, (var, analytic, expected_gradient)


def test_every_rule_has_a_case():
    seen = set()
    for _, _, forward, *_ in CASES:
        for node in ast.walk(ast.parse(forward)):
            if isinstance(node, ast.expr):
                seen.add(classify(node)[0])
    assert set(RULES) <= seen, set(RULES) - seen


def test_no_gradient_through_comparisons():
    code = derived_text(scenario_text({"x": X23, "y": Y23}, "z = (x > 0) * y"))
    assert "dx" not in code


# -- conventions at ties and kinks: closed forms ----------------------------------------------

def _grads(inputs, forward, upstream=None):
    walk = run_text(scenario_text(inputs, forward, upstream=upstream))
    return {name: input_gradient(walk, name) for name in inputs}


@pytest.mark.parametrize("forward", ["h = np.maximum(0, z)", "h = np.maximum(z, 0)", "h = max(0, z)",
                                     "h = max(z, 0)"])
def test_relu_derivative_at_zero_is_zero(forward):
    g = _grads({"z": [-1.0, 0.0, 2.0]}, forward)
    assert np.array_equal(g["z"], [0.0, 0.0, 1.0])


def test_minimum_tie_with_constant_goes_to_the_constant():
    g = _grads({"z": [-1.0, 0.0, 2.0]}, "h = np.minimum(z, 0)")
    assert np.array_equal(g["z"], [1.0, 0.0, 0.0])


def test_maximum_tie_between_names_goes_to_the_first():
    g = _grads({"a": [1.0, 2.0], "b": [1.0, 3.0]}, "h = np.maximum(a, b)")
    assert np.array_equal(g["a"], [1.0, 0.0]) and np.array_equal(g["b"], [0.0, 1.0])
    g = _grads({"a": [1.0, 2.0], "b": [1.0, 3.0]}, "h = np.maximum(b, a)")
    assert np.array_equal(g["b"], [1.0, 1.0]) and np.array_equal(g["a"], [0.0, 0.0])


def test_maximum_of_a_name_with_itself_passes_the_whole_gradient():
    g = _grads({"x": [0.5, -2.0]}, "h = np.maximum(x, x)")
    assert np.array_equal(g["x"], [1.0, 1.0])


def test_abs_at_zero_is_zero():
    g = _grads({"x": [-2.0, 0.0, 3.0]}, "h = abs(x)")
    assert np.array_equal(g["x"], [-1.0, 0.0, 1.0])


def test_max_of_one_array_splits_ties_equally():
    g = _grads({"x": [1.0, 3.0, 3.0]}, "m = max(x)", upstream=2.0)
    assert np.array_equal(g["x"], [0.0, 1.0, 1.0])
    g = _grads({"x": [1.0, 1.0, 3.0]}, "m = min(x)")
    assert np.array_equal(g["x"], [0.5, 0.5, 0.0])


# -- the code helpers ---------------------------------------------------------------------------

def test_atom_and_product_safe():
    assert atom("x") == "x" and atom("x[0]") == "x[0]" and atom("np.exp(x)") == "np.exp(x)"
    assert atom("a + b") == "(a + b)" and atom("-x") == "(-x)" and atom("2") == "2"
    assert product_safe("(2 * x) * dz") == "(2 * x) * dz"
    assert product_safe("a - b") == "(a - b)"
    assert product_safe("W.T @ dD") == "(W.T @ dD)"
    assert product_safe("W.T @ dD * 2") == "(W.T @ dD * 2)"


@pytest.mark.parametrize("source,target,expected", [
    ((2, 3), (3,), "g.sum(axis=0)"),
    ((2, 3), (1, 3), "g.sum(axis=0, keepdims=True)"),
    ((2, 3), (2, 1), "g.sum(axis=1, keepdims=True)"),
    ((2, 3), (), "np.sum(g)"),
    ((4, 2, 3), (2, 1), "g.sum(axis=0).sum(axis=1, keepdims=True)"),
    ((2, 3), (2, 3), "g"),
])
def test_unbroadcast_sums_back_to_the_shape(source, target, expected):
    code = unbroadcast("g", source, target)
    assert code == expected
    g = np.arange(np.prod(source), dtype=float).reshape(source)
    value = Walker({"g": g}, CodeBlock.at("test", code, 1, 1)).evaluate(ast.parse(code, mode="eval").body)
    assert np.shape(value) == target
    assert np.isclose(np.sum(value), np.sum(g))


def test_a_statement_near_the_line_limit_can_be_derived(tmp_path):
    """A review: a 9,994-character forward line was refused ('line is 10003 characters long', at
    a column past its end): the derived pass's '# backprop' comment repeats the statement. The
    comment is cut; the contribution itself is short: dx = 2 * dy, and y's value is known."""
    from bpstep.core.engine import load_walk

    line = "y = x * 2 + np.sum([" + ", ".join(["1"] * 3324) + "])"  # 9,992 characters, 9,994 indented
    assert len("# backprop " + line) > 10_000 >= len(line) + 2
    path = tmp_path / "long.yaml"
    path.write_text(f"bpstep: 1\ntitle: t\ninputs:\n  x: 2.0\nforward: |\n  {line}\n")
    walk = load_walk(str(path))
    assert walk.derived and walk.final_gradients()["dx"] == 2.0
    assert walk.cache_value("y") == 2.0 * 2 + 3324
