"""bpstep's expression language: a whitelisting evaluator over Python's ``ast``.

User code is never handed to ``eval`` or ``exec``, and no module object is ever reachable
from it: ``np.exp`` is not an attribute lookup on numpy but a key in :data:`FUNCTIONS`.
Every node type, attribute, function and keyword not listed here is refused with its
position and a word on what is allowed.

Values are ``numpy.float64`` scalars and read-only ``float64`` arrays. Sizes of results are
computed before anything is allocated and checked against :class:`Limits`. Overflow, division
by zero and invalid operations give inf/nan; callers evaluate under ``quiet()`` so that numpy
does not warn about them (entering it once per run, not once per expression, is much cheaper).
"""

from __future__ import annotations

import ast
import contextlib
import gc
import math
import operator
from typing import Any, Callable, Mapping

import numpy as np

from bpstep.core.errors import ScenarioError
from bpstep.core.limits import DEFAULT_LIMITS, Limits  # noqa: F401 - re-exported: Limits lives with the walker's budgets
from bpstep.core.records import field, record
from bpstep.core.source import CodeBlock

Value = Any  # np.float64 | np.ndarray (float64, read-only)

MODULE_ROOTS = ("np", "math")
RESERVED_NAMES = frozenset(MODULE_ROOTS) | {"abs", "max", "min", "scatter"}


class Budget:
    """What a whole run has used so far, against the totals of its Limits: without it a small
    file of many statements could fill the memory or run for minutes, each statement within
    the per-array limits."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self.max_elements = limits.max_total_elements  # (read at every kept value)
        self.elements = 0
        self.work = 0

    def keep(self, value: Any, statement) -> None:
        """Count a value the run keeps (a cache entry, a step's result); past the limit, the
        error is ``statement.error``'s (a statement, not its bound method: one a step). The
        engine's loops count a quick line's value, one number, themselves (then :meth:`over`)."""
        self.elements += 1 if type(value) is _FLOAT64 else int(np.size(value))
        if self.elements > self.max_elements:
            raise self.over(statement)

    def over(self, statement) -> ScenarioError:
        """The error of a run whose kept values have passed the limit, at ``statement``."""
        return statement.error(f"the values kept so far add up to {self.elements} elements; the limit "
                               f"for a whole run is {self.max_elements} (raise it with --max-total-elements)")

    def spend(self, work: int, error: Callable[[str], ScenarioError]) -> None:
        self.work += work
        if self.work > self.limits.max_total_work:
            raise error(f"the matrix products so far need {self.work} multiply-adds; the limit for "
                        f"a whole run is {self.limits.max_total_work}")



@record
class Function:
    name: str
    impl: Callable[..., Any]
    kind: str  # "unary", "binary", "reduce", "dot", "random", "minmax", "expand", "outer", "scatter"
    random: bool = False


def _reduce(fn):
    def call(x, axis=None, keepdims=False):
        return fn(x, axis=axis, keepdims=keepdims)

    return call


FUNCTIONS: dict[str, Function] = {}
for _mod in MODULE_ROOTS:
    for _fn, _impl in (("exp", np.exp), ("log", np.log), ("sqrt", np.sqrt), ("tanh", np.tanh)):
        FUNCTIONS[f"{_mod}.{_fn}"] = Function(f"{_mod}.{_fn}", _impl, "unary")
FUNCTIONS.update(
    {
        "np.abs": Function("np.abs", np.abs, "unary"),
        "abs": Function("abs", np.abs, "unary"),
        "np.maximum": Function("np.maximum", np.maximum, "binary"),
        "np.minimum": Function("np.minimum", np.minimum, "binary"),
        "max": Function("max", np.maximum, "minmax"),
        "min": Function("min", np.minimum, "minmax"),
        "np.sum": Function("np.sum", _reduce(np.sum), "reduce"),
        "np.mean": Function("np.mean", _reduce(np.mean), "reduce"),
        "np.dot": Function("np.dot", np.dot, "dot"),
        # helpers that derived backward passes use (and users may too)
        "np.sign": Function("np.sign", np.sign, "unary"),
        "np.ones_like": Function("np.ones_like", np.ones_like, "unary"),
        "np.expand_dims": Function("np.expand_dims", np.expand_dims, "expand"),
        "np.outer": Function("np.outer", np.outer, "outer"),
        "scatter": Function("scatter", None, "scatter"),
        "np.random.randn": Function("np.random.randn", None, "random", random=True),
        "np.random.rand": Function("np.random.rand", None, "random", random=True),
    }
)
CONSTANTS = {"np.pi": math.pi, "math.pi": math.pi, "np.e": math.e, "math.e": math.e}
METHODS = ("dot", "sum", "mean")
ATTRIBUTES = ("T", "shape")

ALLOWED = (
    "numbers, names, + - * / ** @, unary - and +, comparisons < <= > >=, parentheses, "
    "list literals, subscripts with whole numbers and slices, .T, .shape, .dot(), "
    ".sum(axis=, keepdims=), .mean(), and the functions "
    + ", ".join(sorted(n for n in FUNCTIONS if not FUNCTIONS[n].random))
    + " (scatter(x[i], g) is an array shaped like x, zero except g at x[i])"
)

_BINOPS = {
    ast.Add: ("+", np.add),
    ast.Sub: ("-", np.subtract),
    ast.Mult: ("*", np.multiply),
    ast.Div: ("/", np.true_divide),
    ast.Pow: ("**", np.power),
}
_FLOAT64 = np.float64
# numpy's scalar arithmetic on two float64 gives the ufunc's IEEE result at a tenth of the
# cost of calling the ufunc; ** keeps the ufunc
_SCALAR_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
                  ast.Div: operator.truediv}
_CMPOPS = {ast.Lt: ("<", np.less), ast.LtE: ("<=", np.less_equal), ast.Gt: (">", np.greater),
           ast.GtE: (">=", np.greater_equal)}
_NODE_WORDS = {
    ast.Lambda: "lambda", ast.ListComp: "a comprehension", ast.GeneratorExp: "a comprehension",
    ast.DictComp: "a comprehension", ast.SetComp: "a comprehension", ast.JoinedStr: "an f-string",
    ast.NamedExpr: "the walrus operator :=", ast.Dict: "a dict", ast.Set: "a set",
    ast.IfExp: "a conditional expression", ast.BoolOp: "and/or", ast.Await: "await",
    ast.Yield: "yield", ast.YieldFrom: "yield", ast.FormattedValue: "an f-string",
    ast.Tuple: "a tuple", ast.Starred: "a starred expression", ast.Slice: "a slice",
}


def quiet():
    """numpy's floating-point warnings off: inf and nan are values here, flagged, not errors."""
    return np.errstate(all="ignore")


@contextlib.contextmanager
def bulk(collect: bool = False):
    """:func:`quiet`, and the cyclic garbage collector paused: a run, a verification or a
    gradient check allocates hundreds of thousands of acyclic objects (syntax trees, steps,
    replayed values), and collections that traverse them all cost more than the work itself
    (checks at 100,000 stages: 19 s, 8 of them collecting, up to 0.9 s at a time, during which
    the TUI's keys wait). When it ends, what is left is frozen out of future collections (a
    walk and its checks live as long as the program), and the pause that started first turns
    the collector on again.

    ``collect``: first collect the garbage of what is not frozen yet. The pause is the
    whole process's, so when the checks run in the TUI's worker thread, the UI's own garbage of
    those seconds would otherwise be frozen for good (a review found 15,000 objects at 10,000
    stages). It is one pass over the objects made since the last freeze: the reference run
    inside the checks freezes its walk first, so the pass is short (7 ms at 10,000 stages,
    where a pass over that walk took 0.13 s: a pause the keys would wait for). Garbage of the
    checks' first part, frozen with the reference walk, is not collected: in the app at 10,000
    stages 5,000-8,000 objects stay, once (15,000 before; the app collects its start-up's
    garbage before the checks start)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        with quiet():
            yield
    finally:
        try:
            if collect:  # all generations (a review: garbage promoted before the pause was missed by a
                gc.collect()  # young one); what is frozen is not traversed, so the pass stays short
        finally:
            if enabled:
                gc.enable()
            gc.freeze()


def to_value(x: Any) -> Value:
    """Normalise a numeric result to float64 (scalar) or a read-only float64 array."""
    if type(x) is _FLOAT64:  # the common case: already a value
        return x
    if isinstance(x, np.ndarray):
        if x.ndim == 0:
            return np.float64(x)
        arr = np.asarray(x, dtype=np.float64)  # results are fresh arrays: no copy needed
        arr.flags.writeable = False
        return arr
    return np.float64(x)


def shape_of(x: Value) -> tuple[int, ...]:
    return getattr(x, "shape", ())  # numpy scalars and arrays have one; Python numbers are ()


def fmt_shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def depth_of(node: ast.AST) -> int:
    """Nesting depth of an AST, computed without recursion."""
    return scan(node)[1]


def qualified_name(node: ast.AST) -> str | None:
    """``np.random.randn`` for the chain of attributes over a module root, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in MODULE_ROOTS:
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def names_read(node: ast.AST) -> list[str]:
    """The user names an expression reads, in order of first appearance, without functions."""
    return scan(node)[0]


def scan(node: ast.AST) -> tuple[list[str], int]:
    """One pass over an expression: the names it reads (see names_read) and its depth."""
    kind = type(node)
    if kind is ast.Name:  # the common shapes first: a name, and an operation on two leaves
        return [node.id], 1
    if kind is ast.BinOp:
        left, right = node.left, node.right
        depth = 2
        if type(left) is ast.UnaryOp and type(left.operand) is ast.Constant:  # -0.5 * x
            left, depth = left.operand, 3
        left_kind, right_kind = type(left), type(right)
        if left_kind in _LEAVES and right_kind in _LEAVES:
            names = [left.id] if left_kind is ast.Name else []
            if right_kind is ast.Name and right.id not in names:
                names.append(right.id)
            return names, depth
    return _scan(node)


def _scan(node: ast.AST) -> tuple[list[str], int]:
    """:func:`scan` for any expression."""
    seen: dict[str, None] = {}
    deepest = 0
    stack = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > deepest:
            deepest = depth
        below = depth + 1
        if isinstance(current, ast.Name):
            seen.setdefault(current.id, None)
            continue
        if isinstance(current, ast.Call):
            func = current.func
            stack.extend((k.value, below) for k in reversed(current.keywords))
            stack.extend((a, below) for a in reversed(current.args))
            if not (isinstance(func, ast.Name) and func.id in FUNCTIONS) and qualified_name(func) is None:
                stack.append((func, below))
            continue
        if isinstance(current, ast.Attribute) and qualified_name(current) is not None:
            continue
        if isinstance(current, ast.BinOp):  # the common cases, without ast's generic iteration
            stack.append((current.right, below))
            stack.append((current.left, below))
        elif isinstance(current, ast.UnaryOp):
            stack.append((current.operand, below))
        elif not isinstance(current, ast.Constant):
            children = [(child, below) for child in ast.iter_child_nodes(current)]
            children.reverse()
            stack.extend(children)
    return list(seen), deepest


_LEAVES = (ast.Name, ast.Constant)


@record(frozen=False)
class Walker:
    """Evaluates one expression tree at a time against ``env``.

    ``block`` maps AST positions back to the scenario file; ``rng`` is given only where
    ``np.random.*`` is allowed (``inputs`` and ``upstream``).
    """

    env: Mapping[str, Value]
    block: CodeBlock
    rng: np.random.RandomState | None = None
    limits: Limits = DEFAULT_LIMITS
    reads: list[str] = field(default_factory=list)
    budget: Budget | None = None  # the run's totals (the engine gives one; other callers need not)

    def __init__(self, env: Mapping[str, Value], block: CodeBlock, rng: np.random.RandomState | None = None,
                 limits: Limits = DEFAULT_LIMITS, reads: list[str] | None = None, budget: Budget | None = None):
        # (record's generic __init__ takes 1.8 us: the checks make one walker per replay, 46,000)
        self.env = env
        self.block = block
        self.rng = rng
        self.limits = limits
        self.reads = [] if reads is None else reads
        self.budget = budget

    # -- entry points -------------------------------------------------------------------
    def evaluate(self, node: ast.AST, depth: int | None = None) -> Value:
        """The value of an expression. ``depth`` is its nesting depth when already known
        (parse_block computes it along with the names read)."""
        if (depth_of(node) if depth is None else depth) > self.limits.max_depth:
            raise self._error(node, f"expression is nested more than {self.limits.max_depth} "
                                    "levels deep; split it into stages")
        result = self._eval(node)
        if isinstance(result, tuple):
            raise self._error(node, "a shape is not a value; use it as *X.shape or X.shape[i]")
        return to_value(result)

    # -- helpers --------------------------------------------------------------------------
    def _error(self, node: ast.AST, message: str) -> ScenarioError:
        return self.block.node_error(message, node)

    def _refuse(self, node: ast.AST, what: str) -> ScenarioError:
        return self._error(node, f"{what} is not allowed in bpstep expressions; allowed: {ALLOWED}")

    def _check_size(self, node: ast.AST, shape: tuple[int, ...], what: str) -> None:
        if len(shape) > self.limits.max_dims:
            raise self._error(node, f"{what} would make an array of {len(shape)} dimensions; the "
                                    f"limit is {self.limits.max_dims}")
        # a zero-length axis must not hide the others: (0, 10**12) is refused as 10**12
        size = math.prod(max(d, 1) for d in shape)
        if size > self.limits.max_elements:
            raise self._error(node, f"{what} would make an array of shape {fmt_shape(shape)} "
                                    f"({size} elements); the limit is {self.limits.max_elements}")

    def _value(self, node: ast.AST) -> Value:
        value = self._eval(node)
        if isinstance(value, tuple):
            raise self._error(node, "a shape is not a value; use it as *X.shape or X.shape[i]")
        return value

    def _broadcast(self, node: ast.AST, op: str, *values: Value) -> tuple[int, ...]:
        shapes = [shape_of(v) for v in values]
        if not any(shapes):
            return ()  # scalars: the common case, and nothing to check
        try:
            shape = np.broadcast_shapes(*shapes)
        except ValueError:
            shown = " and ".join(fmt_shape(s) for s in shapes)
            raise self._error(node, f"shapes {shown} do not broadcast together for {op}") from None
        self._check_size(node, shape, op)
        return shape

    def _dot_shape(self, node: ast.AST, op: str, a: Value, b: Value) -> tuple[int, ...]:
        sa, sb = shape_of(a), shape_of(b)
        if not sa or not sb:
            return self._broadcast(node, op, a, b)
        if len(sa) > 2 or len(sb) > 2:
            raise self._error(node, f"{op} takes 1-D or 2-D arrays, not shapes {fmt_shape(sa)} "
                                    f"and {fmt_shape(sb)}")
        inner_b = sb[0]
        if sa[-1] != inner_b:
            raise self._error(node, f"shapes {fmt_shape(sa)} and {fmt_shape(sb)} are not aligned "
                                    f"for {op}: {sa[-1]} (dim {len(sa) - 1}) != {inner_b} (dim 0)")
        shape = sa[:-1] + sb[1:]
        self._check_size(node, shape, op)
        work = math.prod(shape) * sa[-1]
        if work > self.limits.max_matmul_work:
            raise self._error(node, f"{op} of {fmt_shape(sa)} and {fmt_shape(sb)} needs {work} "
                                    f"multiply-adds; the limit is {self.limits.max_matmul_work}")
        if self.budget is not None:
            self.budget.spend(work, lambda message: self._error(node, message))
        return shape

    def _int(self, node: ast.AST, value: Any, what: str) -> int:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return int(value)
        if np.ndim(value) == 0 and not isinstance(value, tuple):
            f = float(value)
            if math.isfinite(f) and f == int(f):
                return int(f)
        raise self._error(node, f"{what} must be a whole number")

    # -- the walk -------------------------------------------------------------------------
    def _eval(self, node: ast.AST) -> Any:
        method = _DISPATCH.get(type(node))
        if method is None:
            word = _NODE_WORDS.get(type(node), type(node).__name__)
            raise self._refuse(node, word)
        return method(self, node)

    def _eval_Constant(self, node: ast.Constant) -> Any:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "a string" if isinstance(value, str) else "bytes" if isinstance(value, bytes) \
                else f"the constant {value!r}"
            raise self._refuse(node, kind)
        if isinstance(value, int):
            if abs(value) > 2**63:
                raise self._error(node, "integer constant is too large")
            return value
        return np.float64(value)

    def _eval_Name(self, node: ast.Name) -> Value:
        name = node.id
        if name in RESERVED_NAMES:
            raise self._error(node, f"'{name}' can only be used to call its functions, as in "
                                    f"{'np.exp(x)' if name in MODULE_ROOTS else name + '(x)'}")
        if name not in self.env:
            raise self._error(node, f"name '{name}' is not defined")
        if name not in self.reads:
            self.reads.append(name)
        return self.env[name]

    def _eval_BinOp(self, node: ast.BinOp) -> Value:
        left, right = node.left, node.right  # a name is a value: no dispatch, no shape test
        a = self._eval_Name(left) if type(left) is ast.Name else self._value(left)
        b = self._eval_Name(right) if type(right) is ast.Name else self._value(right)
        op_type = type(node.op)
        if op_type in _SCALAR_BINOPS:  # the common case, two numbers: nothing to check
            ta, tb = type(a), type(b)
            if (ta is _FLOAT64 or ta is int) and (tb is _FLOAT64 or tb is int):
                return _SCALAR_BINOPS[op_type](_FLOAT64(a) if ta is int else a, _FLOAT64(b) if tb is int else b)
        if isinstance(node.op, ast.MatMult):
            if not shape_of(a) or not shape_of(b):
                raise self._error(node, "@ needs arrays on both sides; use * for scalars")
            self._dot_shape(node, "@", a, b)
            return np.matmul(a, b)
        if type(node.op) not in _BINOPS:
            raise self._refuse(node, "operator " + type(node.op).__name__)
        symbol, fn = _BINOPS[type(node.op)]
        self._broadcast(node, f"'{symbol}'", a, b)
        result = fn(np.float64(a) if isinstance(a, int) else a, np.float64(b) if isinstance(b, int) else b)
        if isinstance(node.op, ast.Pow) and not np.all(np.isfinite(result)) and \
                np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and not names_read(node):
            # Data that overflows is numerical trouble, shown as inf; a constant that does is a typo.
            raise self._error(node, "this constant power overflows (its value would be infinite)")
        return result

    def _eval_UnaryOp(self, node: ast.UnaryOp) -> Value:
        if isinstance(node.op, ast.USub):
            value = self._value(node.operand)
            return -value
        if isinstance(node.op, ast.UAdd):
            return self._value(node.operand)
        raise self._refuse(node, "operator " + type(node.op).__name__)

    def _eval_Compare(self, node: ast.Compare) -> Value:
        if len(node.ops) != 1:
            raise self._error(node, "chained comparisons are not allowed; compare two values")
        if type(node.ops[0]) not in _CMPOPS:
            raise self._refuse(node, "comparison " + type(node.ops[0]).__name__)
        symbol, fn = _CMPOPS[type(node.ops[0])]
        a, b = self._value(node.left), self._value(node.comparators[0])
        self._broadcast(node, f"'{symbol}'", a, b)
        return np.asarray(fn(a, b), dtype=np.float64)

    def _eval_List(self, node: ast.List) -> Value:
        items = [self._value(item) for item in node.elts]
        if not items:
            raise self._error(node, "an empty list is not a value")
        shapes = {shape_of(v) for v in items}
        if len(shapes) != 1:
            shown = ", ".join(fmt_shape(s) for s in sorted(shapes))
            raise self._error(node, f"list items must all have one shape, not {shown}")
        self._check_size(node, (len(items),) + shapes.pop(), "list")
        return np.array(items, dtype=np.float64)

    def _eval_Subscript(self, node: ast.Subscript) -> Any:
        value = self._eval(node.value)
        if isinstance(value, tuple):  # X.shape[i]
            key = self._key(node)
            if len(key) != 1 or not isinstance(key[0], int):
                raise self._error(node, "a shape takes one whole-number index")
            if not -len(value) <= key[0] < len(value):
                raise self._error(node, f"index {key[0]} is out of range for shape {fmt_shape(value)}")
            return value[key[0]]
        key = self._checked_key(node, value)
        return value[key]

    def _key(self, node: ast.Subscript) -> tuple[int | slice, ...]:
        index = node.slice
        parts = index.elts if isinstance(index, ast.Tuple) else [index]
        return tuple(self._index_part(p) for p in parts)

    def _checked_key(self, node: ast.Subscript, value: Value) -> Any:
        """The numpy key of ``value[...]``, after checking it against the value's shape."""
        key = self._key(node)
        shape = shape_of(value)
        if len(key) > len(shape):
            raise self._error(node, f"too many indices ({len(key)}) for a value of shape "
                                    f"{fmt_shape(shape)}")
        for dim, (k, size) in enumerate(zip(key, shape)):
            if isinstance(k, int) and not -size <= k < size:
                raise self._error(node, f"index {k} is out of range for axis {dim} of size {size} "
                                        f"(shape {fmt_shape(shape)})")
        return key if len(key) > 1 else key[0]

    def _index_part(self, node: ast.AST) -> int | slice:
        if isinstance(node, ast.Slice):
            parts = [None if p is None else self._int(p, self._eval(p), "a slice bound")
                     for p in (node.lower, node.upper, node.step)]
            if parts[2] == 0:
                raise self._error(node, "slice step cannot be zero")
            return slice(*parts)
        return self._int(node, self._eval(node), "an index")

    def _eval_Attribute(self, node: ast.Attribute) -> Any:
        qual = qualified_name(node)
        if qual is not None:
            if qual in CONSTANTS:
                return np.float64(CONSTANTS[qual])
            if qual in FUNCTIONS:
                raise self._error(node, f"{qual} is a function; call it, as in {qual}(x)")
            raise self._refuse(node, f"'{qual}'")
        value = self._value(node.value)  # innermost problems are reported first
        if node.attr not in ATTRIBUTES:
            if node.attr in METHODS:
                raise self._error(node, f".{node.attr} is a method; call it, as in X.{node.attr}(...)")
            raise self._refuse(node, f"attribute '.{node.attr}'")
        if node.attr == "shape":
            return shape_of(value)
        return np.transpose(value) if np.ndim(value) else value

    # -- calls --------------------------------------------------------------------------
    def _args(self, node: ast.Call) -> list[Any]:
        args: list[Any] = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                value = self._eval(arg.value)
                if not isinstance(value, tuple):
                    raise self._error(arg, "only a shape can be unpacked with *, as in *D.shape")
                args.extend(value)
            else:
                args.append(self._eval(arg))
        return args

    def _keywords(self, node: ast.Call, allowed: tuple[str, ...], what: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None or kw.arg not in allowed:
                shown = "no keyword arguments" if not allowed else "only " + ", ".join(f"{a}=" for a in allowed)
                raise self._error(kw.value if kw.arg is None else kw, f"{what} takes {shown}")
            if kw.arg == "keepdims":
                if not (isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, bool)):
                    raise self._error(kw.value, "keepdims= takes True or False")
                out["keepdims"] = kw.value.value
            elif kw.arg == "axis":
                if isinstance(kw.value, ast.Constant) and kw.value.value is None:
                    out["axis"] = None
                else:
                    out["axis"] = self._int(kw.value, self._eval(kw.value), "axis=")
        return out

    def _eval_Call(self, node: ast.Call) -> Value:
        func = node.func
        if not isinstance(func, (ast.Name, ast.Attribute)):
            raise self._refuse(func, _NODE_WORDS.get(type(func), type(func).__name__))
        if isinstance(func, ast.Attribute) and qualified_name(func) is None:
            target = self._value(func.value)  # innermost problems are reported first
            if func.attr not in METHODS:
                raise self._refuse(func, f"method '.{func.attr}()'")
            return self._call(node, f".{func.attr}()", "dot" if func.attr == "dot" else "reduce",
                              getattr(np, func.attr) if func.attr != "dot" else np.dot, [target])
        if isinstance(func, ast.Name):
            name = func.id
        else:
            name = qualified_name(func)
        if name is None or name not in FUNCTIONS:
            shown = name if name is not None else type(func).__name__
            if isinstance(func, ast.Name) and func.id in self.env:
                raise self._error(func, f"'{func.id}' is a value, not a function")
            raise self._refuse(func, f"calling '{shown}'")
        spec = FUNCTIONS[name]
        if spec.random:
            return self._random(node, name)
        if spec.kind == "scatter":
            return self._scatter(node)
        return self._call(node, name, spec.kind, spec.impl, [])

    def _call(self, node: ast.Call, name: str, kind: str, impl, first: list[Any]) -> Value:
        if kind == "reduce":
            kwargs = self._keywords(node, ("axis", "keepdims"), name)
        else:
            kwargs = self._keywords(node, (), name)
        args = first + self._args(node)
        for arg in args:
            if isinstance(arg, tuple):
                raise self._error(node, f"{name} takes values, not shapes")
        low, high = {"unary": (1, 1), "binary": (2, 2), "dot": (2, 2), "reduce": (1, 1),
                     "minmax": (1, 64), "expand": (2, 2), "outer": (2, 2)}[kind]
        if not low <= len(args) <= high:
            given, low, high = len(args) - len(first), low - len(first), high - len(first)
            want = str(low) if low == high else f"{low} to {high}"
            raise self._error(node, f"{name} takes {want} argument{'s' * (want != '1')}, not {given}")
        args = [np.float64(a) if isinstance(a, int) else a for a in args]
        if kind == "dot":
            self._dot_shape(node, name, args[0], args[1])
            return np.dot(args[0], args[1])
        if kind == "expand":
            ndim = np.ndim(args[0])
            axis = self._int(node.args[1] if len(node.args) > 1 else node, args[1], f"the axis of {name}")
            if not -ndim - 1 <= axis <= ndim:
                raise self._error(node, f"axis {axis} is out of range for {name} of a value of shape "
                                        f"{fmt_shape(shape_of(args[0]))}")
            self._check_size(node, shape_of(args[0]) + (1,), name)
            return np.expand_dims(args[0], axis)
        if kind == "outer":
            if any(np.ndim(a) != 1 for a in args):
                shown = " and ".join(fmt_shape(shape_of(a)) for a in args)
                raise self._error(node, f"{name} takes two 1-D arrays, not shapes {shown}")
            self._check_size(node, (len(args[0]), len(args[1])), name)
            return np.outer(args[0], args[1])
        if kind in ("binary",):
            self._broadcast(node, name, *args)
            return impl(*args)
        if kind == "minmax":
            if len(args) == 1:
                if not shape_of(args[0]) or not math.prod(shape_of(args[0])):
                    raise self._error(node, f"{name}() of one value needs a non-empty array")
                return (np.max if name == "max" else np.min)(args[0])
            self._broadcast(node, name, *args)
            result = args[0]
            for other in args[1:]:
                result = impl(result, other)
            return result
        if kind == "reduce":
            axis = kwargs.get("axis")
            ndim = np.ndim(args[0])
            if axis is not None and not -max(ndim, 1) <= axis < max(ndim, 1):
                raise self._error(node, f"axis {axis} is out of range for a value of shape "
                                        f"{fmt_shape(shape_of(args[0]))}")
            if ndim == 0:  # a scalar's one axis is itself: numpy's sum takes axis=0 here, its mean does not
                kwargs["axis"] = None
            return impl(args[0], **kwargs)
        return impl(args[0])

    def _scatter(self, node: ast.Call) -> Value:
        """``scatter(x[key], g)``: zeros shaped like ``x``, with ``g`` at ``x[key]`` (the way
        a gradient flows back through a subscript)."""
        self._keywords(node, (), "scatter")
        if len(node.args) != 2 or any(isinstance(a, ast.Starred) for a in node.args):
            raise self._error(node, f"scatter takes 2 arguments, as in scatter(x[0], g), not {len(node.args)}")
        where, given = node.args
        if not isinstance(where, ast.Subscript):
            raise self._error(where, "scatter's first argument is a subscript of the array to scatter "
                                     "into, as in scatter(x[0], g)")
        base = self._value(where.value)
        if not shape_of(base):
            raise self._error(where, "scatter's first argument must index an array, not a number")
        key = self._checked_key(where, base)
        item_shape = np.shape(base[key])
        value = self._value(given)
        try:
            fits = np.broadcast_shapes(shape_of(value), item_shape) == item_shape
        except ValueError:
            fits = False
        if not fits:
            raise self._error(given, f"scatter: a value of shape {fmt_shape(shape_of(value))} does not "
                                     f"fit {fmt_shape(item_shape)}, the shape of the place it goes")
        out = np.zeros(shape_of(base))
        out[key] = value
        return out

    def _random(self, node: ast.Call, name: str) -> Value:
        if self.rng is None:
            raise self._error(node, f"{name} is allowed in inputs and upstream only, so that "
                                    "the forward and backward passes are deterministic")
        self._keywords(node, (), name)
        dims = tuple(self._int(node, a, f"each size given to {name}") for a in self._args(node))
        if any(d < 0 for d in dims):
            raise self._error(node, f"{name} sizes must not be negative, not {fmt_shape(dims)}")
        self._check_size(node, dims, name)
        draw = self.rng.randn if name.endswith("randn") else self.rng.rand
        return draw(*dims)


_DISPATCH: dict[type, Callable[[Walker, Any], Any]] = {
    node_type: getattr(Walker, "_eval_" + node_type.__name__)
    for node_type in (ast.Constant, ast.Name, ast.BinOp, ast.UnaryOp, ast.Compare, ast.List, ast.Subscript,
                      ast.Attribute, ast.Call)
}
