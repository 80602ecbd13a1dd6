"""Issue 8, benchmark 4: peak RSS of a matrix scenario of 1,000 backward steps on 256x256
arrays, stepped end to end through the engine's position queries (as the app asks them),
against a baseline process that holds what must be held: the interpreter and the same imports,
the forward cache and the final gradients (computed here with numpy directly).

    python benchmarks/memory.py [--stages 500] [--size 256]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

SCENARIO = """bpstep: 1
title: residual tanh chain, {stages} stages of {size}x{size}
seed: 0
inputs: |
  H0 = np.random.randn({size}, {size}) * 0.1
forward: |
{forward}
backward: |
{backward}
"""

# A residual chain: H_k = H_{{k-1}} + 0.1 * tanh(H_{{k-1}}), two stages each (T_k, H_k); its
# backward pass has two steps per residual block, one of them a += (a fork): 1,000 steps
# for 500 blocks.
STEPPER = """
import resource, sys
from bpstep.core.engine import load_walk
from bpstep.core.expr import Limits
import bpstep.ui.app  # the same imports as the app
# this scenario keeps ~2,000 arrays of 256x256: above the default total of a run (a budget
# against hostile files), as --max-total-elements allows
walk = load_walk(sys.argv[1], Limits(max_total_elements=10**9))
for p in range(walk.total + 1):
    step = walk.step(p)
    if step is not None:
        step.before, step.contribution, step.after
    for name in walk.names[:8]:
        walk.value_at(name, p)
        walk.contributions_at(name, p)
print(walk.total, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

BASELINE = """
import resource, sys
import numpy as np
import bpstep.core.engine, bpstep.ui.app  # the same imports
n, size = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.RandomState(0)
H = [rng.randn(size, size) * 0.1]
T = []
for k in range(n):
    T.append(np.tanh(H[-1]))
    H.append(H[-1] + 0.1 * T[-1])
dH = [None] * (n + 1)
dT = [None] * n
dH[n] = np.ones((size, size))
for k in range(n, 0, -1):
    dT[k - 1] = 0.1 * dH[k]
    dH[k - 1] = dH[k] + (1 - T[k - 1] ** 2) * dT[k - 1]
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def scenario(stages: int, size: int) -> str:
    forward, backward = [], []
    for k in range(1, stages + 1):
        forward.append(f"  T{k} = np.tanh(H{k - 1}) #({2 * k - 1})")
        forward.append(f"  H{k} = H{k - 1} + 0.1 * T{k} #({2 * k})")
    for k in range(stages, 0, -1):
        backward.append(f"  dT{k} = 0.1 * dH{k} #({2 * k})")
        backward.append(f"  dH{k - 1} = dH{k} #({2 * k})")
        backward.append(f"  dH{k - 1} += (1 - T{k}**2) * dT{k} #({2 * k - 1})")
    return SCENARIO.format(stages=stages, size=size, forward="\n".join(forward), backward="\n".join(backward))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stages", type=int, default=334)  # 3 steps a block: 1,002 steps
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    path = os.path.join(tempfile.mkdtemp(), "residual.yaml")
    with open(path, "w") as out:
        out.write(scenario(args.stages, args.size))
    ours = subprocess.run([sys.executable, "-c", STEPPER, path], capture_output=True, text=True, check=True)
    steps, our_kib = map(int, ours.stdout.split())
    base = subprocess.run([sys.executable, "-c", BASELINE, str(args.stages), str(args.size)],
                          capture_output=True, text=True, check=True)
    base_kib = int(base.stdout)
    print(f"{steps} backward steps on {args.size}x{args.size} arrays, stepped end to end")
    print(f"  peak RSS, bpstep:   {our_kib / 1024:.0f} MiB")
    print(f"  peak RSS, baseline: {base_kib / 1024:.0f} MiB (imports + forward cache + final gradients)")
    print(f"  ratio {our_kib / base_kib:.2f} (target <= 2)")


if __name__ == "__main__":
    main()
