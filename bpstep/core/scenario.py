"""Loading scenario files, format version 1 (see DESIGN.md section 1).

The YAML is composed to nodes, never constructed to Python objects by PyYAML: only plain
scalars, sequences and mappings with the standard tags are accepted, aliases are refused
before anything is built, and every error carries the file's own line and column, code
blocks included (a line inside a ``|`` block maps back to its line in the file).
"""

from __future__ import annotations

import keyword
import os
import re
from functools import cached_property
from itertools import repeat
from typing import Any, Iterator

import numpy as np
import yaml

from bpstep.core.errors import ScenarioError, reported_at
from bpstep.core.expr import DEFAULT_LIMITS, Limits, fmt_shape, to_value
from bpstep.core.records import field, record
from bpstep.core.source import CodeBlock, find_unprintable, unprintable

try:  # the interpreter's own SHA-256 (hashlib's when OpenSSL is missing): importing hashlib
    from _sha256 import sha256 as _digest  # loads OpenSSL, 4 ms of every start for one digest of the file
except ImportError:  # pragma: no cover - Python 3.12 renamed it; a build may leave it out
    try:
        from _sha2 import sha256 as _digest  # type: ignore[no-redef]
    except ImportError:
        from hashlib import sha256 as _digest  # type: ignore[no-redef]

FORMAT_VERSION = 1
KEYS = ("bpstep", "title", "about", "seed", "inputs", "forward", "output", "upstream", "backward")
REQUIRED = ("bpstep", "title", "inputs", "forward")

_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}
_ALLOWED_TAGS = _SCALAR_TAGS | {_TAG + "seq", _TAG + "map"}


@record
class Literal:
    """A number or nested list written directly in YAML, already converted to a value."""

    value: Any
    line: int
    col: int


@record
class InputEntry:
    name: str
    line: int
    col: int
    literal: Literal | None = None
    expression: CodeBlock | None = None


@record
class Scenario:
    path: str
    data: bytes | None = field(repr=False)  # the file's bytes (None for a scenario given as text): its sha256
    title: str
    about: str | None
    seed: int
    inputs: tuple[InputEntry, ...] | CodeBlock
    forward: CodeBlock
    output: tuple[str, int, int] | None
    upstream: Literal | CodeBlock | None
    backward: CodeBlock | None
    text: str

    @cached_property
    def sha256(self) -> str:
        """The file's SHA-256 in hex ("" for a scenario given as text), computed when first asked
        for: a transcript asks, ``run`` does not (2.4 ms for a 10,000-stage file, 770 KB)."""
        return "" if self.data is None else _digest(self.data).hexdigest()


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _error(node: yaml.Node, message: str) -> ScenarioError:
    return ScenarioError(message, *_mark(node))


def read_text(path: str, limits: Limits = DEFAULT_LIMITS) -> tuple[str, bytes]:
    """The file's text (UTF-8, a BOM allowed) and its bytes, or a ScenarioError at 1:1."""
    if not os.path.exists(path):
        raise ScenarioError("no such file")
    if os.path.isdir(path):
        raise ScenarioError("is a directory, not a scenario file")
    try:
        size = os.path.getsize(path)
        if size > limits.max_file_bytes:
            raise ScenarioError(f"file is {size} bytes; the limit is {limits.max_file_bytes} "
                                "(raise it with --max-file-bytes)")
        with open(path, "rb") as handle:
            # the size it has, and one more byte to see that it grew: a buffer of the limit for
            # every file was 0.5 ms of writing a 200 MB buffer that was then cut down
            want = min(size, limits.max_file_bytes) + 1
            data = handle.read(want)
            if len(data) == want:  # larger than it was, or not a regular file: on to the limit
                data += handle.read(limits.max_file_bytes + 1 - len(data))
    except OSError as exc:
        raise ScenarioError(f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > limits.max_file_bytes:
        raise ScenarioError(f"file is larger than the limit of {limits.max_file_bytes} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise ScenarioError(f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x})", line, col) from None
    return text, data


# libyaml's parser when PyYAML has it (its wheels do): the pure-Python scanner is ~10x slower
# on a 10,000-stage scenario. Both give the same nodes and marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(text: str) -> yaml.Node | None:
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, yaml.AliasEvent):
                raise ScenarioError("YAML aliases (*name) are not allowed in scenarios; write the "
                                    "value out", *_mark(event))
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                raise ScenarioError("YAML anchors (&name) are not allowed in scenarios", *_mark(event))
        # parsed again, to compose: libyaml's composer, in C, takes any depth its parser takes and
        # is quicker per node than PyYAML's composer over these events (a review: 0.2 s more on a
        # 1200x100 inline array, and deep nesting a RecursionError; the second parse is 4 ms at
        # 10,000 stages)
        return yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "malformed YAML"
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        lines = text.splitlines()
        if line <= len(lines) and "\t" in lines[line - 1][: col]:
            problem += " (YAML indentation must use spaces, not tabs)"
        raise ScenarioError(f"invalid YAML: {problem}", line, col) from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line, col = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        raise ScenarioError(f"invalid YAML: the control character #x{exc.character:04x} is not "
                            "allowed in a scenario", line, col) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}") from None
    except RecursionError:
        raise ScenarioError("the YAML is nested too deeply") from None


def _check_tags(node: yaml.Node) -> None:
    stack = [node]
    while stack:
        current = stack.pop()
        if current.tag not in _ALLOWED_TAGS:
            raise _error(current, f"YAML tag {current.tag.replace(_TAG, '!!')} is not allowed; "
                                  "scenarios hold plain text, numbers and lists")
        if isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
        elif isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                stack.extend((key, value))


_CONSTRUCTOR = yaml.constructor.SafeConstructor()


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        return node
    try:
        return _CONSTRUCTOR.construct_object(node)
    except (ValueError, KeyError, TypeError, OverflowError, yaml.YAMLError):
        # an explicit tag the text does not fit (a hunt: `title: !!int T`, `!!bool T`)
        tag = node.tag.replace(_TAG, "!!")
        raise _error(node, f"{_describe(node.value)} is not a {tag} value; remove the tag or "
                           "write a value of that type") from None


def _text(node: yaml.Node, key: str, printable: bool = True) -> str:
    """A text value (``printable``: refused if it holds a control character, at the node)."""
    value = _scalar(node)
    if not isinstance(value, str):
        raise _error(node, f"'{key}' must be text, not {_describe(value)}")
    problem = unprintable(f"'{key}'", value) if printable else None
    if problem:  # a quoted scalar's escapes ("\e[2J") get past YAML's own check of the file
        raise _error(node, f"{problem}; a scenario's text must be printable")
    return value


def _describe(value: Any) -> str:
    if isinstance(value, yaml.MappingNode):
        return "a mapping"
    if isinstance(value, yaml.SequenceNode):
        return "a list"
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    text = str(value)
    return f"'{text[:40]}…'" if len(text) > 40 else f"'{text}'"  # never echo a whole file


# YAML's line breaks; str.splitlines also breaks at \v, \f and \x1c-\x1e, which libyaml refuses
_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


class FileLines:
    """The scenario file's lines, as code blocks ask for them: where a literal block's code
    starts (its indentation), found from the block's indicator, without splitting the whole
    file into lines (25,000 strings at 10,000 stages)."""

    def __init__(self, text: str):
        self.text = text
        self._lines: list[str] | None = None

    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.text.splitlines()
        return self._lines

    def indent(self, node: yaml.Node, first: int) -> int:
        """The indentation of the first line that is not blank from file line ``first`` (the
        one after a literal block's indicator, at ``node.start_mark``), 0 if none is."""
        for raw in self._lines_after(node, first):
            if raw.strip():
                return len(raw) - len(raw.lstrip(" "))
        return 0

    def _lines_after(self, node: yaml.Node, first: int) -> Iterator[str]:
        text, at = self.text, node.start_mark.index  # libyaml's index counts characters, after a BOM
        if text.startswith("\ufeff") or text[at:at + 1] != "|":  # a BOM, a tag before the indicator
            yield from self.lines()[first - 1:]
            return
        found = _BREAK.search(text, at)  # the end of the indicator's line
        while found is not None:
            start = found.end()
            found = _BREAK.search(text, start)
            yield text[start:found.start() if found is not None else len(text)]


def code_block(node: yaml.Node, key: str, raw_lines: FileLines) -> CodeBlock:
    """The code in a scalar node, with each line's position in the file."""
    block = _code_block(node, key, raw_lines)
    found = find_unprintable(block.text)
    if found:  # where it is: a bidirectional override hides in a comment of a long block
        at = found.start()
        lineno = block.text.count("\n", 0, at) + 1
        problem = unprintable(f"'{key}'", found.group())
        raise block.error(f"{problem}; a scenario's text must be printable", lineno,
                          at - (block.text.rfind("\n", 0, at) + 1))
    return block


def _code_block(node: yaml.Node, key: str, raw_lines: FileLines) -> CodeBlock:
    text = _text(node, key, printable=False)
    line, col = _mark(node)
    if node.style == ">":
        raise _error(node, f"'{key}' is code: write it as a literal block ('{key}: |'), "
                           "not a folded one ('>'), which joins lines")
    if node.style == "|":
        first = line + 1  # the block starts on the line after the indicator
        indent = raw_lines.indent(node, first)
        count = text.count("\n") + 1
        return CodeBlock(key, text, tuple(zip(range(first, first + count), repeat(indent + 1))))
    if "\n" in text or node.end_mark.line > node.start_mark.line:
        # a quoted or plain scalar joins or escapes its lines: no line of the code would have a
        # position in the file to report an error at
        raise _error(node, f"'{key}' is code over several lines: write it as a literal block "
                           f"('{key}: |' and the code indented below it)")
    if node.style in ("'", '"'):
        col += 1
    return CodeBlock.at(key, text, line, col)


def _number_list(node: yaml.Node, where: str, depth: int = 0, max_dims: int = 16) -> Any:
    """A number or a (nested, rectangular) list of numbers from YAML."""
    if isinstance(node, yaml.SequenceNode):
        if depth >= max_dims:
            raise _error(node, f"{where}: lists nested more than {max_dims} deep; the limit on "
                               "dimensions is " + str(max_dims))
        if not node.value:
            raise _error(node, f"{where}: an empty list is not a value")
        items = [_number_list(item, where, depth + 1, max_dims) for item in node.value]
        shapes = {np.shape(item) for item in items}
        if len(shapes) != 1:
            raise _error(node, f"{where}: nested lists must be rectangular, not rows of shapes "
                               + ", ".join(fmt_shape(s) for s in sorted(shapes)))
        return items
    value = _scalar(node)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _error(node, f"{where}: expected a number or a list of numbers, not {_describe(value)}")
    return float(value)


def _literal(node: yaml.Node, where: str, limits: Limits) -> Literal:
    try:
        data = _number_list(node, where, 0, limits.max_dims)
    except RecursionError:
        raise _error(node, f"{where}: lists are nested too deeply") from None
    shape = np.shape(data) if isinstance(data, list) else ()
    if len(shape) > limits.max_dims:
        raise _error(node, f"{where}: {len(shape)} dimensions; the limit is {limits.max_dims}")
    size = int(np.prod(shape))
    if size > limits.max_elements:
        raise _error(node, f"{where}: {size} elements; the limit is {limits.max_elements}")
    return Literal(to_value(np.array(data, dtype=np.float64)), *_mark(node))


def _inputs(node: yaml.Node, raw_lines: FileLines, limits: Limits) -> tuple[InputEntry, ...] | CodeBlock:
    if isinstance(node, yaml.ScalarNode) and isinstance(_scalar(node), str):
        return code_block(node, "inputs", raw_lines)
    if not isinstance(node, yaml.MappingNode):
        raise _error(node, "'inputs' must be a mapping (name: value) or a code block (inputs: |), "
                           f"not {_describe(_scalar(node))}")
    entries: list[InputEntry] = []
    seen: set[str] = set()
    for key_node, value_node in node.value:
        name = _scalar(key_node)
        if not isinstance(name, str) or not name.isidentifier():
            raise _error(key_node, f"input name {_describe(name)} is not a valid name")
        if keyword.iskeyword(name):  # no expression could read it
            raise _error(key_node, f"input name '{name}' is a Python keyword; choose another")
        if name in seen:
            raise _error(key_node, f"input '{name}' is given twice")
        seen.add(name)
        line, col = _mark(value_node)
        if isinstance(value_node, yaml.ScalarNode) and isinstance(_scalar(value_node), str):
            block = code_block(value_node, f"inputs.{name}", raw_lines)
            entries.append(InputEntry(name, line, col, expression=block))
        else:
            entries.append(InputEntry(name, line, col, literal=_literal(value_node, f"input '{name}'", limits)))
    if not entries:
        raise _error(node, "'inputs' is empty; give at least one input")
    return tuple(entries)


def load(path: str, limits: Limits = DEFAULT_LIMITS) -> Scenario:
    """Load and check the structure of a scenario file. Raises ScenarioError with ``path`` set."""
    with reported_at(path):
        return _load(path, limits)


def _load(path: str, limits: Limits) -> Scenario:
    text, data = read_text(path, limits)
    return parse(text, path, data=data, limits=limits)


def parse(text: str, path: str = "<scenario>", *, data: bytes | None = None, limits: Limits = DEFAULT_LIMITS
          ) -> Scenario:
    """A scenario from its text; ``data``: the file's bytes, if it was read from one (its sha256)."""
    root = _compose(text)
    if root is None:
        raise ScenarioError("the scenario is empty; it needs at least 'bpstep: 1', 'title', "
                            "'inputs' and 'forward'")
    _check_tags(root)
    if not isinstance(root, yaml.MappingNode):
        raise _error(root, f"a scenario is a YAML mapping (key: value), not {_describe(_scalar(root))}")
    raw_lines = FileLines(text)
    nodes: dict[str, tuple[yaml.Node, yaml.Node]] = {}
    for key_node, value_node in root.value:
        key = _scalar(key_node)
        if not isinstance(key, str) or key not in KEYS:
            raise _error(key_node, f"unknown key {_describe(key)}; a scenario has the keys "
                                   + ", ".join(KEYS))
        if key in nodes:
            first = nodes[key][0].start_mark.line + 1
            raise _error(key_node, f"key '{key}' is given twice (first on line {first})")
        nodes[key] = (key_node, value_node)
    for key in REQUIRED:
        if key not in nodes:
            raise ScenarioError(f"missing required key '{key}'", *_mark(root))

    version = _scalar(nodes["bpstep"][1])
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise _error(nodes["bpstep"][1], f"'bpstep:' is {_describe(version)}, an unknown format "
                                         f"version; this bpstep reads 'bpstep: {FORMAT_VERSION}'")
    title = _text(nodes["title"][1], "title").strip()
    if not title:
        raise _error(nodes["title"][1], "'title' is empty")
    about = _text(nodes["about"][1], "about") if "about" in nodes else None

    seed = 0
    if "seed" in nodes:
        seed = _scalar(nodes["seed"][1])
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            raise _error(nodes["seed"][1], f"'seed' must be a whole number from 0 to 2**32-1, not "
                                           f"{_describe(seed)}")

    output = None
    if "output" in nodes:
        node = nodes["output"][1]
        name = _text(node, "output").strip()
        if not name.isidentifier():
            raise _error(node, f"'output' must name a forward value, not '{name}'")
        output = (name, *_mark(node))

    upstream: Literal | CodeBlock | None = None
    if "upstream" in nodes:
        node = nodes["upstream"][1]
        if isinstance(node, yaml.ScalarNode) and isinstance(_scalar(node), str):
            upstream = code_block(node, "upstream", raw_lines)
        else:
            upstream = _literal(node, "'upstream'", limits)

    forward = code_block(nodes["forward"][1], "forward", raw_lines)
    backward = code_block(nodes["backward"][1], "backward", raw_lines) if "backward" in nodes else None
    return Scenario(
        path=path, data=data, title=title, about=about, seed=seed,
        inputs=_inputs(nodes["inputs"][1], raw_lines, limits), forward=forward, output=output,
        upstream=upstream, backward=backward, text=text,
    )
