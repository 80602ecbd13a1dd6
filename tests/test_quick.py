"""Lines read without ast (bpstep.core.quick) mean exactly what Python's parser and the walker
make of them: the same statements, the same errors, the same values, bit for bit.

The reference is always the slow path: ``ast.parse`` of the line or of the whole block, and
the walker over that tree. The fast path is switched off by making ``program._quick_body``
decline every block.
"""

from __future__ import annotations

import ast
import itertools
import random
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import bpstep.core.program as program
from bpstep.core import quick
from bpstep.core.records import fields_of, replace
from bpstep.core.engine import run
from bpstep.core.errors import ScenarioError
from bpstep.core.expr import Walker, scan
from bpstep.core.limits import DEFAULT_LIMITS
from bpstep.core.report import json_text
from bpstep.core.scenario import parse
from bpstep.core.source import CodeBlock

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").rglob("*.yaml"))

TARGETS = ["v", "dx", "_a", "x1", "match", "lambda", "None", "np", "abs", "__debug__", "é"]
OPERATORS = ["=", "+=", "-=", "==", "=+", "*="]
OPERANDS = ["x", "y1", "_", "0.5", "-0.5", "1.", ".5", "1e3", "1E-3", "01.5", "00", "0", "10", "-0",
            "9223372036854775808", "-.5e-3", "exp", "1e400", "-9223372036854775808",
            # not of the shape
            "-x", "+x", "- 0.5", "007", "9223372036854775809", "1_000", "0x10", "1j", "True", "None",
            "np", "abs", "1.5x", "1.2.3", "1e", "é", "x.T", "(x)"]
BINARY = ["+", "-", "*", "/", "**", "//", "@", "%", "<"]
SPACES = ["", " ", "\t", "  "]
ENDINGS = ["", " ", " # c", "#(3)", " #(3) ", "#(3)x", "# 'q' #(4)", " # (5)", " #(٣)", " \\", ")", ";", ",",
           " # é"]


def lines(count: int, seed: int = 8) -> list[str]:
    """Near misses around the quick shape, and the shape itself: each piece is one of the
    shape's (the first few of each list) most of the time, anything else the rest."""
    rng = random.Random(seed)

    def pick(options: list[str], good: int) -> str:
        return rng.choice(options[:good] if rng.random() < 0.85 else options)

    out = []
    for _ in range(count):
        text = f"{pick(TARGETS, 5)}{pick(SPACES, 4)}{pick(OPERATORS, 2)}{pick(SPACES, 4)}{pick(OPERANDS, 19)}"
        if rng.random() < 0.7:
            text += f"{pick(SPACES, 4)}{pick(BINARY, 4)}{pick(SPACES, 4)}{pick(OPERANDS, 19)}"
        text += pick(ENDINGS, 9)
        if rng.random() < 0.05:
            text = " " + text
        out.append(text)
    return out


RELU = ["np.maximum({a}, {b})", "np.minimum({a},{b})", "np.maximum( {a} , {b} )", "({a} > {b}) * {c}",
        "({a}<={b})*{c}", "{c} * ({a} >= {b})", "{c}*({a} < {b})",
        # not of the shape
        "np.maximum({a}, {b},)", "np.maximum({a})", "np .maximum({a}, {b})", "np.maximum ({a}, {b})",
        "max({a}, {b})", "np.exp({a})", "({a} == {b}) * {c}", "({a} > {b}) / {c}", "({a} > {b} > {c}) * {c}",
        "({a} > {b}) * ({c} > {a})", "(({a} > {b})) * {c}", "({a} > {b}) * {c} * {c}", "np.maximum({a}, {b}) * {c}",
        "({a} > {b}) * {c}[0]", "np.maximum({a}, {b}"]


def relu_lines(count: int, seed: int = 11) -> list[str]:
    """Near misses around relu and its gradient (np.maximum(0, x), (x > 0) * dx), and the
    shapes themselves."""
    rng = random.Random(seed)

    def pick(options: list[str], good: int) -> str:
        return rng.choice(options[:good] if rng.random() < 0.85 else options)

    out = []
    for _ in range(count):
        expression = pick(RELU, 7).format(a=pick(OPERANDS, 19), b=pick(OPERANDS, 19), c=pick(OPERANDS, 19))
        out.append(f"{pick(TARGETS, 5)}{pick(SPACES, 4)}{pick(OPERATORS, 2)}{pick(SPACES, 4)}{expression}"
                   f"{pick(ENDINGS, 9)}")
    return out


def python(line: str) -> ast.stmt | None:
    try:
        body = ast.parse(line).body
    except SyntaxError:
        return None
    return body[0] if len(body) == 1 else None


def dump(node: ast.AST) -> str:
    return ast.dump(node, include_attributes=True)


def test_a_quick_line_is_the_statement_python_reads():
    accepted = declined = 0
    relu = 0
    for line in lines(6000) + relu_lines(4000) + ["v = x", "v = -0.5", "v = 3", "dx += dv", "v=x*y#(2)",
                                                   "v = x * x", "v = np.maximum(x, x)", "v = (x > x) * x"]:
        found = quick.read(line, 1, {})
        if found is None:
            declined += 1
            continue
        accepted += 1
        _, target, op, fast, comment, digits = found
        relu += "(" in line
        statement = python(line)
        assert statement is not None, line  # nothing Python refuses is read as a statement
        if op == "=":
            assert type(statement) is ast.Assign and len(statement.targets) == 1, line
            name = statement.targets[0]
        else:
            assert type(statement) is ast.AugAssign and type(statement.op) is ast.Add, line
            name = statement.target
        assert type(name) is ast.Name and name.id == target, line
        assert dump(fast.node()) == dump(statement.value), line
        reads, depth = scan(statement.value)
        assert (list(fast.reads), fast.depth) == (reads, depth), line
        assert line[:fast.end] == ast.get_source_segment(line, statement), line
        assert comment == (line[line.index("#"):] if "#" in line else None), line
        if digits is not None:
            assert program._marker(comment, None) == int(digits), line
    # both sides of the shape are exercised, not one
    assert accepted > 3500 and declined > 3000 and relu > 1500, (accepted, declined, relu)


SPECIAL = [0.0, -0.0, 1.5, -2.25, 1e308, -1e308, 5e-324, np.inf, -np.inf, np.nan, 3.0]


def test_a_quick_value_is_the_walkers_to_the_bit():
    block = CodeBlock.at("forward", "", 1, 1)
    compared = 0
    with np.errstate(all="ignore"):
        for line in lines(3000, seed=9) + relu_lines(2000, seed=12):
            found = quick.read(line, 1, {})
            if found is None:
                continue
            fast = found[3]
            for a, b in itertools.product(SPECIAL, repeat=2):
                env = {name: np.float64(v) for name, v in (("x", a), ("y1", b), ("_", b))}
                walker = Walker(env, block)
                try:
                    expected = walker.evaluate(fast.node())
                except ScenarioError:
                    assert fast.value(env) is None  # a name not defined: the walker says so
                    continue
                got = fast.value(env)
                assert type(got) is np.float64 and type(expected) is np.float64, line
                assert np.array_equal(got, expected, equal_nan=True) and \
                    np.signbit(got) == np.signbit(expected), (line, a, b)
                assert list(fast.reads) == walker.reads
                compared += 1
    assert compared > 20_000


def test_a_quick_operand_that_is_not_a_number_goes_to_the_walker():
    fast = quick.read("v = x * y", 1, {})[3]
    assert fast.value({"x": np.float64(2), "y": np.ones(3)}) is None
    assert fast.value({"x": np.float64(2)}) is None
    assert fast.value({"x": np.float64(2), "y": np.float64(3)}) == 6.0


def statements(block: CodeBlock, stages: str) -> list[tuple]:
    out = []
    for statement in program.parse_block(block, DEFAULT_LIMITS, stages=stages):
        fields = {k: v for k, v in fields_of(statement).items() if k not in ("quick", "value")}
        out.append((fields, dump(statement.value)))
    return out


def outcome(thunk):
    try:
        return thunk()
    except ScenarioError as exc:
        return ("error", str(exc), exc.line, exc.col)


BLOCKS = [
    "v = x + y #(1)\nw = v * 2\n",
    # a quick-looking line inside brackets is an argument, not a statement
    "v = np.sum(x,\naxis = 0\n)\nw = v * 2",
    "v = np.maximum(0,\nx)\nw = v * 2",
    # a backslash continues its line into the next
    "v = x \\\nw = v * 2",
    "v = x + \\\n  y\nw = v * 2",
    # a string spans lines
    'v = """\nw = x * 2\n"""\nu = v + 1',
    # indentation
    "if x:\n    v = f(x)\nw = x * 2\n    u = g(x)",
    "v = x * 2\n  w = v(x)",
    "  v = x * 2",
    # comments and markers, blank lines
    "v = x * 2 #(3)\n\n# a comment\n  # indented comment\nw = v * 2 # (1)\nu = w + 1 # stage #(2) #(4)",
    "v = x * 2 #(0)",
    "v = x * 2 #(99999999999)",
    "v = x * 2 # 'quoted #(5)' #(6)",
    # names Python or bpstep refuse
    "lambda = x * 2", "v = x * None", "np = x * 2", "v = np * 2", "__debug__ = x * 2",
    "v = x * 2\nv = (x\n", "v = x * 2; w = 3", "v = x = 2", "v : float = x",
    "v = x * 99999999999999999999999", "v = x * 2\nimport os\nw = v * 2",
    "v = 007 * x", "v = x ** 2\nw = v * 2",
    # found by a review: a decorator's line is the decorated def's; integers past int()'s
    # 4,300 digits; a comment Python cannot encode
    "@d\ny = a * a\ndef f(): pass", "@d\ny = a * a #(2)\nclass C: pass", "@d\ny = a * a #(0)\nclass C: pass",
    "v = x * " + "1" * 5000, "v = " + "0" * 5000, "v = x * 2 # \ud800",
]


@pytest.mark.parametrize("text", BLOCKS, ids=lambda text: repr(text[:30]))
@pytest.mark.parametrize("stages", ["forward", "marker", ""])
def test_a_block_is_read_as_python_reads_it_whole(text, stages, monkeypatch):
    block = CodeBlock.at("forward", text, 5, 3)
    fast = outcome(lambda: statements(block, stages))
    monkeypatch.setattr(program, "_quick_body", lambda *args: None)
    assert fast == outcome(lambda: statements(block, stages))


def test_the_tricky_blocks_take_the_quick_path_where_they_can():
    """The comparison above is not between two slow paths: most blocks have quick lines."""
    def quick_body(text: str):
        block = CodeBlock.at("forward", text, 1, 1)
        return program._quick_body(block, block.lines())

    read = [quick_body(text) for text in BLOCKS]
    assert sum(found is not None for found in read) >= 6
    # and the traps are sent to Python's parse of the whole block
    decorated = [text for text in BLOCKS if text.startswith("@d")]
    assert len(decorated) == 3
    for text in [BLOCKS[1], BLOCKS[3], BLOCKS[4], BLOCKS[5]] + decorated:
        assert quick_body(text) is None, text
    assert quick_body(BLOCKS[2]) is not None  # a bracket closed before it


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_a_scenarios_run_is_the_same_without_the_quick_path(path, monkeypatch):
    text = path.read_text(encoding="utf-8")
    fast = outcome(lambda: json_text(run(parse(text, str(path))), check=True))
    monkeypatch.setattr(program, "_quick_body", lambda *args: None)
    assert fast == outcome(lambda: json_text(run(parse(text, str(path))), check=True))


def scalar_graph(stages: int, seed: int) -> str:
    """A scenario of quick lines, like benchmarks/gen_scalar_graph.py's, with the numbers that
    go wrong (signed zeros, overflow, NaN, division by zero)."""
    rng = random.Random(seed)
    inputs = {"x0": "1.5", "x1": "-0.0", "x2": "0.0", "x3": "1e308", "x4": ".nan"}
    names = list(inputs)
    forward, backward = [], []
    for i in range(stages):
        a, b = rng.choice(names), rng.choice(names)
        forward.append(f"v{i} = {a} {rng.choice('+-*/')} {b} #({i + 1})" if rng.random() < 0.8 else
                       f"v{i} = {rng.choice(['-0.5', '2', '-0', '1e308'])} * {a}")
        names.append(f"v{i}")
    for i in reversed(range(stages)):
        backward.append(f"t{i} = {rng.choice(['1.0', '-2', '-0', 'x0'])} * dv{i} #({i + 1})")
        backward.append(f"dx0 {'=' if i == stages - 1 else '+='} t{i} / v{i} #({i + 1})")
        if i:
            backward.append(f"dv{i - 1} = t{i} {rng.choice('+-*/')} {rng.choice(['x0', f'v{i}'])} #({i + 1})")
    return ("bpstep: 1\ntitle: quick\ninputs:\n" + "".join(f"  {n}: {v}\n" for n, v in inputs.items()) +
            "forward: |\n" + "".join(f"  {line}\n" for line in forward) +
            "backward: |\n" + "".join(f"  {line}\n" for line in backward))


@pytest.mark.parametrize("seed", range(6))
def test_a_generated_graph_runs_the_same_without_the_quick_path(seed, monkeypatch):
    text = scalar_graph(60, seed)
    with np.errstate(all="ignore"):
        fast = outcome(lambda: json_text(run(parse(text, "g.yaml")), check=False))
        monkeypatch.setattr(program, "_quick_body", lambda *args: None)
        assert fast == outcome(lambda: json_text(run(parse(text, "g.yaml")), check=False))
    assert fast[0] != "error"


@pytest.mark.parametrize("text", [
    "bpstep: 1\ninputs:\n  x: [1.0, 2.0]\n  y: 3.0\nforward: |\n  v = x * y\n  w = v * 2\nbackward: |\n"
    "  dv = 2 * dw\n  dx = y * dv\n  dy = np.sum(x * dv)\n",
    "bpstep: 1\ninputs:\n  x: 1.0\nforward: |\n  v = x * z\n",
    "bpstep: 1\ninputs:\n  x: 1.0\nforward: |\n  v = -2.0 * x\n  w = v + 1\n",
])
@pytest.mark.parametrize("depth", [1, 2, 100])
def test_arrays_undefined_names_and_the_depth_limit_are_the_walkers(text, depth, monkeypatch):
    limits = replace(DEFAULT_LIMITS, max_depth=depth)
    fast = outcome(lambda: json_text(run(parse(text, "a.yaml", limits=limits), limits), check=False))
    monkeypatch.setattr(program, "_quick_body", lambda *args: None)
    assert fast == outcome(lambda: json_text(run(parse(text, "a.yaml", limits=limits), limits), check=False))


def test_threads_asking_for_one_tree_get_one_object():
    """The TUI's checks ask for trees in a thread beside the UI's (a review: without a lock,
    about one statement in eight got a different tree in each thread)."""
    block = CodeBlock.at("forward", "\n".join(f"v{i} = x * {i}.5" for i in range(20_000)), 1, 1)
    statements = program.parse_block(block, DEFAULT_LIMITS, stages="forward")
    start = threading.Barrier(2)
    seen: list[list[int]] = [[], []]

    def ask(out: list[int]) -> None:
        start.wait()
        out.extend(id(s.value) for s in statements)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=ask, args=(out,)) for out in seen]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert seen[0] == seen[1] == [id(s.value) for s in statements]


def test_a_run_builds_no_syntax_tree_for_quick_lines():
    """What makes the fast path fast: run() reads and evaluates 26 quick statements without
    asking for their trees (a tree is built on demand, and then shared by staged copies)."""
    walk = run(parse(scalar_graph(10, 1), "g.yaml"))
    quick_statements = [s for s in walk.forward + walk.backward if s.quick is not None]
    assert len(quick_statements) > 20
    assert all("value" not in fields_of(s) for s in quick_statements)
    statement = quick_statements[0]
    copy = statement.with_stage(statement.stage + 1)
    assert copy.value is statement.value and isinstance(copy.value, ast.expr)
    with pytest.raises(AttributeError):
        statement.no_such_field  # noqa: B018


@pytest.mark.parametrize("origins", [(), ((5, 3),), ((5, 3), (6, 3))])
def test_a_block_with_fewer_origins_than_lines_places_quick_lines_as_the_parser_does(origins, monkeypatch):
    """A block's origins give each line's place in the file; a block given fewer (none, one)
    places its lines where block.position puts them, on either path."""
    block = CodeBlock("forward", "a = x * 2\nb = a + 1 #(7)\nc = b", origins)
    fast = [(s.target, s.line, s.col, s.marker) for s in program.parse_block(block, DEFAULT_LIMITS)]
    monkeypatch.setattr(program, "_quick_body", lambda *args: None)
    assert fast == [(s.target, s.line, s.col, s.marker) for s in program.parse_block(block, DEFAULT_LIMITS)]
    assert [place[1:3] for place in fast] == [block.position(n) for n in (1, 2, 3)]
