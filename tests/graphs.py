"""Random forward passes over the whole expression language, for the property tests.

A generated program is bpstep code *and* an independent numpy function computing the same
thing (never bpstep's walker), so the derived gradients can be compared with central
differences of the numpy function. Every kink (max/min, abs, sign, comparisons) records which
branch it took, so that a test can reject a graph whose nudged evaluations cross a kink.

Every choice goes through a source: ``Drawn`` (hypothesis' ``data``, so that failures shrink) or
``Seeded`` (a ``random.Random``, for a fixed corpus). Hypothesis' choices depend on process state
(it mixes literals from every local module in ``sys.modules`` into its draws, so the graphs
differ between a lone run and the full suite); a seeded corpus is the same in every process.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from hypothesis import strategies as st

SHAPES = [(), (2,), (3,), (2, 3), (3, 2)]
LIMIT = 1e4  # values beyond this (or not finite) reject the graph


class Reject(Exception):
    """The graph left its safe domain (overflow, or a kink crossed)."""


def _check(value):
    value = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(value)) or np.any(np.abs(value) > LIMIT):
        raise Reject
    return value if value.ndim else np.float64(value)


@dataclass
class Ex:
    code: str
    fn: Callable  # fn(env, record) -> value; record collects kink decisions
    shape: tuple
    atomic: bool = False

    @property
    def par(self) -> str:
        return self.code if self.atomic else f"({self.code})"


@dataclass
class Program:
    inputs: dict
    statements: list  # (target, op, Ex)
    output: str
    upstream: object
    kinds: set = field(default_factory=set)

    @property
    def forward(self) -> str:
        return "\n".join(f"{t} {op} {e.code}" for t, op, e in self.statements)

    def evaluate(self, env: dict, record: list):
        env = dict(env)
        for target, op, ex in self.statements:
            value = ex.fn(env, record)
            env[target] = _check(env[target] + value if op == "+=" else value)
        return env[self.output]

    def total(self, env: dict, record: list) -> float:
        return float(np.sum(np.multiply(self.upstream, self.evaluate(env, record))))


def _sub_shapes(shape):
    if not shape:
        return [()]
    if len(shape) == 1:
        return [shape, (), (1,)]
    n, m = shape
    return [shape, (), (m,), (1, m), (n, 1)]


class Drawn:
    """Choices drawn through hypothesis' ``data`` (``st.data()``), so that failures shrink."""

    def __init__(self, data):
        self.data = data

    def int(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))

    def floats(self, lo: float, hi: float, n: int) -> list:
        return self.data.draw(st.lists(st.floats(lo, hi), min_size=n, max_size=n))


class Seeded:
    """Choices from ``random.Random(seed)``: the same program for a seed in every process."""

    def __init__(self, seed: int):
        self.random = random.Random(seed)

    def int(self, lo: int, hi: int) -> int:
        return self.random.randint(lo, hi)

    def floats(self, lo: float, hi: float, n: int) -> list:
        return [self.random.uniform(lo, hi) for _ in range(n)]


class Builder:
    """Draws one program's choices from a source (``Drawn`` or ``Seeded``)."""

    def __init__(self, source):
        self.source = source
        self.vars: dict[str, tuple] = {}
        self.kinds: set[str] = set()

    def int(self, lo, hi):
        return self.source.int(lo, hi)

    def pick(self, seq):
        return seq[self.int(0, len(seq) - 1)]

    # -- leaves ---------------------------------------------------------------------------------
    def leaf(self, shape) -> Ex:
        options = []
        same = [n for n, s in self.vars.items() if s == shape]
        if same:
            options += ["var"] * 4
        if shape == ():
            options += ["const", "item", "item"]
        else:
            options.append("list")
        if len(shape) == 2 and any(s == shape[::-1] for s in self.vars.values()):
            options.append("T")
        kind = self.pick(options)
        if kind == "var":
            name = self.pick(same)
            return Ex(name, lambda env, r: env[name], shape, True)
        if kind == "const":
            text, value = self.pick([("0.5", 0.5), ("2", 2.0), ("1.5", 1.5), ("3", 3.0), ("np.pi", np.pi)])
            return Ex(text, lambda env, r: np.float64(value), (), True)
        if kind == "item":
            arrays = [(n, s) for n, s in self.vars.items() if s]
            if not arrays:
                return self.leaf_const()
            name, s = self.pick(arrays)
            idx = [self.int(-d, d - 1) for d in s]
            if len(idx) == 1:
                code, key = f"{name}[{idx[0]}]", idx[0]
                return Ex(code, lambda env, r: env[name][key], (), True)
            if self.int(0, 1):
                code = f"{name}[{idx[0]}, {idx[1]}]"
            else:
                code = f"{name}[{idx[0]}][{idx[1]}]"
            return Ex(code, lambda env, r: env[name][idx[0]][idx[1]], (), True)
        if kind == "T":
            name = self.pick([n for n, s in self.vars.items() if s == shape[::-1]])
            self.kinds.add("transpose")
            return Ex(f"{name}.T", lambda env, r: env[name].T, shape, True)
        return self.list_of(shape, 0)

    def leaf_const(self) -> Ex:
        return Ex("0.5", lambda env, r: np.float64(0.5), (), True)

    def list_of(self, shape, depth) -> Ex:
        items = [self.expr(shape[1:], depth) for _ in range(shape[0])]
        self.kinds.add("list")
        return Ex("[" + ", ".join(i.code for i in items) + "]",
                  lambda env, r: np.array([i.fn(env, r) for i in items], dtype=np.float64), shape, True)

    # -- composite expressions ----------------------------------------------------------------
    def expr(self, shape, depth) -> Ex:
        if depth <= 0 or self.int(0, 4) == 0:
            return self.leaf(shape)
        makers = [self.unary, self.binary, self.binary, self.matmul, self.reduce, self.subscript,
                  self.misc]
        if shape:
            makers.append(lambda s, d: self.list_of(s, d - 1))
        if len(shape) == 2:
            makers.append(self.transposed)
        return self.pick(makers)(shape, depth)

    def positive(self, shape, depth) -> Ex:
        e = self.expr(shape, depth - 1)
        kind = self.pick(["sq1", "exp", "abs", "sigmoid"])
        self.kinds.add("positive-" + kind)
        if kind == "sq1":
            return Ex(f"1 + {e.par}**2", lambda env, r: 1 + e.fn(env, r) ** 2, shape)
        if kind == "exp":
            return Ex(f"np.exp({e.code})", lambda env, r: np.exp(e.fn(env, r)), shape, True)
        if kind == "abs":
            def fn(env, r):
                v = e.fn(env, r)
                r.append(np.sign(v))
                return np.abs(v) + 0.5
            return Ex(f"np.abs({e.code}) + 0.5", fn, shape)
        return Ex(f"1.0 / (1 + np.exp(-{e.par}))", lambda env, r: 1 / (1 + np.exp(-e.fn(env, r))), shape)

    def unary(self, shape, depth) -> Ex:
        kind = self.pick(["neg", "pos", "exp", "tanh", "sigmoid", "log", "sqrt", "abs", "sq", "cube",
                          "half", "recip", "math"])
        self.kinds.add(kind)
        if kind in ("log", "sqrt", "half", "recip"):
            p = self.positive(shape, depth)
            table = {"log": (f"np.log({p.code})", np.log, True), "sqrt": (f"np.sqrt({p.code})", np.sqrt, True),
                     "half": (f"({p.code})**0.5", lambda v: v ** 0.5, False),
                     "recip": (f"1.0 / ({p.code})", lambda v: 1.0 / v, False)}
            code, f, atomic = table[kind]
            return Ex(code, lambda env, r: f(p.fn(env, r)), shape, atomic)
        e = self.expr(shape, depth - 1)
        if kind == "math":
            if shape:
                kind = "tanh"
            else:
                name = self.pick(["exp", "tanh"])
                return Ex(f"math.{name}({e.code})", lambda env, r: getattr(np, name)(e.fn(env, r)), (), True)
        if kind == "neg":
            return Ex(f"-{e.par}", lambda env, r: -e.fn(env, r), shape)
        if kind == "pos":
            return Ex(f"+{e.par}", lambda env, r: e.fn(env, r), shape)
        if kind == "exp":
            return Ex(f"np.exp({e.code})", lambda env, r: np.exp(e.fn(env, r)), shape, True)
        if kind == "tanh":
            return Ex(f"np.tanh({e.code})", lambda env, r: np.tanh(e.fn(env, r)), shape, True)
        if kind == "sigmoid":
            form = self.pick(["1.0 / (1 + np.exp(-{z}))", "1 / (np.exp(-{z}) + 1)"])
            return Ex(form.replace("{z}", e.par), lambda env, r: 1 / (1 + np.exp(-e.fn(env, r))), shape)
        if kind == "abs":
            def fn(env, r):
                v = e.fn(env, r)
                r.append(np.sign(v))
                return np.abs(v)
            return Ex(f"{self.pick(['abs', 'np.abs'])}({e.code})", fn, shape, True)
        if kind == "sq":
            return Ex(f"{e.par}**2", lambda env, r: e.fn(env, r) ** 2, shape)
        return Ex(f"{e.par}**3", lambda env, r: e.fn(env, r) ** 3, shape)

    def binary(self, shape, depth) -> Ex:
        subs = _sub_shapes(shape)
        s1, s2 = self.pick(subs), self.pick(subs)
        try:
            ok = np.broadcast_shapes(s1, s2) == tuple(shape)
        except ValueError:
            ok = False
        if not ok:
            s1, s2 = (shape, s2) if self.int(0, 1) else (s1, shape)
        kind = self.pick(["+", "-", "*", "*", "/", "maximum", "minimum", "max", "min", "relu", "cmp",
                          "powvar", "twice"])
        self.kinds.add(kind)
        a = self.expr(s1, depth - 1)
        if kind == "/":
            b = self.positive(s2, depth)
            return Ex(f"{a.par} / ({b.code})", lambda env, r: a.fn(env, r) / b.fn(env, r), shape)
        if kind == "powvar":
            base = self.positive(s1, depth)
            b = self.expr(s2, depth - 1)
            return Ex(f"({base.code}) ** np.tanh({b.code})",
                      lambda env, r: base.fn(env, r) ** np.tanh(b.fn(env, r)), shape)
        if kind == "twice":
            a = self.expr(shape, depth - 1)
            return Ex(f"{a.par} * {a.par}", lambda env, r: a.fn(env, r) * a.fn(env, r), shape)
        if kind == "relu":
            a = self.expr(shape, depth - 1)
            code = self.pick(["np.maximum(0, {a})", "np.maximum({a}, 0)", "max({a}, 0)"]).replace("{a}", a.code)
            return Ex(code, _extreme(np.maximum, [lambda env, r: np.float64(0.0), a.fn]), shape, True)
        b = self.expr(s2, depth - 1)
        if kind == "cmp":
            c = self.expr(shape, depth - 1)
            op = self.pick([">", "<", ">=", "<="])
            cmp = {">": np.greater, "<": np.less, ">=": np.greater_equal, "<=": np.less_equal}[op]

            def fn(env, r):
                test = cmp(a.fn(env, r), b.fn(env, r))
                r.append(test)
                return test * c.fn(env, r)
            return Ex(f"({a.par} {op} {b.par}) * {c.par}", fn, shape)
        if kind in ("maximum", "minimum", "max", "min"):
            f = np.maximum if kind in ("maximum", "max") else np.minimum
            parts = [a, b]
            if kind in ("max", "min") and self.int(0, 1):
                parts.append(self.expr((), depth - 1))
            name = f"np.{kind}" if kind in ("maximum", "minimum") else kind
            return Ex(f"{name}({', '.join(p.code for p in parts)})", _extreme(f, [p.fn for p in parts]),
                      shape, True)
        ops = {"+": np.add, "-": np.subtract, "*": np.multiply}
        return Ex(f"{a.par} {kind} {b.par}", lambda env, r: ops[kind](a.fn(env, r), b.fn(env, r)), shape)

    def matmul(self, shape, depth) -> Ex:
        m = self.pick([2, 3])
        if len(shape) == 2:
            sa, sb = (shape[0], m), (m, shape[1])
        elif len(shape) == 1:
            sa, sb = ((shape[0], m), (m,)) if self.int(0, 1) else ((m,), (m, shape[0]))
        else:
            if self.int(0, 2) == 0:
                s = self.pick(SHAPES)
                a, b = self.expr((), depth - 1), self.expr(s, depth - 1)
                self.kinds.add("dot-scalar")
                if s:
                    return self.unary(shape, depth)
                return Ex(f"np.dot({a.code}, {b.code})", lambda env, r: np.dot(a.fn(env, r), b.fn(env, r)), (), True)
            sa, sb = (m,), (m,)
        a, b = self.expr(sa, depth - 1), self.expr(sb, depth - 1)
        style = self.pick([".dot", "@", "np.dot"])
        self.kinds.add("dot" + style)
        fn = lambda env, r: np.dot(a.fn(env, r), b.fn(env, r))  # noqa: E731
        if style == ".dot":
            return Ex(f"{a.par}.dot({b.code})", fn, shape, True)
        if style == "@":
            return Ex(f"{a.par} @ {b.par}", fn, shape)
        return Ex(f"np.dot({a.code}, {b.code})", fn, shape, True)

    def reduce(self, shape, depth) -> Ex:
        mean = self.int(0, 1) == 1
        name = "mean" if mean else "sum"
        f = np.mean if mean else np.sum
        if shape == ():
            s = self.pick([s for s in SHAPES if s])
            e = self.expr(s, depth - 1)
            kind = self.pick(["np", "method", "max", "min", "axisnone"])
            self.kinds.add("reduce-" + kind)
            if kind in ("max", "min"):
                g = np.max if kind == "max" else np.min

                def fn(env, r):
                    v = e.fn(env, r)
                    r.append(v == g(v))
                    return g(v)
                return Ex(f"{kind}({e.code})", fn, (), True)
            code = {"np": f"np.{name}({e.code})", "method": f"{e.par}.{name}()",
                    "axisnone": f"np.{name}({e.code}, axis=None)"}[kind]
            return Ex(code, lambda env, r: f(e.fn(env, r)), (), True)
        if len(shape) == 1:
            m = self.pick([2, 3])
            if self.int(0, 1):
                e, axis, text = self.expr((shape[0], m), depth - 1), 1, self.pick(["1", "-1"])
            else:
                e, axis, text = self.expr((m, shape[0]), depth - 1), 0, "0"
            self.kinds.add(f"reduce-axis{axis}")
            code = f"{e.par}.{name}(axis={text})" if self.int(0, 1) else f"np.{name}({e.code}, axis={text})"
            return Ex(code, lambda env, r: f(e.fn(env, r), axis=axis), shape, True)
        if 1 in shape:
            axis = shape.index(1)
            src = list(shape)
            src[axis] = self.pick([2, 3])
            e = self.expr(tuple(src), depth - 1)
            self.kinds.add("reduce-keepdims")
            return Ex(f"{e.par}.{name}(axis={axis}, keepdims=True)",
                      lambda env, r: f(e.fn(env, r), axis=axis, keepdims=True), shape, True)
        return self.unary(shape, depth)

    def transposed(self, shape, depth) -> Ex:
        e = self.expr(shape[::-1], depth - 1)
        self.kinds.add("transpose")
        return Ex(f"{e.par}.T", lambda env, r: e.fn(env, r).T, shape, True)

    def subscript(self, shape, depth) -> Ex:
        self.kinds.add("index")
        if shape == ():
            s = self.pick([s for s in SHAPES if s])
            e = self.expr(s, depth - 1)
            idx = tuple(self.int(-d, d - 1) for d in s)
            code = f"{e.par}[{', '.join(map(str, idx))}]"
            return Ex(code, lambda env, r: e.fn(env, r)[idx], (), True)
        if len(shape) == 1:
            n = shape[0]
            options = ["col", "row"] + (["slice"] if n == 2 else []) + ["reverse"]
            kind = self.pick(options)
            if kind == "col":
                m = self.pick([2, 3])
                e, j = self.expr((n, m), depth - 1), self.int(0, m - 1)
                return Ex(f"{e.par}[:, {j}]", lambda env, r: e.fn(env, r)[:, j], shape, True)
            if kind == "row":
                m = self.pick([2, 3])
                e, i = self.expr((m, n), depth - 1), self.int(-m, m - 1)
                return Ex(f"{e.par}[{i}]", lambda env, r: e.fn(env, r)[i], shape, True)
            if kind == "slice":
                e = self.expr((3,), depth - 1)
                text, key = self.pick([("1:", slice(1, None)), (":2", slice(None, 2)), ("::2", slice(None, None, 2)),
                                       ("-2:", slice(-2, None))])
                return Ex(f"{e.par}[{text}]", lambda env, r: e.fn(env, r)[key], shape, True)
            e = self.expr(shape, depth - 1)
            return Ex(f"{e.par}[::-1]", lambda env, r: e.fn(env, r)[::-1], shape, True)
        e = self.expr(shape, depth - 1)
        text, key = self.pick([("::-1", slice(None, None, -1)), (":, ::-1", (slice(None), slice(None, None, -1)))])
        return Ex(f"{e.par}[{text}]", lambda env, r: e.fn(env, r)[key], shape, True)

    def misc(self, shape, depth) -> Ex:
        kind = self.pick(["shape", "ones_like", "sign", "outer", "expand_dims", "scatter"])
        if kind == "outer" and len(shape) != 2:
            kind = "shape"
        if kind == "expand_dims" and len(shape) != 2:
            kind = "sign"
        if kind == "scatter" and not shape:
            kind = "ones_like"
        self.kinds.add(kind)
        if kind == "shape":
            arrays = [(n, s) for n, s in self.vars.items() if s]
            e = self.expr(shape, depth - 1)
            if not arrays:
                return e
            name, s = self.pick(arrays)
            return Ex(f"{e.par} / {name}.shape[0]", lambda env, r: e.fn(env, r) / s[0], shape)
        if kind in ("ones_like", "sign"):
            a, b = self.expr(shape, depth - 1), self.expr(self.pick(_sub_shapes(shape)), depth - 1)

            def fn(env, r):
                v = a.fn(env, r)
                if kind == "sign":
                    r.append(np.sign(v))
                    return np.sign(v) * b.fn(env, r)
                return np.ones_like(v) * b.fn(env, r)
            return Ex(f"np.{kind}({a.code}) * {b.par}", fn, shape)
        if kind == "outer":
            a, b = self.expr((shape[0],), depth - 1), self.expr((shape[1],), depth - 1)
            return Ex(f"np.outer({a.code}, {b.code})", lambda env, r: np.outer(a.fn(env, r), b.fn(env, r)),
                      shape, True)
        if kind == "expand_dims":  # (n,) -> (1, n) or (n, 1), broadcast against (n, m) if need be
            axis = shape.index(1) if 1 in shape else self.int(0, 1)
            e = self.expr((shape[1 - axis],), depth - 1)
            text = self.pick([str(axis), str(axis - 2)])
            code = f"np.expand_dims({e.code}, {text})"
            if shape[axis] == 1:
                return Ex(code, lambda env, r: np.expand_dims(e.fn(env, r), axis), shape, True)
            other = self.expr(shape, depth - 1)
            return Ex(f"{code} * {other.par}",
                      lambda env, r: np.expand_dims(e.fn(env, r), axis) * other.fn(env, r), shape)
        # scatter(x[i], g): an array shaped like x, zero except g at x[i]
        base = self.expr(shape, depth - 1)
        i = self.int(0, shape[0] - 1)
        g = self.expr(shape[1:], depth - 1)

        def fn(env, r):
            out = np.zeros(shape)
            base.fn(env, r)
            out[i] = g.fn(env, r)
            return out
        return Ex(f"scatter({base.par}[{i}], {g.code})", fn, shape, True)


def _extreme(f, fns):
    def fn(env, r):
        values = [v(env, r) for v in fns]
        result = values[0]
        for v in values[1:]:
            result = f(result, v)
        r.extend(np.equal(v, result) for v in values)  # which arguments attain the extreme
        return result
    return fn


def program(source) -> Program:
    """Draw one random program from ``source`` (``Drawn`` or ``Seeded``): inputs, 1 to 4
    statements (some re-binding names), upstream."""
    b = Builder(source)
    inputs = {}
    for k in range(b.int(1, 3)):
        shape = b.pick(SHAPES)
        values = np.round(np.asarray(source.floats(-1.5, 1.5, int(np.prod(shape)))), 3)
        inputs[f"x{k}"] = values.reshape(shape) if shape else np.float64(values[0])
        b.vars[f"x{k}"] = shape
    statements = []
    for k in range(b.int(1, 4)):
        form = b.pick(["new", "new", "rebind", "augment"])
        if form == "new" or not statements and form == "augment":
            target, shape, op = f"t{k}", b.pick(SHAPES), "="
            ex = b.expr(shape, b.int(1, 3))
        elif form == "rebind":
            target = b.pick(list(b.vars))
            shape, op = b.pick(SHAPES), "="
            ex = b.expr(shape, b.int(1, 3))
        else:
            target = b.pick(list(b.vars))
            shape, op = b.vars[target], "+="
            ex = b.expr(b.pick(_sub_shapes(shape)), b.int(1, 3))
            b.kinds.add("augment")
        statements.append((target, op, ex))
        b.vars[target] = shape
    output = statements[-1][0]
    out_shape = b.vars[output]
    up = np.round(np.asarray(source.floats(-1.0, 1.0, int(np.prod(out_shape)))), 3)
    upstream = up.reshape(out_shape) if out_shape else float(up[0])
    return Program(inputs, statements, output, upstream, b.kinds)
