"""How many scored cells per second the results store (the single writer) absorbs (a script, not a test).

    .venv/bin/python scripts/bench_store.py [--cells 2000] [--proxies 11]

Writes ``--cells`` cells x ``--proxies`` scores into a fresh SQLite store in a
temporary folder, once with one transaction per cell (``put_results``, what the
scorer does) and once with one transaction per (cell, proxy) (``put``), and
prints cells/s for each: the ceiling of any backend's sweep rate, since the
driver alone writes the store.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from gradsign.storage.store import ResultsStore, ScoreKey


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=2000)
    ap.add_argument("--proxies", type=int, default=11)
    args = ap.parse_args()
    keys = [ScoreKey(space="nb201", dataset="cifar10", proxy=f"proxy{i}", proxy_version="1", options="{}",
                     batch_size=64, seed=0, sampling="bench", init="bench") for i in range(args.proxies)]
    with tempfile.TemporaryDirectory() as tmp:
        store = ResultsStore(Path(tmp) / "bench.sqlite")
        start = time.perf_counter()
        for c in range(args.cells):
            store.put_results([(k, f"cell{c}", 1.0, 0.1) for k in keys])
        per_cell = args.cells / (time.perf_counter() - start)
        start = time.perf_counter()
        for c in range(args.cells):
            for k in keys:
                store.put(k, f"other{c}", 1.0, 0.1)
        per_score = args.cells / (time.perf_counter() - start)
        assert store.count() == 2 * args.cells * args.proxies
    print(f"{args.cells} cells x {args.proxies} proxies into a fresh SQLite store (WAL):")
    print(f"  one transaction per cell (put_results):          {per_cell:8.0f} cells/s")
    print(f"  one transaction per (cell, proxy) (put):          {per_score:8.0f} cells/s")


if __name__ == "__main__":
    main()
