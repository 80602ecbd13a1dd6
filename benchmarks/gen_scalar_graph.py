"""Write a random scalar graph of N stages as a bpstep scenario and as the same program on
micrograd (https://pypi.org/project/micrograd/), for benchmarks/engine_vs_micrograd.py.

Stages are mul, add, scale and relu. Each stage reads the previous stage's value (so every
value reaches the output) and one earlier value; operations are chosen so that every value
stays within [-10, 10]. The backward pass is written out by hand, one line per (stage, input),
in the notes' style, with `+=` wherever a value feeds several stages.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

INPUTS = 8


def generate(n: int, seed: int = 0):
    """Inputs, their values, and stages (target, op, a, b).

    Each stage reads the previous stage's value ``a`` (a chain, so every value reaches the
    output) and, for mul and add, an input or a recent value ``b``. Inputs are near +-1 and
    scale factors in +-[0.9, 1.1], relu is applied only where its input is positive, and a
    value that grows past 5 is halved: values stay in [-10, 10], and the inputs' gradients
    (which the comparison with micrograd reads) neither vanish nor overflow over 100,000
    stages. Gradients of values far from the output do shrink (dv0 is about 1e-67 at 10,000
    stages), as halving makes them.
    """
    rng = random.Random(seed)
    inputs = [f"x{i}" for i in range(INPUTS)]
    values = {name: rng.choice((-1, 1)) * rng.uniform(0.95, 1.05) for name in inputs}
    names = list(inputs)
    stages = []  # (target, op, a, b)
    for i in range(n):
        target = f"v{i}"
        a = names[-1]
        va = values[a]
        b = rng.choice(inputs) if rng.random() < 0.7 else names[max(0, len(names) - 1 - rng.randrange(1, 20))]
        vb = values[b]
        choice = rng.random()
        if abs(va) > 5:
            op, b, value = "scale", 0.5, 0.5 * va
        elif choice < 0.3 and abs(va * vb) <= 10 and 0.9 <= abs(vb) <= 1.1:
            op, value = "mul", va * vb
        elif choice < 0.6 and abs(va + vb) <= 10:
            op, value = "add", va + vb
        elif choice < 0.75 and va > 0:
            op, b, value = "relu", None, va
        else:
            c = round(rng.choice((-1, 1)) * rng.uniform(0.9, 1.1), 3)
            op, b, value = "scale", c, c * va
        stages.append((target, op, a, b))
        values[target] = value
        names.append(target)
    return inputs, {k: values[k] for k in inputs}, stages


def _forward_expr(op, a, b, mg=False):
    if op == "mul":
        return f"{a} * {b}"
    if op == "add":
        return f"{a} + {b}"
    if op == "scale":
        return f"{b} * {a}"
    return f"{a}.relu()" if mg else f"np.maximum(0, {a})"


def scenario_text(n: int, seed: int = 0) -> str:
    inputs, values, stages = generate(n, seed)
    out = ["bpstep: 1", f"title: random scalar graph, {n} stages", "inputs:"]
    out += [f"  {name}: {values[name]!r}" for name in inputs]
    out.append("forward: |")
    out += [f"  {t} = {_forward_expr(op, a, b)} #({i})" for i, (t, op, a, b) in enumerate(stages, 1)]
    out.append("backward: |")
    written: set[str] = {stages[-1][0]}  # the output's gradient is the upstream
    for i in range(len(stages), 0, -1):
        t, op, a, b = stages[i - 1]
        parts = []
        if op == "mul":
            parts = [(a, f"{b} * d{t}"), (b, f"{a} * d{t}")]
        elif op == "add":
            parts = [(a, f"d{t}"), (b, f"d{t}")]
        elif op == "scale":
            parts = [(a, f"{b} * d{t}")]
        else:
            parts = [(a, f"({a} > 0) * d{t}")]
        for name, grad in parts:
            sign = "+=" if name in written else "="
            written.add(name)
            out.append(f"  d{name} {sign} {grad} #({i})")
    return "\n".join(out) + "\n"


def micrograd_text(n: int, seed: int = 0) -> str:
    inputs, values, stages = generate(n, seed)
    out = ["import sys", "sys.setrecursionlimit(10_000_000)", "import threading",
           "threading.stack_size(512 * 1024 * 1024)", "from micrograd.engine import Value", "",
           "def main():"]
    out += [f"    {name} = Value({values[name]!r})" for name in inputs]
    out += [f"    {t} = {_forward_expr(op, a, b, mg=True)}" for t, op, a, b in stages]
    out.append(f"    {stages[-1][0]}.backward()")
    out.append("    import json")
    out.append("    print(json.dumps({" + ", ".join(f"'d{x}': {x}.grad" for x in inputs) + "}))")
    out += ["", "t = threading.Thread(target=main)", "t.start()", "t.join()"]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", type=int)
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    (args.outdir / f"scalar_{args.n}.yaml").write_text(scenario_text(args.n, args.seed))
    (args.outdir / f"scalar_{args.n}_micrograd.py").write_text(micrograd_text(args.n, args.seed))


if __name__ == "__main__":
    main()
