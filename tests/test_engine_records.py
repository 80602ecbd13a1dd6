"""The engine's records are built by hand-written constructors, as plain objects that then
become frozen (bpstep.core.records: a generic initialiser, setting each field past the frozen
guard, takes several times as long for a step's 15 fields). They must stay what the record declares:
same fields, same defaults, still frozen, and without an instance dict. And the fast ways to the JSON
document and the final state give what the plain ways give."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest
from counting import counting
from pieces_support import tanh_chain, written_and_peak

from bpstep.core.engine import CacheEntry, Read, Step, load_walk, run_text
from bpstep.core.program import Statement
from bpstep.core import report
from bpstep.core.records import FrozenInstanceError, field_defaults, field_names, fields_of, replace
from bpstep.core.report import json_chunks, json_report, json_text

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.mark.parametrize("cls", [Statement, Step, CacheEntry, Read])
def test_initialiser_matches_the_declared_fields(cls):
    params = list(inspect.signature(cls).parameters.values())  # (its __new__, less cls)
    assert tuple(p.name for p in params) == field_names(cls) == cls.__slots__
    assert list(cls.__annotations__) == list(field_names(cls))
    defaults = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
    assert defaults == field_defaults(cls)  # as declared in the class body
    built = cls(**{p.name: object() for p in params if p.default is inspect.Parameter.empty})
    assert {name: getattr(built, name) for name in defaults} == defaults


def test_every_record_of_a_walk_is_frozen_slotted_and_rebuilt_equal():
    """Every record of a walk (the scenario has quick lines and lines Python parses) is its
    frozen class, holds no instance dict (a 10,000-stage walk has 66,000 records), equals the
    record its initialiser builds from its fields, and takes no assignment."""
    walk = load_walk(str(SCENARIOS / "twolayer.yaml"))
    quick_lines = [s for s in walk.forward + walk.backward if s.quick is not None]
    parsed = [s for s in walk.forward + walk.backward if s.quick is None]
    assert quick_lines and parsed
    for record in (*walk.forward, *walk.backward, *walk.steps, *walk.cache, *(r for s in walk.steps for r in s.reads)):
        cls = type(record)
        assert cls in (Statement, Step, CacheEntry, Read) and not hasattr(record, "__dict__")
        fields = {name: getattr(record, name) for name in field_names(cls)}
        assert cls(**fields) == record
        for name in field_names(cls):
            with pytest.raises(FrozenInstanceError):
                setattr(record, name, 0)
    unbuilt = [s for s in load_walk(str(SCENARIOS / "complex.yaml")).forward if "value" not in fields_of(s)]
    assert unbuilt and all(s.value is s.quick.node() for s in unbuilt)  # built when asked for, once
    assert all("value" in fields_of(s) for s in unbuilt)


def test_a_staged_copy_has_every_field_and_shares_an_unbuilt_tree():
    walk = load_walk(str(SCENARIOS / "complex.yaml"))
    statement = next(s for s in walk.forward if s.quick is not None)
    assert "value" not in fields_of(statement)
    copy = statement.with_stage(statement.stage + 5)
    assert type(copy) is Statement and copy.stage == statement.stage + 5
    assert {k: v for k, v in fields_of(copy).items() if k != "stage"} == \
        {k: v for k, v in fields_of(statement).items() if k != "stage"}
    assert copy.value is statement.value  # one tree for both, built once by their Quick
    with pytest.raises(FrozenInstanceError):
        copy.stage = 1


def test_records_stay_frozen_and_comparable():
    walk = load_walk(str(SCENARIOS / "complex.yaml"))
    step, entry, statement = walk.steps[0], walk.cache[0], walk.backward[0]
    for record, name in ((step, "after"), (entry, "value"), (statement, "stage"), (step.reads[0], "kind")):
        with pytest.raises(FrozenInstanceError):
            setattr(record, name, 0)
        assert record == replace(record)
    assert statement.with_stage(3).stage == 3 and statement.stage == 8
    assert replace(step, index=99) != step
    assert hash(step.reads[0]) == hash(Read(step.reads[0].name, step.reads[0].kind))


def test_final_state_is_the_state_at_the_end():
    for name in ("complex.yaml", "matmul.yaml", "sigmoid.yaml"):
        walk = load_walk(str(SCENARIOS / name))
        expected = walk.gradients_at(walk.total)
        got = walk.final_state()
        assert list(got) == list(expected)
        assert all(got[name] is value for name, value in expected.items())


@pytest.mark.parametrize("name", ["complex.yaml", "matmul.yaml", "twolayer.yaml"])
def test_fast_json_is_the_plain_encoding_byte_for_byte(name):
    """numbers straight to json's C encoder, against the encoding of every value by encode()"""
    walk = load_walk(str(SCENARIOS / name))
    assert json_text(walk) == json.dumps(json_report(walk), allow_nan=False) + "\n"
    assert '"x": 3.0' in json_text(load_walk(str(SCENARIOS / "complex.yaml")), check=False)


NON_FINITE = ("bpstep: 1\ntitle: t\ninputs: {x: 0.0, v: [1.0, 2.0]}\nforward: |\n  y = 1.0 / x\n  z = y * x\n"
              "  w = v * z\nbackward: |\n  dv = z * dw\n  dz = np.sum(v * dw)\n  dy = x * dz\n  dx = y * dz\n")


@pytest.mark.parametrize("chunk", [1, 3, 40, report.CHUNK_NUMBERS])
@pytest.mark.parametrize("name", ["complex.yaml", "matmul.yaml", "twolayer.yaml", "sigmoid.yaml", None])
def test_json_in_pieces_is_the_whole_document_byte_for_byte(name, chunk, monkeypatch):
    """Pieces of any size (a NaN or an infinity in some of them, not others) join to exactly
    json.dumps of the document built with encode() for every value."""
    monkeypatch.setattr(report, "CHUNK_NUMBERS", chunk)
    walk = load_walk(str(SCENARIOS / name)) if name else run_text(NON_FINITE)
    pieces = list(json_chunks(walk))
    assert "".join(pieces) == json.dumps(json_report(walk), allow_nan=False) + "\n"
    if chunk == 1:  # every step in a piece of its own
        assert len(pieces) > len(walk.steps)


UNICODE = ("bpstep: 1\ntitle: \"\u00fcn\u00ef \\\"quoted\\\" \\\\ \u6570\"\ninputs: {\u00e9: 1.5, \u6570: -0.0, big: 1e308}\n"
           "forward: |\n  \u00fc = \u00e9 * \u6570\n  w = \u00fc + 1e-300 * big\n  z = w * 0.1\n  z = z * 3\n"
           "backward: |\n  dz_1 = 3 * dz\n  dw = 0.1 * dz_1\n  d\u00fc = dw\n  d\u00e9 = \u6570 * d\u00fc\n"
           "  d\u6570 = \u00e9 * d\u00fc\n  dbig = 1e-300 * dw\n  dbig += 5e-324 * dw\n  dbig = 2.5 * dw #(1)\n")


@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 7, report.CHUNK_NUMBERS])
@pytest.mark.parametrize("seed", range(4))
def test_scalars_written_as_text_are_the_encoders_bytes(seed, chunk, monkeypatch):
    """Steps, cache entries and values on scalars are written as text without their dicts
    (report.PlainText): against json.dumps of the dicts, over signed zeros, the smallest
    and largest floats, names that JSON escapes, an '=' that discards contributions, and runs
    with a NaN or an infinity in some of them (built and encoded as before) and not others."""
    from test_quick import scalar_graph  # signed zeros, overflow, NaN, division by zero

    monkeypatch.setattr(report, "CHUNK_NUMBERS", chunk)
    for text in (scalar_graph(40, seed), UNICODE):
        with np.errstate(all="ignore"):
            walk = run_text(text)
        pieces = list(json_chunks(walk, check=False))
        written, expected = "".join(pieces), json.dumps(json_report(walk, check=False), allow_nan=False) + "\n"
        at = next((i for i, (x, y) in enumerate(zip(written, expected)) if x != y), None)
        assert at is None and len(written) == len(expected), (written[at - 80:at + 80], expected[at - 80:at + 80])
    assert any(step.overwrites for step in walk.steps) and "\\u6570" in "".join(pieces)


def test_plain_text_is_written_in_pieces_of_a_bounded_number_of_items(monkeypatch):
    """Steps on scalars are written PLAIN_ITEMS to a piece (the memory of one piece is reused by
    the next, not a new 7 MB each time), and the pieces still join to the encoder's document."""
    from test_quick import scalar_graph

    monkeypatch.setattr(report, "PLAIN_ITEMS", 5)
    with np.errstate(all="ignore"):
        walk = run_text(scalar_graph(40, 1))
    pieces = list(json_chunks(walk, check=False))
    assert "".join(pieces) == json.dumps(json_report(walk, check=False), allow_nan=False) + "\n"
    steps = [p for p in pieces if '"index": ' in p]
    assert len(steps) >= len(walk.steps) // 5 and max(p.count('"index": ') for p in steps) <= 5


def test_scalar_steps_are_written_without_their_dicts(monkeypatch):
    """The text path is the one taken for scalars (else the test above compares the dicts'
    encoding with itself); a step on arrays still builds its dict."""
    built = []
    monkeypatch.setattr(report, "step_json", lambda step, enc: built.append(step) or {})
    "".join(json_chunks(load_walk(str(SCENARIOS / "complex.yaml")), check=False))
    assert built == []
    "".join(json_chunks(load_walk(str(SCENARIOS / "matmul.yaml")), check=False))
    assert len(built) > 0


def test_run_json_holds_one_piece_at_a_time_not_the_document(monkeypatch):
    """bpstep run --json on 1,000 steps of 256x256 arrays built 5.8 GB of text and 24x that of
    lists before writing a byte. Written as encoded, the peak is a piece, not the document."""
    monkeypatch.setattr(report, "CHUNK_NUMBERS", 4_000)  # about one array a piece
    walk = run_text(tanh_chain(24))
    written, peak = written_and_peak(lambda: json_chunks(walk, check=False))
    assert written > 8_000_000  # 72 arrays of 3,600 numbers in the steps, 25 more in the cache twice
    assert peak < written / 6, (peak, written)  # a piece in flight: about 1.2 MB


def test_run_json_writes_a_large_array_in_pieces_too(monkeypatch):
    """A bad-input hunt: a piece was at least one step, so one step on 2000x2000 arrays was a
    process of 1.3 GB for 658 MB of JSON. An array larger than a piece is written in rows."""
    monkeypatch.setattr(report, "CHUNK_NUMBERS", 4_000)
    walk = run_text("bpstep: 1\ntitle: big\nseed: 1\ninputs: |\n  x = np.random.randn(400, 400)\n"
                    "forward: |\n  y = x * x\nbackward: |\n  dx = 2 * x * dy\n")
    written, peak = written_and_peak(lambda: json_chunks(walk, check=False))
    assert written > 20_000_000  # 160,000 numbers in each of x, y (twice), dy, the step, dx
    assert peak < written / 20, (peak, written)


def test_json_with_non_finite_numbers_falls_back_to_strings():
    walk = run_text("bpstep: 1\ntitle: t\ninputs: {x: 0.0}\nforward: |\n  y = 1.0 / x\n  z = y * x\n"
                    "backward: |\n  dy = x * dz\n  dx = y * dz\n")
    doc = json.loads(json_text(walk, check=False))
    assert doc["forward"]["y"] == "Infinity" and doc["forward"]["z"] == "NaN"
    assert doc["gradients"]["dx"] == "Infinity"
    dx = next(s for s in doc["steps"] if s["target"] == "dx")
    assert dx["after"] == dx["contribution"] == "Infinity" and dx["before"] is None


def test_an_input_rebound_in_the_inputs_block_is_its_last_value():
    walk = run_text("bpstep: 1\ntitle: t\ninputs: |\n  x = 1.0\n  x += 2.0\nforward: |\n  y = x * 2\n")
    assert [(e.label, float(e.value)) for e in walk.cache] == [("x", 3.0), ("y", 6.0)]
    assert float(walk.final_gradients()["dx"]) == 2.0  # y = 2x


def test_unmarked_gradient_lines_find_their_stage_from_one_index_of_the_readers():
    # dx += 0.001 * dv_i, unmarked, for each of k stages reading x: each line indexed all the
    # stages reading x again (36 s for 20,000 of them)
    from bpstep.core.engine import run_text
    from bpstep.core.program import attribute_backward

    k = 30
    forward = "\n".join(["  v0 = x * 1.0"] + [f"  v{i} = v{i - 1} + x * 0.001" for i in range(1, k + 1)])
    backward = "\n".join(f"  dv{i - 1} = dv{i}\n  dx {'=' if i == k else '+='} 0.001 * dv{i}"
                         for i in range(k, 0, -1)) + "\n  dx += dv0"
    walk = run_text(f"bpstep: 1\ntitle: shared x\ninputs:\n  x: 2\nforward: |\n{forward}\nbackward: |\n{backward}\n",
                    "shared.yaml")
    assert walk.gradients_at(walk.total)["dx"] == pytest.approx(1 + 0.001 * k)  # d v_k / dx, by hand
    stages = {s.code: s.stage for s in walk.backward}
    assert stages["dx += 0.001 * dv5"] == 6 and stages["dx += dv0"] == 1  # the stage reading dv_i's value
    readers = {"x": counting(list)(s for s in walk.forward if "x" in s.reads)}
    attribute_backward(list(walk.backward), list(walk.forward), set(walk.known), lambda: readers)
    assert readers["x"].loops <= 2  # it was one per dx line: 31


def test_marked_backward_lines_never_ask_who_reads_what():
    """The index of readers (20,000 names a 10,000-stage load) is built only for a line
    without a marker; the complex scenario marks every line."""
    from bpstep.core.program import attribute_backward

    walk = load_walk(str(SCENARIOS / "complex.yaml"))
    assert all(s.marker is not None for s in walk.backward)
    staged = attribute_backward(list(walk.backward), list(walk.forward), set(walk.known),
                                lambda: pytest.fail("readers asked for"))
    assert [s.stage for s in staged] == [s.stage for s in walk.backward]


def test_an_unmarked_gradient_line_of_a_value_two_stages_read_asks_for_a_marker():
    from bpstep.core.engine import run_text
    from bpstep.core.errors import ScenarioError

    text = ("bpstep: 1\ntitle: t\ninputs:\n  x: 2\nforward: |\n  a = x * 2\n  b = x * 3\n  f = a + b\n"
            "backward: |\n  da = df\n  db = df\n  dx = 5.0\n")
    with pytest.raises(ScenarioError) as error:
        run_text(text, "t.yaml")
    assert "'x' is read by stages 1 and 2; add a #(n) marker" in error.value.message


def test_an_infinite_relative_error_is_written_as_a_string():
    """|analytic - numeric| overflows: the check's relative error is inf, which json refuses (it
    was a 'bug in bpstep' after half the document had been written)."""
    walk = run_text("bpstep: 1\ntitle: t\ninputs: {x: 0.5}\nforward: |\n  f = x * 1e308\n"
                    "backward: |\n  dx = -1e308 * df\n")
    doc = json.loads(json_text(walk))
    assert doc["check"]["dx"]["relative_error"] == "Infinity" and doc["check"]["dx"]["verdict"] == "wrong"


def test_remembered_texts_are_each_objects_own():
    """The memo is by object: equal values in other objects, and objects seen again after the
    memo was emptied at its limit, are still written as plain_number writes them."""
    values = [np.float64(x) for x in (0.1, -0.0, 0.0, 1e308, 5e-324, 0.1, 2.5)] + [None, 3.0]
    for limit in (1, 2, 1 << 18):
        plain = report.PlainText(limit)
        for _ in range(3):
            assert [plain.number(v) for v in values] == [report.plain_number(v) for v in values]
    with pytest.raises(report.NotPlain):
        report.PlainText().number(np.float64("nan"))


def test_records_copy_and_pickle():
    """Built by __new__ from their fields: copy and pickle rebuild them the same way."""
    import ast
    import copy
    import pickle

    walk = load_walk(str(SCENARIOS / "complex.yaml"))  # (scalars: records holding arrays do not compare)
    for record in (walk.steps[0], walk.steps[-1], walk.cache[0], walk.steps[0].reads[0]):
        for twin in (copy.copy(record), copy.deepcopy(record), pickle.loads(pickle.dumps(record))):
            assert type(twin) is type(record) and twin == record and twin is not record
    for statement in (walk.forward[0], walk.backward[-1]):  # a syntax tree is equal to itself only
        twin = pickle.loads(pickle.dumps(statement))
        assert type(twin) is Statement and ast.dump(twin.value) == ast.dump(statement.value)
        assert {k: v for k, v in fields_of(twin).items() if k not in ("value", "block", "quick")} == \
            {k: v for k, v in fields_of(statement).items() if k not in ("value", "block", "quick")}
        assert copy.copy(statement) == statement
