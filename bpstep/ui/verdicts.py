"""Verdicts for the TUI: each backward step's mark against the derived reference (issue 6) and
each gradient's central-difference check (issue 5).

Both are computed once per walk (:func:`bpstep.core.verify.verify` and
:func:`bpstep.core.gradcheck.check_walk`), right after the first frame: on the main thread
for a small scenario (at once if ``w`` asks before), in a worker thread for a larger one (more
than :data:`SYNC_STEPS` steps); until they are ready nothing is shown. What is shown depends only on the position:

* a step's mark appears once the position has reached the step ("as it is taken");
* a gradient's check appears once the gradient is final at the position (no later step
  writes it), since only the final value is what central differences measure;
* the first mistake's row is flagged (warning colour) from the moment it is taken.

Nothing here imports textual: the app asks :class:`Verdicts` and draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bpstep.core.engine import Walk
from bpstep.core.findings import (LOCAL, LOCAL_GRADIENT, MISNAMED, MISSING, OK, OVERWRITE, SHAPE, UNCHECKED,
                                  Finding, Verification)

if TYPE_CHECKING:  # imported to compute them, after the first frame
    from bpstep.core.gradcheck import CheckReport, GradientCheck

SYNC_STEPS = 200  # above this many steps the verdicts are computed in a worker thread

# mark -> (glyph, text style of the row source); the glyph column is two cells wide
MARK_GLYPHS = {
    OK: ("✓", "mark-ok"),
    LOCAL_GRADIENT: ("✗", "mark-bad"),
    OVERWRITE: ("=!", "mark-bad"),
    MISSING: ("∅", "mark-bad"),
    SHAPE: ("⊠", "mark-bad"),
    MISNAMED: ("?", "mark-hint"),
    LOCAL: ("·", "comment"),
    UNCHECKED: ("", ""),
}
STALE = "mark-stale"  # ✓ whose stage is right but whose value is off: an earlier mistake fed it
FIRST = "mark-first"  # the first mistake's glyph

CHECK_STYLES = {"good": "check-good", "kink": "check-kink", "suspicious": "check-suspicious",
                "wrong": "check-wrong", "not finite": "check-wrong", "skipped": "comment"}

LEGEND = ("✓ ok · ✗ wrong local gradient · =! overwrite at a fork · ∅ missing contribution · "
          "⊠ wrong shape · ? misnamed gradient (a hint) · · a local of the backward pass")


@dataclass(frozen=True)
class Glyph:
    text: str
    style: str


class Verdicts:
    """The marks and checks of one walk, once computed (:attr:`ready`)."""

    def __init__(self, walk: Walk):
        self.walk = walk
        self.verification: Verification | None = None
        self.report: CheckReport | None = None
        self.error = ""  # why there are none, if computing them failed
        self.ready = False
        self.last_write: dict[str, int] = {}  # gradient name -> the last step writing it
        for step in walk.steps:
            self.last_write[step.target] = step.index
        self._missing_at: dict[int, Finding] = {}  # a finding without its own step, at a position

    @property
    def background(self) -> bool:
        """Whether to compute in a worker thread."""
        return self.walk.total > SYNC_STEPS

    def compute(self) -> tuple[Verification | None, CheckReport | None, str]:
        """The work itself (thread-safe: reads the walk only)."""
        from bpstep.core.gradcheck import check_walk
        from bpstep.core.verify import verify

        with np.errstate(all="ignore"):  # overflow in a big scenario's numbers: no warning on the screen
            try:
                return verify(self.walk), check_walk(self.walk), ""
            except Exception as exc:  # noqa: BLE001 - a failing check must not take the debugger down
                return None, None, f"the checks failed: {exc}"

    def set(self, result: tuple[Verification | None, CheckReport | None, str]) -> None:
        self.verification, self.report, self.error = result
        self._missing_at = {}
        if self.verification is not None:
            for finding in self.verification.findings:
                if finding.step is None and finding.failed:
                    self._missing_at.setdefault(finding.position, finding)
        self.ready = True

    # -- steps ----------------------------------------------------------------------------
    @property
    def first(self) -> Finding | None:
        return self.verification.first if self.verification is not None else None

    @property
    def first_position(self) -> int | None:
        return self.verification.first_position if self.verification is not None else None

    def mark(self, index: int, position: int) -> Glyph:
        """The mark of step ``index`` as the screen shows it at ``position`` (empty if not yet taken)."""
        if self.verification is None or index > position:
            return Glyph("", "")
        step_mark = self.verification.mark(index)
        kind = step_mark.mark
        finding = self._missing_at.get(index)
        if finding is not None and not step_mark.failed:  # a contribution never written: here
            kind = MISSING
        text, style = MARK_GLYPHS.get(kind, ("", ""))
        if kind == OK and step_mark.matches_reference is False:
            style = STALE
        if self.is_first(index):
            style = FIRST
        return Glyph(text, style)

    def is_first(self, index: int) -> bool:
        first = self.first
        return first is not None and first.position == index and (first.step in (None, index))

    def flagged_row(self, position: int) -> int | None:
        """The backward row of the first mistake, once the position has reached it."""
        first = self.first_position
        if first is None or first < 1 or position < first:
            return None
        return first - 1

    def finding_at(self, position: int) -> Finding | None:
        """The failing finding the step at ``position`` shows (the first one there)."""
        if self.verification is None or position < 1:
            return None
        return next((f for f in self.verification.findings_at(position) if f.failed), None)

    def finding_text(self, position: int) -> tuple[str, bool] | None:
        """``(text, is_first)`` for the step panel at ``position``."""
        finding = self.finding_at(position)
        if finding is None:
            return None
        first = finding is self.first
        lead = "FIRST MISTAKE" if first else "mistake"
        text = f"{lead} ({finding.kind_text}, line {finding.line}): {finding.message}"
        if finding.step is None:  # a statement that is not there: this step is only where it was due
            text += " (no backward statement does it; ∅ marks where it was due, not a wrong line)"
        return text, first

    def first_mistake_note(self) -> str | None:
        """Why ``w`` cannot jump (None when it can)."""
        if not self.ready:
            return "Still checking the backward pass…"
        if self.error:
            return self.error
        if self.verification is None:
            return "No reference to check the backward pass against."
        if self.first is None:
            if self.verification.reference is None or self.verification.reference is self.walk:
                note = self.verification.note or "nothing to compare with"
                return f"No mistake found ({note})."
            return "No mistake: every step matches the derived backward pass."
        return None

    # -- gradients ------------------------------------------------------------------------
    def check(self, name: str, position: int) -> GradientCheck | None:
        """The check of gradient ``name``, once it is final at ``position``."""
        if self.report is None:
            return None
        result = self.report.get(name)
        if result is None or position < self.last_write.get(name, 0):
            return None
        return result


def check_text(result: GradientCheck, wide: bool) -> Glyph:
    """``good 2e-11`` (the error only when ``wide``)."""
    text = result.verdict
    if wide and result.relative_error is not None and np.isfinite(result.relative_error):
        text += f" {result.relative_error:.0e}"
    return Glyph(text, CHECK_STYLES.get(result.verdict, ""))
