"""Writing a transcript as the session goes: the header, then one line per user action.

Each line goes to the OS in one unbuffered write before ``record`` returns, so a session
killed with ``kill -9`` leaves every completed action in the file, and the file stays
valid JSON Lines.
"""

from __future__ import annotations

import json
import operator
import time
from datetime import datetime
from typing import Any, Callable

from bpstep import __version__
from bpstep.core.engine import Walk
from bpstep.core.errors import ScenarioError
from bpstep.core.report import cache_json, step_json
from bpstep.core.values import encode
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


def header_for(walk: Walk, scenario_path: str, started: datetime) -> dict[str, Any]:
    # only what the header needs: not the whole run --json document, whose gradient check
    # re-runs the forward pass (1.1 s before the first frame at 10,000 stages)
    return {
        "type": "header", "format": FORMAT, "version": VERSION, "scenario": scenario_path,
        "sha256": walk.scenario.sha256, "bpstep": __version__,
        "started": started.isoformat(timespec="seconds"),
        "title": walk.scenario.title, "output": walk.output, "upstream": encode(walk.upstream),
        "cache": [{**entry, "code": cached.code} for entry, cached in zip(cache_json(walk), walk.cache)],
        "stages": [{"stage": s.stage, "line": s.line, "code": s.code} for s in walk.forward],
    }


def _dumps(obj: Any) -> str:
    # NaN and infinities never reach here as floats: encode() writes them as strings
    # (DESIGN.md section 3), and allow_nan=False refuses any that would slip past it
    return json.dumps(obj, separators=SEPARATORS, allow_nan=False)


class TranscriptWriter:
    """Writes a transcript as the session goes: ``open`` writes the header, ``record`` one
    line per user action. Raises OSError if the file cannot be written (the caller decides
    whether recording stops; the writer is closed then, so the file ends at the last complete
    line or with the one cut short); raises ValueError for a position outside the walk."""

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

    @classmethod
    def open(cls, path: str, walk: Walk, scenario_path: str | None = None, *,
             started: datetime | None = None, clock: Callable[[], float] = time.monotonic) -> "TranscriptWriter":
        """Create (or truncate) ``path`` and write the header. ``scenario_path`` is stored as
        given (default: the path the walk was loaded from). A file that cannot be written is a
        ScenarioError ``PATH:1:1: error: cannot write the transcript: ...``."""
        try:
            handle = open(path, "wb", buffering=0)  # noqa: SIM115 - closed by close()
            writer = cls(handle, path, walk, clock)
            header = header_for(walk, walk.scenario.path if scenario_path is None else scenario_path,
                                started or datetime.now().astimezone())
            writer._write(_dumps(header) + "\n")
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
        steps = ",".join([self._step_text(i) for i in steps_between(before, after)])
        line = f'{_dumps(head)[:-1]},"steps":[{steps}]}}\n'
        self._write(line)
        self.count += 1
        self.position = after
        return line

    def _step_text(self, index: int) -> str:
        text = self._texts.get(index)
        if text is None:
            text = _dumps(step_json(self.walk.steps[index - 1]))
            if len(text) <= FRAGMENT_CHARS and self._cached_chars + len(text) <= CACHE_CHARS:
                self._texts[index] = text
                self._cached_chars += len(text)
        return text

    def _write(self, line: str) -> None:
        if self._handle.closed:
            raise ValueError("the transcript is closed")
        data = memoryview(line.encode("utf-8"))
        try:
            while data:  # unbuffered: the bytes are with the OS when this returns
                written = self._handle.write(data)
                data = data[written:]
        except OSError:
            self._handle.close()  # never append after a line cut short
            raise

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "TranscriptWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
