"""Versions of re-bound names, and what every forward statement saw.

A forward name assigned more than once (``c += c + 1``) has versions ``c#1``, ``c#2``, ...
In the backward pass a name holds its *last* value; an earlier version ``k`` is read as
``c_k`` (an alias the engine provides), and its gradient is ``dc_k``. So the gradient names
mirror the value names: ``dc`` is the gradient of the ``c`` that the backward pass reads (the
last version), ``dc_1`` that of ``c_1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

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
        final[entry.name] = max(final.get(entry.name, 0), entry.version)
    taken = set(taken)
    out = {}
    for entry in entries:
        name = alias(entry.name, entry.version)
        if entry.version < final[entry.name] and name not in taken:
            out[name] = entry
    return out


@dataclass(frozen=True)
class Timeline:
    """The forward pass replayed from the cache: for statement ``j`` (0-based, source order),
    ``before[j]`` is the environment it evaluated in and ``seen[j]`` the version of each name
    in it; ``produced[j]`` is the (name, version) it assigned."""

    inputs: dict[str, Value]
    before: tuple[dict[str, Value], ...]
    seen: tuple[dict[str, int], ...]
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


def timeline(cache: Iterable[Any]) -> Timeline:
    """Replay a walk's cache (inputs first, then one entry per forward statement in order)."""
    env: dict[str, Value] = {}
    seen: dict[str, int] = {}
    inputs: dict[str, Value] = {}
    before, seen_list, produced = [], [], []
    values: dict[tuple[str, int], Value] = {}
    final: dict[str, int] = {}
    for entry in cache:
        values[(entry.name, entry.version)] = entry.value
        final[entry.name] = max(final.get(entry.name, 0), entry.version)
        if entry.stage is None:
            inputs[entry.name] = entry.value
        else:
            before.append(dict(env))
            seen_list.append(dict(seen))
            produced.append((entry.name, entry.version))
        env[entry.name] = entry.value
        seen[entry.name] = entry.version
    return Timeline(inputs, tuple(before), tuple(seen_list), tuple(produced), final, values, env)
