"""From code blocks to statements with stages (DESIGN.md section 1, "Stages").

A forward statement is one stage, numbered in order unless a ``#(n)`` marker gives its
number. A backward statement belongs to the stage of its marker; otherwise ``dv`` belongs to
the one stage that reads ``v`` (or, among several, the one whose output's gradient it reads);
a backward local without a marker belongs to the stage of the statement before it.
"""

from __future__ import annotations

import ast
import itertools
import re
import warnings
from typing import Callable

from bpstep.core import quick
from bpstep.core.errors import ScenarioError
from bpstep.core.expr import RESERVED_NAMES, Limits, scan
from bpstep.core.records import fields_of, new_object, open_twin, record, set_frozen
from bpstep.core.source import CodeBlock

MARKER = re.compile(r"#\s*\(\s*(\d+)\s*\)")
MAX_STAGE = 1_000_000


@record(slots=True)
class Statement:
    """One assignment, ``target op value``, and where it stands."""

    block: CodeBlock
    target: str
    op: str  # "=" or "+="
    value: ast.expr  # a quick line's is built when first asked for (see __getattr__)
    lineno: int  # 1-based line inside the block
    line: int  # 1-based line in the scenario file
    col: int
    code: str  # the statement as written, without its comment
    source: str  # the statement's line(s) as written, comment included
    marker: int | None
    reads: tuple[str, ...]  # names the right-hand side reads (and the target, for +=)
    depth: int = 0  # nesting depth of the right-hand side
    stage: int = 0  # 0 for inputs; set for forward and backward statements
    quick: quick.Quick | None = None  # a line read without ast: ``value`` is built when asked for

    def __new__(cls, block: CodeBlock, target: str, op: str, value: ast.expr | None, lineno: int, line: int,
                col: int, code: str, source: str, marker: int | None, reads: tuple[str, ...],
                depth: int = 0, stage: int = 0, quick: quick.Quick | None = None) -> Statement:
        # frozen, built as a plain object: 25,000 of them at 10,000 stages (bpstep.core.records)
        self = new_object(_OpenStatement)
        self.block = block
        self.target = target
        self.op = op
        if value is not None or quick is None:  # a quick line's tree is built when asked for
            self.value = value
        self.lineno = lineno
        self.line = line
        self.col = col
        self.code = code
        self.source = source
        self.marker = marker
        self.reads = reads
        self.depth = depth
        self.stage = stage
        self.quick = quick
        self.__class__ = cls
        return self

    def __getattr__(self, name: str):
        # only for what is not set: the syntax tree of a quick line, until asked for
        if name == "value":
            reading = self.quick
            if reading is not None:
                # Quick.node builds the tree once, under a lock: every staged copy, and the
                # checks' thread beside the UI's, get the same object
                node = reading.node()
                set_frozen(self, "value", node)
                return node
        raise AttributeError(f"'Statement' object has no attribute '{name}'")

    def error(self, message: str, node: ast.AST | None = None) -> ScenarioError:
        if node is None:
            return ScenarioError(message, self.line, self.col)
        return self.block.node_error(message, node)

    def with_stage(self, stage: int) -> "Statement":
        if stage == self.stage:
            return self
        copy = object.__new__(_OpenStatement)  # a frozen copy with one field changed
        for name, value in fields_of(self).items():  # (a quick line's tree: only if built)
            setattr(copy, name, value)
        copy.stage = stage
        copy.__class__ = Statement
        return copy


_OpenStatement = open_twin(Statement)


def _comments(lines: list[str]) -> dict[int, str]:
    """The comment on each line that has one (1-based line numbers). Strings are not part of
    the language, so a '#' outside quotes starts a comment; quotes are still skipped so that a
    refused string never hides or fakes a marker."""
    out: dict[int, str] = {}
    for lineno, line in enumerate(lines, start=1):
        if "#" not in line:
            continue
        if "'" not in line and '"' not in line:  # the common case, without a loop per character
            out[lineno] = line[line.index("#"):]
            continue
        quote = None
        for i, char in enumerate(line):
            if quote:
                if char == quote:
                    quote = None
            elif char in "'\"":
                quote = char
            elif char == "#":
                out[lineno] = line[i:]
                break
    return out


_STATEMENT_WORDS = {
    ast.Import: "import", ast.ImportFrom: "import", ast.FunctionDef: "def", ast.ClassDef: "class",
    ast.For: "for", ast.While: "while", ast.If: "if", ast.With: "with", ast.Try: "try",
    ast.Delete: "del", ast.Global: "global", ast.Nonlocal: "nonlocal", ast.Return: "return",
    ast.Raise: "raise", ast.Assert: "assert", ast.Pass: "pass", ast.AsyncFunctionDef: "async def",
    ast.Lambda: "lambda",
}


def parse_block(block: CodeBlock, limits: Limits, *, allow_expression: bool = False,
                stages: str = "") -> list[Statement]:
    """Parse a code block into assignments. With ``allow_expression``, a block that is a
    single bare expression is returned as one statement with an empty target. ``stages``
    gives each statement the stage it will get anyway, so that nothing is copied later:
    ``"forward"`` its marker or position (:func:`number_forward`), ``"marker"`` its marker
    if it has one (:func:`attribute_backward`)."""
    lines = block.lines()
    block.check_line_lengths(lines=lines)
    numbered, marked = stages == "forward", stages == "marker"
    found = None if allow_expression else _quick_body(block, lines, numbered, marked)
    if found is None:
        body, comments, every_line_quick = _parse(block, block.text).body, _comments(lines), False
    else:  # the quick lines' comments are theirs; the others' are found as before
        body, others, every_line_quick = found
        comments = {} if every_line_quick else _comments(others)
    if len(body) > limits.max_statements:
        over = body[limits.max_statements]
        raise block.error(f"{len(body)} statements; the limit is {limits.max_statements} "
                          "(raise it with --max-statements)", over.lineno)
    if every_line_quick:  # each already has its stage: no pass over 25,000 statements to give it
        return body
    statements: list[Statement] = []
    if allow_expression and len(body) == 1 and isinstance(body[0], ast.Expr):
        return [_statement(block, body[0], "", "=", body[0].value, lines, comments)]
    for node in body:
        if type(node) is Statement:  # a quick line among others: its position is known now
            stage = _stage(node.marker, len(statements) + 1 if numbered else 0, marked, node.line, node.col)
            if stage:  # (the object is new, not shared yet)
                set_frozen(node, "stage", stage)
            statements.append(node)
            continue
        if isinstance(node, ast.Assign):
            if len(node.targets) != 1:
                raise block.node_error("assign one name per statement (a = b = ... is not allowed)", node)
            target_node, op = node.targets[0], "="
        elif isinstance(node, ast.AugAssign):
            if not isinstance(node.op, ast.Add):
                raise block.node_error("the only augmented assignment is += (gradients add up at forks)", node)
            target_node, op = node.target, "+="
        elif isinstance(node, ast.AnnAssign):
            raise block.node_error("annotated assignments are not allowed; write name = expression", node)
        elif isinstance(node, ast.Expr):
            raise block.node_error("a statement here must assign a name (name = expression)", node)
        else:
            word = _STATEMENT_WORDS.get(type(node), type(node).__name__)
            raise block.node_error(f"'{word}' statements are not allowed; a scenario's code is "
                                   "assignments only (name = expression, name += expression)", node)
        if not isinstance(target_node, ast.Name):
            what = "parts of a value (x[0] = ...)" if isinstance(target_node, ast.Subscript) else \
                "several names at once" if isinstance(target_node, (ast.Tuple, ast.List)) else \
                "attributes" if isinstance(target_node, ast.Attribute) else "that"
            raise block.node_error(f"assign whole names, not {what}", target_node)
        if target_node.id in RESERVED_NAMES:
            raise block.node_error(f"'{target_node.id}' is a reserved name; choose another", target_node)
        statements.append(_statement(block, node, target_node.id, op, node.value, lines, comments,
                                     len(statements) + 1 if numbered else 0, marked))
    return statements


def _parse(block: CodeBlock, text: str) -> ast.Module:
    """Python's parse of a block's text, its errors as the block's."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Python's SyntaxWarnings would be a second line on stderr
            return ast.parse(text, mode="exec")
    except SyntaxError as exc:
        message = exc.msg or "invalid syntax"
        raise block.error(f"invalid Python syntax: {message}", exc.lineno or 1, (exc.offset or 1) - 1) from None
    except (MemoryError, RecursionError, ValueError):
        raise block.error("the code is too complex to parse; split it into stages") from None


def _quick_body(block: CodeBlock, lines: list[str], numbered: bool = False, marked: bool = False
                ) -> tuple[list, list[str], bool] | None:
    """The block's statements in order, lines of the quick shape (bpstep.core.quick) as
    :class:`Statement` (as :func:`_statement` would build them) and the others as Python
    parses them; the lines with the quick ones blanked; and whether every other line is blank
    or a comment. None when there are no quick lines, or when anything could make the result
    differ from ast.parse of the whole block (then that parse decides, and gives its own errors).

    A quick line's stage is given as parse_block gives it (``numbered``: its marker or position,
    ``marked``: its marker): right when every statement is a quick line; otherwise parse_block
    gives it again, counting the other statements.

    The other lines are parsed with the quick lines blanked, which keeps every line number. A
    quick line has no quote, backslash or bracket left open before its comment, so it is a
    logical line of its own unless an earlier line leaves one open: a backslash at its end (refused here),
    or a bracket or string, which then spans the blanked line (checked against the parse, from
    a decorator's line for a decorated def). A quick line with a marker out of range is left
    to the parser: its error then comes in line order, after any error above it."""
    items: list[Statement] = []  # the quick lines, in order
    others: list[str] = []  # the lines, the quick ones blanked
    slow = False
    neutral = quick.NEUTRAL.fullmatch
    origins = block.origins  # each line's position in the file, as block.position gives it
    if len(origins) != len(lines):
        origins = [block.position(lineno) for lineno in range(1, len(lines) + 1)]
    for lineno, text, found in zip(itertools.count(1), lines, quick.read_lines(lines)):
        if found is not None:
            target, op, reading, comment, digits = found
            try:
                marker = int(digits) if digits is not None else None if comment is None else _marker(comment, None)
            except ValueError:  # more digits than int() reads (4,300): the parser's path says so
                marker = 0
            if marker is None or _valid_marker(marker):
                line, col = origins[lineno - 1]  # (_position, inline)
                reads = reading.reads
                if op == "+=" and target not in reads:
                    reads = (target, *reads)
                # _stage's cases for a valid marker, inline (once per line): its position
                # counts the quick lines before it, right if no other statement comes first
                stage = (len(items) + 1 if marker is None else marker) if numbered else \
                    (marker or 0) if marked else 0
                items.append(Statement(block, target, op, None, lineno, line, col, text[:reading.end],
                                       text.strip(), marker, reads, reading.depth, stage, reading))
                others.append("")
                continue
        others.append(text)
        if neutral(text) is None:
            if text.rstrip().endswith("\\"):
                return None
            slow = True
    if not items:
        return None
    if not slow:
        return items, others, True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            parsed = ast.parse("\n".join(others), mode="exec").body
    except (SyntaxError, MemoryError, RecursionError, ValueError):
        return None
    body: list = []  # the parsed statements and the quick lines, merged in line order
    at = 0
    for node in parsed:
        end = node.end_lineno or node.lineno
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])  # @d above a def
        while at < len(items) and items[at].lineno < first:
            body.append(items[at])
            at += 1
        if at < len(items) and items[at].lineno <= end:
            return None  # a quick-looking line inside a bracket or a string: not a statement
        body.append(node)
    body.extend(items[at:])
    return body, others, False


def _marker(comment: str | None, marker: int | None) -> int | None:
    """The stage marker a line's comment gives (``#(n)``, the last one if several), else ``marker``."""
    if comment is not None:
        bare = comment.rstrip()
        if bare[:2] == "#(" and bare[-1] == ")" and bare[2:-1].isdecimal():  # just "#(n)"
            return int(bare[2:-1])
        found = MARKER.findall(comment)
        if found:
            return int(found[-1])
    return marker


def _position(block: CodeBlock, first: int, offset: int) -> tuple[int, int]:
    origins = block.origins
    if 1 <= first <= len(origins):  # block.position, inline: once per statement
        line, col = origins[first - 1]
        return line, col + offset
    return block.position(first, offset)


def _valid_marker(marker: int) -> bool:
    return 1 <= marker <= MAX_STAGE


def _stage(marker: int | None, position: int, marked: bool, line: int, col: int) -> int:
    """A statement's stage: its marker (checked) where it is forward or ``marked``, else its
    ``position`` (0: none)."""
    if marker is not None and not _valid_marker(marker):
        raise ScenarioError(f"stage marker #({marker}) must be a stage number from 1", line, col)
    return (position if marker is None else marker) if position else (marker or 0) if marked else 0


def _statement(block, node, target, op, value, lines, comments, position: int = 0,
               marked: bool = False) -> Statement:
    """``position``: the stage to give the statement unless it has a marker (0: none);
    ``marked``: its marker is its stage."""
    first = node.lineno
    end = node.end_lineno or first
    text = lines[first - 1]
    offset = node.col_offset if text.isascii() else block.char_offset(first, node.col_offset)
    line, col = _position(block, first, offset)
    marker = None
    try:
        for lineno in range(first, end + 1):
            marker = _marker(comments.get(lineno), marker)
    except ValueError:  # int() reads at most 4,300 digits (a hunt: "was a bug in bpstep")
        raise ScenarioError(f"a stage marker of more than 4,300 digits; a stage is a number from 1 to "
                            f"{MAX_STAGE}", line, col) from None
    stage = _stage(marker, position, marked, line, col)
    if first == end and text.isascii():  # the common case: columns are character offsets
        code = text[node.col_offset:node.end_col_offset]
        source = text.strip()
    else:
        code = _segment(lines, node)
        code = " ".join(code.split()) if "\n" in code else code
        source = "\n".join(lines[first - 1:end]).strip()
    reads, depth = scan(value)
    if op == "+=" and target not in reads:
        reads = [target] + reads
    return Statement(block, target, op, value, first, line, col, code, source, marker, tuple(reads), depth,
                     stage)


def node_source(lines, node: ast.AST) -> str | None:
    """A node's code as ast.get_source_segment gives it (None without a position), from the
    block's lines split once (``CodeBlock.split_lines``): the whole text is not split again."""
    if getattr(node, "end_col_offset", None) is None:
        return None
    return _segment(lines, node)


def _segment(lines: list[str], node: ast.AST) -> str:
    """The source of a node (like ast.get_source_segment, without re-splitting the whole text
    for every statement, which is quadratic). AST columns are UTF-8 byte offsets."""
    first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
    chunk = [line.encode("utf-8") for line in lines[first:last + 1]]
    if not chunk:
        return ""
    if first == last:
        chunk[0] = chunk[0][node.col_offset:node.end_col_offset]
    else:
        chunk[0] = chunk[0][node.col_offset:]
        chunk[-1] = chunk[-1][:node.end_col_offset]
    return b"\n".join(chunk).decode("utf-8", "replace")


def number_forward(statements: list[Statement]) -> list[Statement]:
    """Give each forward statement its stage: its marker, else its position from 1."""
    out: list[Statement] = []
    used: dict[int, Statement] = {}
    for position, statement in enumerate(statements, start=1):
        stage = statement.marker if statement.marker is not None else position
        if stage in used:
            other = used[stage]
            raise statement.error(f"stage {stage} is already the stage of line {other.line}; "
                                  "each forward statement is its own stage (check the #(n) markers)")
        used[stage] = statement
        out.append(statement.with_stage(stage))
    return out


def attribute_backward(statements: list[Statement], forward: list[Statement], known: set[str],
                       readers: Callable[[], dict[str, list[Statement]]] | None = None) -> list[Statement]:
    """Give each backward statement its stage (see the module docstring). ``readers`` gives a
    map of each value's backward name to the forward statements that read it (default: by
    name); it is asked for only when a statement has no marker."""
    stages = sorted(s.stage for s in forward)
    stage_set = set(stages)
    index: list[dict[str, list[Statement]]] = []  # [readers, by name], built when first needed
    out: list[Statement] = []
    previous = stages[-1] if stages else 1
    indexed: dict[str, tuple[dict[int, Statement], dict[str, set[int]]]] = {}
    for statement in statements:
        if statement.marker is not None:
            if statement.marker not in stage_set:
                shown = f"{stages[0]} to {stages[-1]}" if stages else "none"
                raise statement.error(f"stage #({statement.marker}) does not exist; the forward "
                                      f"pass has stages {shown}")
            stage = statement.marker
        elif statement.target.startswith("d") and statement.target[1:] in known:
            # by version first (dx_1: the stages that read x#1); a pass that reuses one name for
            # every version (dc = 3 * dc) falls back to the stages that read the name at all
            value = statement.target[1:]
            if not index:
                by_name: dict[str, list[Statement]] = {}
                for stmt in forward:
                    for name in stmt.reads:
                        by_name.setdefault(name, []).append(stmt)
                index.extend((by_name if readers is None else readers(), by_name))
            if value not in indexed:  # each value's readers indexed once, not once per statement
                indexed[value] = _index_readers(index[0].get(value) or index[1].get(value, []))
            stage = _reader_stage(statement, *indexed[value])
        else:
            stage = previous
        previous = stage
        out.append(statement.with_stage(stage))
    return out


def _index_readers(readers: list[Statement]) -> tuple[dict[int, Statement], dict[str, set[int]]]:
    """The stages reading a value, and those stages by the gradient of their output."""
    found = {s.stage: s for s in readers}
    stages_by_gradient: dict[str, set[int]] = {}  # "d" + a reader's target -> its stages
    for stage, reader in found.items():
        stages_by_gradient.setdefault("d" + reader.target, set()).add(stage)
    return found, stages_by_gradient


def _reader_stage(statement: Statement, found: dict[int, Statement],
                  stages_by_gradient: dict[str, set[int]]) -> int:
    """The stage of an unmarked ``dv = ...``: the one stage that reads ``v``, or the one of
    them whose output's gradient the statement reads (the readers indexed once per value by
    :func:`_index_readers`: an index per statement was quadratic, 36 s for 20,000 ``dx +=``)."""
    name = statement.target[1:]
    if len(found) == 1:
        return next(iter(found))
    if not found:
        raise statement.error(f"no forward stage reads '{name}', so {statement.target} belongs to no "
                              "stage; add a #(n) marker to say which stage it belongs to")
    by_gradient: set[int] = set()
    for read in statement.reads:
        by_gradient |= stages_by_gradient.get(read, set())
    if len(by_gradient) == 1:
        return next(iter(by_gradient))
    listed = sorted(found)
    shown = ", ".join(str(s) for s in listed[:-1]) + f" and {listed[-1]}"
    raise statement.error(f"'{name}' is read by stages {shown}; add a #(n) marker to say which "
                          f"stage {statement.target} belongs to")
