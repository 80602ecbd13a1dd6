"""Code blocks taken from a scenario file, with the map back to the file's own lines."""

from __future__ import annotations

import re
from itertools import repeat
from functools import cached_property

from bpstep.core.errors import ScenarioError
from bpstep.core.records import record

MAX_LINE_LENGTH = 10_000

# Control characters other than newline and tab, refused in a scenario's text and a
# transcript's strings: they would reach the terminal, the SVG and Markdown as they are (an
# escape sequence retitles or clears the terminal); and the bidirectional overrides that make
# code read differently from what runs ("Trojan Source").
UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


_PRINTABLE_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n"  # the ASCII that UNPRINTABLE does not match


def find_unprintable(text: str) -> re.Match | None:
    """UNPRINTABLE.search(text), with the common answer first: ASCII text with no control
    character is found so by bytes.translate, 4x faster than the search (0.6 ms for 770 KB)."""
    if text.isascii() and not text.encode("ascii").translate(None, _PRINTABLE_ASCII):
        return None
    return UNPRINTABLE.search(text)


def unprintable(what: str, text: str) -> str | None:
    """``what holds the control character U+001B`` if ``text`` holds one (see UNPRINTABLE)."""
    found = find_unprintable(text)
    return f"{what} holds the control character U+{ord(found.group()):04X}" if found else None


@record
class CodeBlock:
    """Python source from one scenario key, and where each of its lines stands in the file.

    ``origins[i]`` is the (1-based file line, 1-based file column) of the first character of
    line ``i + 1`` of ``text``.
    """

    key: str
    text: str
    origins: tuple[tuple[int, int], ...]

    @classmethod
    def at(cls, key: str, text: str, line: int, col: int) -> "CodeBlock":
        """A block whose lines all start at ``col``, the first on file line ``line``."""
        count = text.count("\n") + 1
        return cls(key, text, tuple(zip(range(line, line + count), repeat(col))))

    def position(self, lineno: int, col_offset: int = 0) -> tuple[int, int]:
        """File (line, col) of a 1-based line and 0-based column inside the block."""
        if not self.origins:
            return 1, 1
        index = min(max(lineno, 1), len(self.origins)) - 1
        line, col = self.origins[index]
        return line, col + max(col_offset, 0)

    def error(self, message: str, lineno: int = 1, col_offset: int = 0) -> ScenarioError:
        line, col = self.position(lineno, col_offset)
        return ScenarioError(message, line, col)

    def node_error(self, message: str, node) -> ScenarioError:
        """An error at a syntax tree node (a node without a position: the block's start)."""
        lineno = getattr(node, "lineno", 1)
        return self.error(message, lineno, self.char_offset(lineno, getattr(node, "col_offset", 0)))

    def char_offset(self, lineno: int, byte_offset: int) -> int:
        """The character offset of an ast column, which counts UTF-8 bytes: on a line with
        ``α``, ``q`` in ``δ = α * α * q`` is at character 12, byte 14."""
        lines = self.split_lines
        if 1 <= lineno <= len(lines) and not lines[lineno - 1].isascii():
            return len(lines[lineno - 1].encode("utf-8")[:byte_offset].decode("utf-8", "replace"))
        return byte_offset

    def lines(self) -> list[str]:
        return self.text.split("\n")

    @cached_property
    def split_lines(self) -> tuple[str, ...]:
        """:meth:`lines`, split once for all the callers that only read them."""
        return tuple(self.text.split("\n"))

    def check_line_lengths(self, limit: int = MAX_LINE_LENGTH, lines: list[str] | None = None) -> None:
        """A ScenarioError at the first line longer than ``limit``; ``lines``: the block's
        :meth:`lines`, when the caller has split them already."""
        lines = self.lines() if lines is None else lines
        if max(map(len, lines), default=0) <= limit:  # the common answer, without a loop in Python
            return
        for i, text in enumerate(lines, start=1):
            if len(text) > limit:
                raise self.error(
                    f"line is {len(text)} characters long; the limit is {limit} "
                    "(split the expression into stages)",
                    i,
                    limit,
                )
