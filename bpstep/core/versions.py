"""Versions of re-bound names, and what every forward statement saw.

A forward name assigned more than once (``c += c + 1``) has versions ``c#1``, ``c#2``, ...
In the backward pass a name holds its *last* value; an earlier version ``k`` is read as
``c_k`` (an alias the engine provides), and its gradient is ``dc_k``. So the gradient names
mirror the value names: ``dc`` is the gradient of the ``c`` that the backward pass reads (the
last version), ``dc_1`` that of ``c_1``.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any, Iterable

from bpstep.core.records import record

Value = Any


def alias(name: str, version: int) -> str:
    """How the backward pass reads an earlier version of a re-bound name: ``c_1``."""
    return f"{name}_{version}"


def aliases(cache: Iterable[Any], taken: Iterable[str]) -> dict[str, Any]:
    """Alias -> cache entry for every non-final version of a re-bound name, except aliases
    that are already names of the scenario (those stay the user's)."""
    entries = list(cache)
    final: dict[str, int] = {}
    for entry in entries:
        if entry.version > final.get(entry.name, 0):
            final[entry.name] = entry.version
    if len(final) == len(entries):  # no name is re-bound (the common case): no aliases
        return {}
    taken = set(taken)
    out = {}
    for entry in entries:
        if entry.version < final[entry.name]:
            name = alias(entry.name, entry.version)
            if name not in taken:
                out[name] = entry
    return out


@record
class Timeline:
    """The forward pass replayed from the cache: for statement ``j`` (0-based, source order),
    ``before[j]`` is the environment it evaluated in and ``seen[j]`` the version of each name
    in it; ``produced[j]`` is the (name, version) it assigned."""

    inputs: dict[str, Value]
    before: Sequence[Mapping[str, Value]]
    seen: Sequence[Mapping[str, int]]
    produced: tuple[tuple[str, int], ...]
    final: dict[str, int]
    values: dict[tuple[str, int], Value]
    after: dict[str, Value]  # the environment once the forward pass is done

    def value_name(self, name: str, version: int) -> str:
        """The name under which the backward pass reads ``name#version``."""
        return name if version == self.final.get(name, version) else alias(name, version)

    def gradient_name(self, name: str, version: int) -> str:
        return "d" + self.value_name(name, version)

    def label(self, name: str, version: int) -> str:
        """The cache's label: ``c`` for a name assigned once, else ``c#2``."""
        return name if self.final.get(name, 1) == 1 else f"{name}#{version}"


class _At(Mapping):
    """The environment (name -> value, or name -> version) just before forward statement
    ``j``, looked up in the names' histories: nothing is copied per statement (a copy of the
    whole environment for each statement was quadratic: 24 GB at 100,000 stages)."""

    def __init__(self, history: "_History", j: int, versions: bool):
        self._history, self._j, self._versions = history, j, versions

    def _version(self, name: str) -> int | None:
        starts = self._history.starts.get(name)
        if not starts:
            return None
        k = bisect.bisect_left(starts, self._j)  # versions made by statements before j
        return self._history.numbers[name][k - 1] if k else None

    def __getitem__(self, name: str) -> Any:
        version = self._version(name)
        if version is None:
            raise KeyError(name)
        return version if self._versions else self._history.values[(name, version)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._version(name) is not None

    def __iter__(self):
        return (name for name in self._history.starts if self._version(name) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _History(Sequence):
    """For each forward statement j, the environment before it (a lazy _At view)."""

    def __init__(self, values: dict[tuple[str, int], Value], count: int, versions: bool = False):
        self.values = values
        self.starts: dict[str, list[int]] = {}  # name -> statement index that made each version
        self.numbers: dict[str, list[int]] = {}  # name -> those versions' numbers
        self.count = count
        self.versions = versions

    def add(self, name: str, version: int, j: int) -> None:
        self.starts.setdefault(name, []).append(j)
        self.numbers.setdefault(name, []).append(version)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, j: int) -> _At:  # type: ignore[override]
        if not -self.count <= j < self.count:
            raise IndexError(j)
        return _At(self, j % self.count, self.versions)


def timeline(cache: Iterable[Any]) -> Timeline:
    """Replay a walk's cache (inputs first, then one entry per forward statement in order)."""
    entries = list(cache)
    env: dict[str, Value] = {}
    inputs: dict[str, Value] = {}
    produced = []
    values: dict[tuple[str, int], Value] = {}
    final: dict[str, int] = {}
    count = sum(1 for entry in entries if entry.stage is not None)
    before = _History(values, count)
    seen = _History(values, count, versions=True)
    for entry in entries:
        values[(entry.name, entry.version)] = entry.value
        final[entry.name] = max(final.get(entry.name, 0), entry.version)
        j = -1 if entry.stage is None else len(produced)  # made before statement j + 1
        if entry.stage is None:
            inputs[entry.name] = entry.value
        else:
            produced.append((entry.name, entry.version))
        for history in (before, seen):
            history.add(entry.name, entry.version, j)
        env[entry.name] = entry.value
    return Timeline(inputs, before, seen, tuple(produced), final, values, env)
