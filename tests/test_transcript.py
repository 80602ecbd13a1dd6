"""Writing a transcript and reading it back (DESIGN.md section 4)."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
from transcript_helpers import SCENARIOS, STARTED, record, random_keys

from bpstep import __version__
from bpstep.core.engine import load_walk
from bpstep.core.errors import ScenarioError
from bpstep.core.transcript import TranscriptWriter, read
from bpstep.core.values import decode, encode

COMPLEX = str(SCENARIOS / "complex.yaml")


@pytest.fixture(scope="module")
def walk():
    return load_walk(COMPLEX)


def test_header_is_line_one_with_the_contract_fields(tmp_path, walk):
    path = tmp_path / "s.jsonl"
    record(path, walk, ["n"], scenario_path="scenarios/complex.yaml")
    header = json.loads(path.read_text().splitlines()[0])
    assert header["type"] == "header" and header["format"] == "bpstep-transcript" and header["version"] == 1
    assert header["scenario"] == "scenarios/complex.yaml"  # as given
    assert header["sha256"] == hashlib.sha256((SCENARIOS / "complex.yaml").read_bytes()).hexdigest()
    assert header["bpstep"] == __version__
    assert header["started"] == "2024-05-01T12:00:00+00:00"


def test_the_digest_is_of_the_files_bytes_and_only_computed_when_asked_for(tmp_path, monkeypatch, capsys):
    """The digest is of the bytes, a BOM and CRLF included (the text holds no BOM); run does not ask."""
    from bpstep import cli
    from bpstep.core import scenario as scenario_module

    raw = b"\xef\xbb\xbf" + (SCENARIOS / "complex.yaml").read_bytes().replace(b"\n", b"\r\n")
    path = tmp_path / "bom.yaml"
    path.write_bytes(raw)
    assert scenario_module.load(str(path)).sha256 == hashlib.sha256(raw).hexdigest()
    assert scenario_module.parse(raw.decode("utf-8-sig"), "t.yaml").sha256 == ""  # given as text
    asked = []
    monkeypatch.setattr(scenario_module, "_digest", lambda data: asked.append(data))
    assert cli.main(["run", "--json", "--no-check", str(path)]) == 0 and not asked
    assert json.loads(capsys.readouterr().out)["output"] == "f"


def test_starting_a_recording_does_not_check_or_encode_the_whole_walk(tmp_path, walk, monkeypatch):
    """The header needs the cache and the upstream gradient only: no gradient check (it re-runs
    the forward pass per input element) and no step, before the first frame."""
    import bpstep.core.gradcheck
    import bpstep.core.report

    def refused(*args, **kwargs):
        raise AssertionError("not needed for a transcript header")

    monkeypatch.setattr(bpstep.core.gradcheck, "check_walk", refused)
    monkeypatch.setattr(bpstep.core.report, "step_json", refused)
    TranscriptWriter.open(str(tmp_path / "s.jsonl"), walk, started=STARTED).close()
    header = json.loads((tmp_path / "s.jsonl").read_text())
    assert header["upstream"] == 1.0 and [e["name"] for e in header["cache"]][:3] == ["x", "y", "sigy"]
    last = header["cache"][-1]
    assert (last["name"], last["version"], last["stage"], last["line"], last["shape"]) == ("f", 1, 8, 26, [])
    assert last["code"] == "f = num * invden # done! #(8)"  # the line as written
    assert math.isclose(last["value"], 1.5456, abs_tol=5e-5)  # the notes' f(3, -4)


def test_action_line_holds_key_positions_and_steps_as_run_json(tmp_path, walk):
    path = tmp_path / "s.jsonl"
    record(path, walk, ["n", "s", "p"])
    lines = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    first, _, back = lines
    assert (first["action"], first["before"], first["after"], first["move"]) == ("n", 0, 2, "forward")
    assert [s["index"] for s in first["steps"]] == [1, 2]
    step = first["steps"][0]
    assert {"index", "stage", "line", "code", "target", "op", "before", "contribution", "after"} <= set(step)
    assert (step["stage"], step["line"], step["code"], step["target"], step["op"], step["before"]) == \
        (8, 29, "dnum = invden", "dnum", "=", None)
    # dnum = invden = 1 / (sigmoid(3) + (3 - 4)**2), computed here independently
    assert step["after"] == pytest.approx(1 / (1 / (1 + math.exp(-3)) + 1))
    assert (back["before"], back["after"], back["move"]) == (3, 2, "back")
    assert [s["index"] for s in back["steps"]] == [3]  # the step undone


def test_round_trip_recovers_every_action_and_value(tmp_path, walk):
    path = tmp_path / "s.jsonl"
    keys = random_keys(seed=4, count=40) + ["end"]
    positions = record(path, walk, keys)
    transcript = read(str(path))
    assert [a.action for a in transcript.actions] == keys
    assert [a.after for a in transcript.actions] == positions
    assert [a.before for a in transcript.actions] == [0] + positions[:-1]
    assert [a.number for a in transcript.actions] == list(range(1, len(keys) + 1))
    assert [a.t for a in transcript.actions] == [1.5 * k for k in range(1, len(keys) + 1)]
    for action in transcript.actions:
        for step in action.steps:
            live = walk.step(step.index)
            assert (step.code, step.target, step.op, step.stage, step.line) == \
                (live.code, live.target, live.op, live.stage, live.line)
            for name in ("before", "contribution", "after"):
                assert (getattr(step, name) is None) == (getattr(live, name) is None)
                if getattr(live, name) is not None:
                    assert np.array_equal(getattr(step, name), getattr(live, name))  # exact round trip
    header = transcript.header
    assert header.title == "Staged f(x, y)" and header.output == "f"
    assert [c.label for c in header.cache] == ["x", "y", "sigy", "num", "sigx", "xpy", "xpysqr", "den",
                                               "invden", "f"]
    assert header.stages[3] == "sigx = 1.0 / (1 + math.exp(-x))"


def _f(x, y):
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    return (x + sig(y)) / (sig(x) + (x + y) ** 2)


def test_the_transcript_alone_rebuilds_the_gradients_at_every_position(tmp_path, walk):
    """Applying each recorded step's after (or undoing to its before) reproduces the state,
    and the final dx, dy match central differences of f."""
    path = tmp_path / "s.jsonl"
    record(path, walk, random_keys(seed=11, count=60) + ["home", "end"])
    state = {"df": np.float64(1.0)}
    for action in read(str(path)).actions:
        for step in action.steps:
            if action.move == "forward":
                state[step.target] = step.after
            elif step.before is None:
                del state[step.target]
            else:
                state[step.target] = step.before
        expected = walk.gradients_at(action.after)
        assert sorted(state) == sorted(expected)
        assert all(np.array_equal(state[n], expected[n]) for n in state)
    h = 1e-6
    assert state["dx"] == pytest.approx((_f(3 + h, -4) - _f(3 - h, -4)) / (2 * h), rel=1e-6)
    assert state["dy"] == pytest.approx((_f(3, -4 + h) - _f(3, -4 - h)) / (2 * h), rel=1e-6)


def test_arrays_and_non_finite_values_round_trip(tmp_path):
    walk = load_walk(str(SCENARIOS / "matmul.yaml"))
    path = tmp_path / "m.jsonl"
    record(path, walk, ["end", "home"])
    transcript = read(str(path))
    applied = transcript.actions[0].steps
    assert [s.after.shape for s in applied] == [(5, 10), (10, 3)]
    assert np.array_equal(applied[0].after, walk.steps[0].after)
    assert transcript.header.cache[0].value.shape == (5, 10)
    values = [np.float64("nan"), np.array([1.0, np.inf, -np.inf]), np.array([[1.5, 2], [3, 4]]), None]
    for value in values:
        back = decode(json.loads(json.dumps(encode(value))))
        assert (back is None) if value is None else np.array_equal(back, value, equal_nan=True)


@pytest.mark.filterwarnings("ignore:Mean of empty slice:RuntimeWarning")  # numpy's, on the mean of no rows
def test_empty_arrays_keep_their_shape_and_are_not_changed_steps(tmp_path):
    """A bad-input hunt: JSON's [] cannot say which empty shape, so an input of shape (0, 3)
    came back as (0,) and every step writing an empty gradient was flagged as changed."""
    from bpstep.core.transcript import open_replay

    scenario = tmp_path / "empty.yaml"
    scenario.write_text("bpstep: 1\ntitle: empty\nseed: 0\ninputs: |\n  x = np.random.randn(0, 3)\n"
                        "forward: |\n  m = x.mean(axis=0)\n  y = np.sum(m)\n")
    walk = load_walk(str(scenario))
    path = tmp_path / "e.jsonl"
    record(path, walk, ["end"])
    transcript = read(str(path))
    assert transcript.header.cache[0].value.shape == (0, 3)
    replay = open_replay(transcript)
    assert replay.differences == {} and replay.warnings == ()


def test_writer_refuses_positions_outside_the_walk_and_writes_nothing(tmp_path, walk):
    path = tmp_path / "s.jsonl"
    with TranscriptWriter.open(str(path), walk, started=STARTED) as writer:
        with pytest.raises(ValueError):
            writer.record("n", 0, walk.total + 1)
        with pytest.raises(ValueError):
            writer.record("", 0, 1)
        writer.record("s", 0, 1)
    assert len(path.read_text().splitlines()) == 2
    with pytest.raises(ValueError):
        writer.record("s", 1, 2)


def test_an_unwritable_transcript_path_is_a_one_line_error(tmp_path, walk):
    with pytest.raises(ScenarioError) as info:
        TranscriptWriter.open(str(tmp_path / "no-such-dir" / "s.jsonl"), walk)
    assert info.value.format() == f"{tmp_path / 'no-such-dir' / 's.jsonl'}:1:1: error: cannot write the " \
                                  "transcript: No such file or directory"


def test_each_action_is_in_the_file_as_soon_as_record_returns(tmp_path, walk):
    path = tmp_path / "s.jsonl"
    writer = TranscriptWriter.open(str(path), walk, started=STARTED)
    try:
        for k in range(1, 4):
            writer.record("s", k - 1, k)
            lines = path.read_bytes().split(b"\n")  # read by another handle, writer still open
            assert lines[-1] == b"" and len(lines) == k + 2
    finally:
        writer.close()


# -- corrupt transcripts: one error line naming the line (and column) ---------------------------

def _good(tmp_path, walk) -> list[str]:
    path = tmp_path / "good.jsonl"
    record(path, walk, ["n", "s", "n", "end"])
    return path.read_text().splitlines()


def _error(tmp_path, text: str | bytes) -> ScenarioError:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ScenarioError) as info:
        read(str(path))
    return info.value


def _edit(line: str, change) -> str:
    obj = json.loads(line)
    change(obj)
    return json.dumps(obj, separators=(",", ":"))


def test_empty_file(tmp_path):
    error = _error(tmp_path, "")
    assert (error.line, error.col) == (1, 1) and "empty" in error.message


def test_not_json_at_all(tmp_path):
    error = _error(tmp_path, "bpstep: 1\ntitle: x\n")
    assert error.line == 1 and "not valid JSON" in error.message and "--record" in error.message


def test_missing_header(tmp_path, walk):
    lines = _good(tmp_path, walk)
    error = _error(tmp_path, "\n".join(lines[1:]) + "\n")
    assert (error.line, error.col) == (1, 2) and "header" in error.message


def test_wrong_format_and_version(tmp_path, walk):
    lines = _good(tmp_path, walk)
    bad = _edit(lines[0], lambda o: o.update(format="other-tool"))
    error = _error(tmp_path, "\n".join([bad] + lines[1:]) + "\n")
    assert error.line == 1 and error.col == bad.index('"format"') + 1 and "not a bpstep transcript" in error.message
    bad = _edit(lines[0], lambda o: o.update(version=2))
    error = _error(tmp_path, "\n".join([bad] + lines[1:]) + "\n")
    assert error.line == 1 and error.col == bad.index('"version"') + 1 and "version 2" in error.message


def test_bad_json_in_the_middle_names_line_and_column(tmp_path, walk):
    lines = _good(tmp_path, walk)
    lines[2] = lines[2].replace('"before":', '"before"::', 1)
    error = _error(tmp_path, "\n".join(lines) + "\n")
    assert error.line == 3 and error.col == lines[2].index("::") + 2 and "not valid JSON" in error.message


def test_truncated_last_line(tmp_path, walk):
    lines = _good(tmp_path, walk)
    text = "\n".join(lines) + "\n"
    cut = text[: len(text) - len(lines[-1]) // 2]  # the last action, half written
    error = _error(tmp_path, cut)
    assert error.line == len(lines) and "cut short" in error.message


def test_wrong_types(tmp_path, walk):
    lines = _good(tmp_path, walk)
    bad = _edit(lines[2], lambda o: o.update(after="3"))
    error = _error(tmp_path, "\n".join(lines[:2] + [bad] + lines[3:]) + "\n")
    assert error.line == 3 and error.col == bad.index('"after"') + 1 and "whole number" in error.message
    bad = _edit(lines[1], lambda o: o.update(action=["n"]))
    error = _error(tmp_path, "\n".join(lines[:1] + [bad] + lines[2:]) + "\n")
    assert error.line == 2 and '"action"' in error.message


def test_control_characters_in_its_strings_are_refused(tmp_path, walk):
    """A bad-input hunt: a hand-edited title or code holding an escape sequence reached the
    terminal (and the Markdown and asciicast) as it was: it retitled and cleared the terminal."""
    lines = _good(tmp_path, walk)
    bad = _edit(lines[0], lambda o: o.update(title="\x1b]0;pwned\x07\x1b[2J"))
    error = _error(tmp_path, "\n".join([bad] + lines[1:]) + "\n")
    assert error.line == 1 and error.col == bad.index('"title"') + 1 and "U+001B" in error.message
    bad = _edit(lines[4], lambda o: o["steps"][0].update(code="dnum = invden \u202e"))
    error = _error(tmp_path, "\n".join(lines[:4] + [bad]) + "\n")
    assert error.line == 5 and "U+202E" in error.message and "step 1" in error.message


def test_bad_value_inside_a_step_points_at_that_step(tmp_path, walk):
    lines = _good(tmp_path, walk)
    bad = _edit(lines[4], lambda o: o["steps"][2].update(contribution="lots"))  # action "end", step 3 of it
    error = _error(tmp_path, "\n".join(lines[:4] + [bad]) + "\n")
    third = bad.index('"index"', bad.index('"index"', bad.index('"index"') + 1) + 1)
    assert error.line == 5 and error.col == bad.index('"contribution"', third) + 1
    assert "step 3" in error.message and "'lots'" in error.message


def test_bad_value_in_the_header_cache_points_at_that_entry(tmp_path, walk):
    lines = _good(tmp_path, walk)
    bad = _edit(lines[0], lambda o: o["cache"][3].update(value=[[1, 2], [3]]))
    error = _error(tmp_path, "\n".join([bad] + lines[1:]) + "\n")
    fourth = bad.index('"name":"num"')
    assert error.line == 1 and error.col == bad.index('"value"', fourth) + 1
    assert error.message.startswith('entry 4 of "cache": "value" is not a value') and "same length" in error.message


def test_steps_that_do_not_match_the_move(tmp_path, walk):
    lines = _good(tmp_path, walk)
    bad = _edit(lines[1], lambda o: o["steps"].pop())
    error = _error(tmp_path, "\n".join(lines[:1] + [bad] + lines[2:]) + "\n")
    assert error.line == 2 and "from 0 to 2" in error.message


def test_a_missing_action_line(tmp_path, walk):
    lines = _good(tmp_path, walk)
    error = _error(tmp_path, "\n".join(lines[:2] + lines[3:]) + "\n")
    assert error.line == 3 and "action number 3 where 2 was expected" in error.message


@pytest.mark.parametrize("text, line, words", [
    ('[1, 2]\n', 1, "expected a JSON object"),
    ('HEADER\n\n', 2, "empty line"),
    ('HEADER\n{"type":"action","n":1,"action":"n","t":NaN,"before":0,"after":0,"steps":[]}\n', 2, "NaN"),
    ('HEADER\n{"type":"note"}\n', 2, "must be an action"),
    ('HEADER\n{"type":"action","n":1,"action":"n","t":0,"before":0,"after":0,"move":"back","steps":[]}\n',
     2, '"move" says'),
    ('HEADER\n{"type":"action","n":1,"action":"n","t":0,"before":0,"after":' + "9" * 5000 + ',"steps":[]}\n',
     2, "a whole number of 5000 digits"),  # not Python's advice about sys.set_int_max_str_digits
])
def test_other_corruptions(tmp_path, walk, text, line, words):
    header = _good(tmp_path, walk)[0]
    error = _error(tmp_path, text.replace("HEADER", header))
    assert error.line == line and words in error.message


def test_not_utf8(tmp_path, walk):
    header = _good(tmp_path, walk)[0]
    error = _error(tmp_path, header.encode() + b'\n{"type":"act\xffion"}\n')
    assert (error.line, error.col) == (2, 13) and "UTF-8" in error.message


def test_error_text_is_one_line_in_the_file_line_col_format(tmp_path, walk):
    lines = _good(tmp_path, walk)
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines[:2] + ["{oops"]) + "\n")
    with pytest.raises(ScenarioError) as info:
        read(str(path))
    assert info.value.format().startswith(f"{path}:3:2: error: not valid JSON")
    assert "\n" not in info.value.format()


def _nested(depth: int, inner=1.0):
    for _ in range(depth):
        inner = [inner]
    return inner


def test_decode_refuses_what_encode_cannot_write():
    # 1e999: JSON's inf; nesting of hundreds of levels: a RecursionError ("a bug in bpstep") before
    for bad in ("nan", True, {"a": 1}, [[1, 2], [3]], [1, "x"], 1e999, [1.0, -1e999], _nested(17),
                _nested(500), [1.0, _nested(800)], [1.0, _nested(800, "NaN")]):
        with pytest.raises(ValueError):
            decode(bad)


def test_transcript_modules_stay_pure():
    """The transcript core imports neither textual nor rich (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys, bpstep.core.transcript\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
            "print(bad)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _header_line(tmp_path, walk) -> str:
    path = tmp_path / "h.jsonl"
    TranscriptWriter.open(str(path), walk, "scenarios/complex.yaml").close()
    return path.read_text().splitlines()[0]


def test_a_forged_huge_move_is_refused_without_building_it(tmp_path, walk):
    """A hostile line claiming a move of 3e9 steps: an error naming the line, at once."""
    path = tmp_path / "forged.jsonl"
    action = {"type": "action", "n": 1, "action": "x", "t": 0, "before": 0, "after": 3_000_000_000, "steps": []}
    path.write_text(_header_line(tmp_path, walk) + "\n" + json.dumps(action) + "\n")
    with pytest.raises(ScenarioError) as err:
        read(str(path))
    assert err.value.line == 2 and "3000000000 steps" in err.value.message


def test_deeply_nested_values_are_an_error_not_a_crash(tmp_path, walk):
    path = tmp_path / "deep.jsonl"
    step = '{"index": 1, "contribution": ' + "[" * 100_000 + "]" * 100_000 + "}"
    line = '{"type": "action", "n": 1, "action": "s", "t": 0, "before": 0, "after": 1, "steps": [' + step + "]}"
    path.write_text(_header_line(tmp_path, walk) + "\n" + line + "\n")
    with pytest.raises(ScenarioError) as err:
        read(str(path))
    assert err.value.line == 2 and "nested too deeply" in err.value.message


def test_a_recorded_array_larger_than_the_limit_is_refused_before_it_is_built(tmp_path, walk):
    """A forged transcript of 130 million zeros in one value took 7.9 GB to read (found by a
    bad-input hunt): an array is counted from the lists' lengths and refused above --max-elements."""
    lines = _good(tmp_path, walk)
    forged = _edit(lines[1], lambda o: o["steps"][0].update(after=[0] * 101))
    path = tmp_path / "forged.jsonl"
    path.write_text("\n".join(lines[:1] + [forged] + lines[2:]) + "\n")
    with pytest.raises(ScenarioError) as info:
        read(str(path), max_elements=100)
    assert info.value.line == 2 and "an array of 101 numbers; the limit is 100" in info.value.message
    assert read(str(path), max_elements=101).actions[0].steps[0].after.shape == (101,)


def test_decoding_plain_numbers_builds_no_list_of_floats():
    """Only JSON numbers (no "NaN" strings): numpy reads the lists as they are; a list of Python
    floats as long as the array was 32 bytes a number on top of the array's 8."""
    import tracemalloc

    data = [float(i) + 0.5 for i in range(200_000)]
    tracemalloc.start()
    try:
        array = decode(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert array[-1] == 199_999.5 and peak < 200_000 * 12, peak
