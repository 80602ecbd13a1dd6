"""The step path does the same work for a long scenario as for a short one.

Work is counted, not timed: the number of rows the panes render for one key press, which
must not grow with the number of stages (only visible rows are drawn, and a step redraws
only the rows it changes). Both sizes are larger than the screen. (300, not 10,000 stages:
loading is still quadratic in the core, which the performance issue will address.)
"""

from __future__ import annotations

import pytest

from bpstep.core.engine import run_text
from bpstep.ui.app import BpstepApp


def chain(n: int) -> str:
    """v_i = 1.5 * v_(i-1) for n stages, with its hand-written backward pass."""
    forward = "\n".join(f"  v{i} = v{i - 1} * 1.5" for i in range(1, n + 1))
    backward = "\n".join(f"  dv{i - 1} = 1.5 * dv{i}" for i in range(n, 0, -1))
    return f"bpstep: 1\ntitle: chain of {n}\ninputs:\n  v0: 2\nforward: |\n{forward}\nbackward: |\n{backward}\n"


async def rows_rendered(n: int, keys: list[str]) -> dict[str, int]:
    """Rows each pane renders for the last key of ``keys`` (after the others have settled)."""
    app = BpstepApp(run_text(chain(n), f"chain{n}.yaml"))
    counts: dict[str, int] = {}
    async with app.run_test(size=(80, 24)) as pilot:
        await app.verdicts_computed()  # the step marks and gradient checks (a worker at 300)
        await pilot.pause()
        for name, source in zip(("forward", "cache", "backward", "gradients"), app.sources):
            original = source.render

            def counted(row, marks, width, original=original, name=name):
                counts[name] = counts.get(name, 0) + 1
                return original(row, marks, width)

            source.render = counted
        await pilot.press(*keys[:-1])
        await pilot.pause()
        counts.clear()
        await pilot.press(keys[-1])
        await pilot.pause()
    return counts


MOVES = [["s", "s", "s", "s"], ["s", "s", "up"], ["n", "n", "p"], ["s", "end"],
         ["g", "5", "0", "enter", "s"], ["g", "5", "0", "enter", "up"]]


@pytest.mark.parametrize("keys", MOVES, ids=lambda keys: " ".join(keys))
async def test_a_move_renders_as_many_rows_for_300_stages_as_for_60(keys):
    small = await rows_rendered(60, keys)
    large = await rows_rendered(300, keys)
    assert small == large
    assert 0 < sum(large.values()) <= 4 * 24  # never more than the rows on the screen
