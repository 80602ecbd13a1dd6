"""The app under abuse: a thousand random keys and tiny terminals, without a crash; what it
shows afterwards still depends only on the position. Also: numerical trouble is flagged."""

import random

from textual import events

from bpstep.core.engine import load_walk, run_text
from bpstep.ui.app import BpstepApp

from app_support import COMPLEX, MATMUL

KEYS = ["n", "s", "p", "right", "left", "up", "down", "home", "end", "c", "b", "j", "k", "tab",
        "enter", "escape", "a", "question_mark", "g", "1", "5", "9", "x", "pageup", "pagedown",
        "shift+tab", "space", "backspace", "v", "r", "ctrl+p", "escape"]


def send_key(app, key: str) -> None:
    """Queue a key press as the terminal driver would, without Pilot's per-key idle wait
    (which sleeps at least 40 ms a key); the app still handles every key in order."""
    char = key if len(key) == 1 else {"space": " ", "question_mark": "?"}.get(key)
    event = events.Key(key, char)
    event.set_sender(app)
    app._driver.send_message(event)


async def random_keys(app, pilot, rng, count, keys, resize_every, sizes):
    """Press ``count`` random keys, pausing every ten; every ``resize_every`` keys resize the
    terminal to ``sizes(rng)`` (and back to the starting size when ``sizes`` gives two)."""
    for i in range(count):
        send_key(app, rng.choice(keys))
        if i % 10 == 9:
            await pilot.pause()
        if i % resize_every == 0:
            for size in sizes(rng):
                await pilot.resize_terminal(*size)
                await pilot.pause()


async def test_a_thousand_random_keys_and_resizes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the palette's screenshot command writes to the current folder
    app = BpstepApp(load_walk(COMPLEX))
    rng = random.Random(1234)
    async with app.run_test(size=(80, 24)) as pilot:
        await random_keys(app, pilot, rng, 1000, KEYS, 97, lambda r: [(20, 8), (80, 24)])
        # close whatever modal the random keys left open, then check the app still works
        for _ in range(4):
            if len(app.screen_stack) > 1:
                await pilot.press("escape")
                await pilot.pause()
        assert len(app.screen_stack) == 1
        await pilot.press("home")
        await pilot.pause()
        assert app.position == 0
        await pilot.press("end")
        await pilot.pause()
        assert app.position == app.walk.total
        await pilot.resize_terminal(20, 8)
        await pilot.press("p", "p", "s")
        await pilot.pause()
        assert app.position == app.walk.previous_stage(app.walk.previous_stage(app.walk.total)) + 1


async def test_matrix_scenario_survives_random_keys_at_small_sizes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = BpstepApp(load_walk(MATMUL))
    rng = random.Random(99)
    async with app.run_test(size=(60, 20)) as pilot:
        await random_keys(app, pilot, rng, 300, KEYS, 50, lambda r: [(r.randint(20, 60), r.randint(8, 20))])
        assert 0 <= app.position <= app.walk.total


NONFINITE = """bpstep: 1
title: trouble
inputs: {x: 0.0}
forward: |
  a = 1.0 / x
  f = a * 2
backward: |
  da = 2 * df
  dx = -1.0 / (x**2) * da
"""


async def test_non_finite_values_are_flagged_and_the_walk_goes_on():
    app = BpstepApp(run_text(NONFINITE, "trouble.yaml"))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("end")
        await pilot.pause()
        assert app.position == 2
        text = " ".join(str(w.render()) for w in app.query("*") if hasattr(w, "render"))
        assert "inf" in text
        assert "not finite" in text
