"""Time and memory of loading the NAS-Bench-201 ground truth (``NB201Table.load``).

Every measurement runs in a fresh Python process, so imports and caches of one
run do not help the next:

* cold: an empty cache directory, so the five CSVs are parsed, validated, joined
  and written to the cache (this includes importing pandas);
* warm: the same cache directory afterwards, so only the ``.npz`` is read.

Inside the child, time is ``time.perf_counter`` and memory is the peak resident
set size from ``resource.getrusage(RUSAGE_SELF).ru_maxrss``, taken before
``import gradsign.benchmarks``, after it and after the load; the reported
increases are differences of that high-water mark. The warm child also times
building ``.frame`` (imports pandas) and the noise ceiling (imports scipy), which
come after the load and are reported separately.

Usage::

    python scripts/bench_ground_truth.py [--data-dir DIR] [--warm-runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time

def peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

data_dir, extras = sys.argv[1] or None, sys.argv[2] == "1"
m0, t0 = peak_kib(), time.perf_counter()
import gradsign.benchmarks as gb
t1, m1 = time.perf_counter(), peak_kib()
table = gb.NB201Table.load(data_dir)
t2, m2 = time.perf_counter(), peak_kib()
out = {
    "import_s": t1 - t0, "load_s": t2 - t1, "total_s": t2 - t0,
    "import_mb": (m1 - m0) / 1024, "load_mb": (m2 - m1) / 1024, "total_mb": (m2 - m0) / 1024,
    "baseline_mb": m0 / 1024, "from_cache": table.from_cache, "rows": len(table),
    "columns": len(table.columns), "cache_file": str(table.cache_path) if table.cache_path else None,
    "pandas_imported": "pandas" in sys.modules,
}
if extras:
    t3 = time.perf_counter(); table.frame; t4 = time.perf_counter()
    nc = table.noise_ceiling(); t5 = time.perf_counter()
    out.update(frame_s=t4 - t3, noise_ceiling_s=t5 - t4, peak_mb_after_extras=(peak_kib() - m0) / 1024,
               spearman=nc.spearman, kendall=nc.kendall, n_archs=nc.n_archs)
print(json.dumps(out))
"""


def run_child(data_dir: str, cache: str, extras: bool) -> dict:
    env = dict(os.environ, GRADSIGN_CACHE=cache)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, data_dir, "1" if extras else "0"],
        capture_output=True, text=True, env=env,
    )
    if proc.returncode != 0:
        sys.exit(f"child process failed:\n{proc.stderr.strip()}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default="", help="data directory (default: gradsign's usual lookup)")
    ap.add_argument("--warm-runs", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="print the raw measurements as JSON")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="gradsign-bench-") as cache:
        cold = run_child(args.data_dir, cache, extras=False)
        if cold["from_cache"]:
            sys.exit("the cold run read a cache; expected an empty cache directory")
        warm = [run_child(args.data_dir, cache, extras=(k == 0)) for k in range(args.warm_runs)]
        cache_files = list(Path(cache).rglob("*.npz"))
        cache_mb = sum(p.stat().st_size for p in cache_files) / 2**20

    if args.json:
        print(json.dumps({"cold": cold, "warm": warm, "cache_mb": cache_mb}, indent=2))
        return

    def med(key: str) -> float:
        return statistics.median(w[key] for w in warm)

    print(f"NB201Table.load: {cold['rows']:,} archs x {cold['columns']} columns; "
          f"cache file {cache_mb:.1f} MB; python {sys.version.split()[0]}")
    print(f"fresh process each run; baseline peak RSS before import ~{cold['baseline_mb']:.0f} MB\n")
    print(f"{'':28s}{'import s':>10s}{'load s':>9s}{'total s':>9s}   {'peak RSS increase MB (import/load/total)':s}")
    print(f"{'cold (parse CSVs, write)':28s}{cold['import_s']:10.3f}{cold['load_s']:9.3f}{cold['total_s']:9.3f}   "
          f"{cold['import_mb']:6.1f} / {cold['load_mb']:6.1f} / {cold['total_mb']:6.1f}")
    print(f"{f'warm (cache), median of {len(warm)}':28s}{med('import_s'):10.3f}{med('load_s'):9.3f}"
          f"{med('total_s'):9.3f}   {med('import_mb'):6.1f} / {med('load_mb'):6.1f} / {med('total_mb'):6.1f}")
    best = min(w["total_s"] for w in warm)
    worst = max(w["total_s"] for w in warm)
    print(f"warm total s: min {best:.3f}, max {worst:.3f}; pandas imported by a warm load: "
          f"{any(w['pandas_imported'] for w in warm)}")
    x = warm[0]
    print(f"\nafter a warm load: .frame {x['frame_s']:.3f} s (imports pandas), noise_ceiling() "
          f"{x['noise_ceiling_s']:.3f} s (imports scipy); peak RSS then +{x['peak_mb_after_extras']:.0f} MB")
    print(f"noise ceiling (CIFAR-10 seed vs seed, {x['n_archs']:,} archs with 2+ runs): "
          f"Spearman {x['spearman']:.4f}, Kendall {x['kendall']:.4f}")


if __name__ == "__main__":
    main()
