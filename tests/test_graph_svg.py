"""``bpstep graph``: the SVG parses, carries its labels as <text> (names, values in green,
gradients in red) and the highlight, at any position; bad --at is a clear error (exit 2)."""

from __future__ import annotations

import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bpstep.core.engine import load_walk
from bpstep.core.svg import graph_svg, position_at

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

NS = {"svg": "http://www.w3.org/2000/svg"}
BPSTEP = str(Path(sys.executable).with_name("bpstep"))
GREEN, RED, ORANGE = "#1a7f37", "#cf222e", "#d97706"


def sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def f_of(x, y):
    return (x + sig(y)) / (sig(x) + (x + y) ** 2)


def texts(svg: str) -> list[ET.Element]:
    return ET.fromstring(svg).findall(".//svg:text", NS)


def labels(svg: str, role: str) -> dict[str, ET.Element]:
    return {t.get("data-wire"): t for t in texts(svg) if t.get("class") == role}


@pytest.fixture(scope="module")
def walk():
    return load_walk(str(SCENARIOS / "complex.yaml"))


def test_the_svg_carries_names_values_and_gradients_as_coloured_text(walk):
    svg = graph_svg(walk, walk.total)
    names = {t.text for t in texts(svg) if t.get("class") == "name"}
    assert names == {"x", "y", "sigy", "num", "sigx", "xpy", "xpysqr", "den", "invden", "f"}
    values = labels(svg, "value")
    expected = {"x": 3, "y": -4, "sigy": sig(-4), "num": 3 + sig(-4), "sigx": sig(3), "xpy": -1,
                "xpysqr": 1, "den": sig(3) + 1, "invden": 1 / (sig(3) + 1), "f": f_of(3, -4)}
    assert set(values) == set(expected)
    for wire, value in expected.items():
        assert float(values[wire].text) == pytest.approx(value, rel=1e-3), wire
        assert values[wire].get("fill") == GREEN
    gradients = labels(svg, "gradient")
    h = 1e-6
    assert float(gradients["x"].text) == pytest.approx((f_of(3 + h, -4) - f_of(3 - h, -4)) / (2 * h), rel=1e-3)
    assert float(gradients["y"].text) == pytest.approx((f_of(3, -4 + h) - f_of(3, -4 - h)) / (2 * h), rel=1e-3)
    assert float(gradients["f"].text) == 1.0
    assert "invden" not in gradients  # the notes' dinven is a local, so invden gets none
    assert all(t.get("fill") == RED for t in gradients.values())
    locals_ = [t.text for t in texts(svg) if t.get("class") == "local"]
    assert locals_ and locals_[0].startswith("dinven 3.018")
    sums = [t.text for t in texts(svg) if t.get("class") == "sum"]
    assert any(s.startswith("= 1.5832 - 0.03576 + 0.5121") for s in sums)  # x's three branches


def test_every_wire_is_drawn_and_nothing_is_text_turned_into_paths(walk):
    root = ET.fromstring(graph_svg(walk, walk.total))
    drawn = {p.get("data-wire") for p in root.findall(".//svg:path", NS) if p.get("class") == "wire"}
    assert drawn == {"x", "y", "sigy", "num", "sigx", "xpy", "xpysqr", "den", "invden", "f"}
    assert root.findall(".//svg:use", NS) == [] and root.findall(".//svg:font", NS) == []


def test_after_stage_3_only_what_the_backward_pass_reached_has_a_gradient(walk):
    svg = graph_svg(walk, position_at(walk, "3"))
    assert "after stage 3: step 9 of 12" in svg
    gradients = labels(svg, "gradient")
    assert set(gradients) == {"f", "num", "den", "sigx", "xpysqr", "xpy", "x", "y"}
    root = ET.fromstring(svg)
    hot = [g.get("id") for g in root.findall(".//svg:g", NS)
           if g.find("svg:rect", NS) is not None and g.find("svg:rect", NS).get("stroke") == ORANGE]
    assert hot == ["st:3"]
    assert gradients["x"].get("font-weight") == "bold"  # written by the step shown


def test_at_the_start_there_is_only_the_upstream_gradient(walk):
    svg = graph_svg(walk, position_at(walk, "start"))
    assert set(labels(svg, "gradient")) == {"f"}
    assert "before the backward pass" in svg


def test_matrices_show_shape_and_range_and_the_dimension_analysis():
    walk = load_walk(str(SCENARIOS / "matmul.yaml"))
    svg = graph_svg(walk, walk.total)
    values = labels(svg, "value")
    assert values["W"].text.startswith("(5,10) ") and "…" in values["W"].text
    assert labels(svg, "gradient")["X"].text.startswith("(10,3) ")
    notes = [t.text for t in texts(svg) if t.get("class") == "dimensions"]
    assert notes == ["stage 1: D (5,3) = W (5,10) . X (10,3)",
                     "stage 1: dW (5,10) = dD (5,3) . X.T (3,10)",
                     "stage 1: dX (10,3) = W.T (10,5) . dD (5,3)"]


def test_position_at_names_stages_start_and_end(walk):
    assert position_at(walk, None) == position_at(walk, "end") == 12
    assert position_at(walk, "start") == 0
    assert position_at(walk, "8") == 2 and position_at(walk, "1") == 12
    with pytest.raises(ValueError, match="no stage 9; the forward pass has stages 1 to 8"):
        position_at(walk, "9")
    with pytest.raises(ValueError, match="give a stage number"):
        position_at(walk, "two")


# -- the installed command ----------------------------------------------------------------

def run(*args, cwd=None):
    return subprocess.run([BPSTEP, *args], capture_output=True, text=True, cwd=cwd)


def test_bpstep_graph_writes_the_svg(tmp_path):
    out = tmp_path / "complex.svg"
    done = run("graph", str(SCENARIOS / "complex.yaml"), "--at", "3", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    svg = out.read_text(encoding="utf-8")
    assert "after stage 3" in svg
    assert {"x", "sigx"} <= set(labels(svg, "gradient"))


def test_bpstep_graph_to_standard_output():
    done = run("graph", str(SCENARIOS / "sigmoid.yaml"), "-o", "-")
    assert done.returncode == 0
    assert ET.fromstring(done.stdout).tag == "{http://www.w3.org/2000/svg}svg"


@pytest.mark.parametrize("at, message", [
    ("9", "bpstep graph: error: --at 9: there is no stage 9; the forward pass has stages 1 to 8"),
    ("x", "bpstep graph: error: --at x: not a stage; give a stage number (1 to 8), 'start' or 'end'"),
])
def test_bad_at_is_one_clear_line_and_exit_2(tmp_path, at, message):
    out = tmp_path / "x.svg"
    done = run("graph", str(SCENARIOS / "complex.yaml"), "--at", at, "-o", str(out))
    assert done.returncode == 2
    assert done.stderr.strip() == message
    assert not out.exists()


def test_bad_scenario_and_missing_output_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("bpstep: 1\ntitle: t\ninputs:\n  x: 1\nforward: |\n  y = x +\n")
    done = run("graph", str(bad), "-o", str(tmp_path / "x.svg"))
    assert done.returncode == 2
    assert done.stderr.startswith(f"{bad}:6:") and "Traceback" not in done.stderr
    assert run("graph", str(SCENARIOS / "complex.yaml")).returncode == 2  # -o is required
    unwritable = run("graph", str(SCENARIOS / "complex.yaml"), "-o", str(tmp_path / "no" / "such" / "x.svg"))
    assert unwritable.returncode == 2 and "cannot write" in unwritable.stderr
