"""``bpstep transcript`` and ``bpstep replay``: recorded sessions (DESIGN.md section 4)."""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from bpstep.cli import _file_name, _limit_flags, argument_parser, limits_from
from bpstep.core.errors import ScenarioError

SCENARIO_HELP = ("the scenario to compare with (default: the header's path, relative to the "
                 "transcript's directory, else to the current directory)")


def transcript_commands() -> dict[str, tuple[argparse.ArgumentParser, Callable[[argparse.Namespace], int]]]:
    render = argument_parser(prog="bpstep transcript",
                             description="Render a recorded session (bpstep SCENARIO --record FILE) as Markdown.")
    render.add_argument("file", metavar="FILE", help="a transcript (JSON Lines)")
    # dest is not "scenario": cli.main names errors after args.scenario when it exists
    render.add_argument("--scenario", dest="scenario_file", metavar="PATH", help=SCENARIO_HELP)
    render.add_argument("--asciicast", metavar="OUT.cast", type=_file_name,
                        help="write an asciinema asciicast v2 recording instead of printing Markdown")
    _limit_flags(render)

    replay = argument_parser(prog="bpstep replay",
                             description="Play a recorded session back in the debugger, action by action: '.' "
                                         "the next action, ',' back one, space play/pause, + and - the speed; "
                                         "the debugger's own keys still move freely.")
    replay.add_argument("file", metavar="FILE", help="a transcript (JSON Lines)")
    replay.add_argument("--scenario", dest="scenario_file", metavar="PATH", help=SCENARIO_HELP)
    replay.add_argument("--autoplay", action="store_true",
                        help="start playing the actions one after another (space pauses)")
    replay.add_argument("--speed", type=_speed, default=1.0, metavar="N",
                        help="autoplay speed in actions per second (default %(default)s; + and - change it)")
    _limit_flags(replay, circuit=True)
    return {"transcript": (render, cmd_transcript), "replay": (replay, cmd_replay)}


def _speed(text: str) -> float:
    from bpstep.ui.replay import MAX_SPEED, MIN_SPEED  # the bounds live with the player

    try:
        speed = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise argparse.ArgumentTypeError(f"{text} is outside {MIN_SPEED:g}..{MAX_SPEED:g} actions per second")
    return speed


def _warn(lines) -> None:
    for line in lines:
        print(f"bpstep: warning: {line}", file=sys.stderr)


def cmd_transcript(args: argparse.Namespace) -> int:
    from bpstep.core.transcript import open_replay
    from bpstep.core.transcript import read
    from bpstep.core.transcript import asciicast, markdown
    from bpstep.core.transcript.replay import candidates

    from bpstep.cli import is_input

    if args.asciicast is not None and is_input(args.asciicast, args.file, args.scenario_file):
        raise ScenarioError(f"{args.asciicast} is a file being read: give --asciicast another file name",
                            path=args.asciicast)
    record = read(args.file, limits_from(args).max_elements)
    if args.asciicast is not None and is_input(args.asciicast, *candidates(record)):  # the header's scenario
        raise ScenarioError(f"{args.asciicast} is the scenario of this session: give --asciicast another "
                            "file name", path=args.asciicast)
    replay, notes = None, []
    try:
        replay = open_replay(record, args.scenario_file, limits_from(args))
    except ScenarioError as exc:
        if args.scenario_file is not None:
            raise
        problem = exc.message if exc.path == record.path else f"the scenario does not load ({exc.format()})"
        notes.append(f"{problem}; the values shown are the recorded ones")
    _warn((replay.warnings if replay else ()) + tuple(notes))
    if args.asciicast is None:
        from bpstep.cli import emit

        emit([markdown(record, replay, tuple(notes))])
        return 0
    try:
        with open(args.asciicast, "w", encoding="utf-8") as handle:
            handle.write(asciicast(record, replay))
    except OSError as exc:
        raise ScenarioError(f"cannot write the recording: {exc.strerror or exc}", path=args.asciicast) from None
    print(f"bpstep: wrote {args.asciicast} ({len(record.actions)} actions); play it with: "
          f"asciinema play {args.asciicast}", file=sys.stderr)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from bpstep.core.transcript import open_replay
    from bpstep.core.transcript import read

    replay = open_replay(read(args.file, limits_from(args).max_elements), args.scenario_file, limits_from(args))
    _warn(replay.warnings)
    if not (sys.stdin.isatty() and sys.stderr.isatty()):  # Textual draws on stderr (DESIGN.md 3)
        print(f"bpstep: not starting the replay: no terminal (stdin or stderr is not a tty).\n"
              f"For the session as text, run: bpstep transcript {args.file}", file=sys.stderr)
        return 2
    from bpstep.ui.replay import ReplayApp

    app = ReplayApp(replay, autoplay=args.autoplay, speed=args.speed,
                    circuit_limit=limits_from(args).max_circuit_size)
    app.run()
    return app.return_code or 0
