"""The one error type that the core raises for anything a user wrote wrong."""

from __future__ import annotations

import contextlib


class ScenarioError(Exception):
    """A problem with a scenario, reported as ``PATH:LINE:COL: error: MESSAGE``.

    ``line`` and ``col`` are 1-based positions in the scenario file itself.
    """

    def __init__(self, message: str, line: int = 1, col: int = 1, path: str | None = None):
        super().__init__(message)
        self.message = " ".join(str(message).split())  # always one line
        self.line = max(1, int(line))
        self.col = max(1, int(col))
        self.path = path

    def format(self, path: str | None = None) -> str:
        where = path if path is not None else (self.path or "<scenario>")
        return f"{where}:{self.line}:{self.col}: error: {self.message}"

    def __str__(self) -> str:
        return self.format()


@contextlib.contextmanager
def reported_at(path: str):
    """Every ScenarioError raised inside carries ``path``, the file it is about."""
    try:
        yield
    except ScenarioError as exc:
        exc.path = path
        raise
