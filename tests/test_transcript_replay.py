"""Replaying a transcript against its scenario, as it is now (DESIGN.md section 4)."""

from __future__ import annotations

import shutil

import pytest
from transcript_helpers import KEYS, SCENARIOS, record, random_keys

from bpstep.core.engine import load_walk
from bpstep.core.errors import ScenarioError
from bpstep.core.transcript import markdown, open_replay, read


@pytest.fixture
def copy(tmp_path):
    """complex.yaml copied beside the transcript, named relative to it."""
    shutil.copy(SCENARIOS / "complex.yaml", tmp_path / "complex.yaml")
    return tmp_path / "complex.yaml"


@pytest.mark.parametrize("name, seed", [("complex", 1), ("sigmoid", 2), ("matmul", 3)])
def test_replay_reaches_the_recorded_positions(tmp_path, name, seed):
    walk = load_walk(str(SCENARIOS / f"{name}.yaml"))
    keys = random_keys(seed, 50)
    positions = record(tmp_path / "s.jsonl", walk, keys, scenario_path=str(SCENARIOS / f"{name}.yaml"))
    replay = open_replay(read(str(tmp_path / "s.jsonl")))
    assert not replay.changed and replay.warnings == () and replay.differences == {}
    assert replay.length == len(keys)
    assert [replay.position(k) for k in range(replay.length + 1)] == [0] + positions
    # and pressing the recorded keys again, from where the replay starts, goes the same way
    position = replay.position(0)
    for k in range(1, replay.length + 1):
        position = KEYS[replay.action(k).action](replay.walk, position)
        assert position == replay.position(k)


def test_scenario_is_found_beside_the_transcript_then_in_the_current_directory(tmp_path, copy, monkeypatch):
    walk = load_walk(str(copy))
    (tmp_path / "out").mkdir()
    record(tmp_path / "out" / "a.jsonl", walk, ["n"], scenario_path="complex.yaml")
    monkeypatch.chdir(tmp_path)  # not beside out/a.jsonl, but in the current directory
    assert open_replay(read("out/a.jsonl")).scenario_path == "complex.yaml"
    shutil.copy(copy, tmp_path / "out" / "complex.yaml")  # now beside it too: that one wins
    assert open_replay(read("out/a.jsonl")).scenario_path == "out/complex.yaml"


def test_a_scenario_recorded_from_the_folder_above_is_found_beside_its_transcript(tmp_path, copy, monkeypatch):
    """A hunt: recorded as 'h/complex.yaml' from the folder above, with the transcript in h/,
    'cd h; bpstep replay a.jsonl' looked for h/h/complex.yaml and ./h/complex.yaml only."""
    (tmp_path / "h").mkdir()
    shutil.move(str(copy), tmp_path / "h" / "complex.yaml")
    monkeypatch.chdir(tmp_path)
    record(tmp_path / "h" / "a.jsonl", load_walk("h/complex.yaml"), ["n"], scenario_path="h/complex.yaml")
    monkeypatch.chdir(tmp_path / "h")
    replay = open_replay(read("a.jsonl"))
    assert replay.scenario_path == "complex.yaml" and not replay.changed


def test_a_missing_scenario_is_an_error_at_the_header(tmp_path, copy):
    record(tmp_path / "a.jsonl", load_walk(str(copy)), ["n"], scenario_path="gone.yaml")
    with pytest.raises(ScenarioError) as info:
        open_replay(read(str(tmp_path / "a.jsonl")))
    assert info.value.line == 1 and "not found" in info.value.message and "--scenario" in info.value.message
    assert open_replay(read(str(tmp_path / "a.jsonl")), scenario=str(copy)).changed is False


def _session(tmp_path, copy):
    walk = load_walk(str(copy))
    record(tmp_path / "s.jsonl", walk, ["n", "n", "n", "end", "p"], scenario_path="complex.yaml")
    return tmp_path / "s.jsonl"


def test_changed_scenario_warns_and_marks_exactly_the_steps_that_differ(tmp_path, copy):
    path = _session(tmp_path, copy)
    # dx = (1) * dxpy  ->  dx = (2) * dxpy: step 7 writes twice the value, and the two '+='
    # steps on dx that follow (9 and 10) start from it; nothing else reads dx.
    text = copy.read_text()
    assert text.count("dx = (1) * dxpy") == 1
    copy.write_text(text.replace("dx = (1) * dxpy", "dx = (2) * dxpy"))
    replay = open_replay(read(str(path)))
    assert replay.changed
    assert len(replay.warnings) == 1 and "has changed since this session was recorded" in replay.warnings[0]
    assert "3 recorded steps now differ" in replay.warnings[0]
    assert replay.differing_steps == {7, 9, 10}
    by_step = {d.index: d.fields for diffs in replay.differences.values() for d in diffs}
    assert by_step == {7: ("code", "contribution", "after"), 9: ("before", "after"), 10: ("before", "after")}
    assert set(replay.differences) == {4}  # only the "end" action applied steps 7-10
    assert replay.position(5) == 11  # still replays
    md = markdown(replay.transcript, replay)
    assert "> **Warning:** the scenario" in md
    assert "(!) CHANGED (code, contribution, after); now: dx = (2) * dxpy  ->  dx = 3.1664" in md
    assert md.count("(!) CHANGED") == 3


def test_a_change_that_keeps_the_values_warns_but_marks_nothing(tmp_path, copy):
    path = _session(tmp_path, copy)
    copy.write_text(copy.read_text().replace("# done! phew", "# done! phew, again"))
    replay = open_replay(read(str(path)))
    assert replay.changed and replay.differences == {}
    assert "every recorded step still has the same values" in replay.warnings[0]


def test_fewer_steps_now(tmp_path, copy):
    path = _session(tmp_path, copy)
    text = copy.read_text()
    copy.write_text(text.replace("  dy += ((1 - sigy) * sigy) * dsigy                         #(1)\n", ""))
    replay = open_replay(read(str(path)))
    assert replay.walk.total == 11
    assert replay.differing_steps == {12}
    assert any("stop at its end" in w for w in replay.warnings)
    assert replay.position(4) == 11  # "end" recorded 12; clamped to the walk as it is now
