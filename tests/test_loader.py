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


def test_two_documents_are_refused_as_yaml_compose_refuses_them(tmp_path):
    path = tmp_path / "two.yaml"
    path.write_text("bpstep: 1\n---\nbpstep: 1\n")
    from bpstep.core.scenario import load

    with pytest.raises(ScenarioError) as caught:
        load(str(path))
    assert str(caught.value).endswith("two.yaml:2:1: error: invalid YAML: but found another document")


def test_a_file_that_grew_after_its_size_was_read_is_read_whole(tmp_path, monkeypatch):
    """The file is read to the size it had and a byte more; if that byte is there, on to the limit."""
    import os

    from bpstep.core import scenario

    path = tmp_path / "s.yaml"
    text = "bpstep: 1\ntitle: grown\ninputs: {x: 2.0}\nforward: |\n  y = x * x\n"
    path.write_text(text)
    monkeypatch.setattr(os.path, "getsize", lambda p: 10)  # as if it was 10 bytes when looked at
    assert scenario.read_text(str(path)) == (text, text.encode())
    from bpstep.core.limits import Limits

    small = Limits(max_file_bytes=40)
    with pytest.raises(ScenarioError, match="larger than the limit of 40 bytes"):
        scenario.read_text(str(path), small)


def _literal_nodes(node):
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _literal_nodes(key)
            yield from _literal_nodes(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _literal_nodes(item)
    elif node.style == "|":
        yield node


INDENTS = [
    "a: é𝄞\r\nforward: |\r\n    x = 1\r\n",
    "a: 1\rb: |\r  x = 1\r",
    "a: 'x\u2028y'\nb: |\n     z = 2\n",
    "a: x\u2028b: |\n  z\n",
    "\ufeffa: 1\nb: |\n   y = 1\n",
    "a: \ufeffb\nb: |  # a comment\n\n   \n      y = 1\n",
    "b: !!str |\n   y = 1\n",
    "b: |2\n     y = 1\nc: |-\n  z\n",
    "b: |\n\n\n",
    "b: |+\n  y\n\nc: [1, 2]\nd: |\n  \xa0x\n",
    "a:\n  - |\n      x = 1\n  - k: |\n     y = 2\n",
]


@pytest.mark.parametrize("text", INDENTS + ["@scenarios"])
def test_a_literal_blocks_indentation_is_found_as_by_the_files_lines(text, scenario_dir):
    """The indentation is found from the block's indicator (scenario.FileLines), not from the
    whole file split into lines: the same as the first line that is not blank below it."""
    import yaml

    from bpstep.core.scenario import FileLines

    texts = [p.read_text() for p in sorted(scenario_dir.glob("*.yaml"))] if text == "@scenarios" else [text]
    checked = 0
    for each in texts:
        for node in _literal_nodes(yaml.compose(each, Loader=yaml.CSafeLoader)):
            first = node.start_mark.line + 2
            expected = next((len(raw) - len(raw.lstrip(" ")) for raw in each.splitlines()[first - 1:]
                             if raw.strip()), 0)
            assert FileLines(each).indent(node, first) == expected, (each, first)
            checked += 1
    assert checked


def test_unprintable_text_is_found_as_the_pattern_finds_it():
    from bpstep.core.source import UNPRINTABLE, find_unprintable

    samples = ["plain ascii\n\twith tabs", "", "é and \u2028", "x\u202ey", "caf\u00e9\x1b[2J"]
    samples += [f"ok {chr(c)} end" for c in range(0, 0xA0)] + [f"é{chr(c)}" for c in (0x7F, 0x85, 0x9F, 0x2066)]
    for text in samples:
        expected, got = UNPRINTABLE.search(text), find_unprintable(text)
        assert (got and (got.start(), got.group())) == (expected and (expected.start(), expected.group())), text
    assert sum(find_unprintable(t) is not None for t in samples) > 30


def test_deep_yaml_is_reported_where_it_is_not_as_too_deep(tmp_path):
    """libyaml composes nesting down to its own limit (1,000): a value nested 600 deep under a
    text key gets that key's error at its place (a review: a composer in Python ran out of
    recursion at about 495 and said 'nested too deeply' at 1:1)."""
    from bpstep.core.scenario import load

    path = tmp_path / "deep.yaml"
    path.write_text("bpstep: 1\ntitle: t\nabout: " + "[" * 600 + "1" + "]" * 600 + "\ninputs:\n  x: 1.0\n"
                    "forward: |\n  y = 2 * x\n")
    with pytest.raises(ScenarioError) as caught:
        load(str(path))
    assert (caught.value.line, caught.value.col) == (3, 8) and "'about' must be text" in str(caught.value)
