"""Pilot tests of recording in the app: --record's writer hooked into every move, the
indicator, the palette commands that start and stop it, and a writer that fails mid-session.

Expected positions come from complex.yaml's structure (its backward statements per stage:
8: 1-2, 7: 3, 6: 4-5, 5: 6, 4: 7-8, 3: 9, 2: 10-11, 1: 12), not from the engine.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from textual.command import CommandList

from app_support import COMPLEX
from bpstep.core.engine import load_walk
from bpstep.core.transcript import TranscriptWriter, read
from bpstep.ui.app import BpstepApp
from bpstep.ui.recording import RecordingIndicator, RecordScreen, default_name

# (key, position after it) for a session on complex.yaml
SESSION = [("n", 2), ("s", 3), ("s", 4), ("p", 3), ("end", 12), ("home", 0), ("n", 2), ("n", 3), ("up", 2)]
ACTIONS = {"n": "next_stage", "s": "next_step", "p": "previous_stage", "end": "end", "home": "start",
           "up": "previous_step"}


def indicator(app: BpstepApp) -> RecordingIndicator:
    return app.query_one(RecordingIndicator)


def indicator_text(app: BpstepApp) -> str:
    return str(indicator(app).render())


async def record_session(path: Path, keys=SESSION) -> list[int]:
    """Drive the app with --record's writer; return the positions reached."""
    walk = load_walk(COMPLEX)
    app = BpstepApp(walk, record=TranscriptWriter.open(str(path), walk, COMPLEX))
    reached = []
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert indicator(app).display and "● REC" in indicator_text(app)
        for i, (key, _) in enumerate(keys, start=1):
            await pilot.press(key)
            reached.append(app.position)
            assert indicator_text(app).endswith(f"{i} action{'s' * (i != 1)}   ctrl+p: Stop recording")
            assert str(path) in indicator_text(app)
    app.recorder.close()
    return reached


async def test_record_writes_every_key_with_its_positions(tmp_path):
    path = tmp_path / "s.jsonl"
    reached = await record_session(path)
    assert reached == [after for _, after in SESSION]
    transcript = read(str(path))
    assert transcript.header.scenario == COMPLEX
    assert [a.action for a in transcript.actions] == [ACTIONS[key] for key, _ in SESSION]
    assert [(a.before, a.after) for a in transcript.actions] == list(zip([0] + reached, reached))
    # the "end" action applied steps 4..12 (from 3); "home" undid them all, last first
    end, home = transcript.actions[4], transcript.actions[5]
    assert [s.index for s in end.steps] == list(range(4, 13))
    assert [s.index for s in home.steps] == list(range(12, 0, -1))


async def test_breakpoints_and_goto_are_recorded_too(tmp_path):
    path = tmp_path / "b.jsonl"
    walk = load_walk(COMPLEX)
    app = BpstepApp(walk, record=TranscriptWriter.open(str(path), walk))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s", "b", "g", *"4", "enter")
        assert app.position == 8  # the end of stage 4
    app.recorder.close()
    actions = [(a.action, a.before, a.after) for a in read(str(path)).actions]
    assert actions == [("next_step", 0, 1), ("breakpoint on 1", 1, 1), ("goto_stage 4", 1, 8)]


async def test_without_record_there_is_no_indicator_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = BpstepApp(load_walk(COMPLEX))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n", "s")
        assert not indicator(app).display
        assert not app.recorder.recording
    assert os.listdir(tmp_path) == []


async def palette(pilot, text: str, command: str) -> None:
    """Run ``command`` from the command palette by typing ``text``, as a user does."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*text)
    found = pilot.app.screen.query_one(CommandList)
    deadline = time.monotonic() + 30  # the palette searches in the background
    while not (found.highlighted is not None and command in str(found.get_option_at_index(found.highlighted).prompt)):
        assert time.monotonic() < deadline, f"{command!r} never came up in the palette"
        await pilot.pause(0.02)
    await pilot.press("enter")
    await pilot.pause()


async def test_palette_starts_and_stops_recording(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = BpstepApp(load_walk(COMPLEX))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")  # before recording: not in the file
        await palette(pilot, "start rec", "Start recording…")
        assert isinstance(app.screen, RecordScreen)
        field = app.screen.query_one("#record-input")
        assert field.value.startswith("bpstep-session-") and field.value.endswith(".jsonl")
        field.value = "mine.jsonl"
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, RecordScreen)
        assert app.recorder.recording and "mine.jsonl" in indicator_text(app)
        await pilot.press("s", "s")
        assert "2 actions" in indicator_text(app)
        await palette(pilot, "stop rec", "Stop recording")
        assert not app.recorder.recording and not indicator(app).display
        await pilot.press("p")  # after stopping: not in the file
    transcript = read(str(tmp_path / "mine.jsonl"))
    assert [(a.action, a.before, a.after) for a in transcript.actions] == [("next_step", 2, 3), ("next_step", 3, 4)]


async def test_the_prompt_refuses_an_existing_file_and_an_unwritable_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken.jsonl").write_text("keep me\n")
    app = BpstepApp(load_walk(COMPLEX))
    async with app.run_test(size=(100, 30)) as pilot:
        app.recorder.prompt()
        await pilot.pause()
        field = app.screen.query_one("#record-input")
        error = app.screen.query_one("#record-error")
        field.value = "taken.jsonl"
        await pilot.press("enter")
        assert "already exists" in str(error.render())
        field.value = str(tmp_path / "no-such-dir" / "x.jsonl")
        await pilot.press("enter")
        assert "cannot write the transcript" in str(error.render())
        assert isinstance(app.screen, RecordScreen) and not app.recorder.recording
        await pilot.press("escape")
        assert not isinstance(app.screen, RecordScreen)
    assert (tmp_path / "taken.jsonl").read_text() == "keep me\n"


def _disk_full(writer, monkeypatch):
    if not os.path.exists("/dev/full"):
        import pytest

        pytest.skip("needs /dev/full")
    writer._handle.close()
    writer._handle = open("/dev/full", "wb", buffering=0)  # the disk is full from now on: ENOSPC


def _transcript_full(writer, monkeypatch):
    import bpstep.core.transcript.writer as writer_module

    monkeypatch.setattr(writer_module, "MAX_BYTES", writer.size + 100)  # no room for the steps to come


@pytest.mark.parametrize("breaker, key, reason", [
    (_disk_full, "s", "cannot write"),  # and "No space left" below
    (_transcript_full, "end", "would take the transcript past"),  # past what bpstep replay reads
])
async def test_a_move_that_cannot_be_recorded_stops_recording_and_the_app_goes_on(tmp_path, monkeypatch,
                                                                                   breaker, key, reason):
    """The recording stops with a message; the move itself happens, stepping goes on, and the
    file is still a valid transcript of the actions before it."""
    path = tmp_path / "s.jsonl"
    walk = load_walk(COMPLEX)
    writer = TranscriptWriter.open(str(path), walk)
    app = BpstepApp(walk, record=writer)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n")
        breaker(writer, monkeypatch)
        await pilot.press(key)
        await pilot.pause()
        moved = app.position
        assert moved == (3 if key == "s" else walk.total)
        assert not app.recorder.recording and not indicator(app).display
        messages = [n.message for n in app._notifications]
        assert any("Recording stopped" in m and reason in m and "1 action before" in m for m in messages), messages
        if breaker is _disk_full:
            assert any("No space left" in m for m in messages)
        await pilot.press("up")  # still stepping
        assert app.position == moved - 1
    assert [a.action for a in read(str(path)).actions] == ["next_stage"]


def test_default_name_has_the_time():
    from datetime import datetime

    assert default_name(datetime(2024, 5, 1, 9, 8, 7)) == "bpstep-session-20240501-090807.jsonl"
