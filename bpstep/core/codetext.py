"""Writing gradient code as text: parentheses only where needed, broadcasting undone.

The derivation builds each contribution as code by filling a rule's template with the
gradient arriving from above (see :mod:`bpstep.core.rules`); these helpers keep that code
readable (``(2 * x) * dz``, not ``((2 * x) * (dz))``) and correct (``(W.T @ dD) * 2``).
"""

from __future__ import annotations

import ast

Shape = tuple[int, ...]
_ATOMIC = (ast.Name, ast.Call, ast.Subscript, ast.Attribute, ast.List)


def atom(text: str) -> str:
    """``text`` as an operand: unchanged if atomic (a name, call, subscript, positive
    number), else in parentheses."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return f"({text})"
    if isinstance(node, _ATOMIC):
        return text
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and node.value >= 0:
        return text
    return f"({text})"


def product_safe(text: str) -> str:
    """``text`` as the right-hand factor of ``*``: a product or quotient (``(2 * x) * dz``) is
    left as it is, since ``f * a * b`` is ``f * (a * b)``; a sum, a comparison or a product
    that starts with ``@`` goes in parentheses."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        return f"({text})"
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.MatMult)):
        return f"({text})"
    if not isinstance(node, (ast.BinOp, ast.UnaryOp, *_ATOMIC, ast.Constant)):
        return f"({text})"
    while isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
        node = node.left
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
        return f"({text})"
    return text


def fill(template: str, g: str) -> str:
    return template.replace("{ga}", atom(g)).replace("{g}", product_safe(g))


def number_text(x: float) -> str:
    x = float(x)
    return str(int(x)) if x == int(x) and abs(x) < 1e15 else repr(x)


def unbroadcast(text: str, source: Shape, target: Shape) -> str:
    """Code summing a gradient of shape ``source`` back to ``target`` (the shape of an
    operand that was broadcast): ``dZ.sum(axis=0)`` for a bias ``b1`` of ``Z = X.dot(W1) + b1``."""
    if tuple(source) == tuple(target):
        return text
    if not target:
        return f"np.sum({text})"
    out = text
    lead = len(source) - len(target)
    for _ in range(lead):
        out = f"{atom(out)}.sum(axis=0)"
    for axis, (want, have) in enumerate(zip(target, source[lead:])):
        if want == 1 and have != 1:
            out = f"{atom(out)}.sum(axis={axis}, keepdims=True)"
    return out
