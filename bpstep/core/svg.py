"""``bpstep graph``: the circuit as an SVG picture at a position, ready for slides and notes.

The drawing is the same scene the terminal shows (:mod:`bpstep.core.circuit`), with fuller
numbers, scaled from grid cells to pixels: values in green above each wire, gradients in red
below, the stage being back-propagated in orange. Every label is an SVG ``<text>`` element in
a monospace font (never a path), so the picture stays searchable and editable. Under the
circuit, each matrix product processed so far gets its dimension analysis.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from bpstep.core.circuit import SVG, CircuitView, Path, Scene
from bpstep.core.engine import Walk
from bpstep.core.matrix import dimension_notes

CELL_W = 7.6  # px per grid column (a 12px monospace character is about 7.2px wide)
CELL_H = 18.0  # px per grid row
FONT = 12
HEADER = 64.0  # px above the circuit: title, position, legend
COLOURS = {
    "value": "#1a7f37", "gradient": "#cf222e", "sum": "#cf222e", "contribution": "#cf222e",
    "discarded": "#bc4c00", "local": "#8250df", "name": "#24292f", "stage": "#6e7781",
    "op": "#24292f", "wire": "#57606a", "hot": "#d97706", "box": "#24292f",
}
HOT_FILL = "#fff1c9"


def position_after_stage(walk: Walk, stage: int) -> int:
    """The position once the backward pass has processed ``stage`` (and every later stage)."""
    return sum(1 for step in walk.steps if step.stage >= stage)


def position_at(walk: Walk, at: str | None) -> int:
    """The position ``--at`` names: a stage number (once the backward pass has processed it),
    ``start`` (before any step) or ``end`` (the default). ValueError says what is allowed."""
    stages = sorted(s.stage for s in walk.forward)
    contiguous = stages == list(range(stages[0], stages[-1] + 1))
    shown = f"{stages[0]} to {stages[-1]}" if contiguous else ", ".join(map(str, stages))
    if at is None or at.strip().lower() == "end":
        return walk.total
    if at.strip().lower() == "start":
        return 0
    try:
        stage = int(at)
    except ValueError:
        raise ValueError(f"not a stage; give a stage number ({shown}), 'start' or 'end'") from None
    if stage not in stages:
        raise ValueError(f"there is no stage {stage}; the forward pass has stages {shown}")
    return position_after_stage(walk, stage)


def describe_position(walk: Walk, position: int) -> str:
    if position <= 0:
        return f"before the backward pass (0 of {walk.total} steps)"
    step = walk.step(position)
    stage_done = position == walk.total or walk.step(position + 1).stage != step.stage
    where = f"after stage {step.stage}" if stage_done else f"in stage {step.stage}"
    end = " (the end)" if position == walk.total else ""
    return f"{where}: step {position} of {walk.total}{end}"


def _x(col: float) -> str:
    return f"{col * CELL_W:.1f}"


def _y(row: float) -> str:
    return f"{HEADER + row * CELL_H:.1f}"


def _path_d(path: Path) -> str:
    """An orthogonal polyline through cell centres with rounded corners; its ends reach the
    edges of the cells next to the boxes, where the boxes' borders are."""
    points = [((x + 0.5) * CELL_W, HEADER + (y + 0.5) * CELL_H) for x, y in path.points]
    if len(points) == 1:
        points.append(points[0])
    (x0, y0), (x1, y1) = points[0], points[-1]
    points[0] = (x0 - 0.5 * CELL_W, y0)
    points[-1] = (x1 + 0.5 * CELL_W, y1)
    radius = 5.0
    parts = [f"M{points[0][0]:.1f},{points[0][1]:.1f}"]
    for i in range(1, len(points) - 1):
        (ax, ay), (bx, by), (cx, cy) = points[i - 1], points[i], points[i + 1]
        r = min(radius, (abs(bx - ax) + abs(by - ay)) / 2, (abs(cx - bx) + abs(cy - by)) / 2)
        ux, uy = _unit(bx - ax, by - ay)
        vx, vy = _unit(cx - bx, cy - by)
        parts.append(f"L{bx - ux * r:.1f},{by - uy * r:.1f}")
        parts.append(f"Q{bx:.1f},{by:.1f} {bx + vx * r:.1f},{by + vy * r:.1f}")
    parts.append(f"L{points[-1][0]:.1f},{points[-1][1]:.1f}")
    return " ".join(parts)


def _unit(dx: float, dy: float) -> tuple[float, float]:
    length = (dx * dx + dy * dy) ** 0.5 or 1.0
    return dx / length, dy / length


def render_svg(view: CircuitView, position: int) -> str:
    """The SVG document of the view's circuit at ``position``."""
    walk = view.walk
    scene: Scene = view.scene(position)
    position = scene.state.position
    notes = [f"stage {stage}: {line}" for stage, line in dimension_notes(walk, position)]
    forks = any(m.kind == "fork" for m in scene.marks)
    has_locals = any(t.role == "local" for t in scene.texts)
    legend = ("values above the wires · gradients below · the stage being back-propagated"
              + (" · ● gradients add up at a fork" if forks else "") + (" · backward locals" if has_locals else ""))
    width = max(scene.width * CELL_W, (len(legend) + 2) * 7.3, (max(map(len, notes), default=0) + 2) * 7.3)
    footer = (len(notes) + 1.5) * CELL_H if notes else 0.5 * CELL_H
    height = HEADER + scene.height * CELL_H + footer
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="DejaVu Sans Mono, Menlo, Consolas, '
        f'monospace" font-size="{FONT}">',
        f"<title>{escape(walk.scenario.title)} — {escape(describe_position(walk, position))}</title>",
        '<rect width="100%" height="100%" fill="#ffffff"/>',
        f'<text x="8" y="20" font-size="15" font-weight="bold" fill="#24292f">'
        f"{escape(walk.scenario.title)}</text>",
        f'<text x="8" y="38" fill="#57606a">{escape(describe_position(walk, position))}</text>',
        '<text x="8" y="56" fill="#57606a">'
        f'<tspan fill="{COLOURS["value"]}">values above the wires</tspan> · '
        f'<tspan fill="{COLOURS["gradient"]}">gradients below</tspan> · '
        f'<tspan fill="{COLOURS["hot"]}">the stage being back-propagated</tspan>'
        + (" · ● gradients add up at a fork" if forks else "")
        + (f' · <tspan fill="{COLOURS["local"]}">backward locals</tspan>' if has_locals else "")
        + "</text>",
    ]
    for rect in scene.rects:
        stroke = COLOURS["hot"] if rect.hot else COLOURS["box"]
        fill = HOT_FILL if rect.hot else "#f6f8fa"
        out.append(f'<g class="node" id={quoteattr(rect.node)}><title>{escape(rect.tooltip)}</title>'
                   f'<rect x="{_x(rect.x)}" y="{_y(rect.y)}" width="{rect.width * CELL_W:.1f}" '
                   f'height="{rect.height * CELL_H:.1f}" rx="6" fill="{fill}" stroke="{stroke}" '
                   f'stroke-width="{2.5 if rect.hot else 1.2}"/></g>')
    wires: dict[tuple[bool, str], list[str]] = {}  # one element per wire: branches share a trunk
    for path in scene.paths:
        wires.setdefault((path.hot, path.wire), []).append(_path_d(path))
    for (hot, wire), parts in sorted(wires.items(), key=lambda item: item[0][0]):
        colour = COLOURS["hot"] if hot else COLOURS["wire"]
        out.append(f'<path class="wire" data-wire={quoteattr(wire)} d="{" ".join(parts)}" '
                   f'fill="none" stroke="{colour}" stroke-width="{2.5 if hot else 1.4}" '
                   'stroke-linejoin="round"/>')
    for mark in scene.marks:
        cx, cy = (mark.x + 0.5) * CELL_W, HEADER + (mark.y + 0.5) * CELL_H
        colour = COLOURS["hot"] if mark.hot else COLOURS["wire"]
        if mark.kind == "fork":
            out.append(f'<circle class="fork" cx="{cx:.1f}" cy="{cy:.1f}" r="4.5" fill="{colour}"/>')
        elif mark.kind == "port":
            tip = mark.x * CELL_W  # the box's left edge
            out.append(f'<path d="M{tip - 7:.1f},{cy - 4:.1f} L{tip:.1f},{cy:.1f} L{tip - 7:.1f},{cy + 4:.1f} Z" '
                       f'fill="{colour}"/>')
        else:
            out.append(f'<path d="M{cx - 5:.1f},{cy - 5:.1f} L{cx + 5:.1f},{cy:.1f} L{cx - 5:.1f},{cy + 5:.1f} Z" '
                       f'fill="{COLOURS["wire"]}"/>')
    for text in scene.texts:
        x, baseline = text.x * CELL_W, HEADER + text.y * CELL_H + CELL_H * 0.5 + FONT * 0.36
        if text.hot and text.role not in ("name", "stage", "op"):
            out.append(f'<rect x="{x - 2:.1f}" y="{HEADER + text.y * CELL_H + 1:.1f}" '
                       f'width="{len(text.text) * CELL_W + 4:.1f}" height="{CELL_H - 2:.1f}" rx="3" '
                       f'fill="{HOT_FILL}"/>')
        attrs = [f'class="{text.role}"', f'x="{x:.1f}"', f'y="{baseline:.1f}"',
                 f'fill="{COLOURS.get(text.role, "#24292f")}"']
        if text.role in ("op", "name") or text.hot:
            attrs.append('font-weight="bold"')
        if text.role == "discarded":
            attrs.append('text-decoration="line-through"')
        if text.wire:
            attrs.append(f"data-wire={quoteattr(text.wire)}")
        out.append(f'<text {" ".join(attrs)} xml:space="preserve">{escape(text.text)}</text>')
    if notes:
        top = HEADER + scene.height * CELL_H + 0.5 * CELL_H
        out.append(f'<text x="8" y="{top + 12:.1f}" font-weight="bold" fill="#24292f">dimension analysis</text>')
        for i, note in enumerate(notes, start=1):
            out.append(f'<text class="dimensions" x="8" y="{top + 12 + i * CELL_H:.1f}" fill="#24292f" '
                       f'xml:space="preserve">{escape(note)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def graph_svg(walk: Walk, position: int, limit: int | None = None) -> str:
    """The SVG of the circuit at ``position`` (``limit``: see :class:`CircuitView`)."""
    return render_svg(CircuitView(walk, SVG, limit=limit), position)
