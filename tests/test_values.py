"""How sums are written (values.terms): one rule for the step panel, run, transcripts, the
gradient table and the circuit."""

import math

import numpy as np

from bpstep.core.values import terms


def test_a_negative_scalar_after_the_first_term_is_subtracted():
    assert terms([1.5832, -0.03576, 0.5121]) == [("", "1.5832"), ("-", "0.03576"), ("+", "0.5121")]
    assert terms([-4.0, 1.0]) == [("", "-4"), ("+", "1")]  # the first keeps its own sign


def test_special_values_and_arrays():
    assert terms([1.0, -0.0]) == [("", "1"), ("+", "0")]
    assert terms([1.0, math.nan, -math.inf, math.inf]) == [("", "1"), ("+", "nan"), ("-", "inf"), ("+", "inf")]
    assert terms([1.0, np.float64(-2.5), np.array(-3.0)]) == [("", "1"), ("-", "2.5"), ("-", "3")]
    assert terms([1.0, np.array([-1.0, 2.0])]) == [("", "1"), ("+", "[-1, 2]")]  # an array is added


def test_a_custom_format_is_used_for_every_term():
    assert terms([2.0, -3.0], fmt=lambda v: f"<{v:g}>") == [("", "<2>"), ("+", "<-3>")]
