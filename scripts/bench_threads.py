"""How many torch threads to score with, alone and beside another busy process (a script, not a test).

    .venv/bin/python scripts/bench_threads.py                     # 6 NB201 cells, gradsign
    .venv/bin/python scripts/bench_threads.py --cells 6 --proxies gradsign --threads 1,2

Runs the real command, ``gradsign score --sample N --seed 9 --proxies P --no-store``,
once per thread count and load: alone, and with one CPU-bound competitor process
(a busy loop, what any other job on a shared machine is). ``OMP_NUM_THREADS`` and
``MKL_NUM_THREADS`` are removed from the environment, so only ``--threads`` sets the
count. Prints each run's wall seconds, the ratio to ``--threads 1`` under the same
load, and whether the scores equal those of ``--threads 1`` alone (bit for bit, read
back from each run's own results store, or the largest relative difference). All
ratios come from this one invocation.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

GRADSIGN = Path(sys.executable).with_name("gradsign")


def _score(cells: int, proxies: str, threads: int, seed: int, store: Path) -> tuple[float, pd.DataFrame]:
    """Wall seconds of one command, and its scores read back exactly (float64) from its own fresh store."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    cmd = [str(GRADSIGN), "score", "--sample", str(cells), "--seed", str(seed), "--proxies", proxies,
           "--store", str(store), "--no-progress", "--format", "csv", "--threads", str(threads)]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.strip()}")
    with sqlite3.connect(store) as conn:
        rows = conn.execute("SELECT arch, proxy, value FROM scores").fetchall()
    frame = pd.DataFrame(rows, columns=["arch", "proxy", "value"]).pivot(index="arch", columns="proxy", values="value")
    return seconds, frame.sort_index()


def _busy() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True:\n    pass"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=6)
    ap.add_argument("--proxies", default="gradsign")
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--threads", default=None, help="comma-separated counts (default: 1 and the CPU count)")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    counts = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, cores})
    proxies = args.proxies.split(",")
    print(f"{args.cells} NB201 cells, proxies {args.proxies}, {cores} CPU cores; `gradsign score ... --threads N`",
          flush=True)

    rows, reference = [], None
    tmp = Path(tempfile.mkdtemp(prefix="gradsign-bench-threads-"))
    for load in ("alone", "beside 1 busy process"):
        busy = _busy() if load != "alone" else None
        try:
            for t in counts:
                seconds, frame = _score(args.cells, args.proxies, t, args.seed, tmp / f"{len(rows)}.sqlite")
                if reference is None and t == 1:
                    reference = frame
                rows.append(dict(load=load, threads=t, seconds=seconds, frame=frame))
                print(f"  {load:<22} --threads {t}: {seconds:6.1f} s", flush=True)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()

    print("\nload                   threads  wall s  s/cell  vs --threads 1 (same load)  scores vs --threads 1 alone")
    for r in rows:
        base = next(b for b in rows if b["load"] == r["load"] and b["threads"] == 1)["seconds"] if 1 in counts else None
        ratio = f"{r['seconds'] / base:.2f}x" if base else "-"
        diffs = []
        for p in proxies:
            a, b = r["frame"][p].to_numpy(float), reference[p].to_numpy(float)
            if (a == b).all():
                continue
            rel = abs(a - b) / abs(b).clip(min=1e-300)
            diffs.append(f"{p} max rel {rel.max():.1e}")
        same = "identical" if not diffs else "; ".join(diffs)
        print(f"{r['load']:<22} {r['threads']:>7}  {r['seconds']:6.1f}  {r['seconds'] / args.cells:6.2f}  "
              f"{ratio:>26}  {same}")


if __name__ == "__main__":
    main()
