"""bpstep.core.records.record against the standard library's dataclasses: the same class
declared both ways must build, compare, hash, print, refuse, copy and pickle alike (the
run path's classes moved from @dataclass to @record to save 8 ms of every start)."""

from __future__ import annotations

import copy
import dataclasses
import functools
import pickle
from pathlib import Path
from typing import ClassVar

import pytest

from bpstep.core import records
from bpstep.core.engine import Walk, load_walk
from bpstep.core.expr import Walker
from bpstep.core.limits import DEFAULT_LIMITS, Limits
from bpstep.core.records import FrozenInstanceError, field_defaults, field_names, record, replace


@record
class Point:
    x: int
    y: int = 2
    tags: list = records.field(default_factory=list)
    note: str = records.field(default="n", repr=False)


@dataclasses.dataclass(frozen=True)
class PointDC:
    x: int
    y: int = 2
    tags: list = dataclasses.field(default_factory=list)
    note: str = dataclasses.field(default="n", repr=False)


@record(slots=True)
class Slotted:
    a: int
    b: object = None


@dataclasses.dataclass(frozen=True, slots=True)
class SlottedDC:
    a: int
    b: object = None


@record(frozen=False)
class Mutable:
    a: int
    items: list = records.field(default_factory=list)


@dataclasses.dataclass
class MutableDC:
    a: int
    items: list = dataclasses.field(default_factory=list)


PAIRS = [(Point, PointDC), (Slotted, SlottedDC), (Mutable, MutableDC)]
CALLS = [((1,), {}), ((1, 5), {}), ((), {"x": 1}), ((), {"a": 1}), ((1,), {"y": 4}), ((1,), {"b": 4}),
         ((1, 2, [3]), {}), ((1, 2, [3], "m"), {}), ((1, 2, 3, 4, 5), {}), ((), {}), ((1,), {"x": 1}),
         ((1,), {"a": 2}), ((1,), {"zz": 0}), ((1,), {"items": [1]})]


def outcome(make):
    try:
        return "ok", make()
    except TypeError:
        return "TypeError", None


@pytest.mark.parametrize("ours, theirs", PAIRS)
@pytest.mark.parametrize("args, kwargs", CALLS)
def test_built_and_shown_as_the_dataclass(ours, theirs, args, kwargs):
    mine, reference = outcome(lambda: ours(*args, **kwargs)), outcome(lambda: theirs(*args, **kwargs))
    assert mine[0] == reference[0]  # the same calls refused
    if mine[0] == "ok":
        built, expected = mine[1], reference[1]
        assert repr(built) == repr(expected).replace(theirs.__qualname__, ours.__qualname__)
        names = [f.name for f in dataclasses.fields(theirs)]
        assert field_names(ours) == tuple(names)
        assert [getattr(built, n) for n in names] == [getattr(expected, n) for n in names]


@pytest.mark.parametrize("ours, theirs", PAIRS)
def test_compared_and_hashed_as_the_dataclass(ours, theirs):
    one, same, other = ours(1), ours(1), ours(2)
    assert one == same and one != other and (one == (1,)) is False
    assert (one == same) == (theirs(1) == theirs(1))
    hashable = theirs.__hash__ is not None
    assert (ours.__hash__ is not None) == hashable
    if hashable and ours is not Point:  # (Point holds a list, as its dataclass twin: unhashable both)
        assert hash(one) == hash(same)
    if ours is Point:
        with pytest.raises(TypeError):
            hash(one)  # its list field, as for the dataclass
        assert hash(ours(1, tags=())) == hash(ours(1, tags=()))


def test_a_default_factory_is_called_for_each_record():
    first, second = Point(1), Point(1)
    assert first.tags == [] and first.tags is not second.tags
    assert Mutable(1).items is not Mutable(1).items


@pytest.mark.parametrize("cls", [Point, Slotted])
def test_frozen_records_refuse_assignment_and_deletion(cls):
    built = cls(1)
    with pytest.raises(FrozenInstanceError):
        built.x = 3
    with pytest.raises(FrozenInstanceError):
        del built.y
    with pytest.raises(FrozenInstanceError):  # a name that is no field: refused too (dataclass: same)
        built.other = 1
    assert isinstance(FrozenInstanceError(), AttributeError)


def test_a_mutable_record_takes_assignment_and_is_unhashable():
    built = Mutable(1)
    built.a = 5
    assert built == Mutable(5) and Mutable.__hash__ is None


def test_slots_and_defaults():
    built = Slotted(1)
    assert not hasattr(built, "__dict__") and Slotted.__slots__ == ("a", "b")
    assert field_defaults(Slotted) == {"b": None} and field_defaults(Point) == {"y": 2, "note": "n"}
    assert Point.y == 2 and "tags" not in vars(Point)  # class attributes as a dataclass keeps them


@pytest.mark.parametrize("built", [Point(1, 3, [4]), Slotted(1, (2, 3)), Mutable(1, [2])])
def test_copied_and_pickled(built):
    for twin in (copy.copy(built), copy.deepcopy(built), pickle.loads(pickle.dumps(built))):
        assert type(twin) is type(built) and twin == built


def test_replace_builds_through_the_initialiser():
    assert replace(Point(1, 3), y=7) == Point(1, 7)
    assert replace(DEFAULT_LIMITS, max_depth=4) == Limits(max_depth=4)
    with pytest.raises(TypeError):
        replace(Point(1), z=1)


def test_a_field_without_default_after_one_with_is_refused():
    with pytest.raises(TypeError, match="follows"):
        @record
        class Bad:
            a: int = 1
            b: int


def test_the_run_path_records_keep_their_behaviour():
    walk = load_walk(str(Path(__file__).resolve().parent.parent / "scenarios" / "complex.yaml"))
    assert isinstance(type(walk).__dict__["input_gradients"], functools.cached_property)
    assert walk.input_gradients == walk.input_gradients  # cached on a frozen record without slots
    with pytest.raises(FrozenInstanceError):
        walk.output = "x"
    assert hash(DEFAULT_LIMITS) == hash(Limits()) and DEFAULT_LIMITS == Limits()
    assert "_writes" not in repr(walk) and "aliases=" in repr(walk)  # field(repr=False), as before
    walker = Walker({}, None)
    assert walker.reads == [] and walker.reads is not Walker({}, None).reads
    assert not dataclasses.is_dataclass(Walk)


def test_what_a_record_refuses_or_leaves_out_as_a_dataclass_does():
    with pytest.raises(ValueError, match="mutable default"):  # a list default would be shared
        @record
        class Shared:
            items: list = []

    @record
    class Counted:
        total: ClassVar[int] = 0  # a class variable, not a field
        a: int

    assert field_names(Counted) == ("a",) and Counted(1).total == 0

    @record
    class OwnEquality:
        a: int

        def __eq__(self, other):
            return isinstance(other, OwnEquality) and self.a % 10 == other.a % 10

    assert OwnEquality(1) == OwnEquality(11) and hash(OwnEquality(1)) == hash(OwnEquality(1))  # frozen: hashed

    def nested():
        @record(slots=True)
        class Inner:
            x: int

        @dataclasses.dataclass(frozen=True, slots=True)
        class InnerDC:
            x: int

        return Inner, InnerDC

    inner, inner_dc = nested()
    assert repr(inner(1)) == repr(inner_dc(1)).replace("InnerDC", "Inner") and "<locals>" in repr(inner(1))


def test_a_record_does_not_inherit_fields():
    with pytest.raises(TypeError, match="inherit"):
        @record
        class Child(Point):
            z: int = 0


def test_the_positional_fast_path_fills_the_defaults():
    assert Point(1) == Point(1, 2, [], "n") and Point(1).tags is not Point(1).tags
    assert Mutable(3).items == [] and Slotted(1).b is None
