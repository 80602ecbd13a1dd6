"""Pilot tests of the replay screen: a session recorded in the app is played back action by
action and reaches the recorded positions; autoplay; breakpoints; a changed scenario.

Expected positions come from complex.yaml's structure (see test_app_recording.py).
"""

from __future__ import annotations

import shutil
import time

from app_support import COMPLEX, SCENARIOS, plain
from test_app_recording import SESSION, record_session
from transcript_helpers import record

from bpstep.core.engine import load_walk
from bpstep.core.transcript import TranscriptWriter, open_replay, read
from bpstep.ui.app import BpstepApp
from bpstep.ui.replay import ReplayApp, ReplayBar, breakpoints_after, faster, slower

WAIT = 30.0  # seconds: only a hung app reaches it


def session(tmp_path, keys=SESSION):
    """The session recorded without the app (the core writer), for the tests that only
    need a transcript; the first test records one in the app."""
    path = tmp_path / "s.jsonl"
    positions = record(path, load_walk(COMPLEX), [key for key, _ in keys], scenario_path=COMPLEX)
    assert positions == [after for _, after in keys]
    return path, positions


def bar(app: ReplayApp) -> str:
    return str(app.query_one(ReplayBar).render())


def marked_rows(app: ReplayApp) -> list[int]:
    """Step indices the backward listing marks with ≠."""
    view = app.view("backward")
    return [row + 1 for row in range(app.walk.total) if view.row_text(row).startswith("≠")]


async def test_replay_steps_through_the_recorded_positions_and_back(tmp_path):
    path = tmp_path / "s.jsonl"
    recorded = await record_session(path)
    replay = open_replay(read(str(path)))
    app = ReplayApp(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.position == 0 and app.played == 0
        assert "REPLAY 0/9" in bar(app) and "next: next stage (step 0 → 2)" in bar(app)
        reached = []
        for k in range(1, len(SESSION) + 1):
            await pilot.press("full_stop")
            reached.append(app.position)
            assert app.played == k and f"REPLAY {k}/9" in bar(app)
            assert app.sub_title.endswith(f"step {app.position} of 12")
        assert reached == recorded
        assert "end of the recording" in bar(app)
        await pilot.press("full_stop")  # past the end: stays, and says so
        assert app.played == 9 and app.position == recorded[-1]
        assert any("End of the recording" in n.message for n in app._notifications)
        for k in range(len(SESSION) - 1, -1, -1):  # and back, one action at a time
            await pilot.press("comma")
            assert app.played == k and app.position == ([0] + recorded)[k]
        assert "next: next stage (step 0 → 2)" in bar(app)


async def test_moving_by_hand_then_going_on_with_the_recording(tmp_path):
    path, _ = session(tmp_path)
    app = ReplayApp(open_replay(read(str(path))))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("full_stop", "full_stop")  # n, s: position 3
        await pilot.press("end")  # the user looks ahead on their own
        assert app.position == 12 and "you moved: . goes on to step 4" in bar(app)
        await pilot.press("full_stop")
        assert app.played == 3 and app.position == 4 and "you moved" not in bar(app)


async def test_autoplay_plays_every_action_then_stops(tmp_path):
    path, recorded = session(tmp_path)
    app = ReplayApp(open_replay(read(str(path))), autoplay=True, speed=16)
    seen = []
    app.goto_hooks.append(lambda action, before, after: seen.append(after))
    async with app.run_test(size=(100, 30)) as pilot:
        deadline = time.monotonic() + WAIT
        while app.played < len(SESSION) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        await pilot.pause(0.2)
        assert app.played == len(SESSION) and not app.playing
        assert "‖ REPLAY 9/9" in bar(app) and "paused 16/s" in bar(app)
        assert seen == [0] + recorded  # the start, then each action once, in order
        await pilot.press("space")  # at the end, space plays it again from the start
        assert app.playing and seen[len(recorded) + 1] == 0  # back to the start first
        await pilot.press("space")
        assert not app.playing


async def test_speed_keys(tmp_path):
    path, _ = session(tmp_path, SESSION[:2])
    app = ReplayApp(open_replay(read(str(path))))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "paused 1/s" in bar(app)
        await pilot.press("plus")
        assert app.speed == 2 and "paused 2/s" in bar(app)
        await pilot.press("minus", "minus", "minus")
        assert app.speed == 0.25
    assert faster(3) == 4 and slower(3) == 2 and faster(16) == 16 and slower(0.25) == 0.25
    assert slower(0.1) == 0.1 and faster(40) == 40  # a --speed outside the list stays until it is changed


async def test_recorded_breakpoints_come_and_go_with_the_replay(tmp_path):
    path = tmp_path / "b.jsonl"
    walk = load_walk(COMPLEX)
    app = BpstepApp(walk, record=TranscriptWriter.open(str(path), walk))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s", "b", "s", "b", "s", "up", "up")  # breakpoints on steps 1 and 2
        await pilot.press("b")  # and off again on 1 (the cursor follows the position)
    app.recorder.close()
    replay = open_replay(read(str(path)))
    assert [breakpoints_after(replay, k) for k in range(len(replay.transcript.actions) + 1)] == [
        set(), set(), {1}, {1}, {1, 2}, {1, 2}, {1, 2}, {1, 2}, {2}]
    app = ReplayApp(replay)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*["full_stop"] * 4)
        assert app.backward_source.breakpoints == {1, 2}
        assert app.view("backward").row_text(0).startswith("●") and "next: breakpoint off 1" not in bar(app)
        await pilot.press(*["full_stop"] * 4)
        assert app.backward_source.breakpoints == {2}
        await pilot.press("comma")
        assert "next: breakpoint off 1 (stays at step 1)" in bar(app)


async def test_breakpoints_set_during_a_replay_stay_through_its_actions(tmp_path):
    """A hunt: a breakpoint the user set with b during a replay was wiped by the next . or ,
    (each action showed the recording's breakpoints only)."""
    path, _ = session(tmp_path)
    app = ReplayApp(open_replay(read(str(path))))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press(*["full_stop"] * 3)
        view = app.view("backward")
        view.cursor = 2  # the third statement
        app.action_toggle_breakpoint()
        assert 3 in app.backward_source.breakpoints
        await pilot.press("full_stop", "comma", "comma")
        assert 3 in app.backward_source.breakpoints and view.row_text(2).startswith("●")
        view.cursor = 2
        app.action_toggle_breakpoint()  # and off again, for good
        await pilot.press("full_stop")
        assert 3 not in app.backward_source.breakpoints


async def test_a_breakpoint_the_user_and_the_recording_both_set_stays(tmp_path):
    """A review: the user's toggles were XOR-ed with the recording's, so a breakpoint the user
    set on step 2 vanished when the recording set its own there."""
    path = tmp_path / "b.jsonl"
    walk = load_walk(COMPLEX)
    app = BpstepApp(walk, record=TranscriptWriter.open(str(path), walk))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("s", "b", "s", "b")  # the recording sets breakpoints on steps 1 and 2
    app.recorder.close()
    app = ReplayApp(open_replay(read(str(path))))
    async with app.run_test(size=(100, 30)) as pilot:
        app.view("backward").cursor = 1
        app.action_toggle_breakpoint()  # the user's own, on step 2, before the recording's
        assert app.backward_source.breakpoints == {2}
        await pilot.press(*["full_stop"] * 4)
        assert app.backward_source.breakpoints == {1, 2}


async def test_a_changed_scenario_warns_and_marks_the_steps_that_now_differ(tmp_path):
    scenario = tmp_path / "complex.yaml"
    shutil.copy(SCENARIOS / "complex.yaml", scenario)
    walk = load_walk(str(scenario))
    path = tmp_path / "s.jsonl"
    app = BpstepApp(walk, record=TranscriptWriter.open(str(path), walk))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("n", "end", "home")
    app.recorder.close()
    # dx = (1) * dxpy  ->  dx = (2) * dxpy: step 7 changes, and so do the two '+=' on dx after it
    text = scenario.read_text()
    scenario.write_text(text.replace("dx = (1) * dxpy", "dx = (2) * dxpy"))
    replay = open_replay(read(str(path)))
    app = ReplayApp(replay)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        warnings = [n for n in app._notifications if n.severity == "warning"]
        assert len(warnings) == 1 and "has changed since this session was recorded" in warnings[0].message
        assert "3 recorded steps now differ" in warnings[0].message
        assert marked_rows(app) == [7, 9, 10]
        assert "≠ code, contribution, after differ from the recording" in app.view("backward").row_text(6)
        assert "≠ before, after differ from the recording" in app.view("backward").row_text(8)
        assert "the scenario has changed: 3 steps ≠" in bar(app)
        await pilot.press("full_stop", "full_stop")  # n, then end: at step 12, which did not change
        assert app.position == 12 and "the scenario has changed" in bar(app)
        await pilot.press("up", "up", "up")  # by hand, to step 9
        assert "≠ step 9 differs from the recording" in bar(app)
        # the replay still shows the scenario as it is now: dx after step 7 is 2 * dxpy
        assert app.walk.value_at("dx", 7) == 2 * app.walk.value_at("dxpy", 7)


async def test_an_unchanged_scenario_marks_nothing(tmp_path):
    path, _ = session(tmp_path)
    app = ReplayApp(open_replay(read(str(path))))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert marked_rows(app) == [] and "changed" not in bar(app)
        assert not [n for n in app._notifications if n.severity == "warning"]


async def test_help_lists_the_replay_keys(tmp_path):
    path, _ = session(tmp_path, SESSION[:1])
    app = ReplayApp(open_replay(read(str(path))))
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("question_mark")
        body = plain(app.screen.body, width=200)
        for line in ("Replay: play the next recorded action", "Replay: back one recorded action",
                     "Replay: play faster", "Run the whole next stage", "≠"):
            assert line in body, line


async def test_random_keys_while_replaying_and_recording(tmp_path, monkeypatch):
    """Replay keys mixed with the debugger's, autoplay at full speed, resizes, while the replay
    itself is recorded: no crash, the replay still reaches the recorded positions, and the new
    transcript is valid."""
    import random

    from test_app_abuse import KEYS, random_keys

    monkeypatch.chdir(tmp_path)  # the palette's screenshot command (ctrl+p, enter) writes here
    path, recorded = session(tmp_path)
    replay = open_replay(read(str(path)))
    out = tmp_path / "again.jsonl"
    app = ReplayApp(replay, speed=16, record=TranscriptWriter.open(str(out), replay.walk))
    keys = KEYS + ["full_stop", "comma", "space", "plus", "minus"] * 3
    rng = random.Random(4)
    async with app.run_test(size=(80, 24)) as pilot:
        await random_keys(app, pilot, rng, 200, keys, 67, lambda r: [(r.choice([20, 150]), r.randint(8, 30))])
        while len(app.screen_stack) > 1:
            await pilot.press("escape")
        await pilot.resize_terminal(80, 24)
        app._pause()
        for _ in range(replay.length):
            await pilot.press("comma")
        assert app.played == 0
        for k in range(1, replay.length + 1):
            await pilot.press("full_stop")
            assert app.position == recorded[k - 1]
    app.recorder.close()
    again = read(str(out))  # every move of the session above, as a valid transcript
    assert again.actions and again.actions[-1].after == recorded[-1]
