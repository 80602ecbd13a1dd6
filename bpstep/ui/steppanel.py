"""The step panel: what the step at the current position did, in three lines."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from bpstep.core.engine import Walk
from bpstep.core.report import overwrite_warning, step_effect
from bpstep.core.values import brief, has_trouble
from bpstep.ui.state import Focus, hint_for


FINDING_LINES = 4  # a mistake's explanation wraps over up to this many lines (the rest: …)


class StepPanel(Static):
    """Code; effect (``before + contribution = after`` for a ``+=``) and reads; a warning, or
    the mistake found at this step, wrapped so that its advice is read to the end."""

    def show(self, walk: Walk, focus: Focus, finding: tuple[str, bool] | None = None) -> None:
        """``finding``: a mistake found at this step by ``bpstep check``'s verify, and whether it
        is the first (bpstep/ui/verdicts.py); it takes the third line and, if long, the ones
        after it (the panel grows for it, and only then)."""
        self._shown = (walk, focus, finding)
        self.lines = step_lines(walk, focus)
        if finding is not None:
            text, first = finding
            width = max(self.content_size.width, 20)
            # wrapped by terminal cells (a wide character takes two); on a short terminal fewer
            # lines, so that the panes keep their rows (24 rows: all four; 20 or fewer: one)
            wrapped = [line.plain.strip() for line in Text(("⚑ " if first else "") + text).wrap(self.app.console, width)]
            most = max(1, min(FINDING_LINES, self.app.size.height - 20))
            if len(wrapped) > most:  # the last line is cut with an ellipsis (CSS)
                wrapped[most - 1:] = [" ".join(wrapped[most - 1:])]
            self.lines[2:] = [Text(line, style="bold") for line in wrapped or [""]]
        step = focus.step
        self.border_title = (f"Step {step.index} · stage {step.stage} · line {step.line}" if step
                             else "Start")
        self.set_class(bool(step and step.overwrites) or finding is not None, "-warning")
        height = 1 + max(3, len(self.lines))  # the border and three lines, more for a finding
        grow = self.styles.height is None or self.styles.height.value != height
        if grow:
            self.styles.height = height
        self.update(Text("\n").join(self.lines), layout=grow)  # a fixed height: no relayout per step

    def on_resize(self) -> None:
        self.rewrap()

    def rewrap(self) -> None:
        """Wrap a shown finding again: to the panel's new width, or to the lines the terminal's
        new height allows (a height-only resize leaves the panel's own size alone)."""
        if getattr(self, "_shown", None) and self._shown[2] is not None:
            self.show(*self._shown)

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
