"""``bpstep transcript`` (Markdown, asciicast) and ``bpstep replay`` on the command line."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import pytest
from transcript_helpers import SCENARIOS, record

from bpstep import __version__
from bpstep.cli import main
from bpstep.core.engine import load_walk
from bpstep.core.transcript import asciicast, markdown, read


@pytest.fixture
def session(tmp_path):
    """A known session on complex.yaml: n, s, n, end, p (positions 2, 3, 5, 12, 11)."""
    shutil.copy(SCENARIOS / "complex.yaml", tmp_path / "complex.yaml")
    walk = load_walk(str(tmp_path / "complex.yaml"))
    record(tmp_path / "session.jsonl", walk, ["n", "s", "n", "end", "p"], scenario_path="complex.yaml")
    return tmp_path / "session.jsonl"


def test_markdown_of_a_known_session(session):
    md = markdown(read(str(session)))
    lines = md.splitlines()
    sha = hashlib.sha256((SCENARIOS / "complex.yaml").read_bytes()).hexdigest()
    assert lines[:7] == [
        "# Staged f(x, y): a bpstep session",
        "",
        "- Scenario: `complex.yaml`",
        f"- sha256: `{sha}`",
        f"- Recorded: 2024-05-01T12:00:00+00:00 with bpstep {__version__}",
        "- 5 actions over 0:07.5, position 0 → 11",
        "",
    ]
    table = lines.index("## Forward cache") + 2
    assert lines[table:table + 4] == [
        "| name | stage | shape | value | code |",
        "| --- | --- | --- | --- | --- |",
        "| `x` | input | scalar | 3 | `x = 3 # example values` |",
        "| `y` | input | scalar | -4 | `y = -4` |",
    ]
    assert "| `sigy` | 1 | scalar | 0.01799 | `sigy = 1.0 / (1 + math.exp(-y))` |" in lines
    assert "| `f` | 8 | scalar | 1.5456 | `f = num * invden` |" in lines
    assert "Output `f` = 1.5456; upstream `df` = 1." in lines
    headings = [line for line in lines if line.startswith("### ")]
    assert headings == [
        "### 1. `n` (0:01.5): position 0 → 2, applied steps 1–2",
        "### 2. `s` (0:03.0): position 2 → 3, applied step 3",
        "### 3. `n` (0:04.5): position 3 → 5, applied steps 4–5",
        "### 4. `end` (0:06.0): position 5 → 12, applied steps 6–12",
        "### 5. `p` (0:07.5): position 12 → 11, undid step 12",
    ]
    first = lines.index(headings[0])
    assert lines[first + 1:first + 9] == [
        "",
        "```text",
        "stage 8: f = num * invden",
        "     step 1   line 29   dnum = invden",
        "        dnum = 0.5121",
        "     step 2   line 30   dinven = num",
        "        dinven = 3.018   (local)",
        "```",
    ]
    assert "  += step 9   line 43   dx += ((1 - sigx) * sigx) * dsigx" in lines
    assert "        dx: 1.5832 - 0.03576 = 1.5474" in lines
    assert "        dx: 1.5474 + 0.5121 = 2.0596" in lines
    last = lines.index(headings[4])
    assert lines[last + 3:last + 6] == [
        "stage 1: sigy = 1.0 / (1 + math.exp(-y))",
        "  += undo 12  line 48   dy += ((1 - sigy) * sigy) * dsigy",
        "        dy: 1.5832 + 0.009046 = 1.5922   (undone)",
    ]
    assert "Warning" not in md


def test_cli_transcript_prints_markdown(session, capsys):
    assert main(["transcript", str(session)]) == 0
    out, err = capsys.readouterr()
    assert out == markdown(read(str(session)))
    assert err == ""


def test_cli_transcript_without_the_scenario_renders_the_recorded_values(session, capsys):
    (session.parent / "complex.yaml").unlink()
    assert main(["transcript", str(session)]) == 0
    out, err = capsys.readouterr()
    assert "| `f` | 8 | scalar | 1.5456 | `f = num * invden` |" in out
    assert "> **Warning:** the scenario 'complex.yaml' was not found" in out
    assert "the values shown are the recorded ones" in err


def test_cli_transcript_of_a_changed_scenario_warns_on_stderr(session, capsys):
    scenario = session.parent / "complex.yaml"
    scenario.write_text(scenario.read_text().replace("dy = (1) * dxpy", "dy = (3) * dxpy"))
    assert main(["transcript", str(session)]) == 0
    out, err = capsys.readouterr()
    assert err.startswith("bpstep: warning: the scenario") and "2 recorded steps now differ" in err
    assert out.count("(!) CHANGED") == 3  # step 8, and step 12 applied by "end" then undone by "p"


def test_cli_corrupt_transcript_is_one_error_line_and_exit_2(session, capsys):
    lines = session.read_text().splitlines()
    session.write_text("\n".join(lines[:3] + [lines[3][:40]]))
    for command in ("transcript", "replay"):
        assert main([command, str(session)]) == 2
        out, err = capsys.readouterr()
        assert out == ""
        assert err == f"{session}:4:1: error: the last line is cut short (no newline and not complete JSON): " \
                      "the session was probably killed while writing it; the lines before it are complete, " \
                      "delete this one to use them\n"


def test_cli_replay_without_a_terminal_says_so_and_exits_2(session):
    result = subprocess.run([sys.executable, "-m", "bpstep", "replay", str(session)], capture_output=True,
                            text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert "not starting the replay: no terminal" in result.stderr
    assert f"bpstep transcript {session}" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_replay_with_a_missing_explicit_scenario(session, capsys):
    assert main(["replay", str(session), "--scenario", "nowhere.yaml"]) == 2
    assert capsys.readouterr().err == "nowhere.yaml:1:1: error: no such file\n"


def test_asciicast_v2(session, tmp_path, capsys):
    out = tmp_path / "s.cast"
    assert main(["transcript", str(session), "--asciicast", str(out)]) == 0
    assert capsys.readouterr().out == ""
    lines = out.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2 and header["width"] > 0 and header["height"] > 0
    assert header["timestamp"] == 1714564800  # 2024-05-01T12:00:00Z
    events = [json.loads(line) for line in lines[1:]]
    assert all(len(e) == 3 and e[1] == "o" and isinstance(e[2], str) for e in events)
    assert [e[0] for e in events] == [0.0, 1.5, 3.0, 4.5, 6.0, 7.5]
    assert "dx: 1.5832 - 0.03576 = 1.5474\r\n" in events[4][2]
    assert "[end]" in events[4][2] and "position 5 → 12" in events[4][2]
    assert out.read_text() == asciicast(read(str(session)))  # the scenario was unchanged: no warnings


def test_a_header_with_only_the_contract_keys_renders_from_the_scenario(session, capsys):
    lines = session.read_text().splitlines()
    header = json.loads(lines[0])
    minimal = {k: header[k] for k in ("type", "format", "version", "scenario", "sha256", "bpstep", "started")}
    session.write_text("\n".join([json.dumps(minimal)] + lines[1:]) + "\n")
    assert main(["transcript", str(session)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Staged f(x, y): a bpstep session\n")  # the title, from the scenario
    assert "| `sigy` | 1 | scalar | 0.01799 | `sigy = 1.0 / (1 + math.exp(-y))` |" in out
    assert "stage 3: sigx = 1.0 / (1 + math.exp(-x))" in out
    (session.parent / "complex.yaml").unlink()
    assert main(["transcript", str(session)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# complex.yaml: a bpstep session\n")
    assert "(not recorded in this transcript, and the scenario was not loaded)" in out
    assert "        dx: 1.5832 - 0.03576 = 1.5474" in out  # the steps are always recorded
