"""The whitelisting expression walker: what it computes, and what it refuses (with where)."""

import ast

import numpy as np
import pytest

from bpstep.core.errors import ScenarioError
from bpstep.core.expr import Limits, Walker, names_read, quiet
from bpstep.core.source import CodeBlock


def ev(src, rng=None, limits=Limits(), **env):
    env = {k: (np.asarray(v, dtype=float) if isinstance(v, list) else np.float64(v)) for k, v in env.items()}
    block = CodeBlock.at("test", src, 10, 5)
    tree = ast.parse(src, mode="eval").body
    with quiet():
        return Walker(env, block, rng=rng, limits=limits).evaluate(tree)


def err(src, **kw):
    with pytest.raises(ScenarioError) as info:
        ev(src, **kw)
    return info.value


@pytest.mark.parametrize("src, expected", [
    ("1 + 2 * 3", 7.0),
    ("2 ** 10", 1024.0),
    ("7 / 2", 3.5),
    ("-x + +x", 0.0),
    ("(x > 1) + (x < 1) + (x >= 2) + (x <= 2)", 3.0),
    ("math.exp(0) + np.log(1) + np.sqrt(4) + math.tanh(0)", 3.0),
    ("np.maximum(0, x - 5) + np.minimum(x, 1)", 1.0),
    ("abs(-x) + max(1, x, 3) + min(x, 0)", 5.0),
    ("np.abs(-1.5)", 1.5),
    ("np.pi - math.pi", 0.0),
])
def test_scalars(src, expected):
    assert ev(src, x=2.0) == pytest.approx(expected)


def test_arrays_lists_subscripts_and_methods():
    W = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    np.testing.assert_array_equal(ev("[w[0] * 2, w[1]]", w=[1.0, 2.0]), [2.0, 2.0])
    np.testing.assert_array_equal(ev("W.T", W=W), np.array(W).T)
    np.testing.assert_array_equal(ev("W.dot(v)", W=W, v=[1.0, 1.0]), [3.0, 7.0, 11.0])
    np.testing.assert_array_equal(ev("W @ W.T", W=W), np.array(W) @ np.array(W).T)
    np.testing.assert_array_equal(ev("np.dot(v, v)", v=[1.0, 2.0]), 5.0)
    np.testing.assert_array_equal(ev("W.sum(axis=0)", W=W), [9.0, 12.0])
    assert ev("W.sum(axis=1, keepdims=True)", W=W).shape == (3, 1)
    assert ev("np.mean(W)", W=W) == pytest.approx(3.5)
    # a scalar's one axis (a bad-input hunt: numpy's mean refuses axis=0 of a scalar, its sum
    # takes it, and the AxisError was reported as a bug in bpstep)
    for text in ("np.mean(x, axis=0)", "x.mean(axis=-1)", "np.sum(x, axis=0)", "x.mean(axis=0, keepdims=True)"):
        assert ev(text, x=2.5) == 2.5 and np.shape(ev(text, x=2.5)) == (), text
    np.testing.assert_array_equal(ev("W[1:, -1]", W=W), [4.0, 6.0])
    assert ev("W[2, 0]", W=W) == 5.0
    assert ev("W.shape[0] + W.shape[1]", W=W) == 5.0
    np.testing.assert_array_equal(ev("dH * (Z > 0)", dH=[1.0, 2.0, 3.0], Z=[-1.0, 0.0, 1.0]), [0.0, 0.0, 3.0])
    assert not ev("W.T", W=W).flags.writeable


def test_random_only_with_a_generator():
    a = ev("np.random.randn(*W.shape)", rng=np.random.RandomState(0), W=[[1.0, 2.0]])
    np.testing.assert_array_equal(a, np.random.RandomState(0).randn(1, 2))
    e = err("np.random.randn(2, 2)")
    assert "inputs and upstream only" in e.message


def test_names_read_skips_functions():
    assert names_read(ast.parse("np.exp(-x) + W.dot(X.T) * y + abs(z)", mode="eval")) == ["x", "W", "X", "y", "z"]


@pytest.mark.parametrize("src, col, words", [
    ("x.__class__", 5, "attribute '.__class__' is not allowed"),
    ("__import__('os')", 5, "calling '__import__'"),
    ("getattr(x, 'T')", 5, "calling 'getattr'"),
    ("open('f')", 5, "calling 'open'"),
    ("exec('1')", 5, "calling 'exec'"),
    ("eval('1')", 5, "calling 'eval'"),
    ("(lambda: 1)()", 6, "lambda is not allowed"),
    ("[i for i in W]", 5, "a comprehension is not allowed"),
    ("f'{x}'", 5, "an f-string is not allowed"),
    ("'%s' % x", 5, "a string is not allowed"),
    ("(y := 2)", 6, "walrus"),
    ("np.ctypeslib", 5, "'np.ctypeslib' is not allowed"),
    ("np.load('x')", 5, "calling 'np.load'"),
    ("np.random.seed(1)", 5, "calling 'np.random.seed'"),
    ("np", 5, "'np' can only be used to call its functions"),
    ("x.sum(out=x)", 11, "only axis=, keepdims="),
    ("np.exp(x, out=x)", 15, "takes no keyword arguments"),
    ("np.exp(**{'a': 1})", 14, "takes no keyword arguments"),
    ("x if x else 1", 5, "conditional"),
    ("x and 1", 5, "and/or"),
    ("x // 2", 5, "FloorDiv"),
    ("x == 1", 5, "comparison Eq"),
    ("1 < x < 3", 5, "chained"),
    ("{1: 2}", 5, "a dict is not allowed"),
    ("x.T.T.reshape(2)", 5, "method '.reshape()'"),
    ("undefined + 1", 5, "name 'undefined' is not defined"),
    ("x(1)", 5, "'x' is a value, not a function"),
    ("np.exp", 5, "np.exp is a function; call it"),
])
def test_refused_with_position(src, col, words):
    e = err(src, x=2.0, W=[1.0, 2.0])
    assert (e.line, e.col) == (10, col)
    assert words in e.message


def test_shape_errors_name_both_shapes():
    e = err("A + B", A=[1.0, 2.0], B=[1.0, 2.0, 3.0])
    assert "shapes (2,) and (3,) do not broadcast" in e.message
    e = err("A.dot(B)", A=[[1.0, 2.0]], B=[[1.0, 2.0]])
    assert "(1, 2) and (1, 2) are not aligned" in e.message
    e = err("A[5]", A=[1.0, 2.0])
    assert "index 5 is out of range" in e.message


def test_budgets_are_checked_before_allocating():
    small = Limits(max_elements=1000)
    e = err("np.random.randn(100000, 100000)", rng=np.random.RandomState(0))
    assert "(100000, 100000)" in e.message and "limit" in e.message
    e = err("A.dot(B)", limits=small, A=[[1.0]] * 100, B=[[1.0] * 100])
    assert "(100, 100)" in e.message and "limit is 1000" in e.message
    e = err("A.dot(B)", limits=Limits(max_matmul_work=10), A=[[1.0] * 4] * 2, B=[[1.0] * 3] * 4)
    assert "multiply-adds" in e.message
    e = err("A + B.T", limits=small, A=[[1.0] * 50], B=[[1.0] * 50])
    assert "(50, 50)" in e.message and "limit is 1000" in e.message


def test_huge_powers_are_quick():
    assert np.isinf(ev("x ** y", x=10.0, y=400.0))  # data that overflows: a flagged value
    e = err("x ** 9 ** 9 ** 9", x=2.0)  # a constant that overflows: a typo
    assert e.col == 10 and "constant power overflows" in e.message  # at 9 ** 9 ** 9
    assert "constant power overflows" in err("10 ** 10 ** 10").message


def test_deep_nesting_is_refused():
    src = "-" * 150 + "x"
    e = err(src, x=1.0)
    assert "nested more than 100 levels" in e.message


@pytest.mark.parametrize("src", [
    "x", "3", "x * y", "x * x", "0.5 * x", "-0.5 * x", "-0.5 * -0.5", "x * -0.5", "-x * y",
    "(x > 0) * dv", "3 * 4", "-(0.5) * x", "x + np.exp(y)", "a @ b.T", "np.sum(d, axis=0) * x",
    "-(-(x))", "x ** 2 + y ** 2", "max(0.0, x)", "W.dot(X)[0, 1:2]", "abs(x) * x",
])
def test_scan_shortcuts_agree_with_the_full_walk(src):
    """scan() answers the commonest shapes without walking the tree; _scan walks any tree."""
    from bpstep.core.expr import _scan, scan

    node = ast.parse(src, mode="eval").body
    assert scan(node) == _scan(node)
