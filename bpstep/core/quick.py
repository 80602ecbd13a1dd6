"""Statements of at most one operation on leaves (``v3 = 0.989 * v2``), read without ast.

A generated 10,000-stage graph is 25,500 such lines. Python's parser builds a syntax tree of
seven objects for each (0.14-0.2 s for the whole scenario, more than its evaluation), and the
walker then dispatches on every node. A line that matches :data:`LINE` is instead read by one
regular expression and evaluated by one operator call, and its syntax tree is built only when
something asks for it (derivation, checks, the circuit): :meth:`Quick.node`. So are relu and
its gradient as the notes write them (:data:`CALL`: ``np.maximum(0, x)``, ``np.minimum``;
:data:`MASK`: ``(x > 0) * dx``, ``dx * (x > 0)``), with the walker's own calls.

The fast path never decides anything the slow one would decide differently:

- :data:`LINE` matches only a complete statement: a name at column 0, ``=`` or ``+=``, one or
  two operands (an ASCII name, or a decimal number with an optional ``-``) joined by one of
  ``+ - * /``, and an optional comment; :data:`CALL` and :data:`MASK` their one call or
  comparison, its brackets closed on the line. No open bracket, quote or backslash before the
  comment, so such a line is always a logical line of its own once the lines before it end
  one (see ``program._quick_body``, which checks that with Python's parser).
- Keywords, reserved names (``np``, ``abs``), ``__debug__``, integers of more than 19 digits
  (the walker's limit is 2**63; Python's own refuses more than 4,300 digits) and comments that
  are not valid Unicode are left to the parser and the walker, for their own errors.
- :meth:`Quick.value` gives a value only when every operand is a float64 number, with the
  very calls of the walker (its scalar case, ``expr.Walker._eval_BinOp``, for :data:`LINE`;
  ``_call`` and ``_eval_Compare`` then ``np.multiply`` for the others); anything else
  (arrays, a name not defined yet, an expression deeper than the limit) returns None and the
  walker evaluates the syntax tree, with its checks and its errors.
"""

from __future__ import annotations

import ast
import itertools
import keyword
import operator
import re
import threading
from typing import Iterator

import numpy as np

from bpstep.core.expr import RESERVED_NAMES, to_value

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_EXPONENT = r"(?:[eE][+-]?[0-9]+)"
# Python's decimal literals: floats (1.5, 1., .5, 1e3, 01.5), and integers without leading zeros
_NUMBER = (rf"(?:[0-9]+\.[0-9]*{_EXPONENT}?|\.[0-9]+{_EXPONENT}?|[0-9]+{_EXPONENT}|0+|[1-9][0-9]*)"
           r"(?![0-9A-Za-z_.])")
_OPERAND = rf"(-?{_NUMBER}|{_NAME})"
_COMMENT = r"(#(?:\(([0-9]+)\)[ \t]*$)?[^\r\x00\x0c]*)?"  # the comment, and a marker that is all of it
LINE = re.compile(rf"({_NAME})[ \t]*(\+?=)[ \t]*{_OPERAND}(?:[ \t]*([-+*/])[ \t]*{_OPERAND})?[ \t]*{_COMMENT}")
_COMPARE = r"(>=|<=|>|<)"
# relu and its gradient, as the notes write them: np.maximum(0, x), (x > 0) * dx, dx * (x > 0)
CALL = re.compile(rf"({_NAME})[ \t]*(\+?=)[ \t]*(?P<expr>np\.(maximum|minimum)\([ \t]*{_OPERAND}[ \t]*,[ \t]*"
                  rf"{_OPERAND}[ \t]*\))[ \t]*{_COMMENT}")
MASK = re.compile(rf"({_NAME})[ \t]*(\+?=)[ \t]*(?P<expr>\([ \t]*{_OPERAND}[ \t]*{_COMPARE}[ \t]*{_OPERAND}[ \t]*\)"
                  rf"[ \t]*\*[ \t]*{_OPERAND}|{_OPERAND}[ \t]*\*[ \t]*\([ \t]*{_OPERAND}[ \t]*{_COMPARE}[ \t]*"
                  rf"{_OPERAND}[ \t]*\))[ \t]*{_COMMENT}")
# a line with nothing to parse: blank, or only a comment
NEUTRAL = re.compile(r"[ \t]*(?:#[^\r\x00\x0c]*)?")

_OPERATORS = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_FLOAT64 = np.float64
_REFUSED = frozenset(keyword.kwlist) | RESERVED_NAMES | {"__debug__"}
_INT_LIMIT = 2 ** 63  # the walker's limit for an integer constant (expr.Walker._eval_Constant)
_INT_DIGITS = len(str(_INT_LIMIT))
_BUILDING = threading.Lock()  # the checks' thread and the UI's may ask for one tree at once


class Quick:
    """What a matched line computes, and its syntax tree on demand.

    Operands are a name (``str``) or the value the walker would compute for the constant: a
    float64, but for a comparison's operands (:class:`_Mask`), where an integer stays one.
    """

    __slots__ = ("fn", "left", "right", "reads", "depth", "end", "_text", "_lineno", "_node")

    def __init__(self, fn, left, right, reads: tuple[str, ...], depth: int, end: int, text: str,
                 lineno: int):
        self.fn = fn  # None for a lone operand (then right is None)
        self.left = left
        self.right = right
        self.reads = reads  # the names read, in order, each once (as the walker records them)
        self.depth = depth  # as expr.scan gives it for the tree
        self.end = end  # where the expression ends in the line (the code without its comment)
        self._text = text
        self._lineno = lineno
        self._node: ast.expr | None = None

    def value(self, env) -> _FLOAT64 | None:
        """The value, when every operand is a float64; else None (the walker's case)."""
        left = self.left
        a = env.get(left) if left.__class__ is str else left
        if a.__class__ is not _FLOAT64:
            return None
        fn = self.fn
        if fn is None:
            return a
        right = self.right
        b = env.get(right) if right.__class__ is str else right
        if b.__class__ is not _FLOAT64:
            return None
        return fn(a, b)

    def node(self) -> ast.expr:
        """The right-hand side's syntax tree, positioned in the block as ast.parse of the whole
        block would position it; built once."""
        if self._node is None:
            with _BUILDING:
                if self._node is None:
                    node = ast.parse(self._text).body[0].value  # type: ignore[attr-defined]
                    ast.increment_lineno(node, self._lineno - 1)
                    self._node = node
        return self._node


class _Call(Quick):
    """``np.maximum(a, b)`` or ``np.minimum(a, b)``: the walker's call of the function on two
    float64 (expr.Walker._call, kind "binary"; an integer constant is a float64 there too)."""

    __slots__ = ()

    def value(self, env) -> _FLOAT64 | None:
        left, right = self.left, self.right
        a = env.get(left) if left.__class__ is str else left
        b = env.get(right) if right.__class__ is str else right
        if a.__class__ is not _FLOAT64 or b.__class__ is not _FLOAT64:
            return None
        return to_value(self.fn(a, b))


class _Mask(Quick):
    """``(a > b) * c`` or ``c * (a > b)``: the walker's comparison (a 0-d float64 array of 0 or
    1, its operands as the walker has them: an integer constant stays an integer) times ``c``
    (expr.Walker._eval_Compare, then _eval_BinOp's general case: np.multiply)."""

    __slots__ = ("third", "mask_first")

    def __init__(self, compare, a, b, third, mask_first: bool, reads: tuple[str, ...], depth: int, end: int,
                 text: str, lineno: int):
        super().__init__(compare, a, b, reads, depth, end, text, lineno)
        self.third = third  # the factor: a name or a float64
        self.mask_first = mask_first  # (a > b) * c, not c * (a > b)

    def value(self, env) -> _FLOAT64 | None:
        found = []
        for operand in (self.left, self.right, self.third):
            if operand.__class__ is str:
                operand = env.get(operand)
                if operand.__class__ is not _FLOAT64:
                    return None
            found.append(operand)
        a, b, c = found
        mask = np.asarray(self.fn(a, b), dtype=np.float64)
        return to_value(np.multiply(mask, c) if self.mask_first else np.multiply(c, mask))


def _declined(target: str, comment: str | None) -> bool:
    """A target the parser or the walker refuses, or a comment Python's parser cannot take (a
    lone surrogate cannot be encoded): the parser's error, not a quick reading."""
    if target in _REFUSED:
        return True
    if comment is None or comment.isascii():
        return False
    try:
        comment.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _operand(text: str) -> tuple[object, bool, object] | None:
    """A name, or the float64 of a constant; whether it is negated; and the value as the
    walker's comparison takes it (an integer stays an integer). None to decline."""
    if text[0].isalpha() or text[0] == "_":
        return None if text in _REFUSED else (text, False, text)
    negated = text[0] == "-"
    digits = text[1:] if negated else text
    if "." in digits or "e" in digits or "E" in digits:
        value = _FLOAT64(float(digits))
        value = -value if negated else value
        return value, negated, value
    if len(digits) > _INT_DIGITS:  # int() of over 4,300 digits raises; the parser says why
        return None
    number = int(digits)
    if abs(number) > _INT_LIMIT:
        return None
    # the walker negates an integer before it becomes a float64: -0 is 0.0, not -0.0
    number = -number if negated else number
    return _FLOAT64(number), negated, number


def read(text: str, lineno: int, operands: dict[str, tuple[object, bool, object] | None]
         ) -> tuple[int, str, str, Quick, str | None, str | None] | None:
    """``(lineno, target, op, quick, comment, marker)`` for a line of the fast shape, else None: the
    comment from its ``#``, and the digits of a ``#(n)`` that is the whole comment. ``operands``
    keeps each operand's reading for the block (a name is read by several lines)."""
    found = next(read_lines([text], lineno, operands))
    return None if found is None else (lineno, *found)


def read_lines(lines: list[str], first: int = 1, operands: dict | None = None
               ) -> Iterator[tuple[str, str, Quick, str | None, str | None] | None]:
    """:func:`read` of each line (numbered from ``first``) without its line number, in one pass:
    the regular expression is mapped over the lines, and the common shape read here, not by a
    call of :func:`read` per line (25,000 at 10,000 stages). A generator: each reading is used
    and dropped before the next, not kept in a list of 25,000."""
    operands = {} if operands is None else operands
    refused, symbols = _REFUSED, _OPERATORS
    for lineno, text, match in zip(itertools.count(first), lines, map(LINE.fullmatch, lines)):
        if match is None:
            yield _read_call_or_mask(text, lineno, operands) if "(" in text else None
            continue
        target, op, one, symbol, two, comment, marker = match.groups()
        if target in refused or (comment is not None and not comment.isascii() and _declined(target, comment)):
            yield None  # (_declined, its common cases inline)
            continue
        left = operands.get(one) or operands.setdefault(one, _operand(one))  # (None: declined)
        if left is None:
            yield None
            continue
        a = left[0]
        if symbol is None:
            if a.__class__ is str:
                yield target, op, Quick(None, a, None, (a,), 1, match.end(3), text, lineno), comment, marker
            else:  # a lone constant is a value as the walker returns it
                yield target, op, Quick(None, to_value(a), None, (), 2 if left[1] else 1, match.end(3), text,
                                        lineno), comment, marker
            continue
        right = operands.get(two) or operands.setdefault(two, _operand(two))
        if right is None:
            yield None
            continue
        b = right[0]
        if a.__class__ is str:
            reads = (a,) if b.__class__ is not str else (a,) if a == b else (a, b)
        else:
            reads = (b,) if b.__class__ is str else ()
        yield target, op, Quick(symbols[symbol], a, b, reads, 3 if left[1] or right[1] else 2, match.end(5),
                                text, lineno), comment, marker


_COMPARISONS = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}
_CALLS = {"maximum": np.maximum, "minimum": np.minimum}


def _read_call_or_mask(text: str, lineno: int, operands: dict[str, tuple[object, bool, object] | None]
                       ) -> tuple[str, str, Quick, str | None, str | None] | None:
    """:func:`read_lines` for the shapes of :data:`CALL` and :data:`MASK`."""
    match = CALL.fullmatch(text)
    if match is not None:
        target, op, _, function, first, second, comment, marker = match.groups()
        found = _read_operands(operands, first, second)
        if found is None:
            return None
        (a, a_negated, _), (b, b_negated, _) = found
        depth = 3 if a_negated or b_negated else 2
        quick: Quick = _Call(_CALLS[function], a, b, _names(a, b), depth, match.end("expr"), text, lineno)
    else:
        match = MASK.fullmatch(text)
        if match is None:
            return None
        groups = match.groups()
        target, op, comment, marker = groups[0], groups[1], groups[-2], groups[-1]
        if groups[3] is not None:  # (a > b) * c
            first, symbol, second, third, mask_first = groups[3], groups[4], groups[5], groups[6], True
        else:  # c * (a > b)
            third, first, symbol, second, mask_first = groups[7], groups[8], groups[9], groups[10], False
        found = _read_operands(operands, first, second, third)
        if found is None:
            return None
        (_, a_negated, a), (_, b_negated, b), (c, _, _) = found
        names = _names(a, b, c) if mask_first else _names(c, a, b)
        quick = _Mask(_COMPARISONS[symbol], a, b, c, mask_first, names, 4 if a_negated or b_negated else 3,
                      match.end("expr"), text, lineno)
    if _declined(target, comment):
        return None
    return target, op, quick, comment, marker


def _read_operands(operands: dict, *texts: str) -> list[tuple[object, bool, object]] | None:
    found = []
    for text in texts:
        reading = operands.get(text) or operands.setdefault(text, _operand(text))
        if reading is None:
            return None
        found.append(reading)
    return found


def _names(*operands: object) -> tuple[str, ...]:
    """The names among the operands, in order, each once (as the walker records its reads)."""
    return tuple(dict.fromkeys(o for o in operands if o.__class__ is str))
