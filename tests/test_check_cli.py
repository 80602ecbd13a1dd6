"""``bpstep check`` through the installed command: text, --json and exit codes."""

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
BUGGY = SCENARIOS / "buggy"


def run(bpstep, *args):
    return subprocess.run([bpstep, *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, cwd=ROOT)


def line_of(path: Path, code: str) -> int:
    """The line holding ``code`` as a statement (not inside a comment)."""
    [line] = [i for i, row in enumerate(path.read_text().split("\n"), start=1)
              if row.split("#")[0].strip() == code]
    return line


@pytest.mark.parametrize("name", ["sigmoid", "complex", "matmul"])
def test_the_seed_scenarios_exit_0(bpstep_bin, name):
    proc = run(bpstep_bin, "check", f"scenarios/{name}.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("RIGHT: every gradient matches the derived reference\n")
    assert proc.stderr == ""


def test_complex_gives_the_dinven_hint(bpstep_bin):
    out = run(bpstep_bin, "check", "scenarios/complex.yaml").stdout
    assert "Hints\n  line 30: dinven is not a gradient name" in out and "did you mean dinvden" in out


BUGS = {  # file -> (kind as printed, stage, the buggy code)
    "complex_overwrite.yaml": ("overwrite at a fork", 3, "dx = ((1 - sigx) * sigx) * dsigx"),
    "complex_local_gradient.yaml": ("wrong local gradient", 3, "dx += (1 - sigx) * dsigx"),
    "sigmoid_local_gradient.yaml": ("wrong local gradient", 2, "ddot = (1 - f)"),
    "complex_missing.yaml": ("missing contribution", 1, "sigy = 1.0 / (1 + math.exp(-y))"),
    "matmul_shape.yaml": ("wrong shape", 1, "dW = X.dot(dD.T)"),
}


@pytest.mark.parametrize("name", list(BUGS))
def test_each_buggy_variant_exits_1_naming_line_stage_and_kind(bpstep_bin, name):
    kind, stage, code = BUGS[name]
    line = line_of(BUGGY / name, code)
    proc = run(bpstep_bin, "check", f"scenarios/buggy/{name}")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith(f"WRONG: 1 mistake; the first is line {line}, stage {stage}: {kind}\n")
    assert f"line {line}, stage {stage}" in proc.stdout and code in proc.stdout


def test_the_overwrite_report_verbatim(bpstep_bin):
    out = run(bpstep_bin, "check", "scenarios/buggy/complex_overwrite.yaml").stdout
    block = out.split("\n\n")[1]
    assert block == (
        "First mistake\n"
        "  line 36, stage 3: dx = ((1 - sigx) * sigx) * dsigx\n"
        "    overwrite at a fork: '=' throws away what stage 4 already gave dx: gradients add up at "
        "forks: use +=\n"
        "    stage 3 is sigx = 1.0 / (1 + math.exp(-x))\n"
        "    rule: s = 1.0 / (1 + exp(-a)): da = ((1 - s) * s) * g\n"
        "    reference: dx += ((1 - sigx) * sigx) * dsigx\n"
        "    dx after stage 3: expected 1.5474, got -0.03576")
    assert "  OVERWRITE  9     36    3      dx = ((1 - sigx) * sigx) * dsigx\n" in out


def test_the_shape_report_shows_the_dimension_analysis(bpstep_bin):
    out = run(bpstep_bin, "check", "scenarios/buggy/matmul_shape.yaml").stdout
    assert "dimension analysis: dW (10,5) = X (10,3) . dD.T (3,5)\n" in out
    assert "the reference's:    dW (5,10) = dD (5,3) . X.T (3,10)\n" in out


@pytest.mark.parametrize("name", list(BUGS))
def test_json_gives_graders_the_same_verdicts(bpstep_bin, name):
    kind, stage, code = BUGS[name]
    proc = run(bpstep_bin, "check", "--json", f"scenarios/buggy/{name}")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    assert doc["passed"] is False and doc["exit"] == 1 and doc["derived_reference"] is True
    first = doc["first"]
    assert first["line"] == line_of(BUGGY / name, code) and first["stage"] == stage
    assert first["kind"] == {"overwrite at a fork": "overwrite", "wrong local gradient": "local_gradient",
                             "missing contribution": "missing", "wrong shape": "shape"}[kind]
    assert first["failed"] is True and first["code"] == code
    assert [f for f in doc["findings"] if f["failed"]][0] == first
    marks = {s["index"]: s["mark"] for s in doc["steps"]}
    if first["step"] is not None:
        assert marks[first["step"]] == first["kind"]
    assert any(not g["passed"] for g in doc["gradients"].values())


def test_json_of_a_right_scenario(bpstep_bin):
    proc = run(bpstep_bin, "check", "--json", "scenarios/complex.yaml")
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert doc["passed"] is True and doc["first"] is None
    assert [f["kind"] for f in doc["findings"]] == ["misnamed"]
    assert doc["findings"][0]["failed"] is False
    assert doc["gradients"]["dx"]["passed"] and doc["gradients"]["dx"]["input"]
    assert doc["gradients"]["dx"]["value"] == pytest.approx(2.0595697955721652)
    assert doc["gradients"]["dx"]["numeric"]["verdict"] == "good"
    assert len(doc["steps"]) == 12 and doc["steps"][1]["mark"] == "misnamed"


@pytest.mark.parametrize("flags", [[], ["--json"]])
def test_a_bad_scenario_exits_2_with_one_line(bpstep_bin, tmp_path, flags):
    path = tmp_path / "bad.yaml"
    path.write_text("bpstep: 1\ntitle: t\ninputs: {x: 1}\nforward: |\n  f = x +\n")
    proc = run(bpstep_bin, "check", *flags, str(path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"{path}:5:")
    assert "error: invalid Python syntax" in proc.stderr


def test_usage(bpstep_bin):
    proc = run(bpstep_bin, "check")
    assert proc.returncode == 2 and "usage: bpstep check" in proc.stderr
    assert "bpstep check SCENARIO" in run(bpstep_bin, "--help").stdout


def test_check_does_not_load_textual():
    import sys

    code = ("import sys, io, contextlib\nfrom bpstep.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    code = main(['check', 'scenarios/buggy/complex_overwrite.yaml'])\n"
            "print(code, 'textual' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.stdout.strip() == "1 False", proc.stderr


@pytest.mark.parametrize("chunk", [1, 7, 65_536])
@pytest.mark.parametrize("name", ["matmul.yaml", "twolayer.yaml", "buggy/matmul_shape.yaml", "buggy/complex_overwrite.yaml"])
def test_check_json_in_pieces_is_the_whole_document_byte_for_byte(name, chunk, monkeypatch):
    """check --json is written as encoded, its large arrays in pieces (a 2000x2000 gradient
    was one 829 MB string); the pieces join to exactly json.dumps of the document."""
    from bpstep.core import report
    from bpstep.core.check import load_check
    from bpstep.core.check_report import json_chunks, json_report

    monkeypatch.setattr(report, "CHUNK_NUMBERS", chunk)
    result = load_check(str(SCENARIOS / name))
    pieces = list(json_chunks(result))
    assert "".join(pieces) == json.dumps(json_report(result), allow_nan=False) + "\n"
    if chunk == 1 and "complex" not in name:  # scalars only: nothing to write in pieces
        assert len(pieces) > 10


def test_check_json_holds_one_piece_at_a_time_not_the_document(monkeypatch):
    """A review: check --json's findings, steps and gradients were encoded as one piece, so 150
    steps on 250x250 arrays were one 382 MB string (1.37 GB traced). Written as encoded, the
    peak is a piece, not the document."""
    from pieces_support import tanh_chain, written_and_peak

    from bpstep.core import report
    from bpstep.core.check import check
    from bpstep.core.check_report import json_chunks
    from bpstep.core.engine import run_text

    monkeypatch.setattr(report, "CHUNK_NUMBERS", 4_000)  # about one array a piece
    result = check(run_text(tanh_chain(72)))
    written, peak = written_and_peak(lambda: json_chunks(result))
    assert written > 10_000_000  # 73 gradients of 3,600 numbers, each with its reference
    assert peak < written / 6, (peak, written)
