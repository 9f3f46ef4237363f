"""Compare two score exports (`gradsign store export` CSVs) row by row (a script, not a test).

    .venv/bin/python scripts/compare_score_exports.py OLD.csv.gz NEW.csv.gz [--proxies gradsign,synflow]

Rows are matched on the store's full key (space, arch, dataset, proxy, proxy
version, options, batch size, seed, minibatch sampling, init), so only scores
that claim to be the same computation are compared. Per proxy it prints how
many rows the two files share, how many are identical (same status and, for
finite scores, the same float64 value bit for bit), the largest relative
difference, and the median ratio of the measured seconds (NEW / OLD): a check
that a run repeated on another day, machine or backend gives the same numbers,
and how its timings compare. Exit status 1 when any shared score differs, 2 on
unreadable input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from gradsign.errors import StoreError
from gradsign.storage import ResultsStore, read_score_export

KEY_COLUMNS = [c for c in ResultsStore.EXPORT_COLUMNS
               if c not in ("value", "status", "error", "seconds", "attempts", "created")]


# One export as a frame; StoreError with a one-line reason when the file is not one.
read_export = read_score_export


def compare(old: pd.DataFrame, new: pd.DataFrame, proxies: list[str] | None = None) -> list[dict]:
    """Per proxy: shared rows, identical rows, largest relative difference, median seconds ratio."""
    joined = old.merge(new, on=KEY_COLUMNS, suffixes=("_old", "_new"))
    names = proxies or sorted(set(old["proxy"]) | set(new["proxy"]))
    rows = []
    for proxy in names:
        part = joined[joined["proxy"] == proxy]
        a, b = part["value_old"].to_numpy(np.float64), part["value_new"].to_numpy(np.float64)
        same_status = part["status_old"].to_numpy() == part["status_new"].to_numpy()
        finite = np.isfinite(a) & np.isfinite(b)
        identical = same_status & (~finite | (a == b))
        rel = np.abs(a[finite] - b[finite]) / np.maximum(np.abs(a[finite]), 1e-300)
        secs = part["seconds_new"].to_numpy(np.float64) / part["seconds_old"].to_numpy(np.float64)
        secs = secs[np.isfinite(secs)]
        rows.append({
            "proxy": proxy,
            "only_old": int((old["proxy"] == proxy).sum() - len(part)),
            "only_new": int((new["proxy"] == proxy).sum() - len(part)),
            "shared": int(len(part)),
            "identical": int(identical.sum()),
            "status_differs": int((~same_status).sum()),
            "max_rel_diff": float(rel.max()) if rel.size else 0.0,
            "median_seconds_ratio": float(np.median(secs)) if secs.size else float("nan"),
        })
    return rows


def format_rows(rows: list[dict]) -> str:
    lines = ["| proxy | shared rows | identical | status differs | largest relative difference | "
             "median seconds new/old | only in old | only in new |", "| --- |" + " ---: |" * 7]
    for r in rows:
        lines.append(f"| {r['proxy']} | {r['shared']:,} | {r['identical']:,} | {r['status_differs']} | "
                     f"{r['max_rel_diff']:.2e} | {r['median_seconds_ratio']:.3f} | {r['only_old']:,} | "
                     f"{r['only_new']:,} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--proxies", default="", help="comma-separated; default: every proxy in either file")
    args = ap.parse_args(argv)
    try:
        old, new = read_export(args.old), read_export(args.new)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    proxies = [p.strip() for p in args.proxies.split(",") if p.strip()] or None
    rows = compare(old, new, proxies)
    print(format_rows(rows))
    return 0 if all(r["identical"] == r["shared"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
