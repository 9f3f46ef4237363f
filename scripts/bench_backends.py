"""Throughput of the execution backends, and whether they agree (a script, not a test).

    .venv/bin/python scripts/bench_backends.py                       # 16 cells, gradsign,synflow,snip
    .venv/bin/python scripts/bench_backends.py --cells 32 --proxies gradsign,grad_norm,snip,grasp,fisher,synflow,jacob_cov

Scores the same seeded NB201 cells (CIFAR-10 minibatch, batch 64) with every
backend and worker count -- in-process (1 worker, torch's default threads and
1 thread), process pool and Ray (1 and 2 workers, one torch thread each) --
without a store, so every configuration computes everything. Prints cells/s,
the speed-up over in-process, and for each configuration how many of the
(cell, proxy) scores are identical to in-process (1 thread) -- the same float64
value, or NaN on both sides -- and the largest relative difference with the
proxy it occurred in. Start-up (spawning workers, starting Ray, loading the
minibatch in each worker) is timed separately from scoring and included in
"end-to-end cells/s".
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from gradsign.execution import CellTask, get_backend
from gradsign.workflows.scoring import Scorer, ScoringSetup


def _run(backend, scorer, tasks):
    """(first-result latency s, total s, results by arch)."""
    start = time.perf_counter()
    first = None
    out = {}
    for res in backend.run(scorer.worker_factory(), scorer, tasks):
        if first is None:
            first = time.perf_counter() - start
        out[res.arch] = res
    return first or 0.0, time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=16)
    ap.add_argument("--proxies", default="gradsign,synflow,snip")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backends", default="inprocess,process,ray")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (Ray actors then ask for one GPU each)")
    ap.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = ap.parse_args()

    setup = ScoringSetup(space="nb201", dataset="cifar10", proxies=tuple(args.proxies.split(",")),
                         batch_size=args.batch_size, seed=args.seed, device=args.device)
    scorer = Scorer(setup)
    archs = scorer.space.sample(args.cells, args.seed + 1000)
    tasks = [CellTask(scorer.space.to_string(a), setup.proxies) for a in archs]
    print(f"{args.cells} NB201 cells, proxies {args.proxies}, batch {args.batch_size}; "
          f"torch default threads {torch.get_num_threads()}", flush=True)

    configs = []
    names = args.backends.split(",")
    if "inprocess" in names:
        configs += [("inprocess", 1, None), ("inprocess", 1, 1)]
    for name in ("process", "ray"):
        if name in names:
            configs += [(name, 1, None), (name, 2, None)]

    reference = None
    rows = []
    default_threads = torch.get_num_threads()
    for name, workers, threads in configs:
        # In-process scoring runs with the setup's thread count (gradsign.runtime); the
        # workers of the other backends score with the scorer they rebuild (one thread).
        run_scorer = (Scorer(dataclasses.replace(setup, threads=threads or default_threads))
                      if name == "inprocess" else scorer)
        backend = get_backend(name, workers)
        first, total, results = _run(backend, run_scorer, tasks)
        label = f"{name} x{workers}" + (f" ({threads} thread)" if threads else "")
        errors = sum(r.error is not None for r in results.values())
        if name == "inprocess" and threads == 1:
            reference = results
        rows.append(dict(label=label, backend=name, workers=workers, seconds=total, first=first,
                         cells_per_s=len(tasks) / total, errors=errors, results=results))
        print(f"  {label:<28} {total:7.1f} s  {len(tasks) / total:.3f} cells/s  (first result after {first:.1f} s; "
              f"{errors} failed)", flush=True)

    base = next((r for r in rows if r["label"].startswith("inprocess x1 (1")), rows[0])
    print("\nbackend                       cells/s  after 1st result  speed-up vs in-process(1 thread)  identical / compared"
          "  max rel diff (proxy)")
    out = []
    for r in rows:
        n, same, worst, worst_proxy = 0, 0, 0.0, "-"
        if reference is not None:
            for arch, res in r["results"].items():
                ref = reference[arch]
                for p in setup.proxies:
                    a, b = res.values.get(p, np.nan), ref.values.get(p, np.nan)
                    n += 1
                    if a == b or (np.isnan(a) and np.isnan(b)):  # NaN on both sides (e.g. jacob_cov) agrees
                        same += 1
                        continue
                    # NaN on one side only is an infinite difference
                    rel = abs(a - b) / max(abs(b), 1e-30) if np.isfinite(a) and np.isfinite(b) else np.inf
                    if rel > worst or worst_proxy == "-":
                        worst, worst_proxy = rel, p
        # steady rate: cells finished after the first one, over the time after it (start-up excluded)
        steady = (len(tasks) - 1) / max(r["seconds"] - r["first"], 1e-9)
        r["steady_cells_per_s"] = steady
        print(f"{r['label']:<29} {r['cells_per_s']:7.3f}  {steady:16.3f}  {r['cells_per_s'] / base['cells_per_s']:31.2f}x  "
              f"{f'{same} / {n}':>20}  {worst:.2e} ({worst_proxy})")
        out.append({k: v for k, v in r.items() if k != "results"}
                   | {"compared": n, "identical": same, "max_rel_diff": worst, "max_rel_diff_proxy": worst_proxy})
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
