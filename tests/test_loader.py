"""The scenario loader: keys, inputs forms, and positions mapped back to the file."""

import numpy as np
import pytest

from bpstep.core.engine import run_text
from bpstep.core.errors import ScenarioError
from bpstep.core.scenario import parse


def test_code_block_lines_map_to_file_lines(scenario_dir):
    text = (scenario_dir / "complex.yaml").read_text()
    scenario = parse(text)
    lines = text.splitlines()
    for lineno in (1, 2, 9):
        line, col = scenario.forward.position(lineno, 0)
        assert lines[line - 1][col - 1:] == scenario.forward.lines()[lineno - 1]


def test_steps_carry_the_file_line_of_their_statement(scenario_dir):
    from bpstep.core.engine import load_walk

    path = scenario_dir / "complex.yaml"
    lines = path.read_text().splitlines()
    for step in load_walk(str(path)).steps:
        assert lines[step.line - 1].strip().startswith(step.code)


def test_inputs_as_mapping_literals_and_expressions():
    w = run_text("""bpstep: 1
title: t
seed: 1
inputs:
  x: 3
  v: [1, 2.5]
  M: [[1, 2], [3, 4]]
  R: "np.random.randn(2, 2)"
forward: |
  f = x * v.dot(M) + R.sum()
""")
    cache = {e.name: e.value for e in w.cache}
    assert cache["x"] == 3.0 and cache["v"].tolist() == [1.0, 2.5]
    np.testing.assert_array_equal(cache["R"], np.random.RandomState(1).randn(2, 2))


def test_output_and_about_and_defaults():
    w = run_text("""bpstep: 1
title: "  spaced  "
about: "**bold**"
inputs: {x: 2}
forward: |
  a = x * 2
  b = a + 1
output: a
""")
    assert w.output == "a" and w.scenario.title == "spaced" and w.scenario.about == "**bold**"
    assert w.scenario.seed == 0


def test_quoted_single_line_code_positions():
    with pytest.raises(ScenarioError) as err:
        run_text('bpstep: 1\ntitle: t\ninputs: {x: 1}\nforward: "f = x + q"\n')
    assert (err.value.line, err.value.col) == (4, 19)  # the q inside the quotes


def test_error_format():
    e = ScenarioError("bad\nthing", 3, 4)
    assert e.format("a.yaml") == "a.yaml:3:4: error: bad thing"
