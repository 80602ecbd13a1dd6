"""Session transcripts (DESIGN.md section 4): written while the user steps, read back later.

A transcript is JSON Lines. Line 1 is the header::

    {"type":"header","format":"bpstep-transcript","version":1,"scenario":PATH,
     "sha256":HEX,"bpstep":VERSION,"started":ISO-8601, ...}

where ``scenario`` is the scenario path exactly as the user gave it. bpstep also writes
``title``, ``output``, ``upstream``, ``cache`` (the forward cache, entries as in
``run --json``) and ``stages`` (each forward stage's code), so that a transcript can be read
without its scenario; a reader needs only the seven keys above.

Every further line is one user action::

    {"type":"action","n":1,"action":"n","t":0.52,"before":0,"after":2,"move":"forward",
     "steps":[STEP, ...]}

``n`` counts actions from 1, ``action`` is the key or palette command, ``t`` the seconds
since the session started, ``before``/``after`` the positions (steps applied) around the
action, and ``steps`` the steps it applied (``move`` "forward", in order) or undid ("back",
last applied first), each as ``bpstep run --json`` writes a step (``report.step_json``).

Lines are written with one unbuffered write each, so a session killed with ``kill -9``
leaves every completed action in the file and the file stays valid JSON Lines.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from bpstep import __version__
from bpstep.core.engine import Walk
from bpstep.core.errors import ScenarioError
from bpstep.core.report import json_report, step_json
from bpstep.core.values import decode, encode

FORMAT = "bpstep-transcript"
VERSION = 1
MAX_BYTES = 256 * 1024 * 1024  # a transcript larger than this is refused before reading it


# -- writing ------------------------------------------------------------------------------

def steps_between(before: int, after: int) -> list[int]:
    """Indices of the steps a move applies (forward, in order) or undoes (back, last first)."""
    if after >= before:
        return list(range(before + 1, after + 1))
    return list(range(before, after, -1))


def header_for(walk: Walk, scenario_path: str, started: datetime) -> dict[str, Any]:
    report = json_report(walk)
    return {
        "type": "header", "format": FORMAT, "version": VERSION, "scenario": scenario_path,
        "sha256": walk.scenario.sha256, "bpstep": __version__,
        "started": started.isoformat(timespec="seconds"),
        "title": walk.scenario.title, "output": walk.output, "upstream": report["upstream"],
        "cache": [{**entry, "code": cached.code} for entry, cached in zip(report["cache"], walk.cache)],
        "stages": [{"stage": s.stage, "line": s.line, "code": s.code} for s in walk.forward],
    }


class TranscriptWriter:
    """Writes a transcript as the session goes: ``open`` writes the header, ``record`` one
    line per user action. Raises OSError if the file cannot be written (the caller decides
    whether recording stops); raises ValueError for a position outside the walk."""

    def __init__(self, handle, path: str, walk: Walk, clock: Callable[[], float]):
        self._handle = handle
        self.path = path
        self.walk = walk
        self._clock = clock
        self._start = clock()
        self.count = 0  # actions recorded
        self.position: int | None = None  # position after the last recorded action

    @classmethod
    def open(cls, path: str, walk: Walk, scenario_path: str | None = None, *,
             started: datetime | None = None, clock: Callable[[], float] = time.monotonic) -> "TranscriptWriter":
        """Create (or truncate) ``path`` and write the header. ``scenario_path`` is stored as
        given (default: the path the walk was loaded from)."""
        handle = open(path, "wb", buffering=0)  # noqa: SIM115 - closed by close()
        writer = cls(handle, path, walk, clock)
        try:
            writer._write(header_for(walk, walk.scenario.path if scenario_path is None else scenario_path,
                                     started or datetime.now().astimezone()))
        except BaseException:
            handle.close()
            raise
        return writer

    def record(self, action: str, before: int, after: int) -> dict[str, Any]:
        """Write one action: the key or command, the positions around it, and its steps."""
        if not isinstance(action, str) or not action:
            raise ValueError("an action is a non-empty string (the key or palette command)")
        for position in (before, after):
            if not 0 <= position <= self.walk.total:
                raise ValueError(f"position {position} is outside 0..{self.walk.total}")
        move = "forward" if after > before else "back" if after < before else "none"
        line = {
            "type": "action", "n": self.count + 1, "action": action,
            "t": round(max(0.0, self._clock() - self._start), 3),
            "before": before, "after": after, "move": move,
            "steps": [step_json(self.walk.steps[i - 1]) for i in steps_between(before, after)],
        }
        self._write(line)
        self.count += 1
        self.position = after
        return line

    def _write(self, obj: dict[str, Any]) -> None:
        if self._handle.closed:
            raise ValueError("the transcript is closed")
        data = memoryview((json.dumps(obj, separators=(",", ":"), allow_nan=False) + "\n").encode("utf-8"))
        while data:  # unbuffered: the bytes are with the OS when this returns
            written = self._handle.write(data)
            data = data[written:]

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "TranscriptWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- the model of a transcript read back --------------------------------------------------

@dataclass(frozen=True)
class RecordedStep:
    """A step as recorded. It has the attributes that ``report.step_effect`` and
    ``report.overwrite_warning`` read, so a recorded step is shown exactly like a live one."""

    index: int
    stage: int
    line: int
    code: str
    target: str
    op: str
    kind: str  # "gradient" or "local"
    overwrites: tuple[int, ...]
    before: Any  # decoded values (None, float64 or an array)
    contribution: Any
    after: Any
    encoded: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @property
    def accumulates(self) -> bool:
        return self.op == "+="

    @property
    def gradient_of(self) -> str | None:
        return self.target[1:] if self.kind == "gradient" else None


@dataclass(frozen=True)
class Action:
    number: int  # 1-based
    line: int  # its line in the transcript file
    action: str
    t: float
    before: int
    after: int
    steps: tuple[RecordedStep, ...]

    @property
    def move(self) -> str:
        return "forward" if self.after > self.before else "back" if self.after < self.before else "none"


@dataclass(frozen=True)
class CachedValue:
    name: str
    version: int
    stage: int | None
    line: int
    value: Any
    code: str = ""  # the input's or stage's statement as written

    @property
    def label(self) -> str:
        return self.name if self.version == 1 else f"{self.name}#{self.version}"


@dataclass(frozen=True)
class Header:
    scenario: str
    sha256: str
    bpstep: str
    started: str
    title: str | None = None
    output: str | None = None
    upstream: Any = None
    cache: tuple[CachedValue, ...] | None = None
    stages: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Transcript:
    path: str
    header: Header
    actions: tuple[Action, ...]


# -- reading ------------------------------------------------------------------------------

class _Bad(Exception):
    """A problem inside one line; ``key`` places the column (inside step ``step``, 0-based,
    of the action's "steps" when it is given)."""

    def __init__(self, message: str, key: str | None = None, step: int | None = None):
        super().__init__(message)
        self.message, self.key, self.step = message, key, step


def _find_key(text: str, key: str, start: int = 0) -> int:
    found = re.compile(r'"%s"\s*:' % re.escape(key)).search(text, start)
    return found.start() if found else -1


def _column(text: str, key: str | None, step: int | None = None) -> int:
    """1-based column of ``"key":`` in a line (the start of step ``step`` of "steps" first)."""
    start = 0
    if step is not None:  # step_json writes "index" first, so each step starts at its "index"
        start = _find_key(text, "steps")
        for _ in range(step + 1):
            if start < 0:
                break
            start = _find_key(text, "index", start + 1)
        if start < 0:
            return 1
    if key is None:
        return start + 1
    found = _find_key(text, key, start)
    return found + 1 if found >= 0 else start + 1


def read(path: str) -> Transcript:
    """Read and validate a transcript; any problem is a ScenarioError naming its line."""
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
    return parse(text, path)


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
    for number, line in enumerate(lines, start=1):
        last_unterminated = number == len(lines) and not complete
        try:
            obj = _json(line, last_unterminated, number == 1)
            if number == 1:
                header = _header(obj)
            else:
                actions.append(_action(obj, number, len(actions) + 1))
        except _Bad as bad:
            raise ScenarioError(bad.message, number, _column(line, bad.key, bad.step), path=path) from None
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
        obj = json.loads(line, parse_constant=_reject_constant)
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


def _get(obj: dict, key: str, kinds: tuple[type, ...], what: str, step: int | None = None,
         optional: bool = False) -> Any:
    where = "" if step is None else f"step {step + 1} of \"steps\": "
    if key not in obj:
        if optional:
            return None
        raise _Bad(f"{where}missing \"{key}\" ({what})", None, step)
    value = obj[key]
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise _Bad(f"{where}\"{key}\" must be {what}, not {_kind(value)}", key, step)
    return value


def _int(obj: dict, key: str, step: int | None = None, minimum: int = 0) -> int:
    value = _get(obj, key, (int,), f"a whole number >= {minimum}", step)
    if value < minimum:
        raise _Bad(f"\"{key}\" must be a whole number >= {minimum}, not {value}", key, step)
    return value


def _value(obj: dict, key: str, step: int | None = None, nullable: bool = False) -> Any:
    where = "" if step is None else f"step {step + 1} of \"steps\": "
    if key not in obj:
        raise _Bad(f"{where}missing \"{key}\" (a value encoded as in run --json)", None, step)
    if obj[key] is None and not nullable:
        raise _Bad(f"{where}\"{key}\" must be a value, not null", key, step)
    try:
        return decode(obj[key])
    except ValueError as exc:
        raise _Bad(f"{where}\"{key}\" is not a value as run --json writes it: {exc}", key, step) from None


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
        entries = _get(obj, "cache", (list,), "a list of forward values")
        cache = tuple(_cached(e) for e in entries)
    stages: dict[int, str] = {}
    for entry in _get(obj, "stages", (list,), "a list of forward stages", optional=True) or []:
        if not isinstance(entry, dict):
            raise _Bad("each of \"stages\" must be an object {stage, line, code}", "stages")
        stages[_int(entry, "stage", minimum=1)] = _get(entry, "code", (str,), "the stage's code")
    return Header(scenario, sha, _get(obj, "bpstep", (str,), "the bpstep version"), started,
                  _get(obj, "title", (str,), "a string", optional=True),
                  _get(obj, "output", (str,), "a name", optional=True),
                  _value(obj, "upstream") if "upstream" in obj else None, cache, stages)


def _cached(entry: Any) -> CachedValue:
    if not isinstance(entry, dict):
        raise _Bad("each of \"cache\" must be an object {name, version, stage, line, value}", "cache")
    stage = _get(entry, "stage", (int, type(None)), "a stage number or null")
    return CachedValue(_get(entry, "name", (str,), "a name"), _int(entry, "version", minimum=1), stage,
                       _int(entry, "line", minimum=1), _value(entry, "value"),
                       _get(entry, "code", (str,), "a statement", optional=True) or "")


def _action(obj: dict, line: int, expected: int) -> Action:
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
    move = "forward" if after > before else "back" if after < before else "none"
    if obj.get("move", move) != move:
        raise _Bad(f"\"move\" says {obj['move']!r} but the position goes from {before} to {after}", "move")
    raw = _get(obj, "steps", (list,), "a list of steps")
    steps = tuple(_step(s, k) for k, s in enumerate(raw))
    wanted = steps_between(before, after)
    if [s.index for s in steps] != wanted:
        raise _Bad(f"the steps recorded ({[s.index for s in steps]}) are not the ones a move from "
                   f"{before} to {after} {'applies' if after >= before else 'undoes'} ({wanted})", "steps")
    return Action(number, line, action, float(t), before, after, steps)


def _step(raw: Any, k: int) -> RecordedStep:
    if not isinstance(raw, dict):
        raise _Bad(f"step {k + 1} of \"steps\" must be an object, not {_kind(raw)}", "steps")
    index = _int(raw, "index", k, 1)
    op = _get(raw, "op", (str,), "\"=\" or \"+=\"", k)
    if op not in ("=", "+="):
        raise _Bad(f"step {k + 1} of \"steps\": \"op\" must be \"=\" or \"+=\", not {op!r}", "op", k)
    kind = _get(raw, "kind", (str,), "\"gradient\" or \"local\"", k, optional=True) or "gradient"
    if kind not in ("gradient", "local"):
        raise _Bad(f"step {k + 1} of \"steps\": \"kind\" must be \"gradient\" or \"local\"", "kind", k)
    overwrites = _get(raw, "overwrites", (list,), "a list of stages", k, optional=True) or []
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in overwrites):
        raise _Bad(f"step {k + 1} of \"steps\": \"overwrites\" must list stage numbers", "overwrites", k)
    before = _value(raw, "before", k, nullable=True)
    if op == "+=" and before is None:
        raise _Bad(f"step {k + 1} of \"steps\": a \"+=\" step needs the value before it", "before", k)
    return RecordedStep(index, _int(raw, "stage", k, 1), _int(raw, "line", k, 1),
                        _get(raw, "code", (str,), "the statement", k),
                        _get(raw, "target", (str,), "a name", k), op, kind, tuple(overwrites), before,
                        _value(raw, "contribution", k), _value(raw, "after", k),
                        {key: raw[key] for key in ("before", "contribution", "after")})
