"""Derivative rules: one table keyed by operation, one small function per input.

Each rule function gets an :class:`Op` (one operation of a forward expression: its operands'
code, shapes and values) and returns the code of the gradient that flows back into one input,
as a template over ``{g}``, the gradient arriving at the operation's result (``{ga}`` is the
same, parenthesised where it is followed by ``.T``, ``.dot(...)`` or a subscript). Elementwise
rules read as the notes write them, *local gradient* ``* {g}``: ``(2 * x) * {g}`` for
``x**2``, ``(-1.0 / (den**2)) * {g}`` for ``1.0 / den``, ``((1 - sigy) * sigy) * {g}`` for a
sigmoid. The code is plain bpstep code over cached names: :mod:`bpstep.core.derive` fills in
``{g}`` and the engine runs the result through the whitelisting walker like any backward pass.

Conventions where a derivative is not defined (kinks and ties):

* ``np.maximum(a, b)``, ``np.minimum(a, b)``, ``max(a, b, ...)``, ``min(a, b, ...)``: the whole
  gradient goes to one argument, the winner. At a tie a constant argument wins, so
  ``np.maximum(0, z)`` and ``np.maximum(z, 0)`` both pass no gradient to ``z`` at ``z == 0``
  (relu'(0) = 0, as in micrograd and PyTorch's relu); among arguments that are not constants
  the first one tied wins, as Python's ``max`` returns the first of equal items. Every
  derivative so given is a subgradient.
* ``max(x)``, ``min(x)`` of one array: elements tied for the maximum (minimum) share the
  gradient equally, as PyTorch's ``amax`` does.
* ``abs(x)``, ``np.abs(x)``: the derivative is ``np.sign(x)``, 0 at ``x == 0``.
* Comparisons (``z > 0``), ``np.sign``, ``np.ones_like``, ``x.shape`` and indices pass no
  gradient; constants have none.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from bpstep.core.codetext import atom, fill, number_text
from bpstep.core.expr import FUNCTIONS, qualified_name

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Op:
    """One operation of a forward expression, as a rule sees it."""

    kind: str
    node: ast.expr
    args: tuple[ast.expr, ...]  # the operands that can carry a gradient, in order
    texts: tuple[str, ...]  # code of each operand over cached names
    shapes: tuple[Shape, ...]
    shape: Shape  # of the result
    text: str  # code of the whole operation
    out: str  # code naming the result: the stage's output name at the root, else the code
    consts: tuple[bool, ...]  # True for an operand that reads no name (a constant)
    params: Mapping[str, Any] = field(default_factory=dict)

    def a(self, i: int) -> str:
        """Operand ``i``'s code, parenthesised unless it is atomic."""
        return atom(self.texts[i])


RuleFn = Callable[[Op, int], "str | None"]


@dataclass(frozen=True)
class Rule:
    """``inputs[i]`` gives the gradient into input ``i``; a variadic rule (list literals,
    max/min of several values) has one function, used for every input."""

    kind: str
    formula: str  # the rule as shown to people
    inputs: tuple[RuleFn, ...]
    elementwise: bool = False  # operands broadcast: gradients are summed back to their shape
    variadic: bool = False


# -- the rules --------------------------------------------------------------------------------

def _identity(op: Op, i: int) -> str:
    return "{g}"


def _negate(op: Op, i: int) -> str:
    return "(-1) * {g}"


def _mul(op: Op, i: int) -> str:
    return f"{op.a(1 - i)} * {{g}}"


def _div_numerator(op: Op, i: int) -> str:
    return f"(1 / {op.a(1)}) * {{g}}"


def _div_denominator(op: Op, i: int) -> str:
    return f"(-{op.a(0)} / ({op.a(1)}**2)) * {{g}}"


def _pow_base(op: Op, i: int) -> str | None:
    base = op.a(0)
    exponent = op.params.get("exponent")  # the value, when the exponent is a constant
    if exponent is None:
        n = op.a(1)
        return f"({n} * {base}**({n} - 1)) * {{g}}"
    if exponent == 0:
        return None
    if exponent == 1:
        return "{g}"
    if not op.params.get("literal"):
        n = op.a(1)
        return f"({n} * {base}**({n} - 1)) * {{g}}"
    n = op.texts[1].strip()
    if exponent == 2:
        return f"({n} * {base}) * {{g}}"
    return f"({n} * {base}**{number_text(exponent - 1)}) * {{g}}"


def _pow_exponent(op: Op, i: int) -> str | None:
    return f"(np.log({op.a(0)}) * {op.out}) * {{g}}"


def _exp(op: Op, i: int) -> str:
    return f"{op.out} * {{g}}"


def _log(op: Op, i: int) -> str:
    return f"(1 / {op.a(0)}) * {{g}}"


def _sqrt(op: Op, i: int) -> str:
    return f"(0.5 / {op.out}) * {{g}}"


def _tanh(op: Op, i: int) -> str:
    return f"(1 - {op.out}**2) * {{g}}"


def _sigmoid(op: Op, i: int) -> str:
    return f"((1 - {op.out}) * {op.out}) * {{g}}"


def _abs(op: Op, i: int) -> str:
    return f"np.sign({op.texts[0]}) * {{g}}"


def _winner(bigger: bool) -> RuleFn:
    strict, loose = (">", ">=") if bigger else ("<", "<=")

    def rule(op: Op, i: int) -> str | None:
        if op.consts[i]:
            return None
        rank = [(0 if c else 1, j) for j, c in enumerate(op.consts)]
        tests = [f"({op.a(i)} {strict if rank[j] < rank[i] else loose} {op.a(j)})"
                 for j in range(len(op.args)) if j != i]
        return " * ".join(tests) + " * {g}"

    return rule


def _extreme(bigger: bool) -> RuleFn:
    cmp = ">=" if bigger else "<="

    def rule(op: Op, i: int) -> str:
        x = op.a(0)
        return f"(({x} {cmp} {op.out}) / np.sum({x} {cmp} {op.out})) * {{g}}"

    return rule


def _spread(mean: bool) -> RuleFn:
    def rule(op: Op, i: int) -> str:
        ones = f"np.ones_like({op.texts[0]})"
        if mean:
            ones = f"({ones} / {op.params['count']})"
        axis, keepdims = op.params.get("axis"), op.params.get("keepdims", False)
        if axis is None or keepdims or not op.shape:
            return f"{ones} * {{g}}"
        return f"{ones} * np.expand_dims({{g}}, {axis})"

    return rule


def _operand(text: str) -> str:
    return "{ga}" if text == "{g}" else atom(text)


def _matmul(a: str, b: str, style: str) -> str:
    """``a`` times ``b`` as the forward code wrote its product (``.dot``, ``@`` or ``np.dot``)."""
    if style == "@":
        return f"{_operand(a)} @ {_operand(b)}"
    if style == "np.dot":
        return f"np.dot({a}, {b})"
    return f"{_operand(a)}.dot({b})"


def _transposed(text: str) -> str:
    if text.endswith(".T") and atom(text[:-2]) == text[:-2]:
        return text[:-2]  # X.T.T is X
    return f"{atom(text)}.T"


def _dot_left(op: Op, i: int) -> str:
    sa, sb = op.shapes
    b, style = op.texts[1], op.params.get("style", ".dot")
    if not sa or not sb or (len(sa) == 1 and len(sb) == 1):
        return f"{op.a(1)} * {{g}}"
    if len(sb) == 1:
        return f"np.outer({{g}}, {b})"
    if len(sa) == 1:
        return _matmul(b, "{g}", style)
    return _matmul("{g}", _transposed(b), style)


def _dot_right(op: Op, i: int) -> str:
    sa, sb = op.shapes
    a, style = op.texts[0], op.params.get("style", ".dot")
    if not sa or not sb or (len(sa) == 1 and len(sb) == 1):
        return f"{op.a(0)} * {{g}}"
    if len(sa) == 1:
        return f"np.outer({a}, {{g}})"
    return _matmul(_transposed(a), "{g}", style)


def _outer_left(op: Op, i: int) -> str:
    return f"{{ga}}.dot({op.texts[1]})"


def _outer_right(op: Op, i: int) -> str:
    return f"{{ga}}.T.dot({op.texts[0]})"


def _transpose(op: Op, i: int) -> str:
    return "{ga}.T"


def _item(op: Op, i: int) -> str:
    return f"{{ga}}[{i}]"


def _index(op: Op, i: int) -> str:
    return f"scatter({op.text}, {{g}})"


def _expand_dims(op: Op, i: int) -> str:
    return f"{{ga}}.sum(axis={op.params['axis']})"


def _scatter_value(op: Op, i: int) -> str:
    return op.params["gather"]  # {ga}[key], the place the value went


RULES: dict[str, Rule] = {rule.kind: rule for rule in (
    Rule("add", "a + b: da = g, db = g", (_identity, _identity), elementwise=True),
    Rule("sub", "a - b: da = g, db = (-1) * g", (_identity, _negate), elementwise=True),
    Rule("neg", "-a: da = (-1) * g", (_negate,)),
    Rule("pos", "+a: da = g", (_identity,)),
    Rule("mul", "a * b: da = b * g, db = a * g", (_mul, _mul), elementwise=True),
    Rule("div", "a / b: da = (1 / b) * g, db = (-a / (b**2)) * g",
         (_div_numerator, _div_denominator), elementwise=True),
    Rule("pow", "a**n: da = (n * a**(n - 1)) * g; a**b: db = (np.log(a) * a**b) * g",
         (_pow_base, _pow_exponent), elementwise=True),
    Rule("exp", "exp(a): da = exp(a) * g", (_exp,)),
    Rule("log", "log(a): da = (1 / a) * g", (_log,)),
    Rule("sqrt", "sqrt(a): da = (0.5 / sqrt(a)) * g", (_sqrt,)),
    Rule("tanh", "t = tanh(a): da = (1 - t**2) * g", (_tanh,)),
    Rule("sigmoid", "s = 1.0 / (1 + exp(-a)): da = ((1 - s) * s) * g", (_sigmoid,)),
    Rule("abs", "abs(a): da = np.sign(a) * g  (0 at a == 0)", (_abs,)),
    Rule("maximum", "np.maximum(a, b), max(a, b, ...): the winner gets g, e.g. "
                    "np.maximum(0, z): dz = (z > 0) * g", (_winner(True),),
         elementwise=True, variadic=True),
    Rule("minimum", "np.minimum(a, b), min(a, b, ...): the winner gets g, e.g. "
                    "np.minimum(a, b): da = (a <= b) * g", (_winner(False),),
         elementwise=True, variadic=True),
    Rule("max", "m = max(x): dx = ((x >= m) / np.sum(x >= m)) * g", (_extreme(True),)),
    Rule("min", "m = min(x): dx = ((x <= m) / np.sum(x <= m)) * g", (_extreme(False),)),
    Rule("sum", "x.sum(axis=k): dx = np.ones_like(x) * np.expand_dims(g, k)", (_spread(False),)),
    Rule("mean", "x.mean(axis=k): dx = (np.ones_like(x) / n) * np.expand_dims(g, k)",
         (_spread(True),)),
    Rule("dot", "D = W.dot(X): dW = dD.dot(X.T), dX = W.T.dot(dD)", (_dot_left, _dot_right)),
    Rule("outer", "np.outer(a, b): da = g.dot(b), db = g.T.dot(a)", (_outer_left, _outer_right)),
    Rule("transpose", "a.T: da = g.T", (_transpose,)),
    Rule("list", "[a, b, ...]: da = g[0], db = g[1], ...", (_item,), variadic=True),
    Rule("index", "x[i]: dx = scatter(x[i], g)", (_index,)),
    Rule("expand_dims", "np.expand_dims(a, k): da = g.sum(axis=k)", (_expand_dims,)),
    Rule("scatter", "scatter(x[i], v): dv = g[i]", (_scatter_value,)),
)}

# Operations through which no gradient flows (piecewise constant, or not a value at all).
ZERO = frozenset({"const", "compare", "sign", "ones_like", "shape"})

_UNARY = {"exp": "exp", "log": "log", "sqrt": "sqrt", "tanh": "tanh"}
_BINOP_KINDS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow",
                ast.MatMult: "dot"}


def rule_input(rule: Rule, i: int) -> RuleFn:
    return rule.inputs[min(i, len(rule.inputs) - 1)] if rule.variadic else rule.inputs[i]


def function_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id if func.id in FUNCTIONS else None
    name = qualified_name(func)
    return name if name in FUNCTIONS else None


def _is_one(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and not isinstance(node.value, bool) \
        and isinstance(node.value, (int, float)) and node.value == 1


def sigmoid_argument(node: ast.expr) -> ast.expr | None:
    """``z`` when ``node`` is ``1.0 / (1 + exp(-z))`` (either order of the sum, np or math)."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and _is_one(node.left)):
        return None
    den = node.right
    if not (isinstance(den, ast.BinOp) and isinstance(den.op, ast.Add)):
        return None
    for one, other in ((den.left, den.right), (den.right, den.left)):
        if (_is_one(one) and isinstance(other, ast.Call) and function_name(other) in ("np.exp", "math.exp")
                and len(other.args) == 1 and not other.keywords
                and isinstance(other.args[0], ast.UnaryOp) and isinstance(other.args[0].op, ast.USub)):
            return other.args[0].operand
    return None


def classify(node: ast.expr) -> tuple[str, tuple[ast.expr, ...], dict[str, Any]]:
    """The operation ``node`` performs: (kind, operands that carry a gradient, parameters as
    AST nodes or flags). Kinds are the keys of :data:`RULES`, ``"name"`` for a name, or one of
    :data:`ZERO`."""
    if isinstance(node, ast.Name):
        return "name", (), {}
    if isinstance(node, ast.Constant):
        return "const", (), {}
    if isinstance(node, ast.BinOp):
        z = sigmoid_argument(node)
        if z is not None:
            return "sigmoid", (z,), {}
        kind = _BINOP_KINDS.get(type(node.op))
        params = {"style": "@"} if kind == "dot" else {}
        return kind or "const", (node.left, node.right), params
    if isinstance(node, ast.UnaryOp):
        return ("neg" if isinstance(node.op, ast.USub) else "pos"), (node.operand,), {}
    if isinstance(node, ast.Compare):
        return "compare", (), {}
    if isinstance(node, ast.List):
        return "list", tuple(node.elts), {}
    if isinstance(node, ast.Subscript):
        if isinstance(node.value, ast.Attribute) and node.value.attr == "shape":
            return "shape", (), {}
        return "index", (node.value,), {}
    if isinstance(node, ast.Attribute):
        if qualified_name(node) is not None or node.attr == "shape":
            return ("const" if qualified_name(node) else "shape"), (), {}
        return "transpose", (node.value,), {}
    if isinstance(node, ast.Call):
        return _classify_call(node)
    return "const", (), {}


def _classify_call(node: ast.Call) -> tuple[str, tuple[ast.expr, ...], dict[str, Any]]:
    keywords = {k.arg: k.value for k in node.keywords}
    func = node.func
    if isinstance(func, ast.Attribute) and qualified_name(func) is None:  # a method
        if func.attr == "dot":
            return "dot", (func.value, node.args[0]), {"style": ".dot"}
        return func.attr, (func.value,), {"keywords": keywords}  # sum, mean
    name = function_name(node) or ""
    short = name.split(".")[-1]
    if short in _UNARY:
        return _UNARY[short], (node.args[0],), {}
    if short == "abs":
        return "abs", (node.args[0],), {}
    if name in ("np.maximum", "np.minimum"):
        return short, tuple(node.args), {}
    if name in ("max", "min"):
        if len(node.args) == 1:
            return name, (node.args[0],), {}
        return ("maximum" if name == "max" else "minimum"), tuple(node.args), {}
    if name in ("np.sum", "np.mean"):
        return short, (node.args[0],), {"keywords": keywords}
    if name == "np.dot":
        return "dot", (node.args[0], node.args[1]), {"style": "np.dot"}
    if name == "np.outer":
        return "outer", (node.args[0], node.args[1]), {}
    if name == "np.expand_dims":
        return "expand_dims", (node.args[0],), {"axis_node": node.args[1]}
    if name == "scatter":
        return "scatter", (node.args[1],), {"where": node.args[0]}
    if name in ("np.sign", "np.ones_like"):
        return short, (), {}
    return "const", (), {}


def vjp(rule: Rule, op: Op, i: int, g: str, shape_of_input: Shape) -> tuple[str, Shape] | None:
    """The gradient flowing into input ``i``: (code, shape of that code's value)."""
    template = rule_input(rule, i)(op, i)
    if template is None:
        return None
    text = fill(template, g)
    if rule.elementwise or (rule.kind == "dot" and not all(op.shapes)):  # a scalar product
        return text, op.shape
    if rule.kind == "scatter":
        return text, op.params["item_shape"]
    return text, shape_of_input
