"""``bpstep check`` as text for people and as one JSON document for graders."""

from __future__ import annotations

from typing import Any, Callable, Iterator

from bpstep.core.check import CheckResult, FinalGradient
from bpstep.core.engine import Step
from bpstep.core.findings import FAILING, LOCAL, MISNAMED, OK, UNCHECKED, Finding, StepMark
from bpstep.core.report import collection_pieces, pieces_of, table
from bpstep.core.values import brief, encode

MARK_TEXT = {OK: "ok", LOCAL: "local", UNCHECKED: "unchecked", MISNAMED: "misnamed?"}


def summary(result: CheckResult) -> str:
    failures = result.verification.failures
    first = result.first
    if result.passed:
        if result.verification.reference is None:
            return "RIGHT: every gradient matches central differences (there is no derived reference)"
        return "RIGHT: every gradient matches the derived reference"
    if first is not None:
        count = len(failures)
        return (f"WRONG: {count} mistake{'s' * (count != 1)}; the first is line {first.line}, "
                f"stage {first.stage}: {first.kind_text}")
    names = ", ".join(g.name for g in result.wrong_gradients)
    return f"WRONG: {names} differ{'s' * (len(result.wrong_gradients) == 1)} from central differences"


def finding_text(finding: Finding) -> list[str]:
    """A mistake (or hint) in full: where, what kind, why, and what the rule says."""
    where = f"line {finding.line}, stage {finding.stage}{' (forward)' if finding.step is None else ''}: " \
            f"{finding.code}"
    out = [where, f"  {finding.kind_text}: {finding.message}"]
    if finding.code != finding.forward:
        out.append(f"  stage {finding.stage} is {finding.forward}")
    out += [f"  rule: {rule}" for rule in finding.rules]
    if finding.reference:
        out.append("  reference: " + "; ".join(finding.reference))
    if finding.dimensions:
        out.append(f"  dimension analysis: {finding.dimensions}")
    out += [f"  the reference's:    {text}" for text in finding.reference_dimensions]
    if finding.kind != MISNAMED:
        expected = "no gradient" if finding.expected is None else brief(finding.expected)
        actual = "no gradient" if finding.actual is None else brief(finding.actual)
        out.append(f"  {finding.gradient} after stage {finding.stage}: expected {expected}, got {actual}")
    return out


def _mark_text(mark: StepMark) -> str:
    if mark.mark in FAILING:
        return mark.mark.upper().replace("_", " ")
    text = MARK_TEXT.get(mark.mark, mark.mark)
    return text + (" *" if mark.matches_reference is False else "")


def text_report(result: CheckResult) -> str:
    walk, verification = result.walk, result.verification
    out = [summary(result), f"{walk.scenario.title}  ({walk.scenario.path})"]
    if verification.note:
        out.append(f"note: {verification.note}")
    first = verification.first
    if first is not None:
        out += ["", "First mistake"] + [f"  {line}" for line in finding_text(first)]
    if walk.steps:
        out += ["", "Steps (each judged by the rules, from the gradients the pass had before it)"]
        rows = [["mark", "step", "line", "stage", "code"]]
        fed = False
        for step, mark in zip(walk.steps, verification.marks):
            rows.append([_mark_text(mark), str(step.index), str(step.line), str(step.stage), step.code])
            fed = fed or (mark.mark == OK and mark.matches_reference is False)
        out += table(rows)
        if fed:
            out.append("  * right by the rule, but off the reference's value: fed by an earlier mistake")
    others = [f for f in verification.failures if f is not first]
    if others:
        out += ["", "Other mistakes"]
        for finding in others:
            out += [f"  {line}" for line in finding_text(finding)]
    out += ["", "Gradients (against the derived reference, and central differences)"]
    out += _gradient_rows(result.gradients)
    hints = list(result.hints)
    for finding in verification.hints:
        if not any(h.startswith(f"line {finding.line}:") for h in hints):
            hints.append(f"line {finding.line}: {finding.message}")
    if hints:
        out += ["", "Hints"] + [f"  {hint}" for hint in hints]
    return "\n".join(out) + "\n"


def _gradient_rows(gradients: tuple[FinalGradient, ...]) -> list[str]:
    if not gradients:
        return ["  (no gradients)"]
    rows = [["gradient", "of", "verdict", "value", "reference", "central differences"]]
    notes = []
    for g in gradients:
        numeric = "—"
        if g.numeric is not None:
            error = "" if g.numeric.relative_error is None else f", rel. error {g.numeric.relative_error:.1e}"
            numeric = g.numeric.verdict_text + error
        rows.append([g.name, g.of, "ok" if g.passed else "WRONG",
                     "(not written)" if g.value is None else brief(g.value),
                     "—" if g.matches_reference is None else brief(g.expected), numeric])
        if g.note:
            notes.append(f"  {g.name}: {g.note}")
        if g.numeric is not None and g.numeric.note:
            notes.append(f"  {g.name}: {g.numeric.note}")
    return table(rows) + notes


# -- JSON ---------------------------------------------------------------------------------------

def finding_json(finding: Finding, encode: Callable[[Any], Any] = encode) -> dict[str, Any]:
    return {
        "kind": finding.kind, "failed": finding.failed, "stage": finding.stage, "line": finding.line,
        "code": finding.code, "step": finding.step, "position": finding.position,
        "gradient": finding.gradient, "of": finding.of, "message": finding.message,
        "forward": finding.forward, "rules": list(finding.rules), "reference": list(finding.reference),
        "dimensions": finding.dimensions, "reference_dimensions": list(finding.reference_dimensions),
        "expected": encode(finding.expected),
        "actual": encode(finding.actual),
    }


def _head(result: CheckResult, encode: Callable[[Any], Any]) -> dict[str, Any]:
    walk, verification = result.walk, result.verification
    first = verification.first
    return {
        "scenario": walk.scenario.path,
        "title": walk.scenario.title,
        "passed": result.passed,
        "exit": result.exit_code,
        "summary": summary(result),
        "derived_reference": verification.reference is not None,
        "note": verification.note,
        "first": finding_json(first, encode) if first is not None else None,
    }


def _step_json(item: tuple[Step, StepMark]) -> dict[str, Any]:
    s, m = item
    return {"index": s.index, "stage": s.stage, "line": s.line, "code": s.code, "target": s.target,
            "mark": m.mark, "matches_reference": m.matches_reference, "finding": m.finding}


def _gradient_json(g: FinalGradient, encode: Callable[[Any], Any]) -> dict[str, Any]:
    return {"of": g.of, "input": g.is_input, "passed": g.passed, "value": encode(g.value),
            "reference": encode(g.expected), "matches_reference": g.matches_reference,
            "numeric": None if g.numeric is None else {
                "verdict": g.numeric.verdict, "relative_error": encode(g.numeric.relative_error)},
            "note": g.note}


def json_report(result: CheckResult, encode: Callable[[Any], Any] = encode) -> dict[str, Any]:
    return {
        **_head(result, encode),
        "findings": [finding_json(f, encode) for f in result.verification.findings],
        "steps": [_step_json(item) for item in zip(result.walk.steps, result.verification.marks)],
        "gradients": {g.name: _gradient_json(g, encode) for g in result.gradients},
        "hints": list(result.hints),
    }


def json_chunks(result: CheckResult) -> Iterator[str]:
    """``check --json``'s document (:func:`json_report`, byte for byte what ``json.dumps`` gives
    for it) in pieces of about CHUNK_NUMBERS numbers, a large array in rows (a 2000x2000
    gradient was one 829 MB string; 150 steps on 250x250 arrays, one 382 MB piece)."""
    yield "{"
    yield from pieces_of(lambda enc: _head(result, enc), strip=True)
    yield ', "findings": '
    yield from collection_pieces(result.verification.findings, finding_json, lambda f: (f.expected, f.actual), "[]")
    yield ', "steps": '
    yield from collection_pieces(list(zip(result.walk.steps, result.verification.marks)),
                                 lambda item, enc: _step_json(item), lambda item: None, "[]")
    yield ', "gradients": '
    yield from collection_pieces([(g.name, g) for g in result.gradients], lambda item, enc: _gradient_json(item[1], enc),
                                 lambda item: (item[1].value, item[1].expected), "{}")
    yield ", "
    yield from pieces_of(lambda enc: {"hints": list(result.hints)}, strip=True)
    yield "}\n"
