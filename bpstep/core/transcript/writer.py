"""Writing a transcript as the session goes: the header, then one line per user action.

Each line goes to the OS in one unbuffered write before ``record`` returns, so a session
killed with ``kill -9`` leaves every completed action in the file, and the file stays
valid JSON Lines.
"""

from __future__ import annotations

import json
import operator
import os
import time
from datetime import datetime
from typing import Any, Callable

from bpstep import __version__
from bpstep.core.engine import Walk
from bpstep.core.errors import ScenarioError
from bpstep.core.report import cache_entry_json, encoded, step_json
from bpstep.core.transcript.reader import MAX_BYTES
from bpstep.core.values import count, encode
from bpstep.core.transcript.model import FORMAT, VERSION, move_of, steps_between

SEPARATORS = (",", ":")
# Steps are immutable, so the writer keeps each step's JSON text and joins the texts into an
# action's line: pressing End, Home, End again while recording encodes each step once, not once
# per jump. The memory this keeps is bounded: a step whose text is longer than FRAGMENT_CHARS
# (a step on a 256x256 matrix writes 65,536 numbers per value, megabytes of text) is encoded
# again each time it is written, and no more texts are kept once they hold CACHE_CHARS
# characters in all (a 10,000-stage scalar scenario's 15,500 steps hold 4.3 MB). The texts are
# ASCII (json.dumps escapes the rest), so a character is a byte, plus about a hundred bytes of
# str and dict bookkeeping per kept text.
FRAGMENT_CHARS = 16 * 1024
CACHE_CHARS = 64 * 1024 * 1024


def _header_fields(walk: Walk, scenario_path: str, started: datetime, encode=encode) -> dict[str, Any]:
    # only what the header needs: not the whole run --json document, whose gradient check
    # re-runs the forward pass (1.1 s before the first frame at 10,000 stages)
    return {
        "type": "header", "format": FORMAT, "version": VERSION, "scenario": scenario_path,
        "sha256": walk.scenario.sha256, "bpstep": __version__,
        "started": started.isoformat(timespec="seconds"),
        "title": walk.scenario.title, "output": walk.output, "upstream": encode(walk.upstream),
    }


def _cached_json(entry, encode=encode) -> dict[str, Any]:
    return {**cache_entry_json(entry, encode), "code": entry.code}


def _stages(walk: Walk) -> list[dict[str, Any]]:
    return [{"stage": s.stage, "line": s.line, "code": s.code} for s in walk.forward]


def _header_text(walk: Walk, scenario_path: str, started: datetime, path: str) -> str:
    """The header line: the fields, the forward cache and the stages, its cache encoded entry by
    entry (as compact JSON, NaN and infinities as strings): a cache too
    large for a transcript bpstep replay reads is refused when that is known, first from its
    count of numbers (at least "0.0," each), else while it is encoded, never all in memory."""
    least = 4 * sum(count(e.value) for e in walk.cache)
    room = MAX_BYTES - least
    if room >= 0:
        texts = []
        for entry in walk.cache:
            texts.append(encoded(lambda enc: _cached_json(entry, enc), compact=True))
            room -= len(texts[-1]) + 1 - 4 * count(entry.value)
            if room < 0:
                break
        else:
            fields = encoded(lambda enc: _header_fields(walk, scenario_path, started, enc), compact=True)
            text = f'{fields[:-1]},"cache":[{",".join(texts)}],"stages":{_dumps(_stages(walk))}}}'
            if len(text) < MAX_BYTES:
                return text
    what = f"its forward cache alone is at least {least / 2**20:.0f} MiB" if least > MAX_BYTES else \
        f"its header (the forward cache and the stages) is over {MAX_BYTES // 2**20} MiB"
    raise ScenarioError(f"cannot record this scenario: {what} as JSON, and bpstep replay reads transcripts of "
                        f"up to {MAX_BYTES // 2**20} MiB", path=path)


class TranscriptFull(ValueError):
    """An action's line would take the transcript past what ``bpstep replay`` reads (MAX_BYTES).
    Nothing of it is written: the file stays valid, with every action before it."""


def _dumps(obj: Any) -> str:
    # NaN and infinities never reach here as floats: encode() writes them as strings
    # (DESIGN.md section 3), and allow_nan=False refuses any that would slip past it
    return json.dumps(obj, separators=SEPARATORS, allow_nan=False)


def _numbers(step) -> int:
    return count(step.before) + count(step.contribution) + count(step.after)


class TranscriptWriter:
    """Writes a transcript as the session goes: ``open`` writes the header, ``record`` one
    line per user action. Raises OSError if the file cannot be written (the caller decides
    whether recording stops; the writer is closed then, and a line cut short is truncated away,
    so the file ends at its last complete line); raises ValueError for a position outside the walk."""

    def __init__(self, handle, path: str, walk: Walk, clock: Callable[[], float]):
        self._handle = handle
        self.path = path
        self.walk = walk
        self._clock = clock
        self._start = clock()
        self.count = 0  # actions recorded
        self.position: int | None = None  # position after the last recorded action
        self._texts: dict[int, str] = {}  # step index -> its JSON text (see FRAGMENT_CHARS)
        self._cached_chars = 0
        self.size = 0  # bytes written

    @classmethod
    def open(cls, path: str, walk: Walk, scenario_path: str | None = None, *,
             started: datetime | None = None, clock: Callable[[], float] = time.monotonic) -> "TranscriptWriter":
        """Create (or truncate) ``path`` and write the header. ``scenario_path`` is stored as
        given (default: the path the walk was loaded from). A file that cannot be written is a
        ScenarioError ``PATH:1:1: error: cannot write the transcript: ...``, and so is a forward
        cache too large for a transcript bpstep replay reads (checked before the file is made)."""
        header = _header_text(walk, walk.scenario.path if scenario_path is None else scenario_path,
                              started or datetime.now().astimezone(), path)
        try:
            handle = open(path, "wb", buffering=0)  # noqa: SIM115 - closed by close()
            writer = cls(handle, path, walk, clock)
            writer._write(header + "\n")
        except OSError as exc:
            raise ScenarioError(f"cannot write the transcript: {exc.strerror or exc}", path=path) from None
        return writer

    def record(self, action: str, before: int, after: int) -> str:
        """Write one action: the key or command, the positions around it, and its steps.
        Returns the line as written (with its newline)."""
        if not isinstance(action, str) or not action:
            raise ValueError("an action is a non-empty string (the key or palette command)")
        before, after = operator.index(before), operator.index(after)  # numpy ints too; never floats
        for position in (before, after):
            if not 0 <= position <= self.walk.total:
                raise ValueError(f"position {position} is outside 0..{self.walk.total}")
        head = {
            "type": "action", "n": self.count + 1, "action": action,
            "t": round(max(0.0, self._clock() - self._start), 3),
            "before": before, "after": after, "move": move_of(before, after),
        }
        # exactly json.dumps(head | {"steps": [step_json(step), ...]}): "steps" is the last key
        # and the separators have no spaces, so the line is the head without its closing brace,
        # then the steps' texts joined as a JSON list
        indices = steps_between(before, after)
        head_text = _dumps(head)
        # the line is the head, ',"steps":[', the texts with commas between them, ']}' and a newline
        room = MAX_BYTES - self.size - (len(head_text) + 11)  # less one byte a text from here on
        # at least four bytes a number ("0.0,"): a move over many large arrays is refused before
        # any of it is encoded (End over 1,000 steps on 256x256 would be 5.8 GB of text)
        least = 4 * sum(_numbers(self.walk.steps[i - 1]) for i in indices)
        if least > room:
            raise self._full(len(indices), least)
        texts = []
        for i in indices:
            texts.append(self._step_text(i))
            room -= len(texts[-1]) + 1
            if room < 0:
                raise self._full(len(indices), None)
        line = f'{head_text[:-1]},"steps":[{",".join(texts)}]}}\n'  # ASCII: a character is a byte
        if self.size + len(line) > MAX_BYTES:  # (a move of no steps)
            raise self._full(len(indices), None)
        self._write(line)
        self.count += 1
        self.position = after
        return line

    def _full(self, steps: int, least: int | None) -> TranscriptFull:
        size = f" (at least {least / 2**20:.0f} MiB)" if least is not None else ""
        return TranscriptFull(f"this move's {steps} step{'s' * (steps != 1)}{size} would take the transcript past "
                              f"{MAX_BYTES // 2**20} MiB, the most bpstep replay reads")

    def _step_text(self, index: int) -> str:
        text = self._texts.get(index)
        if text is None:
            step = self.walk.steps[index - 1]
            text = encoded(lambda enc: step_json(step, enc), compact=True)
            if len(text) <= FRAGMENT_CHARS and self._cached_chars + len(text) <= CACHE_CHARS:
                self._texts[index] = text
                self._cached_chars += len(text)
        return text

    def _write(self, line: str) -> None:
        if self._handle.closed:
            raise ValueError("the transcript is closed")
        raw = line.encode("utf-8")
        data = memoryview(raw)
        try:
            while data:  # unbuffered: the bytes are with the OS when this returns
                written = self._handle.write(data)
                data = data[written:]
        except OSError:
            try:  # a line cut short (a full disk): back to the last complete line, a readable file
                os.ftruncate(self._handle.fileno(), self.size)
            except OSError:
                pass
            self._handle.close()  # never append after a line cut short
            raise
        self.size += len(raw)

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "TranscriptWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
