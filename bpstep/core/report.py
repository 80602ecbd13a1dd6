"""``bpstep run``: the whole walk as plain text, or as one JSON document."""

from __future__ import annotations

import json
import math
import unicodedata
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

if TYPE_CHECKING:
    from bpstep.core.gradcheck import CheckReport

from bpstep.core.engine import Step, Walk
from bpstep.core.values import brief, count, encode, has_trouble, shape_text, terms


MAX_PARTS = 8  # contributions spelled out in a gradient's sum (the text report)


def step_effect(step: Step, gradient_of: str | None = None) -> str:
    """What a step did, in one line: ``dx: 1.5832 - 0.03576 = 1.5474`` for a ``+=`` (before, the
    contribution added, after; a negative scalar contribution is written as a subtraction).
    ``gradient_of`` names what a backward name that is not ``dv`` is the gradient of (``c#1``
    for ``dc_1``; see ``Walk.gradient_label``)."""
    if step.accumulates:
        (_, before), (sign, term) = terms([step.before, step.contribution])
        text = f"{step.target}: {before} {sign} {term} = {brief(step.after)}"
    else:
        text = f"{step.target} = {brief(step.after)}"
    if step.gradient_of is None:
        text += f"   (gradient of {gradient_of})" if gradient_of else "   (local)"
    return text


def overwrite_warning(step: Step) -> str | None:
    if not step.overwrites:
        return None
    stages = ", ".join(str(s) for s in step.overwrites)
    return (f"'=' overwrites the contribution of stage {stages} to {step.target}: "
            "gradients add up at forks, use +=")


def cells(text: str) -> int:
    """The terminal cells a text takes: a wide character (CJK) takes two."""
    if text.isascii():
        return len(text)
    return sum(0 if unicodedata.combining(char) else 2 if unicodedata.east_asian_width(char) in "WF" else 1
               for char in text)  # a combining mark (x̂) takes none


def table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Rows of cells in aligned columns (measured in terminal cells: a hunt found CJK names
    pushing their rows' later columns out of line)."""
    widths = [max(cells(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(cell + " " * (w - cells(cell)) for cell, w in zip(row, widths)).rstrip()
            for row in rows]


def text_report(walk: Walk, check: bool = True) -> str:
    out: list[str] = [f"{walk.scenario.title}  ({walk.scenario.path})", ""]
    out.append("Forward cache")
    rows = [["name", "stage", "shape", "value"]]
    for entry in walk.cache:
        stage = "input" if entry.stage is None else str(entry.stage)
        flag = "  (!) not finite" if has_trouble(entry.value) else ""
        rows.append([entry.label, stage, shape_text(entry.value), brief(entry.value, shaped=False) + flag])
    out += table(rows)
    out += ["", f"Output {walk.output} = {brief(walk.cache_value(walk.output))}; "
                f"upstream {walk.upstream_name} = {brief(walk.upstream)}", ""]
    stages = len({s.stage for s in walk.steps})
    derived = " (derived by bpstep: the scenario has no backward: block)" if walk.derived else ""
    if not walk.steps:
        out.append("Backward: no steps" + (derived or " (the backward: block is empty)"))
    else:
        out.append(f"Backward: {walk.total} step{'s' * (walk.total != 1)} over {stages} "
                   f"stage{'s' * (stages != 1)}{derived}")
    forward_by_stage = {s.stage: s for s in walk.forward}
    current = None
    for step in walk.steps:
        if step.stage != current:
            current = step.stage
            fwd = forward_by_stage.get(step.stage)
            out.append(f"stage {step.stage}: {fwd.code if fwd else ''}")
        marker = "+=" if step.accumulates else "  "
        out.append(f"  {marker} step {step.index:<3} line {step.line:<4} {step.code}")
        out.append(f"        {step_effect(step, walk.gradient_label(step.target))}")
        warning = overwrite_warning(step)
        if warning:
            out.append(f"        WARNING: {warning}")
        if has_trouble(step.after):
            out.append(f"        (!) {step.target} is not finite")
    out += ["", "Gradients"]
    local = walk.final_locals()
    versions = {n: v for n, v in local.items() if walk.gradient_label(n)}  # dc_1: of c#1
    local = {n: v for n, v in local.items() if n not in versions}
    finals = {**walk.final_gradients(), **versions}
    rows = []
    for name, value in finals.items():
        live = [c for c in walk.contributions_at(name, walk.total) if not c.discarded]
        parts = [f"{sign} {term} ({'upstream' if c.stage is None else f'stage {c.stage}'})".lstrip()
                 for (sign, term), c in zip(terms(c.value for c in live), live)]
        if len(parts) > MAX_PARTS:  # a value read by hundreds of stages: one readable line
            parts = parts[:MAX_PARTS - 2] + [f"+ … ({len(parts) - MAX_PARTS + 1} more)"] + parts[-1:]
        rows.append([name, brief(value), "= " + " ".join(parts) if len(parts) > 1 else ""])
    out += table(rows) if rows else ["  (none)"]
    if local:
        out += ["", "Backward locals"]
        out += table([[name, brief(value)] for name, value in local.items()])
    if walk.hints:
        out += ["", "Hints"] + [f"  {hint}" for hint in walk.hints]
    if check:
        out += ["", *check_text(_check(walk))]
    return "\n".join(out) + "\n"


def check_text(report: CheckReport) -> list[str]:
    """The "Gradient check" section of ``bpstep run``."""
    out = [f"Gradient check (central differences, h = {report.h:g}; relative error "
           "|a - n| / max(|a|, |n|))"]
    if not report.results:
        return out + ["  (no gradients to check)"]
    rows = [["gradient", "of", "elements", "rel. error", "verdict"]]
    notes = []
    for result in report.results.values():
        error = "—" if result.relative_error is None else f"{result.relative_error:.1e}"
        counted = str(result.elements) if result.checked == result.elements else \
            f"{result.checked}/{result.elements}"
        rows.append([result.name, result.of, counted, error, result.verdict_text])
        if result.note:
            notes.append(f"  {result.name}: {result.note}")
    return out + table(rows) + notes


def step_json(step: Step, encode: Callable[[Any], Any] = encode) -> dict[str, Any]:
    return {
        "index": step.index, "stage": step.stage, "line": step.line, "code": step.code,
        "target": step.target, "op": step.op, "before": encode(step.before),
        "contribution": encode(step.contribution), "after": encode(step.after),
        "kind": "gradient" if step.gradient_of is not None else "local",
        "reads": [{"name": r.name, "kind": r.kind} for r in step.reads],
        "overwrites": list(step.overwrites),
    }


def as_plain(value: Any) -> Any:
    """:func:`encode` when every number is finite: numpy's float64 is a Python float, and
    ``tolist`` makes nested lists in C. ``json.dumps(allow_nan=False)`` refuses what this lets
    through (NaN, infinities), and :func:`json_chunks` then encodes that piece again with encode."""
    return value.tolist() if type(value) is np.ndarray else value


def check_json(report: CheckReport, encode: Callable[[Any], Any] = encode) -> dict[str, Any]:
    return {name: check_result_json(r, encode) for name, r in report.results.items()}


def check_result_json(r, encode: Callable[[Any], Any] = encode) -> dict[str, Any]:
    """One gradient's check (a :class:`bpstep.core.gradcheck.GradientCheck`)."""
    return {"of": r.of, "relative_error": encode(r.relative_error), "verdict": r.verdict,
            "written": r.written, "checked": r.checked, "elements": r.elements,
            "numeric": encode(r.numeric), "note": r.note}


def cache_json(walk: Walk, encode: Callable[[Any], Any] = encode) -> list[dict[str, Any]]:
    """The forward cache as ``run --json`` writes it (and a transcript's header)."""
    return [cache_entry_json(e, encode) for e in walk.cache]


def cache_entry_json(e, encode: Callable[[Any], Any] = encode) -> dict[str, Any]:
    return {"name": e.name, "version": e.version, "stage": e.stage, "line": e.line,
            "shape": list(e.value.shape) if hasattr(e.value, "shape") else [], "value": encode(e.value)}


def json_report(walk: Walk, check: bool = True, encode: Callable[[Any], Any] = encode) -> dict[str, Any]:
    final = walk.final_state()
    return {
        "title": walk.scenario.title,
        "scenario": walk.scenario.path,
        "output": walk.output,
        "forward": {entry.name: encode(entry.value) for entry in walk.cache},
        "cache": cache_json(walk, encode),
        "upstream": encode(walk.upstream),
        "steps": [step_json(step, encode) for step in walk.steps],
        "gradients": {name: encode(value) for name, value in final.items() if walk.is_gradient(name)},
        "locals": {name: encode(value) for name, value in final.items() if not walk.is_gradient(name)},
        "hints": list(walk.hints),
        "derived": walk.derived,
        "check": check_json(_check(walk)) if check else None,
    }


def json_text(walk: Walk, check: bool = True) -> str:
    return "".join(json_chunks(walk, check))


# Numbers encoded in one piece of the document. The whole document of 1,000 steps on 256x256
# arrays is 5.8 GB of text and took 24x that as Python lists; a piece is about 10 MB in flight.
# A piece is never less than one step (or cache entry): a step on arrays larger than this is a
# piece of its own (a += on 2000x2000 arrays, 12 million numbers: a process of 850 MB).
CHUNK_NUMBERS = 1 << 16


def json_chunks(walk: Walk, check: bool = True) -> Iterator[str]:
    """``run --json``'s document (:func:`json_report`, byte for byte what ``json.dumps`` gives
    for it) in pieces, so that it is written as it is encoded: memory stays at one piece of
    about CHUNK_NUMBERS numbers, not the whole document's lists and text.

    Each piece goes to json's C encoder with its numbers as they are (no indent: the C encoder
    only runs without one); a piece with a NaN or an infinity is encoded again with
    :func:`encode`, which writes those as strings (DESIGN.md section 3)."""
    report = _check(walk) if check else None  # before the first piece: an error leaves no half document
    final = walk.final_state()
    plain = PlainText()  # every object it is given is the walk's, alive until the end
    forward = {entry.name: entry for entry in walk.cache}  # a re-bound name: its last value, first place
    yield "{"
    yield from pieces_of(lambda enc: {"title": walk.scenario.title, "scenario": walk.scenario.path,
                                      "output": walk.output}, strip=True)
    yield ', "forward": '
    yield from collection_pieces(list(forward.items()), lambda item, enc: enc(item[1].value),
                                 lambda item: item[1].value, "{}",
                                 plain.entry_item)
    yield ', "cache": '
    yield from collection_pieces(walk.cache, lambda entry, enc: cache_entry_json(entry, enc),
                                 lambda entry: entry.value, "[]", plain.cache_entry)
    yield ", "
    yield from pieces_of(lambda enc: {"upstream": enc(walk.upstream)}, strip=True)
    yield ', "steps": '
    yield from collection_pieces(walk.steps, step_json, lambda s: (s.before, s.contribution, s.after), "[]",
                                 plain.step)
    split: tuple[list, list] = ([], [])  # (locals, gradients)
    for name, value in final.items():
        split[walk.is_gradient(name)].append((name, value))
    for key, items in (("gradients", split[True]), ("locals", split[False])):
        yield f', "{key}": '
        yield from collection_pieces(items, lambda item, enc: enc(item[1]), lambda item: item[1], "{}", plain.item)
    yield ", "
    yield from pieces_of(lambda enc: {"hints": list(walk.hints), "derived": walk.derived}, strip=True)
    yield ', "check": '
    if report is None:
        yield "null"
    else:  # a gradient's check holds its central differences: as many numbers as the gradient
        yield from collection_pieces(list(report.results.items()), lambda item, enc: check_result_json(item[1], enc),
                                     lambda item: item[1].numeric, "{}")
    yield "}\n"


def collection_pieces(items, build: Callable[[Any, Callable[[Any], Any]], Any], numbers: Callable[[Any], Any],
                      brackets: str, plain: Callable[[Any], str] | None = None) -> Iterator[str]:
    """A JSON list (``brackets`` "[]") of ``build(item, encode)``, or an object ("{}") of
    ``key: build((key, value), encode)`` items, in pieces of about CHUNK_NUMBERS numbers
    (``numbers(item)`` gives the values whose sizes count); an item larger than that is a
    piece of its own, its large arrays written in pieces too (:func:`pieces_of`).

    ``plain(item)``: the item's text as the encoder writes it, written directly when every number
    in it is a finite scalar (else it raises :class:`NotPlain`; :func:`plain_number`). Items go
    to it in runs of at most CHUNK_NUMBERS // PLAIN_NUMBERS, so that a piece stays as large as
    before; a run with an array, a NaN or an infinity in it is built and encoded as before."""
    keyed = brackets == "{}"
    yield brackets[0]
    if plain is None:
        yield from _pieces(items, build, numbers, keyed, True)
    else:
        first = True
        per_piece = max(min(CHUNK_NUMBERS // PLAIN_NUMBERS, PLAIN_ITEMS), 1)
        for start in range(0, len(items), per_piece):
            run = items[start:start + per_piece]
            try:
                text = ", ".join([plain(item) for item in run])
            except NotPlain:
                first = yield from _pieces(run, build, numbers, keyed, first)
                continue
            yield text if first else ", " + text
            first = False
    yield brackets[1]


def _pieces(items, build, numbers, keyed: bool, first: bool) -> Iterator[str]:
    """:func:`collection_pieces` without ``plain``, its brackets left out; ``first``: no item
    is written before these (else each piece starts with ", "). Returns whether that is still so."""
    batch: list = []
    size = 0
    for item in items:
        found = numbers(item)  # without a generator per item: once per step of a long walk
        if type(found) is tuple:
            count_of = 0
            for value in found:
                count_of += count(value)
        else:
            count_of = count(found)
        if count_of > CHUNK_NUMBERS:
            if batch:
                yield ("" if first else ", ") + _batch(batch, build, keyed)
                batch, size, first = [], 0, False
            yield "" if first else ", "
            first = False
            if keyed:
                yield from pieces_of(lambda enc: {item[0]: build(item, enc)}, strip=True)
            else:
                yield from pieces_of(lambda enc: [build(item, enc)], strip=True)
            continue
        batch.append(item)
        size += count_of
        if size >= CHUNK_NUMBERS:
            yield ("" if first else ", ") + _batch(batch, build, keyed)
            batch, size, first = [], 0, False
    if batch:
        yield ("" if first else ", ") + _batch(batch, build, keyed)
        first = False
    return first


# -- the plain items' text, written without building their dicts ------------------------------
# At 10,000 stages the steps' dicts and their encoding were 0.11 s of the 0.5 s of run --json;
# written directly, 0.05 s. The text is byte for byte the encoder's (tests/test_engine_records.py):
# a finite float is written as float.__repr__ writes it (json's encoder does, for numpy's
# float64 too), a string by json's own function, an integer as str() writes it.

PLAIN_NUMBERS = 3  # the most numbers an item written plainly has (a step: before, contribution, after)
# Items in one piece of plain text (a step is about 350 bytes): a piece of 21,000 steps was 7 MB of
# text, and as much again encoded for the write, each time in memory the process had not touched
# yet (at 10,000 stages, 5,500 page faults, about 15 ms); pieces of 1,000 reuse the same memory.
PLAIN_ITEMS = 1024
_FLOAT64 = np.float64
_isfinite = math.isfinite
_float_text = float.__repr__
_string = json.encoder.encode_basestring_ascii  # what json.dumps (ensure_ascii) writes for a str


class NotPlain(Exception):
    """A value :func:`plain_number` does not write: an array, a NaN, an infinity, ..."""


def plain_number(value: Any) -> str:
    """The JSON of None or a finite float (numpy's float64 included), as the encoder writes it."""
    if value.__class__ is _FLOAT64 or value.__class__ is float:
        if _isfinite(value):
            return _float_text(value)
    elif value is None:
        return "null"
    raise NotPlain


class PlainText:
    """The text of a document's scalar items (:func:`plain_number` ...), remembering the text of
    each object it has written, by its id: a forward value is written in "forward" and "cache",
    a step's result as its "after" (the same object as its contribution for an '='), as the
    next += on it's "before", and the last one as a gradient, and each name's Read is one
    object (formatting floats is most of the cost: 18 ms of 85 at 10,000 stages).

    Only for objects that stay alive while it is used (an id is then one object): a walk's.
    At most ``limit`` texts are kept."""

    def __init__(self, limit: int = 1 << 18):
        self.limit = limit
        self._texts: dict[int, str] = {}

    def number(self, value: Any) -> str:
        """:func:`plain_number`'s text of ``value``."""
        key = id(value)
        texts = self._texts
        text = texts.get(key)
        if text is None:
            # a finite float64, the common case of plain_number, without its call: 31,000 of
            # them at 10,000 stages (a call more each was 8 ms)
            if value.__class__ is _FLOAT64 and _isfinite(value):
                text = _float_text(value)
            else:
                text = plain_number(value)
            self._remember(key, text)
        return text

    def _read(self, read) -> str:
        key = id(read)
        texts = self._texts
        text = texts.get(key)
        if text is None:
            text = f'{{"name": {_string(read.name)}, "kind": "{read.kind}"}}'
            self._remember(key, text)
        return text

    def _remember(self, key: int, text: str) -> None:
        if len(self._texts) >= self.limit:
            self._texts.clear()
        self._texts[key] = text

    def step(self, step: Step) -> str:
        """:func:`step_json`'s text for a step on scalars."""
        number, contribution = self.number, step.contribution
        written = number(contribution)
        after = written if step.after is contribution else number(step.after)
        reads = step.reads
        reads = self._read(reads[0]) if len(reads) == 1 else ", ".join([self._read(r) for r in reads])
        overwrites = ", ".join([str(stage) for stage in step.overwrites]) if step.overwrites else ""
        return (f'{{"index": {step.index}, "stage": {step.stage}, "line": {step.line}, '
                f'"code": {_string(step.code)}, "target": {_string(step.target)}, "op": "{step.op}", '
                f'"before": {"null" if step.before is None else number(step.before)}, '
                f'"contribution": {written}, "after": {after}, '
                f'"kind": "{"local" if step.gradient_of is None else "gradient"}", '
                f'"reads": [{reads}], "overwrites": [{overwrites}]}}')

    def cache_entry(self, entry) -> str:
        """:func:`cache_entry_json`'s text for a scalar entry."""
        stage = "null" if entry.stage is None else entry.stage
        return (f'{{"name": {_string(entry.name)}, "version": {entry.version}, "stage": {stage}, '
                f'"line": {entry.line}, "shape": [], "value": {self.number(entry.value)}}}')

    def item(self, item: tuple[str, Any]) -> str:
        """``"name": value`` for a scalar value."""
        return f"{_string(item[0])}: {self.number(item[1])}"

    def entry_item(self, item: tuple[str, Any]) -> str:
        """``"name": value`` for a cache entry's scalar value."""
        return f"{_string(item[0])}: {self.number(item[1].value)}"


# What a large array stands in for while the rest of its document is encoded: a string that
# no scenario or transcript text can hold (control characters are refused in both).
_HOLE = "\x00bpstep: an array written in pieces\x00"
_HOLE_JSON = json.dumps(_HOLE)


def pieces_of(build: Callable[[Callable[[Any], Any]], Any], strip: bool = False) -> Iterator[str]:
    """The JSON of ``build(encode)`` (``strip``: without its outer brackets), byte for byte what
    :func:`encoded` gives, with each array of more than CHUNK_NUMBERS numbers written in pieces
    of about that many: never the whole array as Python lists and text at once (a 2000x2000
    step was a process of 1.3 GB)."""
    arrays: list[np.ndarray] = []

    def skeleton(enc: Callable[[Any], Any]) -> Any:
        arrays.clear()  # built again the slow way if a small value is not finite

        def hole(value: Any) -> Any:
            if type(value) is np.ndarray and value.size > CHUNK_NUMBERS:
                arrays.append(value)
                return _HOLE
            return enc(value)

        return build(hole)

    text = encoded(skeleton)
    if strip:
        text = text[1:-1]
    parts = text.split(_HOLE_JSON)
    assert len(parts) == len(arrays) + 1, "a placeholder in the document's own text"  # cannot: see _HOLE
    yield parts[0]
    for array, part in zip(arrays, parts[1:]):
        yield from _array_pieces(array)
        yield part


def _array_pieces(array: np.ndarray) -> Iterator[str]:
    """An array's JSON (nested lists) in pieces of rows of about CHUNK_NUMBERS numbers."""
    if array.ndim == 0 or array.size <= CHUNK_NUMBERS:
        yield encoded(lambda enc: enc(array))
        return
    per_row = array.size // array.shape[0]
    rows = max(CHUNK_NUMBERS // per_row, 1)
    yield "["
    for start in range(0, array.shape[0], rows):
        if start:
            yield ", "
        if per_row > CHUNK_NUMBERS:  # one row is itself large: in pieces
            yield from _array_pieces(array[start])
        else:
            chunk = array[start:start + rows]
            yield encoded(lambda enc: enc(chunk))[1:-1]
    yield "]"


def _batch(batch: list, build, keyed: bool) -> str:
    if keyed:
        return encoded(lambda enc: {item[0]: build(item, enc) for item in batch})[1:-1]
    return encoded(lambda enc: [build(item, enc) for item in batch])[1:-1]


def encoded(build: Callable[[Callable[[Any], Any]], Any], compact: bool = False) -> str:
    """JSON of ``build(encode)`` (``compact``: without spaces, as transcripts are written), built
    first with ``as_plain``: most numbers are finite and go to the C encoder as they are; a NaN
    or an infinity makes it build again with encode(), which writes them as strings."""
    fast, safe = _ENCODERS[compact]
    try:
        return fast.encode(build(as_plain))  # a fresh tree of dicts and lists: no cycle to look for
    except ValueError:
        return safe.encode(build(encode))


_ENCODERS = {compact: (json.JSONEncoder(allow_nan=False, check_circular=False, separators=separators),
                       json.JSONEncoder(allow_nan=False, separators=separators))
             for compact, separators in ((False, (", ", ": ")), (True, (",", ":")))}


def _check(walk: Walk) -> CheckReport:
    from bpstep.core.gradcheck import check_walk  # the TUI's step panel imports this module

    return check_walk(walk)
