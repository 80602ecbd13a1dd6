"""Helpers for the app tests: scenario paths, independent reference numbers, row parsing."""

from __future__ import annotations

import math
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"
COMPLEX = str(SCENARIOS / "complex.yaml")
SIGMOID = str(SCENARIOS / "sigmoid.yaml")
MATMUL = str(SCENARIOS / "matmul.yaml")


def sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def complex_f(x: float, y: float) -> float:
    """f(x, y) = (x + sigma(y)) / (sigma(x) + (x + y)^2), written out directly."""
    return (x + sig(y)) / (sig(x) + (x + y) ** 2)


def central(fn, x: float, y: float, wrt: str, h: float = 1e-6) -> float:
    if wrt == "x":
        return (fn(x + h, y) - fn(x - h, y)) / (2 * h)
    return (fn(x, y + h) - fn(x, y - h)) / (2 * h)


def complex_contributions(x: float = 3.0, y: float = -4.0) -> dict[str, float]:
    """The closed-form contributions to dx and dy in complex.yaml, stage by stage."""
    num = x + sig(y)
    den = sig(x) + (x + y) ** 2
    d_den = -num / den**2  # df/dden
    return {
        "dx stage 4": 2 * (x + y) * d_den,  # through xpy = x + y, then xpysqr = xpy**2
        "dx stage 3": sig(x) * (1 - sig(x)) * d_den,  # through sigx
        "dx stage 2": 1 / den,  # through num = x + sigy
        "dy stage 4": 2 * (x + y) * d_den,
        "dy stage 1": sig(y) * (1 - sig(y)) / den,  # through sigy, then num
        "dnum": 1 / den,
    }


def close(text: str, expected: float, rel: float = 2e-3, abs_: float = 2e-4) -> bool:
    """A number shown with about five significant figures is close to ``expected``."""
    return math.isclose(float(text), expected, rel_tol=rel, abs_tol=abs_)


def gradient_row(app, name: str) -> tuple[str, str, str, str]:
    """(markers, name, value, contributions) of a gradient-table row, as drawn."""
    view = app.view("gradients")
    row = app.index.gradient_row[name]
    text = view.row_text(row)
    check = gradient_check(app, name)  # the check column at the row's end: not a contribution
    if check and text.endswith(check):
        text = text[:-len(check)].rstrip()
    markers, rest = text[:2], text[2:]
    parts = rest.split(None, 2)
    parts += [""] * (3 - len(parts))
    return markers, parts[0], parts[1], parts[2]


def gradient_check(app, name: str) -> str:
    """The gradient-check column of a gradient-table row, as drawn ("" when blank or absent)."""
    cell = app.gradient_source.check_cell(name, app.view("gradients")._width())
    return cell.plain.strip() if cell is not None else ""


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def numbers(text: str) -> list[float]:
    return [float(n) for n in NUMBER.findall(text)]


def plain(renderable, width: int = 100) -> str:
    """What a Rich renderable shows at ``width`` columns, as plain text (trailing blanks cut)."""
    import io

    from rich.console import Console

    console = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    with console.capture() as capture:
        console.print(renderable)
    return "\n".join(line.rstrip() for line in capture.get().splitlines())
