"""The notes' numbers, checked against values computed independently of bpstep's engine:
closed forms written out here in plain Python, and central differences of those forms."""

import math

import numpy as np
import pytest

from bpstep.core.engine import load_walk


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


def central(f, args, i, h=1e-6):
    up = list(args)
    down = list(args)
    up[i] += h
    down[i] -= h
    return (f(*up) - f(*down)) / (2 * h)


def neuron(w0, w1, w2, x0, x1):
    return sigmoid(w0 * x0 + w1 * x1 + w2)


def staged(x, y):
    return (x + sigmoid(y)) / (sigmoid(x) + (x + y) ** 2)


def test_sigmoid_neuron(scenario_dir):
    walk = load_walk(str(scenario_dir / "sigmoid.yaml"))
    args = [2.0, -3.0, -3.0, -1.0, -2.0]
    assert walk.cache_value("f") == pytest.approx(neuron(*args), abs=1e-12)
    assert round(float(walk.cache_value("f")), 4) == 0.7311
    grads = walk.final_gradients()
    numeric = [central(neuron, args, i) for i in range(5)]
    np.testing.assert_allclose(grads["dw"], numeric[:3], rtol=1e-6)
    np.testing.assert_allclose(grads["dx"], numeric[3:], rtol=1e-6)
    np.testing.assert_array_equal(np.round(grads["dx"], 4), [0.3932, -0.5898])
    np.testing.assert_array_equal(np.round(grads["dw"], 4), [-0.1966, -0.3932, 0.1966])
    assert [s.stage for s in walk.steps] == [2, 1, 1]


def test_staged_example(scenario_dir):
    walk = load_walk(str(scenario_dir / "complex.yaml"))
    assert walk.cache_value("f") == pytest.approx(staged(3.0, -4.0), abs=1e-12)
    assert round(float(walk.cache_value("f")), 4) == 1.5456
    grads = walk.final_gradients()
    assert grads["dx"] == pytest.approx(central(staged, [3.0, -4.0], 0), rel=1e-7)
    assert grads["dy"] == pytest.approx(central(staged, [3.0, -4.0], 1), rel=1e-7)
    assert round(float(grads["dx"]), 4) == 2.0596
    assert round(float(grads["dy"]), 4) == 1.5922
    assert walk.total == 12
    assert [s.stage for s in walk.steps] == [8, 8, 7, 6, 6, 5, 4, 4, 3, 2, 2, 1]
    assert [s.index for s in walk.steps if s.op == "+="] == [9, 10, 12]


def test_staged_example_keeps_the_notes_dinven_as_a_local(scenario_dir):
    walk = load_walk(str(scenario_dir / "complex.yaml"))
    step = walk.steps[1]
    assert (step.target, step.gradient_of) == ("dinven", None)
    assert "dinven" in walk.final_locals() and "dinven" not in walk.final_gradients()
    assert any("did you mean dinvden" in hint for hint in walk.hints)
    # its value is the gradient the notes meant: d f / d invden = num
    assert walk.final_locals()["dinven"] == pytest.approx(3 + sigmoid(-4))


def test_matmul(scenario_dir):
    walk = load_walk(str(scenario_dir / "matmul.yaml"))
    rng = np.random.RandomState(0)  # the scenario's seed, drawn in the scenario's order
    W = rng.randn(5, 10)
    X = rng.randn(10, 3)
    dD = rng.randn(5, 3)
    np.testing.assert_array_equal(walk.cache_value("W"), W)
    np.testing.assert_array_equal(walk.cache_value("X"), X)
    grads = walk.final_gradients()
    assert grads["dW"].shape == (5, 10) and grads["dX"].shape == (10, 3)
    # d/dW of sum(dD * (W @ X)) by central differences, element by element
    loss = lambda W_, X_: float(np.sum(dD * (W_ @ X_)))
    h = 1e-6
    for (i, j) in [(0, 0), (4, 9), (2, 5)]:
        E = np.zeros_like(W)
        E[i, j] = h
        assert grads["dW"][i, j] == pytest.approx((loss(W + E, X) - loss(W - E, X)) / (2 * h), rel=1e-6)
    for (i, j) in [(0, 0), (9, 2), (5, 1)]:
        E = np.zeros_like(X)
        E[i, j] = h
        assert grads["dX"][i, j] == pytest.approx((loss(W, X + E) - loss(W, X - E)) / (2 * h), rel=1e-6)
