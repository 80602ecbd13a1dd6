"""Showing values: compact text for people, and the JSON encoding of DESIGN.md section 3."""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable

import numpy as np

from bpstep.core.limits import DEFAULT_LIMITS

from bpstep.core.expr import fmt_shape


def encode(value: Any) -> Any:
    """JSON numbers and nested lists; NaN and infinities as "NaN", "Infinity", "-Infinity"."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        return [encode(v) for v in value] if value.ndim else encode(value.item())
    number = float(value)
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "Infinity" if number > 0 else "-Infinity"
    return number


_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def decode(data: Any, max_elements: int | None = None) -> Any:
    """The inverse of :func:`encode`: None, a float64, or a float64 array (of at most
    ``max_elements`` numbers, counted before anything is built).

    Raises ValueError (with a short reason) for anything :func:`encode` cannot have written.
    """
    if data is None:
        return None
    if isinstance(data, list):
        try:
            return _decode_array(data, max_elements)
        except RecursionError:  # numpy and the walks below recurse per level of nesting
            raise ValueError("values nested too deeply to be an array") from None
    return np.float64(_scalar(data))


def _decode_array(data: list, max_elements: int | None) -> np.ndarray:
    depth, first = 0, data
    while isinstance(first, list) and first:
        depth, first = depth + 1, first[0]
    if depth > DEFAULT_LIMITS.max_dims:
        raise ValueError(f"an array of {depth} dimensions; the limit is {DEFAULT_LIMITS.max_dims}")
    count = _count_items(data)
    if max_elements is not None and count > max_elements:
        raise ValueError(f"an array of {count} numbers; the limit is {max_elements} (--max-elements)")
    # only JSON numbers (no "NaN" strings, no booleans): straight to numpy, without first
    # building a list of floats as large as the array (a transcript's values: 32 bytes a number)
    items = data if _plain_numbers(data) else _decode_items(data)
    try:
        array = np.array(items, dtype=np.float64)
    except ValueError:
        raise ValueError("an array whose rows are not all the same length") from None
    if items is data and np.isinf(array).any():
        _decode_items(data)  # 1e999 in the JSON: says so (encode() writes "Infinity")
    return array


def _count_items(data: list) -> int:
    """How many numbers nested lists hold (lengths only: nothing is built)."""
    if data and isinstance(data[0], list):
        return sum(_count_items(item) if isinstance(item, list) else 1 for item in data)
    return len(data)


def _plain_numbers(data: list) -> bool:
    """Whether nested lists hold only JSON numbers (not booleans, not strings)."""
    for item in data:
        kind = type(item)
        if kind is list:
            if not _plain_numbers(item):
                return False
        elif kind is not float and kind is not int:
            return False
    return True


def _decode_items(data: list) -> list:
    return [_decode_items(item) if isinstance(item, list) else _scalar(item) for item in data]


def _scalar(item: Any) -> float:
    if isinstance(item, bool) or not isinstance(item, (int, float, str)):
        raise ValueError(f"{type(item).__name__} where a number was expected")
    if isinstance(item, str):
        if item not in _SPECIAL:
            raise ValueError(f"the string {item!r} where a number was expected "
                             "(only \"NaN\", \"Infinity\" and \"-Infinity\" are allowed)")
        return _SPECIAL[item]
    number = float(item)
    if math.isinf(number):  # 1e999 in the JSON: encode() writes an infinity as "Infinity"
        raise ValueError("a number too large for a float64 (an infinity is written \"Infinity\")")
    return number


def number(x: float) -> str:
    """A scalar in at most about five significant figures: 3, 0.1966, -0.7916, 1.2e-05."""
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    if 0.1 <= abs(x) < 1e6:
        return f"{x:.4f}".rstrip("0").rstrip(".")
    if 1e-4 <= abs(x) < 0.1:
        return f"{x:.4g}"
    return f"{x:.3e}"


def brief(value: Any, limit: int = 6, shaped: bool = True) -> str:
    """One line: a scalar, a small array in full, a larger one as shape and first values
    (``shaped``: False where the shape has a column of its own)."""
    if value is None:
        return "—"
    if not isinstance(value, np.ndarray) or value.ndim == 0:
        return number(value)
    if value.size <= limit:
        return _nested(value)
    head = ", ".join(number(v) for v in value.reshape(-1)[:3])
    return f"{fmt_shape(value.shape)} [{head}, …]" if shaped else f"[{head}, …]"


def count(value: Any) -> int:
    """How many numbers a value writes (None and a scalar: one)."""
    return value.size if type(value) is np.ndarray else 1


def terms(values: Iterable[Any], fmt: Callable[[Any], str] = brief) -> list[tuple[str, str]]:
    """A written sum, term by term: ``("", text)`` for the first, then ``("+", text)``, or
    ``("-", text)`` for a negative scalar (``1.5832 - 0.03576``, not ``1.5832 + -0.03576``)."""
    out: list[tuple[str, str]] = []
    for value in values:
        text = fmt(value)
        if out and text.startswith("-") and np.ndim(value) == 0:
            out.append(("-", text[1:]))
        else:
            out.append(("+" if out else "", text))
    return out


def _nested(value: np.ndarray) -> str:
    if value.ndim == 1:
        return "[" + ", ".join(number(v) for v in value) + "]"
    return "[" + ", ".join(_nested(row) for row in value) + "]"


def shape_text(value: Any) -> str:
    return fmt_shape(np.shape(value)) if np.ndim(value) else "scalar"


def exact(x: float) -> str:
    """A scalar to its last digit: the shortest text that reads back as the same float64
    (0.017986209962091562, not 0.01799), so that it can be compared with a hand calculation."""
    x = float(x)
    if math.isfinite(x) and x == int(x) and abs(x) < 1e15 and repr(x) != "-0.0":  # -0.0 keeps its sign
        return str(int(x))
    return repr(x)  # 'nan', 'inf' and '-inf' too


def full(value: Any) -> list[str]:
    """Every element, each to its last digit (:func:`exact`), one row a line (the detail view)."""
    if not isinstance(value, np.ndarray) or value.ndim == 0:
        return [exact(value)]
    if value.size == 0:
        return [f"(no elements: shape {fmt_shape(value.shape)})"]
    rows = value.reshape(1, -1) if value.ndim == 1 else value.reshape(value.shape[0], -1)
    cells = [[exact(v) for v in row] for row in rows]
    width = max(len(c) for row in cells for c in row)
    return [" ".join(c.rjust(width) for c in row) for row in cells]


def has_trouble(value: Any) -> bool:
    """True when a value holds NaN or an infinity (flagged, never a crash)."""
    return value is not None and not bool(np.all(np.isfinite(value)))
