"""Every bad scenario gets one line ``PATH:LINE:COL: error: MESSAGE`` and exit 2 — never a
traceback, a hang or a huge allocation — from ``bpstep run``, ``bpstep check`` and the bare TUI
command alike.

The corpus is tests/bad/*.yaml; the first line of each file says what it must produce:
``# expect: LINE:COL: words of the message``.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bpstep.cli import main
from bpstep.core.engine import load_walk

BAD = sorted((Path(__file__).parent / "bad").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")


def expectation(path: Path) -> tuple[int, int, str]:
    first = path.read_text(encoding="utf-8").split("\n", 1)[0]
    match = EXPECT.match(first)
    assert match, f"{path.name} has no '# expect:' line"
    return int(match[1]), int(match[2]), match[3]


def check_one_line(stderr: str, path: str, line: int, col: int, words: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    prefix = f"{path}:{line}:{col}: error: "
    assert lines[0].startswith(prefix), f"{lines[0]!r} does not start with {prefix!r}"
    assert words in lines[0], f"{words!r} not in {lines[0]!r}"
    assert "Traceback" not in stderr


def test_the_corpus_is_large_enough():
    assert len(BAD) >= 40


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
@pytest.mark.parametrize("command", [["run"], ["run", "--json"], [], ["check"], ["check", "--json"]],
                         ids=["run", "run-json", "tui", "check", "check-json"])
def test_bad_scenario(path, command, capsys):
    line, col, words = expectation(path)
    assert main(command + [str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    check_one_line(err, str(path), line, col, words)


def _generated(tmp_path: Path) -> dict[str, tuple[Path, int, int, str]]:
    cases = {}
    empty = tmp_path / "empty.yaml"
    empty.write_bytes(b"")
    cases["empty"] = (empty, 1, 1, "the scenario is empty")
    blank = tmp_path / "blank.yaml"
    blank.write_bytes(b"# only a comment\n\n")
    cases["blank"] = (blank, 1, 1, "the scenario is empty")
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes(b"bpstep: 1\ntitle: caf\xe9\n")
    cases["not-utf8"] = (latin, 2, 11, "not UTF-8 text (byte 0xe9)")
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"bpstep: 1\ntitle: a\x00b\n")
    cases["nul"] = (nul, 2, 9, "invalid YAML")
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    cases["directory"] = (folder, 1, 1, "is a directory")
    cases["missing"] = (tmp_path / "missing.yaml", 1, 1, "no such file")
    big = tmp_path / "big.yaml"
    big.write_bytes(b"bpstep: 1\n" + b"#" * 1_100_000 + b"\n")
    cases["oversized"] = (big, 1, 1, "file is 1100011 bytes; the limit is 1000000")
    return cases


def test_generated_bad_files(tmp_path, capsys):
    for name, (path, line, col, words) in _generated(tmp_path).items():
        for command in (["run"], []):
            assert main(command + [str(path)]) == 2, name
            out, err = capsys.readouterr()
            check_one_line(err, str(path), line, col, words)


def test_limits_are_adjustable_by_flags(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text("bpstep: 1\ntitle: t\ninputs: |\n  W = np.random.randn(30, 30)\nforward: |\n  f = W * 2\n")
    assert main(["run", "--max-elements", "100", str(path)]) == 2
    check_one_line(capsys.readouterr()[1], str(path), 4, 7, "(30, 30) (900 elements); the limit is 100")
    assert main(["run", "--max-file-bytes", "20", str(path)]) == 2
    check_one_line(capsys.readouterr()[1], str(path), 1, 1, "the limit is 20")
    assert main(["run", str(path)]) == 0


def test_bom_and_crlf_are_not_errors(tmp_path, scenario_dir):
    text = (scenario_dir / "complex.yaml").read_text(encoding="utf-8")
    path = tmp_path / "crlf.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    walk = load_walk(str(path))
    plain = load_walk(str(scenario_dir / "complex.yaml"))
    assert walk.final_gradients()["dx"] == plain.final_gradients()["dx"]
    assert [s.line for s in walk.steps] == [s.line for s in plain.steps]


def test_installed_command_on_the_whole_corpus(bpstep_bin, tmp_path):
    """Through the real console script: exit 2, one line, no traceback, bounded memory."""
    paths = [(str(p), *expectation(p)) for p in BAD]
    paths += [(str(p), line, col, words) for p, line, col, words in _generated(tmp_path).values()]
    script = (
        "import json, resource, subprocess, sys\n"
        "out = []\n"
        "for path in json.loads(sys.stdin.read()):\n"
        "    p = subprocess.run([sys.argv[1], 'run', path], capture_output=True, text=True, timeout=60)\n"
        "    out.append([p.returncode, p.stderr])\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(json.dumps({'results': out, 'peak_kib': peak}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, bpstep_bin], input=json.dumps([p[0] for p in paths]),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    for (path, line, col, words), (code, err) in zip(paths, report["results"]):
        assert code == 2, (path, err)
        check_one_line(err, path, line, col, words)
    # The largest child stayed far below 300 MB (ru_maxrss is in KiB on Linux).
    assert report["peak_kib"] < 300 * 1024


def test_limits_must_be_positive(capsys):
    from pathlib import Path

    with pytest.raises(SystemExit) as exit_:
        main(["run", "--max-statements", "-50", str(Path(__file__).parent.parent / "scenarios" / "sigmoid.yaml")])
    assert exit_.value.code == 2
    assert "must be at least 1, not -50" in capsys.readouterr()[1]


def test_numerical_trouble_prints_no_numpy_warnings(tmp_path, bpstep_bin):
    """inf and nan are values: run, check and derive keep stderr empty (exit 0)."""
    path = tmp_path / "nan.yaml"
    path.write_text("bpstep: 1\ntitle: t\ninputs: {x: -2.0, s: 0.0}\nforward: |\n"
                    "  a = np.sqrt(x)\n  b = np.log(s)\n  f = a + b * x\n")
    for command in (["run"], ["check"], ["derive"]):
        proc = subprocess.run([bpstep_bin, *command, str(path)], capture_output=True, text=True, timeout=120)
        assert proc.returncode in (0, 1), (command, proc.stderr)
        assert proc.stderr == "", (command, proc.stderr)


def test_hint_search_is_bounded(monkeypatch):
    """The misspelled-gradient hints compare against every forward name: only a bounded number
    of backward locals are looked at, so thousands of them cannot make a run quadratic."""
    import difflib

    from bpstep.core import engine

    forward = "".join(f"  a{i} = x * {i + 1}\n" for i in range(300))
    backward = "".join(f"  da{i}x = 1.0 #(1)\n" for i in range(300))
    calls = []
    real = difflib.get_close_matches  # (the engine imports difflib when it first looks for a hint)
    monkeypatch.setattr(difflib, "get_close_matches", lambda *a, **k: calls.append(1) or real(*a, **k))
    walk = engine.run_text(f"bpstep: 1\ntitle: t\ninputs: {{x: 1.0}}\nforward: |\n{forward}backward: |\n{backward}")
    assert len(calls) == engine.MAX_HINT_CHECKS
    assert walk.hints and len(walk.hints) <= engine.MAX_HINT_CHECKS
