"""Showing a transcript: Markdown for reading (``bpstep transcript``) and an asciicast v2
recording (``--asciicast``) for terminal players. Steps are shown as ``bpstep run`` shows
them (``report.step_effect``): a ``+=`` as ``before + contribution = after``."""

from __future__ import annotations

import json
from datetime import datetime

from bpstep.core.report import overwrite_warning, step_effect
from bpstep.core.transcript.model import Action, Transcript
from bpstep.core.transcript.replay import Replay, StepDifference
from bpstep.core.values import brief, has_trouble, shape_text


def _span(text: str) -> str:
    """``text`` as a Markdown code span (safe for backticks and table pipes)."""
    text = text.replace("|", "\\|")
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _range(indices: list[int]) -> str:
    if not indices:
        return ""
    if len(indices) == 1:
        return f"step {indices[0]}"
    return f"steps {indices[0]}–{indices[-1]}"


def summary(action: Action) -> str:
    """``position 0 → 2, applied steps 1–2`` / ``..., undid step 3`` / ``stays at position 12``."""
    indices = [s.index for s in action.steps]
    if action.move == "none":
        return f"stays at position {action.after}"
    verb = "applied" if action.move == "forward" else "undid"
    return f"position {action.before} → {action.after}, {verb} {_range(indices)}"


def action_lines(action: Action, stages: dict[int, str],
                 differences: tuple[StepDifference, ...] = ()) -> list[str]:
    """The steps an action applied or undid, as ``bpstep run`` prints steps."""
    changed = {d.index: d for d in differences}
    out: list[str] = []
    current = None
    undo = action.move == "back"
    for step in action.steps:
        if step.stage != current:
            current = step.stage
            out.append(f"stage {step.stage}: {stages.get(step.stage, '')}".rstrip())
        marker = "+=" if step.accumulates else "  "
        verb = "undo" if undo else "step"
        out.append(f"  {marker} {verb} {step.index:<3} line {step.line:<4} {step.code}")
        out.append(f"        {step_effect(step)}" + ("   (undone)" if undo else ""))
        warning = overwrite_warning(step)
        if warning:
            out.append(f"        WARNING: {warning}")
        if has_trouble(step.after):
            out.append(f"        (!) {step.target} is not finite")
        difference = changed.get(step.index)
        if difference is not None:
            if difference.now is None:
                out.append("        (!) CHANGED: the scenario no longer has this step")
            else:
                out.append(f"        (!) CHANGED ({', '.join(difference.fields)}); now: "
                           f"{difference.now.code}  ->  {step_effect(difference.now)}")
    return out


def _cache_rows(transcript: Transcript, replay: Replay | None, stages: dict[int, str]) -> list[str] | None:
    """The forward cache as recorded (or, from a transcript without it, as the scenario has it)."""
    cache = transcript.header.cache
    if cache is None and replay is not None:
        cache = replay.walk.cache
    if cache is None:
        return None
    rows = ["| name | stage | shape | value | code |", "| --- | --- | --- | --- | --- |"]
    for entry in cache:
        code = stages.get(entry.stage, "") if entry.stage else entry.code
        flag = " (!) not finite" if has_trouble(entry.value) else ""
        rows.append(f"| {_span(entry.label)} | {'input' if entry.stage is None else entry.stage} | "
                    f"{shape_text(entry.value)} | {brief(entry.value)}{flag} | {_span(code) if code else ''} |")
    return rows


def _stages(transcript: Transcript, replay: Replay | None) -> dict[int, str]:
    if transcript.header.stages or replay is None:
        return dict(transcript.header.stages)
    return {s.stage: s.code for s in replay.walk.forward}


def markdown(transcript: Transcript, replay: Replay | None = None, notes: tuple[str, ...] = ()) -> str:
    """The whole session as Markdown. With ``replay``, steps whose values now differ are marked."""
    header = transcript.header
    title = header.title or (replay.walk.scenario.title if replay else None) or header.scenario
    actions = transcript.actions
    out = [f"# {title}: a bpstep session", ""]
    out.append(f"- Scenario: {_span(header.scenario)}")
    out.append(f"- sha256: {_span(header.sha256)}")
    out.append(f"- Recorded: {header.started} with bpstep {header.bpstep}")
    if actions:
        out.append(f"- {len(actions)} action{'s' * (len(actions) != 1)} over {_duration(actions[-1].t)}, "
                   f"position {actions[0].before} → {actions[-1].after}")
    else:
        out.append("- No actions recorded")
    out.append("")
    for note in (replay.warnings if replay else ()) + tuple(notes):
        out += [f"> **Warning:** {note}", ""]
    stages = _stages(transcript, replay)
    out += ["## Forward cache", ""]
    rows = _cache_rows(transcript, replay, stages)
    out += rows if rows else ["(not recorded in this transcript, and the scenario was not loaded)"]
    if header.output:
        value = next((e.value for e in reversed(header.cache or ()) if e.name == header.output), None)
        line = f"Output {_span(header.output)}" + (f" = {brief(value)}" if value is not None else "")
        if header.upstream is not None:
            line += f"; upstream {_span('d' + header.output)} = {brief(header.upstream)}"
        out += ["", line + "."]
    out += ["", "## Actions", ""]
    differences = replay.differences if replay else {}
    for action in actions:
        out += [f"### {action.number}. {_span(action.action)} ({_duration(action.t)}): {summary(action)}", ""]
        lines = action_lines(action, stages, differences.get(action.number, ()))
        if lines:
            out += ["```text"] + lines + ["```", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"


def asciicast(transcript: Transcript, replay: Replay | None = None, width: int = 100, height: int = 30) -> str:
    """An asciinema asciicast v2 recording: each action's step text printed at its time."""
    header = transcript.header
    stages = _stages(transcript, replay)
    differences = replay.differences if replay else {}
    try:
        timestamp = int(datetime.fromisoformat(header.started).timestamp())
    except (ValueError, OverflowError, OSError):
        timestamp = 0
    title = header.title or header.scenario
    first = [f"\x1b[1mbpstep\x1b[0m {title}  ({header.scenario})"]
    first += [f"\x1b[33mwarning:\x1b[0m {w}" for w in (replay.warnings if replay else ())]
    events: list[tuple[float, str]] = [(0.0, _crlf(first))]
    when = 0.0
    for action in transcript.actions:
        when = max(when, action.t)
        lines = [f"\x1b[1;36m[{action.action}]\x1b[0m {summary(action)}"]
        lines += action_lines(action, stages, differences.get(action.number, ()))
        events.append((when, _crlf(lines)))
    out = [json.dumps({"version": 2, "width": width, "height": height, "timestamp": timestamp,
                       "title": f"bpstep: {title}", "env": {"TERM": "xterm-256color"}})]
    out += [json.dumps([round(t, 3), "o", text], ensure_ascii=False) for t, text in events]
    return "\n".join(out) + "\n"


def _crlf(lines: list[str]) -> str:
    return "\r\n".join(lines) + "\r\n"
