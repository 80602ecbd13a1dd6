"""Reading a transcript back, validating every line: any problem is a ScenarioError
``FILE:LINE:COL: error: MESSAGE`` naming the line (and the key) at fault."""

from __future__ import annotations

import contextvars
import json
import marshal
import re
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np

from bpstep import __version__
from bpstep.core.errors import ScenarioError
from bpstep.core.limits import DEFAULT_LIMITS
from bpstep.core.source import unprintable
from bpstep.core.transcript.model import (FORMAT, VERSION, Action, CachedValue, Header, RecordedStep,
                                          Transcript, move_of, steps_between)
from bpstep.core.values import decode

MAX_BYTES = 256 * 1024 * 1024  # a transcript larger than this is refused before reading it
_MAX_ELEMENTS: contextvars.ContextVar[int] = contextvars.ContextVar("max_elements", default=DEFAULT_LIMITS.max_elements)
# End, Home, End again record the same steps again: a step recorded again exactly as before is
# not validated and built again (see _Seen); the reader keeps at most this many bytes of the
# steps it has seen, while it reads
SEEN_BYTES = 64 * 1024 * 1024


class _In(NamedTuple):
    """Entry ``k`` (0-based) of the list under ``key``, whose objects start with ``first``."""

    key: str
    first: str
    k: int

    @property
    def prefix(self) -> str:
        return f"{'step' if self.key == 'steps' else 'entry'} {self.k + 1} of \"{self.key}\": "


class _Bad(Exception):
    """A problem inside one line; ``key`` (within entry ``within``) places the column."""

    def __init__(self, message: str, key: str | None = None, within: _In | None = None):
        super().__init__(message)
        self.message = (within.prefix if within else "") + message
        self.key, self.within = key, within


def _find_key(text: str, key: str, start: int = 0) -> int:
    found = re.compile(r'"%s"\s*:' % re.escape(key)).search(text, start)
    return found.start() if found else -1


def _column(text: str, key: str | None, within: _In | None = None) -> int:
    """1-based column of ``"key":`` in a line, looked for from the start of ``within``.

    bpstep writes each entry's ``first`` key first (``index`` for a step, ``name`` for a cache
    entry), so entry k starts at the k-th such key after the list's own key."""
    start = 0
    if within is not None:
        start = _find_key(text, within.key)
        for _ in range(within.k + 1):
            if start < 0:
                return 1
            start = _find_key(text, within.first, start + 1)
        if start < 0:
            return 1
    if key is None:
        return start + 1
    found = _find_key(text, key, start)
    return found + 1 if found >= 0 else start + 1


def read(path: str, max_elements: int = DEFAULT_LIMITS.max_elements) -> Transcript:
    """Read and validate a transcript; any problem is a ScenarioError naming its line. A recorded
    array of more than ``max_elements`` numbers (more than a scenario may make: a forged file)
    is refused before it is built."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ScenarioError("no such file", path=path) from None
    except IsADirectoryError:
        raise ScenarioError("is a directory, not a transcript", path=path) from None
    except OSError as exc:
        raise ScenarioError(f"cannot read the file: {exc.strerror or exc}", path=path) from None
    if len(data) > MAX_BYTES:
        raise ScenarioError(f"the transcript is larger than {MAX_BYTES} bytes", path=path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ScenarioError("not UTF-8 text", line, col, path=path) from None
    token = _MAX_ELEMENTS.set(max_elements)
    try:
        return parse(text, path)
    finally:
        _MAX_ELEMENTS.reset(token)


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > 30:  # no position or index has that many digits
        raise ValueError(f"a whole number of {len(text.lstrip('-'))} digits; bpstep writes none that long")
    return int(text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"bare {name} is not JSON; values write it as the string \"{name}\"")


def parse(text: str, path: str = "<transcript>") -> Transcript:
    """Parse a transcript's text (see :func:`read`)."""
    lines = text.split("\n")
    complete = text.endswith("\n")
    if complete:
        lines.pop()
    if not lines or lines == [""]:
        raise ScenarioError("empty file: not a bpstep transcript (line 1 must be its header)", path=path)
    header: Header | None = None
    actions: list[Action] = []
    seen = _Seen()
    for number, line in enumerate(lines, start=1):
        last_unterminated = number == len(lines) and not complete
        try:
            obj = _json(line, last_unterminated, number == 1)
            if number == 1:
                header = _header(obj)
            else:
                actions.append(_action(obj, number, len(actions) + 1, seen))
        except _Bad as bad:
            raise ScenarioError(bad.message, number, _column(line, bad.key, bad.within), path=path) from None
        except _BadJSON as bad:
            raise ScenarioError(bad.message, number, bad.col, path=path) from None
    assert header is not None
    return Transcript(path, header, tuple(actions))


class _BadJSON(Exception):
    def __init__(self, message: str, col: int):
        super().__init__(message)
        self.message, self.col = message, col


def _json(line: str, last_unterminated: bool, first: bool) -> dict[str, Any]:
    if not line.strip():
        raise _BadJSON("empty line; every line of a transcript is one JSON object", 1)
    try:
        obj = json.loads(line, parse_constant=_reject_constant, parse_int=_parse_int)
    except RecursionError:
        raise _BadJSON("values are nested too deeply", 1) from None
    except json.JSONDecodeError as exc:
        if last_unterminated:
            raise _BadJSON("the last line is cut short (no newline and not complete JSON): the session "
                           "was probably killed while writing it; the lines before it are complete, "
                           "delete this one to use them", 1) from None
        hint = " (a transcript is the JSON Lines file written by bpstep SCENARIO --record FILE)" if first else ""
        raise _BadJSON(f"not valid JSON: {exc.msg}{hint}", exc.colno) from None
    except ValueError as exc:
        raise _BadJSON(str(exc), 1) from None
    if not isinstance(obj, dict):
        raise _BadJSON(f"expected a JSON object, found {_kind(obj)}", 1)
    return obj


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "a string"}.get(type(value), "a number")


def _get(obj: dict, key: str, kinds: tuple[type, ...], what: str, within: _In | None = None,
         optional: bool = False) -> Any:
    if key not in obj:
        if optional:
            return None
        raise _Bad(f"missing \"{key}\" ({what})", None, within)
    value = obj[key]
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise _Bad(f"\"{key}\" must be {what}, not {_kind(value)}", key, within)
    if type(value) is str:
        problem = unprintable(f"\"{key}\"", value)
        if problem:  # it would reach the terminal or the Markdown as it is
            raise _Bad(f"{problem}; bpstep writes none", key, within)
    return value


def _int(obj: dict, key: str, within: _In | None = None, minimum: int = 0) -> int:
    value = _get(obj, key, (int,), f"a whole number >= {minimum}", within)
    if value < minimum:
        raise _Bad(f"\"{key}\" must be a whole number >= {minimum}, not {value}", key, within)
    return value


def _value(obj: dict, key: str, within: _In | None = None, nullable: bool = False) -> Any:
    if key not in obj:
        raise _Bad(f"missing \"{key}\" (a value encoded as in run --json)", None, within)
    if obj[key] is None and not nullable:
        raise _Bad(f"\"{key}\" must be a value, not null", key, within)
    try:
        return decode(obj[key], _MAX_ELEMENTS.get())
    except ValueError as exc:
        raise _Bad(f"\"{key}\" is not a value as run --json writes it: {exc}", key, within) from None


def _objects(obj: dict, key: str, first: str, what: str, optional: bool = False) -> list[dict]:
    """The list under ``key``, each of its entries checked to be an object."""
    entries = _get(obj, key, (list,), what, optional=optional) or []
    for k, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise _Bad(f"must be an object, not {_kind(entry)}", key, _In(key, first, k))
    return entries


def _entries(obj: dict, key: str, first: str, what: str, optional: bool = False) -> list[tuple[dict, _In]]:
    """The objects of a list, each with where it is."""
    return [(entry, _In(key, first, k)) for k, entry in enumerate(_objects(obj, key, first, what, optional))]


def _header(obj: dict) -> Header:
    if obj.get("type") != "header":
        raise _Bad("line 1 must be the transcript header ({\"type\": \"header\", \"format\": "
                   f"\"{FORMAT}\", ...}}); this is not a bpstep transcript", "type" if "type" in obj else None)
    if obj.get("format") != FORMAT:
        raise _Bad(f"\"format\" must be \"{FORMAT}\"; this is not a bpstep transcript",
                   "format" if "format" in obj else None)
    version = _get(obj, "version", (int,), "a whole number")
    if version != VERSION:
        raise _Bad(f"transcript format version {version} is not supported; bpstep {__version__} "
                   f"reads version {VERSION}", "version")
    scenario = _get(obj, "scenario", (str,), "the scenario's path")
    if not scenario:
        raise _Bad("\"scenario\" is empty", "scenario")
    sha = _get(obj, "sha256", (str,), "a SHA-256 in hex")
    if not re.fullmatch(r"[0-9a-f]{64}", sha):
        raise _Bad("\"sha256\" must be 64 lowercase hex digits", "sha256")
    started = _get(obj, "started", (str,), "an ISO-8601 time")
    try:
        datetime.fromisoformat(started)
    except ValueError:
        raise _Bad(f"\"started\" is not an ISO-8601 time: {started!r}", "started") from None
    cache = None
    if "cache" in obj:
        cache = tuple(_cached(e, within) for e, within in _entries(obj, "cache", "name", "a list of forward values"))
    stages = {_int(e, "stage", within, 1): _get(e, "code", (str,), "the stage's code", within)
              for e, within in _entries(obj, "stages", "stage", "a list of forward stages", optional=True)}
    return Header(scenario, sha, _get(obj, "bpstep", (str,), "the bpstep version"), started,
                  _get(obj, "title", (str,), "a string", optional=True),
                  _get(obj, "output", (str,), "a name", optional=True),
                  _value(obj, "upstream") if "upstream" in obj else None, cache, stages)


def _cached(entry: dict, within: _In) -> CachedValue:
    stage = _get(entry, "stage", (int, type(None)), "a stage number or null", within)
    value = _value(entry, "value", within)
    if np.size(value) == 0:  # JSON's [] cannot say which empty shape: the entry's "shape" does
        shape = entry.get("shape")
        if (isinstance(shape, list) and 1 <= len(shape) <= DEFAULT_LIMITS.max_dims and 0 in shape
                and all(type(n) is int and 0 <= n <= 1 << 40 for n in shape)):
            value = np.zeros(shape)
    return CachedValue(_get(entry, "name", (str,), "a name", within), _int(entry, "version", within, 1), stage,
                       _int(entry, "line", within, 1), value,
                       _get(entry, "code", (str,), "a statement", within, optional=True) or "")


def _action(obj: dict, line: int, expected: int, seen: "_Seen") -> Action:
    if obj.get("type") != "action":
        raise _Bad("every line after the header must be an action ({\"type\": \"action\", ...}); found "
                   f"type {obj.get('type')!r}", "type" if "type" in obj else None)
    number = _int(obj, "n", minimum=1)
    if number != expected:
        raise _Bad(f"action number {number} where {expected} was expected: a line is missing or out of "
                   "order", "n")
    action = _get(obj, "action", (str,), "the key or command")
    if not action:
        raise _Bad("\"action\" is empty", "action")
    t = _get(obj, "t", (int, float), "seconds since the start")
    if not 0 <= t < float("inf"):
        raise _Bad(f"\"t\" must be a number of seconds >= 0, not {t}", "t")
    before, after = _int(obj, "before"), _int(obj, "after")
    move = move_of(before, after)
    if obj.get("move", move) != move:
        raise _Bad(f"\"move\" says {obj['move']!r} but the position goes from {before} to {after}", "move")
    steps = tuple(seen.step(s, k) for k, s in enumerate(_objects(obj, "steps", "index", "a list of steps")))
    # compare the counts first: a forged move of 3e9 steps must not build a list of 3e9 indices
    wanted = steps_between(before, after) if len(steps) == abs(after - before) else f"{abs(after - before)} steps"
    if [s.index for s in steps] != wanted:
        raise _Bad(f"the steps recorded ({[s.index for s in steps]}) are not the ones a move from "
                   f"{before} to {after} {'applies' if after >= before else 'undoes'} ({wanted})", "steps")
    return Action(number, line, action, float(t), before, after, steps)


class _Seen:
    """The steps read so far, by index: a step recorded again exactly as it was the first
    time is the RecordedStep made then, not validated and built again.

    "Exactly" is checked, never assumed, and more strictly than ``dict ==``, which takes 1,
    1.0 and true for equal, and 0.0 for -0.0: a later ``"stage": true`` must be refused as
    it would be the first time. marshal's format 2 writes every value with its type and no
    references between objects, so equal bytes are equal dicts of equal types; a dict that
    differs in any way (even only in the order of its keys) is validated as it is."""

    def __init__(self):
        self._steps: dict[int, tuple[bytes, RecordedStep]] = {}
        self._room = SEEN_BYTES  # bytes of marshal data it may still keep
        self._unkept: set[int] = set()  # indexes whose steps did not fit: not marshalled again

    def step(self, raw: dict, k: int) -> RecordedStep:
        """Step ``k`` (0-based) of an action's "steps"."""
        index = raw.get("index")
        known = self._steps.get(index) if type(index) is int else None
        if known is None and (type(index) is not int or self._room <= 0 or index in self._unkept):
            return _step(raw, _In("steps", "index", k))
        try:
            data = marshal.dumps(raw, 2)
        except ValueError:  # nested too deeply for marshal: validated as it is
            return _step(raw, _In("steps", "index", k))
        if known is not None:
            if known[0] == data:
                return known[1]
            return _step(raw, _In("steps", "index", k))  # the first recording of an index stays kept
        step = _step(raw, _In("steps", "index", k))
        if len(data) <= self._room:
            self._steps[index] = (data, step)
            self._room -= len(data)
        else:
            self._unkept.add(index)
        return step


def _step(raw: dict, at: _In) -> RecordedStep:
    index = _int(raw, "index", at, 1)
    op = _get(raw, "op", (str,), "\"=\" or \"+=\"", at)
    if op not in ("=", "+="):
        raise _Bad(f"\"op\" must be \"=\" or \"+=\", not {op!r}", "op", at)
    kind = _get(raw, "kind", (str,), "\"gradient\" or \"local\"", at, optional=True) or "gradient"
    if kind not in ("gradient", "local"):
        raise _Bad(f"\"kind\" must be \"gradient\" or \"local\", not {kind!r}", "kind", at)
    overwrites = _get(raw, "overwrites", (list,), "a list of stages", at, optional=True) or []
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in overwrites):
        raise _Bad("\"overwrites\" must list stage numbers", "overwrites", at)
    before = _value(raw, "before", at, nullable=True)
    if op == "+=" and before is None:
        raise _Bad("a \"+=\" step needs the value before it", "before", at)
    return RecordedStep(index, _int(raw, "stage", at, 1), _int(raw, "line", at, 1),
                        _get(raw, "code", (str,), "the statement", at),
                        _get(raw, "target", (str,), "a name", at), op, kind, tuple(overwrites), before,
                        _value(raw, "contribution", at), _value(raw, "after", at),
                        {key: raw[key] for key in ("before", "contribution", "after")})
