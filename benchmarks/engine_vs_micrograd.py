"""Issue 8, benchmark 1: whole-process wall time of `bpstep run --json` on a random scalar
graph against the same program on micrograd (forward and backward), median of N runs each,
measured in the same run; and 100,000 stages against 10,000. The inputs' gradients must agree.

    pip install -r benchmarks/requirements.txt
    python benchmarks/engine_vs_micrograd.py [--runs 5] [--big 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

from gen_scalar_graph import micrograd_text, scenario_text  # noqa: E402
from tmux_harness import bpstep_bin, median, precompile_bpstep  # noqa: E402


FLOOR = """\
import json, sys, time
import numpy, yaml
with open({scenario!r}) as f:
    data = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
with open({document!r}) as f:
    text = f.read()
start = time.perf_counter()
document = json.loads(text)  # not part of the floor: bpstep has the values already
sys.stderr.write(f"{{time.perf_counter() - start}}\\n")
sys.stdout.write(json.dumps(document))  # encoding and writing the same document: part of it
"""


def once(command: list[str], floor: bool = False) -> tuple[float, str]:
    """Wall time of a process, and its output. ``floor``: less the time the process reports on
    stderr (the floor's decoding of the document it then encodes: ``FLOOR``)."""
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - start
    return (elapsed - float(proc.stderr.split()[-1]) if floor else elapsed), proc.stdout


def timed(commands: list[list[str]], runs: int, floor: bool = False) -> list[tuple[float, str]]:
    """Median wall time of each command, and its output, ``runs`` times each in alternation:
    the machine's speed drifts (this one's by 1.5x over an hour), and alternating puts each
    program's runs in the same moments as the others'."""
    times: list[list[float]] = [[] for _ in commands]
    outs = [""] * len(commands)
    for _ in range(runs):
        for i, command in enumerate(commands):
            elapsed, outs[i] = once(command, floor)
            times[i].append(elapsed)
    return [(median(t), out) for t, out in zip(times, outs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=100_000)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    paths = {}
    for n in (args.small, args.big):
        paths[n] = os.path.join(folder, f"scalar_{n}.yaml")
        with open(paths[n], "w") as out:
            out.write(scenario_text(n))
    mg_path = os.path.join(folder, "micrograd_prog.py")
    with open(mg_path, "w") as out:
        out.write(micrograd_text(args.small))

    bpstep = bpstep_bin()
    precompile_bpstep()
    # --no-check: micrograd checks nothing either; the central-difference check re-runs the
    # forward pass twice per input element (issue 5), which is not what this compares.
    flags = ["--no-check", "--max-statements", str(10 * args.big), "--max-file-bytes", str(200_000_000)]
    (mg_time, mg_out), (small_time, small_out) = timed(
        [[sys.executable, mg_path], [bpstep, "run", "--json", *flags, paths[args.small]]], args.runs)
    [(big_time, _)] = timed([[bpstep, "run", "--json", *flags, paths[args.big]]], max(1, args.runs // 2) | 1)

    # What no implementation in CPython gets under: the interpreter, numpy and PyYAML, the
    # YAML, Python's own parser over both blocks (the collector paused), and writing the same
    # document; nothing evaluated, no step recorded, no JSON encoded.
    document = os.path.join(folder, "document.json")
    with open(document, "w") as out:
        out.write(small_out)
    floor_path = os.path.join(folder, "floor.py")
    with open(floor_path, "w") as out:
        out.write(FLOOR.format(scenario=paths[args.small], document=document))
    [(floor_time, _)] = timed([[sys.executable, floor_path]], args.runs, floor=True)

    ours = json.loads(small_out)["gradients"]
    theirs = json.loads(mg_out)
    worst = max(abs(ours.get(k, 0.0) - v) / max(abs(v), 1e-300) for k, v in theirs.items())
    print(f"{args.small} stages: micrograd {mg_time:.3f} s, bpstep run --json {small_time:.3f} s, "
          f"ratio {small_time / mg_time:.2f} (target <= 3)")
    print(f"{args.small} stages, the floor (start-up, numpy and yaml, encoding and writing the same "
          f"document): {floor_time:.3f} s, ratio to micrograd {floor_time / mg_time:.2f}")
    print(f"{args.big} stages: bpstep run --json {big_time:.3f} s, ratio to {args.small} stages "
          f"{big_time / small_time:.2f} (target <= 12)")
    print(f"inputs' gradients vs micrograd: largest relative difference {worst:.2e} "
          f"({'agree' if worst < 1e-9 else 'DISAGREE'})")


if __name__ == "__main__":
    main()
