"""Dimension analysis of matrix products (as the notes spell it out) and the heatmap model."""

from __future__ import annotations

import math

import numpy as np

from bpstep.core.engine import load_walk, run_text
from bpstep.core.matrix import dimension_analysis, forward_dimensions, heatmap, stage_dimensions
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def test_matmul_yaml_dimension_analysis_as_in_the_notes():
    walk = load_walk(str(SCENARIOS / "matmul.yaml"))
    dW, dX = walk.steps
    assert dimension_analysis(walk, dW) == "dW (5,10) = dD (5,3) . X.T (3,10)"
    assert dimension_analysis(walk, dX) == "dX (10,3) = W.T (10,5) . dD (5,3)"
    assert forward_dimensions(walk, 1) == "D (5,3) = W (5,10) . X (10,3)"
    assert stage_dimensions(walk, 1, position=1) == ["D (5,3) = W (5,10) . X (10,3)",
                                                      "dW (5,10) = dD (5,3) . X.T (3,10)"]


PRODUCTS = """bpstep: 1
title: products
inputs: |
  A = np.random.randn(2, 4)
  B = np.random.randn(4, 3)
forward: |
  C = A @ B
  E = np.dot(C, B.T)
backward: |
  dC = np.dot(dE, B)
  dB = 2 * A.T.dot(dC)
  dA = dC @ B.T
"""


def test_every_spelling_of_a_product_and_a_product_inside_an_expression():
    walk = run_text(PRODUCTS)
    by_target = {s.target: s for s in walk.steps}
    assert forward_dimensions(walk, 1) == "C (2,3) = A (2,4) . B (4,3)"
    assert forward_dimensions(walk, 2) == "E (2,4) = C (2,3) . B.T (3,4)"
    assert dimension_analysis(walk, by_target["dC"]) == "dC (2,3) = dE (2,4) . B (4,3)"
    assert dimension_analysis(walk, by_target["dA"]) == "dA (2,4) = dC (2,3) . B.T (3,4)"
    # the product is part of the right-hand side: its own text stands on the left
    assert dimension_analysis(walk, by_target["dB"]) == "A.T.dot(dC) (4,3) = A.T (4,2) . dC (2,3)"


def test_no_analysis_without_a_product():
    walk = load_walk(str(SCENARIOS / "complex.yaml"))
    assert all(dimension_analysis(walk, step) is None for step in walk.steps)
    assert all(stage_dimensions(walk, s.stage) == [] for s in walk.forward)


def test_heatmap_intensities_are_values_over_the_largest_magnitude():
    h = heatmap(np.array([[1.0, -2.0], [0.0, 4.0]]))
    assert h.shape == (2, 2) and (h.rows, h.cols) == (2, 2)
    assert h.cells == ((0.25, -0.5), (0.0, 1.0))
    assert (h.low, h.high, h.scale, h.block) == (-2.0, 4.0, 4.0, (1, 1))
    assert h.caption() == "(2,2)  min -2  max 4"


def test_heatmap_of_scalars_vectors_and_higher_dimensions():
    assert heatmap(np.float64(-3.0)).cells == ((-1.0,),)
    vector = heatmap(np.array([1.0, 2.0, 4.0]))
    assert vector.cells == ((0.25, 0.5, 1.0),) and vector.shape == (3,)
    cube = heatmap(np.arange(24, dtype=float).reshape(2, 3, 4))
    assert (cube.rows, cube.cols) == (2, 12) and cube.shape == (2, 3, 4)
    zeros = heatmap(np.zeros((2, 2)))
    assert zeros.cells == ((0.0, 0.0), (0.0, 0.0)) and zeros.scale == 0.0


def test_large_arrays_are_pooled_by_block_means_to_fit():
    values = np.arange(16, dtype=float).reshape(4, 4)
    h = heatmap(values, max_rows=2, max_cols=2)
    assert h.block == (2, 2) and (h.rows, h.cols) == (2, 2)
    # block means 2.5, 4.5, 10.5, 12.5 over the largest magnitude, 15
    np.testing.assert_allclose(np.array(h.cells), [[2.5 / 15, 4.5 / 15], [10.5 / 15, 12.5 / 15]])
    assert "(2x2 per cell)" in h.caption()


def test_non_finite_cells_are_flagged_not_fatal():
    h = heatmap(np.array([[1.0, math.nan], [math.inf, -2.0]]))
    assert h.cells == ((0.5, None), (None, -1.0))
    assert h.trouble and "not finite" in h.caption()
