"""What each proxy and ensemble costs, in multiples of ONE batched forward+backward (a script, not a test).

    .venv/bin/python scripts/bench_proxy_cost.py                      # 10 NB201 cells, every proxy
    .venv/bin/python scripts/bench_proxy_cost.py --cells 10 --proxies gradsign,jacob_cov,meco \\
        --ensembles gradsign+jacob_cov,az_nas

For each of N seeded NB201 cells (CIFAR-10 minibatch, batch 64, one torch thread,
the cell's network built once), times:

* the unit: one forward of the batch, the cross-entropy loss and ``loss.backward()``
  on a fresh copy of the network (what any training step costs);
* each proxy alone: one ``gradsign.score(net, x, y, [proxy])`` call, wall time;
* each ensemble: one ``score`` call with all its members, so that members which
  can share a pass share it (the library's shared-pass mechanism), plus the rank
  aggregation, which costs nothing per cell.

Every timing is the median of ``--repeats`` runs after one warm-up; each proxy's runs alternate
with runs of the unit, and the table reports the median over cells of (proxy time / its paired
unit time) next to the mean seconds.
All ratios come from this one run on this machine.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

import gradsign
from gradsign.proxies import available_proxies, get_proxy
from gradsign.workflows.scoring import Scorer, ScoringSetup


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up (allocations, first-call imports)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _paired_times(fn, unit, repeats: int) -> tuple[float, float]:
    """Medians of ``fn``'s and ``unit``'s times, measured alternately after one warm-up of each."""
    fn()
    unit()
    a, b = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        a.append(time.perf_counter() - start)
        start = time.perf_counter()
        unit()
        b.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--proxies", default=None, help="comma-separated (default: every registered proxy but swap*)")
    ap.add_argument("--ensembles", default="gradsign+jacob_cov,az_nas", help="comma-separated ensemble names")
    args = ap.parse_args()
    torch.set_num_threads(1)

    proxies = (args.proxies.split(",") if args.proxies else
               [p.name for p in available_proxies() if not p.name.startswith("swap")])
    ensembles = [e for e in args.ensembles.split(",") if e]
    setup = ScoringSetup(space="nb201", dataset="cifar10", proxies=("gradsign",), batch_size=args.batch_size,
                         seed=args.seed)
    scorer = Scorer(setup)
    x, y = scorer.minibatch
    archs = scorer.space.sample(args.cells, args.seed + 1)
    rows: dict[str, list[tuple[float, float]]] = {name: [] for name in [*proxies, *ensembles]}
    units = []
    print(f"{args.cells} NB201 cells, CIFAR-10 batch {args.batch_size}, 1 thread, median of {args.repeats} runs",
          flush=True)
    for i, arch in enumerate(archs, 1):
        net = scorer.build_network(arch)

        def unit() -> None:
            # a private copy first, as every proxy's pass makes one (ProxyContext.fresh_model)
            fresh = copy.deepcopy(net)
            fresh.train()
            torch.nn.functional.cross_entropy(fresh(x), y).backward()

        u = _median_time(unit, args.repeats)
        units.append(u)
        # Each proxy is timed next to its own unit measurement (alternating), so that a load that
        # drifts during the run (a shared machine) moves both sides of the ratio alike.
        for name in proxies:
            t, tu = _paired_times(lambda: gradsign.score(net, x, y, [name], seed=0), unit, args.repeats)
            rows[name].append((t, t / tu))
        for name in ensembles:
            members = list(get_proxy(name).members)
            t, tu = _paired_times(lambda: gradsign.score(net, x, y, members, seed=0), unit, args.repeats)
            rows[name].append((t, t / tu))
        print(f"  cell {i}/{args.cells}: unit {u * 1000:.1f} ms", flush=True)

    print(f"\nunit = one batched forward + cross-entropy + backward: mean {statistics.mean(units) * 1000:.1f} ms")
    print("\n| proxy / ensemble | x unit (median over cells) | mean s/cell |")
    print("| --- | ---: | ---: |")
    for name, vals in rows.items():
        label = f"{name} (members in one call)" if name in ensembles else name
        print(f"| {label} | {statistics.median(v[1] for v in vals):.2f} | {statistics.mean(v[0] for v in vals):.3f} |")


if __name__ == "__main__":
    main()
