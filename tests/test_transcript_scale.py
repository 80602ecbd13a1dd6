"""Transcripts of long sessions: End and Home jumps repeat the same steps, so the writer
encodes each step once, the reader validates each recorded step once, and a replay compares
each recorded step once. Work is counted, not timed; the file stays byte for byte what
``json.dumps`` of the action's object gives."""

from __future__ import annotations

import json
import marshal
import math
import random
import shutil
from pathlib import Path

import numpy as np
from transcript_helpers import KEYS, SCENARIOS, STARTED, Clock, random_keys, record

import bpstep.core.transcript.reader as reader_module
import bpstep.core.transcript.replay as replay_module
import bpstep.core.transcript.writer as writer_module
from bpstep.core.engine import load_walk, run_text
from bpstep.core.errors import ScenarioError
from bpstep.core.report import step_json
from bpstep.core.transcript import RecordedStep, TranscriptWriter, read
from bpstep.core.transcript.model import move_of, steps_between

# NaN and both infinities, as scalars and inside an array, and names that are not ASCII
NON_FINITE = """bpstep: 1
title: non-finite
inputs:
  x: 0.0
  v: [0.0, 1.0, -1.0]
forward: |
  yé = np.log(x) * 2  #(1)
  u = np.log(v)  #(2)
  z = yé + np.sum(u)  #(3)
backward: |
  dyé = dz  #(3)
  du = dz * np.ones_like(u)  #(3)
  dv = du / v  #(2)
  dx = dyé * 2 / x  #(1)
  dx += dyé * yé  #(1)
"""


def walks():
    paths = sorted(SCENARIOS.glob("*.yaml")) + sorted((SCENARIOS / "buggy").glob("*.yaml"))
    assert len(paths) >= 9
    return [(path.name, load_walk(str(path))) for path in paths] + [("non-finite", run_text(NON_FINITE, "nf.yaml"))]


def expected_line(walk, n: int, action: str, t: float, before: int, after: int) -> str:
    """The line as the writer wrote it before it kept the steps' texts: one json.dumps."""
    return json.dumps({"type": "action", "n": n, "action": action, "t": t, "before": before, "after": after,
                       "move": move_of(before, after),
                       "steps": [step_json(walk.steps[i - 1]) for i in steps_between(before, after)]},
                      separators=(",", ":"), allow_nan=False) + "\n"


def record_and_expect(path: Path, walk, keys: list[str]) -> None:
    """Record ``keys`` and check the file: the header, then one json.dumps per action."""
    clock = Clock(tick=0.2503)  # times with three decimals, some rounded
    expected = []
    position = 0
    with TranscriptWriter.open(str(path), walk, started=STARTED, clock=clock) as writer:
        for n, key in enumerate(keys, start=1):
            after = KEYS[key](walk, position)
            writer.record(key, position, after)
            expected.append(expected_line(walk, n, key, round(clock.now, 3), position, after))
            position = after
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    assert [line + b"\n" for line in lines[1:-1]] == [line.encode("utf-8") for line in expected]


def test_each_line_is_byte_for_byte_one_json_dumps_of_the_action(tmp_path):
    """Passes on the writer before it kept texts too: it is that writer's output."""
    for name, walk in walks():
        keys = random_keys(seed=len(name), count=40) + ["end", "home", "end", "home", "end"]
        record_and_expect(tmp_path / f"{name}.jsonl", walk, keys)
    last = (tmp_path / "non-finite.jsonl").read_bytes().split(b"\n")[-2]
    # the NaN and the infinities are written as strings, names escaped to ASCII
    assert b'"NaN"' in last and b'"-Infinity"' in last and b'["Infinity",1.0,-1.0]' in last
    assert b'"target":"dy\\u00e9"' in last


def test_jumping_back_and_forth_encodes_each_step_once(tmp_path, monkeypatch):
    walk = load_walk(str(SCENARIOS / "complex.yaml"))
    encoded = []
    monkeypatch.setattr(writer_module, "step_json", lambda step, *enc: encoded.append(step.index) or step_json(step, *enc))
    record_and_expect(tmp_path / "s.jsonl", walk, ["end", "home"] * 3 + ["n", "s", "up", "end"])
    assert sorted(encoded) == list(range(1, walk.total + 1))  # not once per jump: 3 x 2 x total


def test_steps_with_long_texts_are_not_kept(tmp_path, monkeypatch):
    """A step whose text is longer than FRAGMENT_CHARS is encoded each time it is written (a
    256x256 matrix step's text is about a megabyte); the shorter ones once."""
    walk = load_walk(str(SCENARIOS / "matmul.yaml"))
    sizes = [len(json.dumps(step_json(step), separators=(",", ":"))) for step in walk.steps]
    limit = (min(sizes) + max(sizes)) // 2
    long = [step.index for step, size in zip(walk.steps, sizes) if size > limit]
    assert long and len(long) < walk.total
    monkeypatch.setattr(writer_module, "FRAGMENT_CHARS", limit)
    encoded = []
    monkeypatch.setattr(writer_module, "step_json", lambda step, *enc: encoded.append(step.index) or step_json(step, *enc))
    record_and_expect(tmp_path / "m.jsonl", walk, ["end", "home", "end"])
    assert sorted(encoded) == sorted(list(range(1, walk.total + 1)) + long * 2)


def test_the_kept_texts_stop_at_cache_chars(tmp_path, monkeypatch):
    walk = load_walk(str(SCENARIOS / "complex.yaml"))
    sizes = [len(json.dumps(step_json(step), separators=(",", ":"))) for step in walk.steps]
    monkeypatch.setattr(writer_module, "CACHE_CHARS", sum(sizes[:5]))
    encoded = []
    monkeypatch.setattr(writer_module, "step_json", lambda step, *enc: encoded.append(step.index) or step_json(step, *enc))
    record_and_expect(tmp_path / "s.jsonl", walk, ["end", "home", "end"])
    # the first five fill the cache; every later one is encoded on each of the three jumps
    assert sorted(encoded) == sorted(list(range(1, walk.total + 1)) + list(range(6, walk.total + 1)) * 2)


def test_a_random_walk_of_moves_writes_what_json_dumps_writes(tmp_path):
    """Passes on the writer before it kept texts too; record returns the line it wrote."""
    walk = load_walk(str(SCENARIOS / "twolayer.yaml"))
    rng = random.Random(5)
    clock = Clock(tick=0.01)
    path = tmp_path / "r.jsonl"
    expected = []
    with TranscriptWriter.open(str(path), walk, started=STARTED, clock=clock) as writer:
        before = 0
        for n in range(1, 81):
            after = rng.randint(0, walk.total)
            line = writer.record("goto", before, after)
            expected.append(expected_line(walk, n, "goto", round(clock.now, 3), before, after))
            assert line == expected[-1]
            before = after
    assert path.read_text().splitlines(keepends=True)[1:] == expected


# -- the reader: a step recorded again exactly as before is validated and built once ---------

TWINS = """bpstep: 1
title: zeros and ones
inputs:
  x: 0.0
  v: [0.0, 1.0]
forward: |
  y = x * x + np.sum(v * v)  #(1)
backward: |
  dx = 2 * x * dy  #(1)
  dv = 2 * v * dy  #(1)
  dx += dy * 0.0  #(1)
"""


def counting_steps(monkeypatch) -> list[int]:
    built = []

    def counted(*fields):
        built.append(fields[0])
        return RecordedStep(*fields)

    monkeypatch.setattr(reader_module, "RecordedStep", counted)
    return built


def jumps(tmp_path: Path, walk, keys=("end", "home", "end", "home", "end", "home")) -> Path:
    path = tmp_path / "jumps.jsonl"
    record(path, walk, list(keys))
    return path


def test_a_step_recorded_again_as_before_is_built_once_and_shared(tmp_path, monkeypatch):
    walk = load_walk(str(SCENARIOS / "complex.yaml"))
    path = jumps(tmp_path, walk, ["end", "home", "end", "home", "n", "s", "end", "home"])
    built = counting_steps(monkeypatch)
    actions = read(str(path)).actions
    assert sorted(built) == list(range(1, walk.total + 1))  # not once per jump: 4 x 2 x total
    first = actions[0].steps
    for action in actions:  # the very objects, not equal ones
        assert all(step is first[step.index - 1] for step in action.steps)


def test_the_steps_kept_while_reading_stop_at_seen_bytes(tmp_path, monkeypatch):
    walk = load_walk(str(SCENARIOS / "complex.yaml"))
    path = jumps(tmp_path, walk, ["end", "home", "end"])
    first = json.loads(path.read_text().splitlines()[1])["steps"]
    monkeypatch.setattr(reader_module, "SEEN_BYTES", sum(len(marshal.dumps(raw, 2)) for raw in first[:5]))
    built = counting_steps(monkeypatch)
    read(str(path))
    # the first five fill the room; every later one is built on each of the three jumps
    assert sorted(built) == sorted(list(range(1, walk.total + 1)) + list(range(6, walk.total + 1)) * 2)


def _twins(value):
    """Values that ``==`` takes for ``value`` but that are not it: 1 for 1.0, true for 1,
    -0.0 for 0.0, and the same inside lists."""
    if isinstance(value, bool):
        return [int(value), float(value)]
    if isinstance(value, int):
        return [float(value)] + ([bool(value)] if value in (0, 1) else [])
    if isinstance(value, float):
        out = [int(value)] if value == int(value) else []
        out += [bool(value)] if value in (0.0, 1.0) else []
        return out + ([-value] if value == 0 else [])
    if isinstance(value, list):
        return [[twin] + value[1:] for twin in _twins(value[0])] if value else []
    return []


def _outcome(path: Path):
    """The error, or every recorded field with the exact bits and types of its values."""
    try:
        transcript = read(str(path))
    except ScenarioError as error:
        return error.format()
    return [[(s.index, s.stage, s.line, s.code, s.target, s.op, s.kind, s.overwrites,
              [None if v is None else (np.shape(v), np.asarray(v).tobytes()) for v in (s.before, s.contribution,
                                                                                      s.after)],
              marshal.dumps(s.encoded, 2)) for s in a.steps] for a in transcript.actions]


def test_a_step_equal_but_not_identical_to_an_earlier_one_is_read_as_it_is(tmp_path, monkeypatch):
    """Passes on the reader before it reused steps too: it guards the reuse. Action 3 repeats
    action 1's steps; each variant of one of them (``==`` to the original: 1.0 for 1, true
    for 1, -0.0 for 0.0; or plainly wrong) reads exactly as with nothing reused, errors with
    the same line, column and message."""
    (tmp_path / "twins.yaml").write_text(TWINS)
    (tmp_path / "nf.yaml").write_text(NON_FINITE)
    outcomes = {"read": 0, "refused": 0}
    for walk in (load_walk(str(tmp_path / "twins.yaml")), load_walk(str(SCENARIOS / "buggy" / "complex_overwrite.yaml")),
                 load_walk(str(tmp_path / "nf.yaml"))):
        lines = jumps(tmp_path, walk, ["end", "home", "end"]).read_text().splitlines()
        repeated = json.loads(lines[3])
        edits = []
        for k, step in enumerate(repeated["steps"]):
            for key, value in step.items():
                edits += [(k, key, twin) for twin in _twins(value)]
            edits += [(k, "op", "*="), (k, "index", k + 2), (k, "stage", "8"), (k, "after", [[1.0], []])]
        for k, key, value in edits:
            changed = json.loads(lines[3])
            changed["steps"][k][key] = value
            path = tmp_path / "variant.jsonl"
            path.write_text("\n".join(lines[:3] + [json.dumps(changed, separators=(",", ":"))]) + "\n")
            reused = _outcome(path)
            with monkeypatch.context() as patch:
                patch.setattr(reader_module, "SEEN_BYTES", 0, raising=False)
                assert _outcome(path) == reused, (k, key, value)
            outcomes["refused" if isinstance(reused, str) else "read"] += 1
            assert "sha256" not in reused
    assert outcomes["read"] > 10 and outcomes["refused"] > 100, outcomes


# -- replay: each recorded step compared once, two scalars without numpy -----------------------

def test_a_replay_compares_each_recorded_step_once(tmp_path, monkeypatch):
    shutil.copy(SCENARIOS / "complex.yaml", tmp_path / "complex.yaml")
    copy = tmp_path / "complex.yaml"
    path = tmp_path / "s.jsonl"
    record(path, load_walk(str(copy)), ["end", "home", "end", "home", "n", "n", "end", "home"],
           scenario_path="complex.yaml")
    copy.write_text(copy.read_text().replace("dx = (1) * dxpy", "dx = (2) * dxpy"))  # steps 7, 9, 10 differ
    transcript = read(str(path))
    walk = load_walk(str(copy))
    # what each action's steps compare to, each step on its own
    expected = {}
    for action in transcript.actions:
        found = tuple(d for d in (replay_module._difference(s, walk) for s in action.steps) if d is not None)
        if found:
            expected[action.number] = found
    compared = []
    original = replay_module._difference
    monkeypatch.setattr(replay_module, "_difference", lambda step, w: compared.append(step.index) or original(step, w))
    replay = replay_module.compare(transcript, walk, str(copy))
    assert sorted(compared) == list(range(1, walk.total + 1))  # not once per jump: 4 x 2 x total
    assert replay.differences == expected and set(expected) == {1, 2, 3, 4, 7, 8}
    assert replay.differing_steps == {7, 9, 10} and "3 recorded steps now differ" in replay.warnings[0]


def test_two_scalars_are_compared_without_numpy_arrays(tmp_path, monkeypatch):
    calls = []
    allclose = np.allclose
    monkeypatch.setattr(np, "allclose", lambda *args, **kwargs: calls.append(np.shape(args[0])) or allclose(*args,
                                                                                                            **kwargs))
    for name in ("complex", "matmul"):
        path = tmp_path / f"{name}.jsonl"
        walk = load_walk(str(SCENARIOS / f"{name}.yaml"))
        record(path, walk, ["end"])
        replay = replay_module.compare(read(str(path)), walk, str(SCENARIOS / f"{name}.yaml"))
        assert replay.differences == {}
    # complex.yaml's scalars none; matmul's two array steps, contribution and after each
    assert calls == [(5, 10)] * 2 + [(10, 3)] * 2


SPECIAL = [0.0, -0.0, 1.0, -1.0, 1e-12, 2e-12, -1e-12, 1e-9, 3.0, 3.0 + 3e-9, 3.0 + 3.1e-9, 1e300, -1e300,
           1.7e308, -1.7e308, 5e-324, math.inf, -math.inf, math.nan]


def test_two_scalars_compare_as_np_allclose_compares_them():
    """Passes on the replay before it had a path for scalars too: it guards that path."""
    def numpy_says(a, b):
        with np.errstate(all="ignore"):
            return bool(np.allclose(np.float64(a), np.float64(b), rtol=replay_module.RTOL, atol=replay_module.ATOL,
                                    equal_nan=True))

    pairs = [(a, b) for a in SPECIAL for b in SPECIAL]
    rng = random.Random(3)
    for _ in range(20000):
        b = rng.choice([1, -1]) * 10 ** rng.uniform(-14, 6)
        near = rng.choice([0.0, 5e-10, 1e-9, 1.0000001e-9, 2e-9]) * abs(b) + rng.choice([0.0, 5e-13, 1e-12, 2e-12])
        pairs.append((b + rng.choice([1, -1]) * near, b))
    agree = 0
    for a, b in pairs:
        for x, y in ((np.float64(a), np.float64(b)), (a, b), (np.float64(a), b)):
            assert replay_module._same(x, y) == numpy_says(a, b), (a, b)
        agree += numpy_says(a, b)
    assert 0.2 * len(pairs) < agree < 0.8 * len(pairs)  # both answers, near the edge


def test_a_move_too_large_for_a_readable_transcript_is_refused_before_encoding(tmp_path, monkeypatch):
    """End over 1,000 steps on 256x256 arrays would write a 5.8 GB line (and took the memory of
    several times that): a move whose numbers alone (four bytes each at least) pass the limit
    bpstep replay reads is refused before any step is encoded, and the file keeps what it had."""
    walk = load_walk(str(SCENARIOS / "matmul.yaml"))
    path = tmp_path / "m.jsonl"
    writer = TranscriptWriter.open(str(path), walk)
    writer.record("next_step", 0, 1)
    kept = path.read_bytes()
    moved = walk.steps[1:]
    numbers = sum(np.size(v) for s in moved for v in (s.before, s.contribution, s.after))  # None: a null
    monkeypatch.setattr(writer_module, "MAX_BYTES", len(kept) + 4 * numbers - 1)
    encoded = []
    monkeypatch.setattr(writer_module, "step_json", lambda step, *enc: encoded.append(step) or step_json(step, *enc))
    try:
        writer.record("end", 1, walk.total)
    except writer_module.TranscriptFull as exc:
        assert "would take the transcript past" in str(exc)
    else:
        raise AssertionError("the move was written")
    assert encoded == [] and path.read_bytes() == kept
    assert [a.after for a in read(str(path)).actions] == [1]


def test_a_move_found_too_large_while_encoding_writes_nothing(tmp_path, monkeypatch):
    """Numbers longer than four bytes: the limit is found passed while the steps are encoded;
    nothing of the move is written, the file is still a valid transcript."""
    walk = load_walk(str(SCENARIOS / "matmul.yaml"))
    path = tmp_path / "m.jsonl"
    writer = TranscriptWriter.open(str(path), walk, clock=lambda: 0.0)  # the same "t" in both lines
    kept = path.read_bytes()
    line_size = len(TranscriptWriter.open(str(tmp_path / "x.jsonl"), walk, clock=lambda: 0.0).record("end", 0, walk.total))
    monkeypatch.setattr(writer_module, "MAX_BYTES", len(kept) + line_size - 1)
    try:
        writer.record("end", 0, walk.total)
    except writer_module.TranscriptFull:
        pass
    else:
        raise AssertionError("the move was written")
    assert path.read_bytes() == kept and read(str(path)).actions == ()
    monkeypatch.setattr(writer_module, "MAX_BYTES", len(kept) + line_size)  # exactly fits: written
    writer.record("end", 0, walk.total)
    assert len(path.read_bytes()) == len(kept) + line_size


def test_a_cache_too_large_to_record_is_refused_before_the_file_is_made(tmp_path, monkeypatch):
    """Known from the count of numbers (no entry encoded), or found while encoding (the header
    would pass the limit by one byte); either way no file is made."""
    walk = load_walk(str(SCENARIOS / "matmul.yaml"))
    TranscriptWriter.open(str(tmp_path / "full.jsonl"), walk).close()
    header = len((tmp_path / "full.jsonl").read_text()) - 1  # without its newline
    encoded = []
    real = writer_module.cache_entry_json
    monkeypatch.setattr(writer_module, "cache_entry_json", lambda e, *enc: encoded.append(e) or real(e, *enc))
    for limit, size in [(4 * sum(np.size(e.value) for e in walk.cache) - 1, "forward cache alone is at least"),
                        (header, "header (the forward cache and the stages) is over")]:
        encoded.clear()
        monkeypatch.setattr(writer_module, "MAX_BYTES", limit)
        path = tmp_path / "m.jsonl"
        try:
            TranscriptWriter.open(str(path), walk)
        except ScenarioError as exc:
            assert size in exc.message and exc.path == str(path)
        else:
            raise AssertionError("recording started")
        assert not path.exists()
        assert (encoded == []) == ("at least" in size)
    monkeypatch.setattr(writer_module, "MAX_BYTES", header + 1)  # the header and its newline fit
    TranscriptWriter.open(str(path), walk)
    assert len(path.read_bytes()) == header + 1


def test_the_header_encoded_entry_by_entry_is_json_dumps_of_the_header():
    walks = [load_walk(str(p)) for p in sorted(SCENARIOS.glob("**/*.yaml"))] + [run_text(NON_FINITE)]
    assert len(walks) > 5
    from bpstep import __version__
    from bpstep.core.values import encode

    for walk in walks:  # the header as the transcript format lists it, built here field by field
        header = {"type": "header", "format": "bpstep-transcript", "version": 1, "scenario": "s.yaml",
                  "sha256": walk.scenario.sha256, "bpstep": __version__, "started": STARTED.isoformat(),
                  "title": walk.scenario.title, "output": walk.output, "upstream": encode(walk.upstream),
                  "cache": [{"name": e.name, "version": e.version, "stage": e.stage, "line": e.line,
                             "shape": list(np.shape(e.value)), "value": encode(e.value), "code": e.code}
                            for e in walk.cache],
                  "stages": [{"stage": s.stage, "line": s.line, "code": s.code} for s in walk.forward]}
        expected = json.dumps(header, separators=(",", ":"), allow_nan=False)
        assert writer_module._header_text(walk, "s.yaml", STARTED, "t.jsonl") == expected, walk.scenario.path


def test_a_step_too_large_to_keep_is_not_marshalled_again(tmp_path, monkeypatch):
    """A 256x256 step repeated by every jump was marshalled (1.8 MB) at each repeat only to be
    found too large to keep again."""
    walk = load_walk(str(SCENARIOS / "complex.yaml"))
    path = jumps(tmp_path, walk, ["end", "home", "end"])
    first = json.loads(path.read_text().splitlines()[1])["steps"]
    monkeypatch.setattr(reader_module, "SEEN_BYTES", sum(len(marshal.dumps(raw, 2)) for raw in first[:5]) + 1)
    calls = []

    class Counting:
        @staticmethod
        def dumps(value, version):
            calls.append(value["index"])
            return marshal.dumps(value, version)

    monkeypatch.setattr(reader_module, "marshal", Counting)
    read(str(path))
    assert sorted(calls) == sorted(list(range(1, walk.total + 1)) + list(range(1, 6)) * 2)  # kept: compared again


def test_a_line_cut_short_by_a_full_disk_is_taken_back(tmp_path):
    """The disk fills in the middle of a line: the writer truncates the file back to its last
    complete line, so that it stays a transcript bpstep replay reads (it was refused whole)."""
    walk = load_walk(str(SCENARIOS / "complex.yaml"))
    path = tmp_path / "s.jsonl"
    writer = TranscriptWriter.open(str(path), walk)
    writer.record("next_stage", 0, 2)
    kept = path.read_bytes()
    real = writer._handle

    class HalfFull:  # takes part of the next write, then the disk is full
        def __init__(self):
            self.calls = 0

        def write(self, data):
            self.calls += 1
            if self.calls == 1:
                return real.write(data[:len(data) // 2])
            raise OSError(28, "No space left on device")

        def __getattr__(self, name):
            return getattr(real, name)

    writer._handle = HalfFull()
    try:
        writer.record("end", 2, walk.total)
    except OSError:
        pass
    else:
        raise AssertionError("the write did not fail")
    assert len(path.read_bytes()) == len(kept) and path.read_bytes() == kept
    assert [a.action for a in read(str(path)).actions] == ["next_stage"]
