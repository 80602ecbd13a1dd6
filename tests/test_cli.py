"""The installed command, through a subprocess, as users and scripts meet it."""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest


def run(bpstep, *args, **kw):
    return subprocess.run([bpstep, *args], capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL, **kw)


def test_version(bpstep_bin):
    from bpstep import __version__

    proc = run(bpstep_bin, "--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"bpstep {__version__}"


def test_help_lists_the_commands(bpstep_bin):
    proc = run(bpstep_bin, "--help")
    assert proc.returncode == 0
    assert "bpstep run SCENARIO" in proc.stdout and "--record" in proc.stdout


@pytest.mark.parametrize("columns", [None, "", "junk", "0", "57", "140"])
def test_help_is_as_wide_as_argparse_makes_it(columns, monkeypatch):
    """bpstep's HelpFormatter finds the width without shutil (2 ms of every start): every
    command's help is what argparse's own formatter gives, wrapped at the same width."""
    import argparse

    from bpstep import cli

    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    parsers = [parser for parser, _ in cli._command_parsers().values()] + [cli._tui_parser()]
    assert len(parsers) == 7
    for parser in parsers:
        ours = parser.format_help()
        base = argparse.RawDescriptionHelpFormatter if parser.prog == "bpstep" else argparse.HelpFormatter
        assert issubclass(parser.formatter_class, cli.HelpFormatter)  # (argparse's own imports shutil)
        assert issubclass(parser.formatter_class, base)
        parser.formatter_class = base
        assert ours == parser.format_help()
    width = int(columns) if columns and columns.isdigit() and int(columns) > 0 else shutil.get_terminal_size().columns
    run_help = cli._run_parser()[0].format_help()  # (its text is wrapped; the bare command's is as written)
    assert max(map(len, run_help.splitlines())) <= max(width - 2, 40) < max(map(len, run_help.split("\n\n")))


def test_the_bare_command_knows_every_command_name():
    """main() picks a command by COMMAND_NAMES without building the parsers (start-up time)."""
    from bpstep.cli import COMMAND_NAMES, _command_parsers

    assert COMMAND_NAMES == set(_command_parsers())


def test_python_dash_m(scenario_dir):
    proc = subprocess.run([sys.executable, "-m", "bpstep", "run", str(scenario_dir / "sigmoid.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Sigmoid neuron" in proc.stdout


def test_run_text(bpstep_bin, scenario_dir):
    proc = run(bpstep_bin, "run", str(scenario_dir / "complex.yaml"))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Forward cache" in out and "Backward: 12 steps over 8 stages" in out
    # every += shown as before + contribution = after
    assert "dx: 1.5832 - 0.03576 = 1.5474" in out
    assert "dx: 1.5474 + 0.5121 = 2.0596" in out
    assert "dy: 1.5832 + 0.009046 = 1.5922" in out
    assert "dx       2.0596   = 1.5832 (stage 4) - 0.03576 (stage 3) + 0.5121 (stage 2)" in out
    assert "did you mean dinvden" in out


def test_run_text_summarises_arrays(bpstep_bin, scenario_dir):
    out = run(bpstep_bin, "run", str(scenario_dir / "matmul.yaml")).stdout
    assert "dW = (5, 10) [" in out and "dX = (10, 3) [" in out


def test_run_json_follows_the_contract(bpstep_bin, scenario_dir):
    proc = run(bpstep_bin, "run", "--json", str(scenario_dir / "complex.yaml"))
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert {"title", "output", "forward", "steps", "gradients"} <= set(doc)
    assert doc["output"] == "f" and doc["forward"]["x"] == 3.0
    assert len(doc["steps"]) == 12
    step = doc["steps"][9]
    assert {k: step[k] for k in ("index", "stage", "target", "op")} == {
        "index": 10, "stage": 2, "target": "dx", "op": "+="}
    assert step["after"] == pytest.approx(step["before"] + step["contribution"])
    assert step["line"] == 45 and step["code"] == "dx += (1) * dnum"
    assert doc["steps"][0]["before"] is None
    assert doc["gradients"]["dx"] == pytest.approx(2.0595697955721652)


def test_run_json_arrays_and_non_finite_values(bpstep_bin, scenario_dir, tmp_path):
    doc = json.loads(run(bpstep_bin, "run", "--json", str(scenario_dir / "matmul.yaml")).stdout)
    assert np.array(doc["gradients"]["dW"]).shape == (5, 10)
    path = tmp_path / "inf.yaml"
    path.write_text("bpstep: 1\ntitle: t\ninputs: {x: [0, -1, 1]}\nforward: |\n"
                    "  f = np.log(x)\nbackward: |\n  dx = df / x\n")
    proc = run(bpstep_bin, "run", "--json", str(path))
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert doc["forward"]["f"] == ["-Infinity", "NaN", 0.0]
    assert doc["gradients"]["dx"] == ["Infinity", -1.0, 1.0]
    text = run(bpstep_bin, "run", str(path)).stdout
    assert "(!) not finite" in text


def test_bare_command_without_a_terminal_points_to_run(bpstep_bin, scenario_dir):
    proc = run(bpstep_bin, str(scenario_dir / "complex.yaml"))
    assert proc.returncode == 2
    assert "no terminal" in proc.stderr and "bpstep run" in proc.stderr


def test_usage_error_exits_2(bpstep_bin):
    proc = run(bpstep_bin, "run")
    assert proc.returncode == 2 and "usage:" in proc.stderr


def test_run_no_check_skips_only_the_gradient_check(bpstep_bin, scenario_dir):
    path = str(scenario_dir / "complex.yaml")
    full = json.loads(run(bpstep_bin, "run", "--json", path).stdout)
    quick = json.loads(run(bpstep_bin, "run", "--json", "--no-check", path).stdout)
    assert full["check"]["dx"]["verdict"] == "good" and quick["check"] is None
    assert quick["steps"] == full["steps"] and quick["gradients"] == full["gradients"]
    text = run(bpstep_bin, "run", "--no-check", path).stdout
    assert "Gradient check" not in text and "Backward: 12 steps" in text


def test_graph_refuses_a_circuit_too_large_to_draw_in_one_line(bpstep_bin, tmp_path):
    forward = ["  v1 = x * 0.5"] + [f"  v{i} = v{i - 1} * 0.5 + x" for i in range(2, 61)]
    scenario = tmp_path / "wide.yaml"
    scenario.write_text("bpstep: 1\ntitle: wide\ninputs:\n  x: 0.5\nforward: |\n" + "\n".join(forward) + "\n")
    out = tmp_path / "wide.svg"
    proc = run(bpstep_bin, "graph", str(scenario), "-o", str(out), "--max-circuit-size", "1000")
    assert proc.returncode == 2 and proc.stdout == "" and not out.exists()
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{scenario}:6:3: error: the circuit is too large to draw")
    assert "the limit is 1000 (raise it with --max-circuit-size)" in lines[0]
    proc = run(bpstep_bin, "graph", str(scenario), "-o", str(out), "--max-circuit-size", "5000")
    assert proc.returncode == 0 and out.read_text().startswith("<svg")


def test_the_circuit_limit_is_a_flag_of_the_commands_that_draw_it(bpstep_bin):
    for command in ([], ["graph"], ["replay"]):  # the debugger, the SVG, the replayed debugger
        assert "--max-circuit-size" in run(bpstep_bin, *command, "--help").stdout, command
    assert "--max-circuit-size" not in run(bpstep_bin, "run", "--help").stdout


@pytest.mark.skipif(not __import__("os").path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["run", "--json"], ["run"], ["derive"], ["check"], ["graph", "-o", "-"]])
def test_a_full_disk_is_one_line_and_exit_2_not_a_bug(bpstep_bin, scenario_dir, args):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([bpstep_bin, *args[:1], str(scenario_dir / "complex.yaml"), *args[1:]],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
    assert proc.returncode == 2
    assert proc.stderr == "bpstep: error: cannot write the output: No space left on device\n"


def test_a_closed_pipe_ends_quietly(bpstep_bin, scenario_dir):
    """`bpstep run --json big | head`: exit 1, nothing on stderr (no traceback, no 'Exception ignored')."""
    proc = subprocess.Popen([bpstep_bin, "run", "--json", str(scenario_dir / "matmul.yaml")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    proc.stdout.read(5)
    proc.stdout.close()
    assert proc.wait(timeout=120) in (0, 1)  # 0 when it all fit in the pipe before the close
    assert proc.stderr.read() == b""
    proc.stderr.close()


def test_a_closed_standard_output_is_one_line_and_exit_2(bpstep_bin, scenario_dir):
    import os

    proc = subprocess.run([bpstep_bin, "run", str(scenario_dir / "complex.yaml")], stderr=subprocess.PIPE,
                          text=True, timeout=120, stdin=subprocess.DEVNULL, preexec_fn=lambda: os.close(1))
    assert proc.returncode == 2
    assert proc.stderr == "bpstep: error: cannot write the output: standard output is closed\n"


def test_outputs_never_overwrite_what_is_read(bpstep_bin, scenario_dir, tmp_path):
    """A bad-input hunt: --record onto the scenario replaced it with a transcript header, and so
    did graph -o; --asciicast onto the transcript replaced the session. An existing --record file
    (an earlier session) is refused as the palette's Start recording refuses it."""
    scenario = tmp_path / "c.yaml"
    shutil.copy(scenario_dir / "complex.yaml", scenario)
    original = scenario.read_bytes()
    session = tmp_path / "old.jsonl"
    session.write_text("an earlier session\n")
    for args, message in [([str(scenario), "--record", str(scenario)], "already exists"),
                          ([str(scenario), "--record", str(session)], "already exists"),
                          (["graph", str(scenario), "-o", str(scenario)], "is the scenario itself")]:
        proc = run(bpstep_bin, *args)
        assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert scenario.read_bytes() == original and session.read_text() == "an earlier session\n"
    proc = run(bpstep_bin, str(scenario), "--record", "")
    assert proc.returncode == 2 and "--record: a file name is needed" in proc.stderr


def test_asciicast_never_overwrites_the_transcript(bpstep_bin, scenario_dir, tmp_path):
    from bpstep.core.engine import load_walk
    from bpstep.core.transcript import TranscriptWriter

    path = tmp_path / "s.jsonl"
    writer = TranscriptWriter.open(str(path), load_walk(str(scenario_dir / "complex.yaml")))
    writer.record("end", 0, 12)
    writer.close()
    kept = path.read_bytes()
    proc = run(bpstep_bin, "transcript", str(path), "--asciicast", str(path))
    assert proc.returncode == 2 and "is a file being read" in proc.stderr and proc.stderr.count("\n") == 1
    assert path.read_bytes() == kept


def test_asciicast_never_overwrites_the_scenario_the_header_names(bpstep_bin, scenario_dir, tmp_path):
    """A bad-input hunt: without --scenario, the scenario found through the transcript's header
    was not checked, and `--asciicast complex.yaml` replaced it with the recording."""
    from bpstep.core.engine import load_walk
    from bpstep.core.transcript import TranscriptWriter

    scenario = tmp_path / "complex.yaml"
    shutil.copy(scenario_dir / "complex.yaml", scenario)
    kept = scenario.read_bytes()
    path = tmp_path / "s.jsonl"
    writer = TranscriptWriter.open(str(path), load_walk(str(scenario)))
    writer.record("end", 0, 12)
    writer.close()
    proc = run(bpstep_bin, "transcript", str(path), "--asciicast", str(scenario))
    assert proc.returncode == 2 and "is the scenario of this session" in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and scenario.read_bytes() == kept
    proc = run(bpstep_bin, "transcript", str(path), "--asciicast", "")  # was '<scenario>:1:1: error: ...'
    assert proc.returncode == 2 and "--asciicast: a file name is needed" in proc.stderr, proc.stderr


def test_a_non_blocking_standard_output_gets_every_byte(bpstep_bin, tmp_path):
    """A bad-input hunt: with a non-blocking pipe (as some parents leave it) and a slow reader,
    Python's text layer dropped what the pipe refused: 59,702 of 655,548 bytes, exit 0."""
    import os
    import time

    lines = ["bpstep: 1", "title: chain", "inputs: {x: 0.5}", "forward: |"]
    lines += [f"  v{k} = {'x' if k == 0 else f'v{k - 1}'} * 1.0001" for k in range(1500)]
    lines += ["backward: |"] + [f"  d{'x' if k == 0 else f'v{k - 1}'} = 1.0001 * dv{k}" for k in reversed(range(1500))]
    scenario = tmp_path / "chain.yaml"
    scenario.write_text("\n".join(lines) + "\n")
    whole = run(bpstep_bin, "run", "--json", "--no-check", str(scenario)).stdout.encode()
    assert len(whole) > 4 * 65536  # more than a pipe holds
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    proc = subprocess.Popen([bpstep_bin, "run", "--json", "--no-check", str(scenario)], stdout=write_end,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    os.close(write_end)
    time.sleep(1)  # the pipe fills and refuses writes meanwhile
    got = b""
    with os.fdopen(read_end, "rb") as reader:
        while chunk := reader.read(1 << 16):
            got += chunk
    assert proc.wait(timeout=120) == 0 and proc.stderr.read() == b""
    proc.stderr.close()
    assert got == whole


def test_the_bare_command_without_arguments_names_the_other_commands(bpstep_bin):
    """A newcomer typing `bpstep` alone got a usage line with only SCENARIO in it."""
    proc = run(bpstep_bin)
    assert proc.returncode == 2 and "SCENARIO" in proc.stderr
    assert all(name in proc.stderr for name in ("run", "check", "derive", "graph", "transcript", "replay"))
    assert "--help" in proc.stderr and "Traceback" not in proc.stderr


EMPTY_SLICE = """\
bpstep: 1
title: an empty input
seed: 0
inputs: |
  x = np.random.randn(0, 3)
forward: |
  m = x.mean(axis=0)
  y = np.sum(m)
"""


@pytest.mark.parametrize("command", [["run"], ["run", "--json"], ["check"], ["check", "--json"]])
def test_numpys_own_warnings_stay_off_stderr(bpstep_bin, tmp_path, command):
    """A bad-input hunt: the mean over an empty axis printed numpy's 'RuntimeWarning: Mean of
    empty slice' (twice, with its source line) on stderr, on exit 0; and an input with no
    elements was 'skipped' because 'the check's budget of forward passes is used up'."""
    path = tmp_path / "empty.yaml"
    path.write_text(EMPTY_SLICE)
    proc = run(bpstep_bin, *command, str(path))
    assert proc.stderr == "" and proc.returncode in (0, 1), proc.stderr
    if command == ["run"]:
        assert "dx: x has no elements to check" in proc.stdout


def test_run_names_a_cached_matrix_shape_once(bpstep_bin, scenario_dir):
    """A newcomer's run: 'W  input  (5, 10)  (5, 10) [1.7641, …]': the shape column, then the
    shape again in the value."""
    proc = run(bpstep_bin, "run", "--no-check", str(scenario_dir / "matmul.yaml"))
    row = next(line for line in proc.stdout.splitlines() if line.split()[:2] == ["W", "input"])
    assert row.count("(5, 10)") == 1 and row.split("(5, 10)")[1].split()[0] == "[1.7641,", row


CJK_TABLE = """\
bpstep: 1
title: cjk
inputs:
  输入值变量: 2.0
  b: 1.0
forward: |
  中间结果变量 = 输入值变量 * 3
  y = 中间结果变量 * b
"""


@pytest.mark.parametrize("command", ["run", "check"])
def test_text_tables_align_wide_character_names(bpstep_bin, tmp_path, command):
    """A hunt: the text tables of run and check padded by characters, so a CJK name (two cells
    a character) pushed its row's later columns out of line."""
    from rich.cells import cell_len  # the terminal's measure, independent of bpstep's own

    path = tmp_path / "cjk.yaml"
    path.write_text(CJK_TABLE)
    proc = run(bpstep_bin, command, str(path))
    lines = proc.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] in (["name", "stage"], ["gradient", "of"]))
    column = cell_len(lines[header].split(lines[header].split()[1])[0])  # where the second column starts
    rows = [line for line in lines[header + 1:header + 5] if line.strip()]
    assert any(not line.isascii() for line in rows), rows
    for line in rows:
        first = line.split()[0]
        assert cell_len(line[:line.index(first) + len(first)]) < column
        assert line[len(line[:line.index(first) + len(first)]):].startswith(" ")
        second = line.split()[1]
        assert cell_len(line[:line.index(second, line.index(first) + len(first))]) == column, (line, column)


def test_a_combining_mark_takes_no_cell_in_a_text_table():
    """A review: x̂ (x and a combining circumflex) was counted as two cells, pushing its row's
    later columns out of line by one."""
    from rich.cells import cell_len  # the terminal's measure

    from bpstep.core.report import cells, table

    name = "x\u0302"
    assert cells(name) == cell_len(name) == 1
    rows = table([["name", "stage"], [name, "input"], ["y", "1"]])
    assert len({cell_len(row[:row.rindex(row.split()[1])]) for row in rows}) == 1, rows  # the 2nd column, aligned


@pytest.mark.parametrize("command", [["run"], ["run", "--json"], ["check"], ["check", "--json"]])
def test_the_command_ends_at_once_with_every_byte_and_its_status(bpstep_bin, tmp_path, command, capsys):
    """`bpstep run` and `check` end with os._exit once their output is written (the teardown of
    a large walk was 30 ms for nothing): the file still gets every byte main() writes, and the
    status is main()'s (check: 1 for a wrong backward pass)."""
    from bpstep.cli import main

    lines = ["bpstep: 1", "title: chain", "inputs: {x: 0.5}", "forward: |"]
    lines += [f"  v{k} = {'x' if k == 0 else f'v{k - 1}'} * 1.0001" for k in range(400)]
    lines += ["backward: |"] + [f"  d{'x' if k == 0 else f'v{k - 1}'} = {'2' if k == 7 else '1.0001'} * dv{k}"
                                for k in reversed(range(400))]
    scenario = tmp_path / "chain.yaml"
    scenario.write_text("\n".join(lines) + "\n")
    status = main([*command, str(scenario)])
    expected = capsys.readouterr().out
    out = tmp_path / "out.txt"
    with open(out, "w") as stdout:
        proc = subprocess.run([bpstep_bin, *command, str(scenario)], stdout=stdout, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, timeout=120)
    assert (proc.returncode, proc.stderr) == (status, b"")
    assert status == (1 if command[0] == "check" else 0)
    assert len(expected) > 50_000 and out.read_text() == expected  # more than one buffer


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="threads counted in /proc")
@pytest.mark.parametrize("given", [None, "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"])
def test_numpy_runs_one_blas_thread_unless_the_user_says(given, scenario_dir):
    """OpenBLAS's threads spun for 0.1 s of CPU after numpy's import, beside bpstep's start."""
    from bpstep.cli import main

    before = dict(os.environ)
    with contextlib.redirect_stdout(io.StringIO()):
        main(["run", str(scenario_dir / "sigmoid.yaml")])
    assert dict(os.environ) == before  # a program calling main() keeps its environment
    # the command (cli.script), counting its threads as it ends (it ends with os._exit)
    code = ("import os, sys\nfrom bpstep import cli\nend = os._exit\n"
            "def counted(status):\n"
            "    print(len(os.listdir('/proc/self/task')), os.environ.get('OPENBLAS_NUM_THREADS'), file=sys.stderr)\n"
            "    sys.stderr.flush()\n    end(status)\n"
            "os._exit = counted\nsys.argv = ['bpstep', 'run', sys.argv[1]]\ncli.script()\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS",
                                                           "OMP_NUM_THREADS")}
    if given:
        env[given] = "2"
    proc = subprocess.run([sys.executable, "-c", code, str(scenario_dir / "matmul.yaml")], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Matrix" in proc.stdout, proc.stderr
    threads, openblas = proc.stderr.split()
    if given is None:
        assert (threads, openblas) == ("1", "1")
    else:
        assert openblas == ("2" if given == "OPENBLAS_NUM_THREADS" else "None")
        assert int(threads) == (2 if os.cpu_count() > 1 else 1)


def _chain(folder, stages: int):
    """A scenario file of a chain of ``stages`` scalar stages, each one quick line each way."""
    path = folder / f"chain_{stages}.yaml"
    body = "".join(f"  v{i} = v{i - 1} * 1.001 #({i})\n" for i in range(1, stages))
    back = "".join(f"  dv{i - 1} = 1.001 * dv{i}\n" for i in range(stages - 1, 0, -1))
    path.write_text(f"bpstep: 1\ntitle: chain\ninputs: {{v0: 1.5}}\nforward: |\n{body}backward: |\n{back}")
    return path


def test_a_batch_command_runs_without_the_cycle_collector_and_leaves_no_growing_garbage(scenario_dir, tmp_path):
    """cli.script pauses the cyclic collector for the batch commands (its passes only walked the
    live walk): what they drop in cycles stays a few dozen objects, the same for 4 stages and
    for 3,000. The debugger's path (no command) keeps the collector."""
    big = _chain(tmp_path, 3000)
    code = ("import contextlib, gc, io, sys\nfrom bpstep.cli import main\ngc.collect()\ngc.disable()\ncounts = []\n"
            "for path in sys.argv[1:]:\n"
            "    for command in (['run', '--json'], ['check'], ['derive']):\n"
            "        with contextlib.redirect_stdout(io.StringIO()):\n"
            "            assert main(command + [path]) == 0\n"
            "        gc.unfreeze()\n        counts.append(gc.collect())\n"
            "print(*counts)\n")
    small = str(scenario_dir / "complex.yaml")
    proc = subprocess.run([sys.executable, "-c", code, small, small, str(big)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    counts = [int(n) for n in proc.stdout.split()]
    again, large = counts[3:6], counts[6:9]  # (the first round also drops what the imports left)
    assert large == again and max(large) < 200, counts
    # the command itself: paused for run, kept for the debugger's arguments (--version ends in argparse)
    probe = ("import gc, os, sys\nfrom bpstep import cli\nend = os._exit\n"
             "def ended(status):\n    print(gc.isenabled(), file=sys.stderr)\n    sys.stderr.flush()\n    end(status)\n"
             "os._exit = ended\nsys.argv = ['bpstep', *sys.argv[1:]]\n"
             "try:\n    cli.script()\nexcept SystemExit:\n    print(gc.isenabled(), file=sys.stderr)\n")
    for argv, enabled in ((["run", small], "False"), (["--version"], "True")):
        proc = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120)
        assert proc.stderr.split()[-1:] == [enabled], (argv, proc.stderr)


def _pipe_can_widen() -> bool:
    """Whether this process may make a new pipe 1 MB (Linux, within the user's pipe budget)."""
    try:
        import fcntl

        read_end, write_end = os.pipe()
        try:
            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 1 << 20)
            return fcntl.fcntl(write_end, fcntl.F_GETPIPE_SZ) >= 1 << 20
        finally:
            os.close(read_end)
            os.close(write_end)
    except (ImportError, AttributeError, OSError):
        return False


def _run_into_a_pipe(scenario: str) -> tuple[bytes, int, int]:
    """run --json's bytes read from a pipe, its exit status, and the pipe's size at the end."""
    import fcntl

    read_end, write_end = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "bpstep", "run", "--json", scenario], stdout=write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        data = reader.read()
        size = fcntl.fcntl(reader.fileno(), fcntl.F_GETPIPE_SZ)
    return data, proc.wait(timeout=120), size


@pytest.mark.skipif(not _pipe_can_widen(), reason="Linux's pipe sizes, within the user's budget")
def test_a_large_output_widens_its_pipe_and_a_small_one_does_not(scenario_dir, tmp_path):
    """run --json widens a pipe once it has written 1 MB to it (from 64 KB: fewer blocking
    writes while a reader drains it), not before: a small document leaves the pipe as it is.
    The reader gets every byte either way."""
    from bpstep.cli import PIPE_BYTES
    from bpstep.core.engine import load_walk
    from bpstep.core.report import json_text

    big = _chain(tmp_path, 4000)
    small = str(scenario_dir / "complex.yaml")
    for path, widened in ((str(big), True), (small, False)):
        data, status, size = _run_into_a_pipe(path)
        expected = json_text(load_walk(path))
        assert status == 0 and data.decode() == expected
        assert (len(expected) > PIPE_BYTES) == widened
        assert (size >= PIPE_BYTES) == widened, (path, size)
