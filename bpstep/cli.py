"""The command line (DESIGN.md section 3).

``bpstep SCENARIO`` opens the TUI; ``bpstep COMMAND ...`` runs one of the commands below.
Every scenario error is one line, ``PATH:LINE:COL: error: MESSAGE``, and exit status 2.
"""

from __future__ import annotations

import argparse
import gc
import os
import select
import stat
import sys
import warnings
from typing import Callable, Iterable, Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]

from bpstep import __version__
from bpstep.core.errors import ScenarioError
from bpstep.core.limits import DEFAULT_LIMITS, Limits

DESCRIPTION = "bpstep: a terminal step-through debugger for backpropagation."
EPILOG = """commands:
  bpstep SCENARIO [--record FILE]   step through the backward pass in the terminal
  bpstep run SCENARIO [--json]      the whole walk as text, or as one JSON document
  bpstep derive SCENARIO            print the backward pass bpstep derives, with #(n) markers
  bpstep check SCENARIO [--json]    find the first wrong line of the hand-written backward pass
  bpstep transcript FILE            a recorded session as Markdown (--asciicast OUT.cast)
  bpstep replay FILE                play a recorded session back in the debugger
  bpstep graph SCENARIO -o FILE.svg the circuit as an SVG picture (--at STAGE)

keys in the debugger: n/right next stage, s/down next statement, p/left previous stage,
up previous statement, home/end, g go to stage, b breakpoint, c continue, v circuit,
w first mistake, a about, ? help, q quit.
"""


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``: COLUMNS, else the terminal's width, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, its width found as argparse finds it but without importing shutil
    (which imports zlib, bz2 and lzma: 2 ms of every start; argparse makes a formatter for each
    ``add_argument``, to check it)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None):
        super().__init__(prog, indent_increment, max_help_position,
                         _terminal_columns() - 2 if width is None else width)


class RawDescriptionHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """:class:`HelpFormatter`, the description and epilog as written."""


def argument_parser(**kwargs) -> argparse.ArgumentParser:
    """An ArgumentParser with :class:`HelpFormatter` (unless ``formatter_class`` is given)."""
    return argparse.ArgumentParser(**{"formatter_class": HelpFormatter, **kwargs})


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _file_name(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("a file name is needed")
    return text


def _limit_flags(parser: argparse.ArgumentParser, circuit: bool = False) -> None:
    group = parser.add_argument_group("limits (checked before any work is done)")
    if circuit:
        group.add_argument("--max-circuit-size", type=_positive, default=DEFAULT_LIMITS.max_circuit_size,
                           metavar="N", help="most pieces the circuit lays out and labels (boxes, wire bends, "
                           "fork sums): a long scenario whose early values are read late makes "
                           "millions (default %(default)s)")
    group.add_argument("--max-file-bytes", type=_positive, default=DEFAULT_LIMITS.max_file_bytes,
                       metavar="N", help="largest scenario file (default %(default)s)")
    group.add_argument("--max-statements", type=_positive, default=DEFAULT_LIMITS.max_statements,
                       metavar="N", help="most statements in one code block (default %(default)s)")
    group.add_argument("--max-elements", type=_positive, default=DEFAULT_LIMITS.max_elements,
                       metavar="N", help="most elements in one array (default %(default)s)")
    group.add_argument("--max-total-elements", type=_positive, default=DEFAULT_LIMITS.max_total_elements,
                       metavar="N", help="most elements of all the values a run keeps (default %(default)s)")


def limits_from(args: argparse.Namespace) -> Limits:
    return Limits(max_file_bytes=args.max_file_bytes, max_statements=args.max_statements,
                  max_elements=args.max_elements, max_total_elements=args.max_total_elements,
                  max_circuit_size=getattr(args, "max_circuit_size", DEFAULT_LIMITS.max_circuit_size))


def _tui_parser() -> argparse.ArgumentParser:
    commands = "|".join(COMMANDS)
    parser = argument_parser(prog="bpstep", description=DESCRIPTION, epilog=EPILOG,
                             usage=f"%(prog)s [--record FILE] [limits] SCENARIO\n"
                                   f"       %(prog)s {{{commands}}} ...  (bpstep --help)",
                             formatter_class=RawDescriptionHelpFormatter)
    parser.add_argument("scenario", metavar="SCENARIO", help="a scenario file (YAML, format 1)")
    parser.add_argument("--record", metavar="FILE", type=_file_name,
                        help="write the session transcript to FILE (a new file)")
    parser.add_argument("--version", action="version", version=f"bpstep {__version__}")
    _limit_flags(parser, circuit=True)
    return parser


def _command_parsers(only: str | None = None
                     ) -> dict[str, tuple[argparse.ArgumentParser, Callable[[argparse.Namespace], int]]]:
    """Each command's parser and handler; ``only``: just that command's (building all six was
    6 ms of every ``bpstep run``)."""
    builders = {"run": _run_parser, "derive": _derive_parser, "check": _check_parser, "graph": _graph_parser}
    commands = {name: build() for name, build in builders.items() if only in (None, name)}
    if only is None or only not in builders:
        from bpstep.cli_transcript import transcript_commands

        commands.update(transcript_commands())
    return commands


def _run_parser():
    run = argument_parser(prog="bpstep run", description="The whole walk, non-interactive.")
    run.add_argument("scenario", metavar="SCENARIO")
    run.add_argument("--json", action="store_true", help="print one JSON document")
    run.add_argument("--no-check", dest="check", action="store_false",
                     help="skip the numeric gradient check (central differences re-run the "
                          "forward pass for every input element)")
    _limit_flags(run)
    return run, cmd_run


def _derive_parser():
    derive = argument_parser(
        prog="bpstep derive",
        description="Print the backward pass that bpstep derives from the forward pass, as code "
                    "with #(n) stage markers (paste it as the scenario's backward: block).")
    derive.add_argument("scenario", metavar="SCENARIO")
    _limit_flags(derive)
    return derive, cmd_derive


def _check_parser():
    check = argument_parser(
        prog="bpstep check",
        description="Check the hand-written backward pass step by step against the one bpstep "
                    "derives (and the gradients against central differences); report the first "
                    "wrong line. Exit status: 0 right, 1 wrong, 2 a bad scenario.")
    check.add_argument("scenario", metavar="SCENARIO")
    check.add_argument("--json", action="store_true", help="print the verdicts as one JSON document")
    _limit_flags(check)
    return check, cmd_check


def _graph_parser():
    graph = argument_parser(prog="bpstep graph", description="The circuit as an SVG picture: "
                            "values green above the wires, gradients red below.")
    graph.add_argument("scenario", metavar="SCENARIO")
    graph.add_argument("--at", metavar="STAGE", help="draw it once the backward pass has processed "
                       "STAGE (a stage number, or 'start' or 'end'; default: end)")
    graph.add_argument("-o", "--output", metavar="FILE.svg", required=True,
                       help="the SVG file to write ('-' for standard output)")
    _limit_flags(graph, circuit=True)
    return graph, cmd_graph


class OutputError(Exception):
    """Standard output cannot be written (a full disk, a closed file): the user's to fix."""


def emit(pieces: Iterable[str]) -> None:
    """Write to standard output, flushed, so that a write error is reported here (as one line,
    exit 2) and not as a bug, nor as Python's complaint at exit."""
    if sys.stdout is None:  # started with standard output closed (`>&-`)
        raise OutputError("standard output is closed")
    pieces = _widening(pieces, sys.stdout)
    try:
        fd = _nonblocking_fd(sys.stdout)
        if fd is None:
            for piece in pieces:
                sys.stdout.write(piece)
            sys.stdout.flush()
        else:  # Python's text layer drops what a non-blocking write refuses, and says nothing
            sys.stdout.flush()
            for piece in pieces:
                _write_all(fd, piece.encode(sys.stdout.encoding or "utf-8"))
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(exc.strerror or str(exc)) from None


PIPE_BYTES = 1 << 20  # Linux's default limit for a pipe's buffer (/proc/sys/fs/pipe-max-size)


def _widening(pieces: Iterable[str], stream) -> Iterator[str]:
    """``pieces``; once they pass PIPE_BYTES, a pipe ``stream`` writes to is widened to that
    (Linux: from 64 KB), so that the rest of a document of megabytes goes in a few blocking
    writes, not one each time the reader has taken 64 KB (6 MB of run --json at 10,000 stages
    waited on a Python reader about 20 ms, 5% of the run). Small output leaves the pipe as it
    is: a widened pipe counts against the user's budget of pipe memory while it lasts."""
    written = 0
    for piece in pieces:
        yield piece
        if written <= PIPE_BYTES:
            written += len(piece)
            if written > PIPE_BYTES:
                _widen_pipe(stream)


def _widen_pipe(stream) -> None:
    """A pipe smaller than PIPE_BYTES made that large; anything else, a system without it, or
    a refusal (the user's pipe budget spent): left as it is."""
    if fcntl is None or not hasattr(fcntl, "F_SETPIPE_SZ"):
        return
    try:
        fd = stream.fileno()
        if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) < PIPE_BYTES:
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except (AttributeError, OSError, ValueError):  # not a real file (a test's StringIO), or refused
        pass


def _nonblocking_fd(stream) -> int | None:
    """The file descriptor of ``stream`` if it is in non-blocking mode (a parent such as Node may
    leave a pipe so), else None."""
    try:
        fd = stream.fileno()
        return None if os.get_blocking(fd) else fd
    except (AttributeError, OSError, ValueError):  # not a real file (a test's StringIO)
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:  # the reader is behind: wait until the pipe takes more
            select.select([], [fd], [])


def is_input(output: str, *inputs: str | None) -> bool:
    """Whether writing ``output`` would overwrite one of the files being read."""
    for path in inputs:
        try:
            if path and os.path.samefile(output, path):
                return True
        except OSError:  # one of them does not exist (yet): not the same file
            pass
    return False


# What a finished batch command built, left for the process's end to take back (see script)
_KEPT: list[object] = []


def cmd_run(args: argparse.Namespace) -> int:
    from bpstep.core.engine import load_walk
    from bpstep.core.report import json_chunks, text_report

    walk = load_walk(args.scenario, limits_from(args))
    # the document is written as it is encoded: never all of it at once
    emit(json_chunks(walk, args.check) if args.json else [text_report(walk, args.check)])
    _KEPT[:] = [walk]
    return 0


def cmd_derive(args: argparse.Namespace) -> int:
    from bpstep.core.derive import load_derivation

    derivation = load_derivation(args.scenario, limits_from(args))
    emit([derivation.text + "\n"])
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from bpstep.core.check import load_check
    from bpstep.core.check_report import json_chunks, text_report

    result = load_check(args.scenario, limits_from(args))
    emit(json_chunks(result) if args.json else [text_report(result)])
    _KEPT[:] = [result]
    return result.exit_code


def cmd_graph(args: argparse.Namespace) -> int:
    from bpstep.core.engine import load_walk
    from bpstep.core.svg import graph_svg, position_at

    limits = limits_from(args)
    walk = load_walk(args.scenario, limits)
    try:
        position = position_at(walk, args.at)
    except ValueError as exc:
        print(f"bpstep graph: error: --at {args.at}: {exc}", file=sys.stderr)
        return 2
    text = graph_svg(walk, position, limits.max_circuit_size)
    if args.output == "-":
        emit([text])
        return 0
    if is_input(args.output, args.scenario):
        print(f"bpstep graph: error: {args.output} is the scenario itself: give -o another file name",
              file=sys.stderr)
        return 2
    try:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        print(f"bpstep graph: error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0


def cmd_tui(args: argparse.Namespace) -> int:
    from bpstep.core.engine import load_walk

    walk = load_walk(args.scenario, limits_from(args))  # a bad scenario fails before any screen
    if args.record is not None and os.path.lexists(args.record):  # never over a scenario or a session
        print(f"{args.record}:1:1: error: {args.record} already exists: record to a new file (bpstep does "
              "not overwrite one)", file=sys.stderr)
        return 2
    if not (sys.stdin.isatty() and sys.stderr.isatty()):  # Textual draws on stderr (DESIGN.md 3)
        print(f"bpstep: not starting the debugger: no terminal (stdin or stderr is not a tty).\n"
              f"For the walk as text, run: bpstep run {args.scenario}", file=sys.stderr)
        return 2
    writer = None
    if args.record is not None:  # an unwritable file fails here, before any screen
        from bpstep.core.transcript import TranscriptWriter

        try:
            writer = TranscriptWriter.open(args.record, walk, args.scenario)
        except ScenarioError as exc:
            print(exc.format(), file=sys.stderr)  # names the transcript (main would name the scenario)
            return 2
    from bpstep.ui.app import BpstepApp

    app = BpstepApp(walk, record=writer, circuit_limit=limits_from(args).max_circuit_size)
    # What exists now (Textual's modules, the app, the walk) lives as long as the program: keep it
    # out of the collector's full passes, one of which otherwise falls in a large walk's first frame
    gc.freeze()
    try:
        app.run()
    finally:
        app.recorder.close()
    return app.return_code or 0


def _drop_output() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


COMMANDS = ("run", "check", "derive", "graph", "transcript", "replay")  # _command_parsers', as the usage lists them
COMMAND_NAMES = frozenset(COMMANDS)
BATCH_COMMANDS = frozenset({"run", "check", "derive", "graph", "transcript"})  # all but replay: no screen


def script() -> None:
    """The ``bpstep`` command: :func:`main`, and its exit status.

    After ``run`` or ``check`` has written everything, the process ends at once (os._exit), as
    mypy's does: taking back a walk's records one by one, then the interpreter's own teardown,
    was 30 ms of the 0.4 s of ``run --json`` at 10,000 stages, for nothing. Its output is
    flushed first; if that fails, the ordinary exit reports it. Nothing else is running then
    (the batch commands start no thread and register nothing to run at exit).

    A batch command runs without the cyclic garbage collector: it keeps what it builds until
    it ends, and what it drops is freed by reference counting; what is left in cycles is a few
    dozen objects (its argument parser's) whatever the scenario's size (tests/test_cli.py counts
    them). The collector's passes only walked the live objects: 106 passes at 10,000 stages, 43
    during the imports, 8 ms of ``run --json``. The debugger, which runs for hours, keeps it
    (the engine pauses it for its bulk work: expr.bulk)."""
    _one_blas_thread()
    if sys.argv[1:2] and sys.argv[1] in BATCH_COMMANDS:
        gc.disable()
    code = main()
    if _KEPT:
        try:
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:
                    stream.flush()
        except (OSError, ValueError):
            sys.exit(code)
        os._exit(code)
    sys.exit(code)


BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")  # what OpenBLAS reads


def _one_blas_thread() -> None:
    """Before numpy is imported: its OpenBLAS starts a thread per core, which spins for about
    0.1 s of CPU after the import, beside bpstep's own start (on two cores, 12-60 ms of the
    wall time of ``run --json`` at 10,000 stages). bpstep's arrays are small; a number of
    threads the user gives is kept. The command's alone (:func:`script`): a program calling
    :func:`main` keeps its own environment."""
    if not any(name in os.environ for name in BLAS_THREADS):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # numpy's own warnings (np.mean of an empty slice) would be lines on stderr, or drawn over
    # the debugger's screen: inf and nan are values here, flagged where they are shown
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="numpy")
    args = None
    try:
        if argv and argv[0] in COMMAND_NAMES:  # the bare command does not build the others' parsers
            parser, handler = _command_parsers(argv[0])[argv[0]]
            args = parser.parse_args(argv[1:])
        else:
            parser, handler = _tui_parser(), cmd_tui
            args = parser.parse_args(argv)
        return handler(args)
    except ScenarioError as exc:
        print(exc.format(getattr(args, "scenario", None)), file=sys.stderr)
        return 2
    except BrokenPipeError:
        _drop_output()
        return 1
    except OutputError as exc:
        if sys.stdout is not None:
            _drop_output()  # what is still buffered would fail again at exit
        print(f"bpstep: error: cannot write the output: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except (Exception, MemoryError) as exc:  # a bug of bpstep's: still one line, never a traceback
        where = getattr(args, "scenario", None) or "bpstep"
        print(f"{where}:1:1: error: bpstep failed on this input ({type(exc).__name__}: "
              f"{str(exc)[:200]}); this is a bug in bpstep, please report it", file=sys.stderr)
        return 2
