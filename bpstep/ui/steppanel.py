"""The step panel: what the step at the current position did, in three lines."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from bpstep.core.engine import Walk
from bpstep.core.report import overwrite_warning, step_effect
from bpstep.core.values import brief, has_trouble
from bpstep.ui.state import Focus, hint_for


class StepPanel(Static):
    """Code; effect (``before + contribution = after`` for a ``+=``) and reads; a warning."""

    def show(self, walk: Walk, focus: Focus, finding: tuple[str, bool] | None = None) -> None:
        """``finding``: a mistake found at this step by ``bpstep check``'s verify, and whether it
        is the first (bpstep/ui/verdicts.py); it takes the third line."""
        self.lines = step_lines(walk, focus)
        if finding is not None:
            text, first = finding
            self.lines[2:] = [Text(("⚑ " if first else "") + text, style="bold")]
        step = focus.step
        self.border_title = (f"Step {step.index} · stage {step.stage} · line {step.line}" if step
                             else "Start")
        self.set_class(bool(step and step.overwrites) or finding is not None, "-warning")
        self.update(Text("\n").join(self.lines), layout=False)  # fixed height: no relayout per step

    @property
    def plain(self) -> str:
        return "\n".join(line.plain for line in getattr(self, "lines", []))


def step_lines(walk: Walk, focus: Focus) -> list[Text]:
    step = focus.step
    if step is None:
        lines = [Text(f"Forward pass done and cached. Only gradient so far: the upstream "
                      f"{walk.upstream_name} = {brief(walk.upstream)}")]
        first = walk.step(1)
        if first is None:
            lines.append(Text("This scenario has no backward pass to step through (no backward: "
                              "block)."))
            return lines
        lines.append(Text.assemble("next: ", (first.code, "bold"), f"  (stage {first.stage}, "
                                   f"line {first.line})"))
        lines.append(Text("s/↓ one statement · n/→ one stage · ↑/p back · ? help", style="italic"))
        return lines
    marker = ("+= ", "bold reverse") if step.accumulates else ("", "")
    reads = ", ".join(dict.fromkeys(r.name for r in step.reads)) or "no names"
    lines = [Text.assemble(marker, (step.code, "bold")),
             Text.assemble((step_effect(step), "bold" if step.accumulates else ""),
                           (f"    reads {reads}", "italic"))]
    warning = overwrite_warning(step)
    hint = hint_for(walk, step)
    if warning:
        lines.append(Text("WARNING: " + warning, style="bold"))
    elif has_trouble(step.after):
        lines.append(Text(f"(!) {step.target} is not finite", style="bold"))
    elif hint:  # keep the question ("did you mean dinvden, ...?"), which names the gradient
        question = hint.rsplit("; ", 1)[-1].split(",")[0].rstrip("?") + "?"
        lines.append(Text(f"hint: {step.target} is a local, not a gradient; {question}", style="italic"))
    elif focus.position == walk.total:
        lines.append(Text("End of the backward pass: every gradient is final.", style="italic"))
    return lines
