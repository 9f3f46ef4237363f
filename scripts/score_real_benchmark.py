"""Score the small real benchmark's architectures with every proxy, as the recipe trains them (issue #25).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/score_real_benchmark.py [--archs 500] [--proxies all] [--seed 0]

The archs are the benchmark's (``NB201Space().sample(archs, --sample-seed)``, the list
scripts/train_real_benchmark.py trains, whether trained yet or not); each is built as
the recipe builds it (width 8, one cell per stage) and scored on one fixed batch of 64
of the recipe's training images at 16x16 (gradsign.training.scoring), under --seed, one
torch thread. Writes ``results/real_benchmark/proxy_scores_seed<seed>.csv.gz`` (arch,
proxy, score, seconds; sorted rows, deterministic bytes) every --save-every archs and
at the end; a rerun computes only the (arch, proxy) pairs the file lacks.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--archs", type=int, default=500)
    ap.add_argument("--sample-seed", type=int, default=0)
    ap.add_argument("--proxies", default="all", help="comma list, or all (every registered proxy)")
    ap.add_argument("--seed", type=int, default=0, help="network init, proxy randomness and the batch")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--output", type=Path, default=None)
    ap.add_argument("--save-every", type=int, default=25)
    args = ap.parse_args(argv)

    import torch

    from gradsign.proxies.api import describe_proxies
    from gradsign.spaces import get_space
    from gradsign.training import SMALL_CIFAR10, prepare_data
    from gradsign.training.proxy_table import ProxyScoreTable
    from gradsign.training.scoring import proxy_minibatch, score_as_trained

    torch.set_num_threads(1)
    output = args.output or ROOT / "results" / "real_benchmark" / f"proxy_scores_seed{args.seed}.csv.gz"
    try:  # check the output is writable before any work
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        ap.error(f"--output {output}: cannot create its folder ({exc.strerror})")
    if not os.access(output.parent, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        ap.error(f"--output {output}: not writable")
    names = [r["name"] for r in describe_proxies()] if args.proxies == "all" else [
        p.strip() for p in args.proxies.split(",") if p.strip()]
    table = ProxyScoreTable.load(output) if output.exists() else ProxyScoreTable({})
    space, recipe = get_space("nb201"), SMALL_CIFAR10
    archs = [space.to_string(a) for a in space.sample(args.archs, args.sample_seed)]
    todo = [(a, [p for p in names if (a, p) not in table.rows]) for a in archs]
    todo = [(a, ps) for a, ps in todo if ps]
    print(f"{len(names)} proxies x {len(archs)} archs: {sum(len(ps) for _, ps in todo)} scores to compute "
          f"({len(table.rows)} in {output.name})", flush=True)
    if not todo:
        return 0
    data = prepare_data(recipe)
    batch = proxy_minibatch(data, args.batch_size, args.seed)
    # One untimed warm-up: first calls pay one-off costs (FLOP tracing, allocator) that are no proxy's.
    score_as_trained(space, space.parse(todo[0][0]), recipe, data, todo[0][1], seed=args.seed, batch=batch)
    start = time.time()
    try:
        for n, (arch, proxies) in enumerate(todo, start=1):
            values, seconds = score_as_trained(space, space.parse(arch), recipe, data, proxies, seed=args.seed,
                                               batch=batch)
            for p in proxies:
                table.rows[(arch, p)] = (float(values[p]), float(seconds.get(p, math.nan)))
            if n % args.save_every == 0 or n == len(todo):
                table.save(output)
                eta = (time.time() - start) / n * (len(todo) - n)
                print(f"{n}/{len(todo)} archs scored, saved; ETA {eta / 60:.1f} min", flush=True)
    except KeyboardInterrupt:
        table.save(output)
        print(f"\ninterrupted: every arch finished is saved in {output}; rerun to go on", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
