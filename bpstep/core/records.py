"""Records: frozen classes declared by their fields, made without generating code.

:func:`record` is what ``@dataclass(frozen=True)`` gives these modules (an initialiser from the
annotated fields and their defaults, ``==``, ``hash``, ``repr``, no assignment once built,
``slots=True`` for no instance dict) for the classes a batch command imports. A dataclass
compiles its methods with ``exec`` when its module is imported, about 0.5 ms a class: the 14 on
the way to ``bpstep run`` were 8 ms of every start. The methods here are closures over the field
names, made without ``exec``. The generic ``__init__`` is slower than a generated one (1-2 us),
so a record made by the ten thousand has its own (the walker, and the records below). What
else of ``dataclasses`` the code uses is here too: :func:`field` (a default factory, a field
left out of the repr), :func:`replace`, :func:`field_names`.

The engine's hottest records (statements, steps, cache entries, reads) are records with slots:
no instance dict (a 10,000-stage walk holds 66,000 of them) and attribute reads at a plain
object's speed. Their own ``__new__`` makes an object of :func:`open_twin` of the class (the
same slots, no guard), stores the fields as plain attributes and turns it into the frozen
class: 330 ns for a step's 15 fields, where an ``__init__`` that turns the object into the twin
and back took 450 ns, one through the guarded setattr 550 ns, and instance dicts (whose
attributes are also half as fast to read) more.
"""

from __future__ import annotations

# set_frozen(record, "stage", 3): past the frozen class's guard, for a record that is new and not
# shared yet (or a syntax tree built once, when asked for)
set_frozen = object.__setattr__
new_object = object.__new__  # new_object(twin): an object of a record's open twin, its slots empty
_MISSING = object()


class FrozenInstanceError(AttributeError):
    """An assignment to a field of a frozen record."""


class _Field:
    __slots__ = ("default", "factory", "shown")

    def __init__(self, default: object, factory: object, shown: bool):
        self.default, self.factory, self.shown = default, factory, shown


def field(*, default: object = _MISSING, default_factory: object = _MISSING, repr: bool = True) -> object:
    """A field's default (``default_factory`` is called for each new record) and whether the
    record's repr shows it."""
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("a field takes a default or a default_factory, not both")
    return _Field(default, default_factory, repr)


def record(cls: type | None = None, /, *, frozen: bool = True, slots: bool = False):
    """Make ``cls`` a record of its annotated fields, in order (see the module docstring). A
    method the class defines itself (``__init__``, ``__hash__``, ...) is kept."""

    def build(cls: type) -> type:
        return _build(cls, frozen, slots)

    return build if cls is None else build(cls)


def _build(cls: type, frozen: bool, slots: bool) -> type:
    if any("__record_fields__" in vars(base) for base in cls.__mro__[1:]):
        raise TypeError(f"{cls.__name__}: a record does not inherit another's fields; declare them all")
    annotations = cls.__dict__.get("__annotations__")
    if annotations is None:  # (Python 3.14 evaluates them when asked, without the __future__ import)
        annotations = getattr(cls, "__annotations__", {})
    names = tuple(name for name, annotation in annotations.items() if not _class_variable(annotation))
    namespace = dict(cls.__dict__)
    defaults: dict[str, _Field] = {}
    shown = []
    for name in names:
        declared = namespace.pop(name, _MISSING)
        spec = declared if isinstance(declared, _Field) else _Field(declared, _MISSING, True)
        if spec.default is not _MISSING and type(spec.default).__hash__ is None:
            raise ValueError(f"{cls.__name__}: mutable default {type(spec.default)} for field '{name}' "
                             "is not allowed: use default_factory")  # (as dataclasses say it)
        if spec.default is not _MISSING or spec.factory is not _MISSING:
            defaults[name] = spec
            if not slots and spec.default is not _MISSING:
                namespace[name] = spec.default  # the class attribute, as a dataclass keeps it
        elif defaults:
            raise TypeError(f"{cls.__name__}: field '{name}' without a default follows one with a default")
        if spec.shown:
            shown.append(name)
    qualname = cls.__qualname__
    required = len(names) - len(defaults)  # (the fields with defaults come last)

    def __init__(self, *args: object, **kwargs: object) -> None:
        if not kwargs and required <= len(args) <= len(names):  # the fields in order, the rest defaults
            for name, value in zip(names, args):
                set_frozen(self, name, value)
            for name in names[len(args):]:
                spec = defaults[name]
                set_frozen(self, name, spec.default if spec.factory is _MISSING else spec.factory())
            return
        if len(args) > len(names):
            raise TypeError(f"{qualname}() takes {len(names)} arguments but {len(args)} were given")
        values = dict(zip(names, args))
        for key, value in kwargs.items():
            if key not in names:
                raise TypeError(f"{qualname}() got an unexpected keyword argument '{key}'")
            if key in values:
                raise TypeError(f"{qualname}() got multiple values for argument '{key}'")
            values[key] = value
        for name in names:
            value = values.get(name, _MISSING)
            if value is _MISSING:
                spec = defaults.get(name)
                if spec is None:
                    raise TypeError(f"{qualname}() missing required argument: '{name}'")
                value = spec.default if spec.factory is _MISSING else spec.factory()
            set_frozen(self, name, value)

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            return all_fields(self) == all_fields(other)
        return NotImplemented

    def all_fields(self) -> tuple:
        return tuple([getattr(self, name) for name in names])

    methods: dict[str, object] = {"__repr__": __repr__, "__eq__": __eq__}
    if "__new__" not in namespace:  # (a record that builds itself in __new__ takes no __init__)
        methods["__init__"] = __init__
    if frozen:
        def __setattr__(self, name: str, value: object) -> None:
            if type(self) is built or name in names:
                raise FrozenInstanceError(f"cannot assign to field '{name}'")
            super(built, self).__setattr__(name, value)

        def __delattr__(self, name: str) -> None:
            if type(self) is built or name in names:
                raise FrozenInstanceError(f"cannot delete field '{name}'")
            super(built, self).__delattr__(name)

        methods.update(__setattr__=__setattr__, __delattr__=__delattr__,
                       __hash__=lambda self: hash(all_fields(self)))
        if slots:  # pickle and copy: rebuilt by the class from its fields (the default would set
            # each slot through the guard, and call a __new__ that takes the fields without them)
            methods["__reduce__"] = lambda self: (type(self), all_fields(self))
    else:
        methods["__hash__"] = None  # mutable and compared by value: unhashable, as a dataclass
    if frozen and namespace.get("__hash__", _MISSING) is None and "__eq__" in namespace:
        del namespace["__hash__"]  # (None only because the class defines __eq__: a frozen record's hash)
    for name, method in methods.items():
        if name not in namespace:
            if callable(method):
                method.__qualname__ = f"{qualname}.{name}"
            namespace[name] = method
    namespace["__record_fields__"] = namespace["__match_args__"] = names
    namespace["__record_defaults__"] = {name: spec.default for name, spec in defaults.items()
                                        if spec.factory is _MISSING}
    if slots:  # a new class, its fields slots (no class attributes for their defaults)
        namespace["__slots__"] = names
        namespace["__qualname__"] = qualname
        namespace.pop("__dict__", None)
        namespace.pop("__weakref__", None)
        built = type(cls)(cls.__name__, cls.__bases__, namespace)
    else:
        built = cls
        for name, value in namespace.items():
            if cls.__dict__.get(name, _MISSING) is not value:
                setattr(cls, name, value)
        for name in names:  # a field(...) without a default: no class attribute
            if name not in namespace and name in cls.__dict__:
                delattr(cls, name)
    return built


def _class_variable(annotation: object) -> bool:
    """A ``ClassVar`` annotation (a string under ``from __future__ import annotations``): no field."""
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def field_names(record_or_class: object) -> tuple[str, ...]:
    """The fields of a record (or its class), in order."""
    return record_or_class.__record_fields__  # type: ignore[attr-defined]


def field_defaults(cls: type) -> dict[str, object]:
    """The defaults the fields of a record class declare (those made by a factory left out)."""
    return dict(cls.__record_defaults__)  # type: ignore[attr-defined]


def replace(record: object, **changes: object) -> object:
    """A copy of ``record`` with ``changes``, made by its class's initialiser."""
    return type(record)(**{**{name: getattr(record, name) for name in field_names(record)}, **changes})


def open_twin(cls: type) -> type:
    """A class with the slots of the frozen record ``cls`` (so an object can change from it to
    ``cls``) and without its frozen ``__setattr__``."""
    return type(f"_Open{cls.__name__}", (), {"__slots__": cls.__slots__})


def fields_of(record: object) -> dict[str, object]:
    """The fields a record has set (a quick statement's syntax tree may not be built yet), by
    name, without building anything."""
    out = {}
    for name in type(record).__slots__:
        try:
            out[name] = object.__getattribute__(record, name)
        except AttributeError:
            pass
    return out
