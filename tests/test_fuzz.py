"""Fuzzing: random YAML documents and random expression texts through the loader and the
walker. Nothing but the project's own ScenarioError may escape (fixed seed, bounded time)."""

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpstep.core.engine import run_text
from bpstep.core.errors import ScenarioError

FUZZ = settings(max_examples=400, derandomize=True, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

TOKENS = [
    "x", "y", "W", "v", "f", "np", "math", "np.exp", "np.log", "math.sqrt", "np.maximum", "np.dot",
    "np.sum", "np.random.randn", "np.ctypeslib", "abs", "max", "min", "open", "__import__", "getattr",
    ".T", ".shape", ".dot", ".sum", ".mean", ".__class__", ".__dict__", "(", ")", "[", "]", ",", ":",
    "+", "-", "*", "/", "**", "@", "<", ">=", "==", "%", "//", "not", "and", "if", "else", "lambda",
    "for", "in", "0", "1", "2", "3.5", "-1", "1e308", "9", "'s'", "f'{x}'", "axis=0", "keepdims=True",
    "out=x", "*W.shape", "**", ":=", "None", "True", " ", "#(2)", "\\", "\n",
]

INPUTS = "inputs:\n  x: 2.0\n  y: -1.5\n  v: [1, 2, 3]\n  W: [[1, 2, 3], [4, 5, 6]]\n"


def scenario_with(expression: str) -> str:
    code = "\n".join("  " + line for line in ("f = " + expression).split("\n"))
    return f"bpstep: 1\ntitle: fuzz\n{INPUTS}forward: |\n{code}\n"


def must_only_raise_scenario_errors(text: str) -> None:
    try:
        run_text(text, "fuzz.yaml")
    except ScenarioError as exc:
        assert exc.line >= 1 and exc.col >= 1
        assert "\n" not in exc.format()


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=25))
def test_random_token_expressions(tokens):
    must_only_raise_scenario_errors(scenario_with("".join(tokens)))


@FUZZ
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60))
def test_random_text_expressions(text):
    must_only_raise_scenario_errors(scenario_with(text))


def _expression():
    leaves = st.sampled_from(["x", "y", "v", "W", "2", "0.5", "-3", "v[0]", "W.T", "W[1, :]"])

    def extend(children):
        binary = st.tuples(children, st.sampled_from(["+", "-", "*", "/", "**", "@", "<", ">="]), children)
        return st.one_of(
            binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(["np.exp", "np.log", "np.sqrt", "np.tanh", "abs", "np.sum",
                                       "np.mean", "-"]), children).map(lambda t: f"{t[0]}({t[1]})"),
            st.tuples(children, children).map(lambda t: f"np.maximum({t[0]}, {t[1]})"),
            st.tuples(children, children).map(lambda t: f"{t[0]}.dot({t[1]})"),
            st.tuples(children, st.sampled_from(["0", "1", "-1", "None"])).map(
                lambda t: f"{t[0]}.sum(axis={t[1]})"),
            st.lists(children, min_size=1, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        )

    return st.recursive(leaves, extend, max_leaves=12)


@FUZZ
@given(_expression())
def test_random_well_formed_expressions(expression):
    must_only_raise_scenario_errors(scenario_with(expression))


YAML_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                         st.floats(allow_nan=True), st.text(max_size=20))
YAML_VALUES = st.recursive(YAML_SCALARS, lambda c: st.one_of(
    st.lists(c, max_size=4), st.dictionaries(st.text(max_size=8), c, max_size=4)), max_leaves=15)
KEYS = st.sampled_from(["bpstep", "title", "about", "seed", "inputs", "forward", "output",
                        "upstream", "backward", "other"])


@FUZZ
@given(st.dictionaries(KEYS, YAML_VALUES, max_size=9))
def test_random_yaml_documents(doc):
    must_only_raise_scenario_errors(yaml.safe_dump(doc))


@FUZZ
@given(st.dictionaries(KEYS, YAML_VALUES, max_size=9), st.integers(0, 400), st.text(max_size=12))
def test_random_yaml_with_damage(doc, where, junk):
    text = "bpstep: 1\ntitle: t\n" + yaml.safe_dump(doc)
    where = min(where, len(text))
    must_only_raise_scenario_errors(text[:where] + junk + text[where:])


@FUZZ
@given(st.text(max_size=200))
def test_random_text_documents(text):
    must_only_raise_scenario_errors(text)
