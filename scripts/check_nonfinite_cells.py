"""Which NB201 cells gave no finite score, and are they the cells whose input never reaches the output?

    .venv/bin/python scripts/check_nonfinite_cells.py results/nb201_cifar10_allcells_seed0_bs64_jacob_cov.csv.gz

For each proxy in the given store exports (NB201 rows only): how many rows are not finite
(status nan / inf / -inf / error), how many of the exported cells have no path from input to
output avoiding ``none`` edges (``NB201Arch.input_reaches_output``; their output is a constant
zero, so input-gradient proxies are undefined there), and how the two sets overlap. Exit 1 when
some proxy's non-finite cells are not exactly its disconnected cells, 2 on unreadable input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gradsign.errors import StoreError
from gradsign.spaces.nb201 import NB201Arch
from gradsign.storage import read_score_export


def check(frame) -> list[dict]:
    rows = []
    nb201 = frame[frame["space"] == "nb201"]
    for proxy, part in nb201.groupby("proxy", sort=True):
        disconnected = {a for a in set(part["arch"]) if not NB201Arch.from_string(a).input_reaches_output()}
        nonfinite = set(part.loc[part["status"] != "ok", "arch"])
        rows.append({"proxy": proxy, "cells": int(part["arch"].nunique()), "nonfinite": len(nonfinite),
                     "disconnected": len(disconnected), "both": len(nonfinite & disconnected),
                     "nonfinite_only": len(nonfinite - disconnected),
                     "disconnected_only": len(disconnected - nonfinite)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("exports", type=Path, nargs="+", help="gradsign store export files (.csv or .csv.gz)")
    args = ap.parse_args(argv)
    try:
        results = [r for path in args.exports for r in check(read_score_export(path))]
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("| proxy | cells | not finite | input never reaches output | both | not finite only | disconnected only |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['proxy']} | {r['cells']} | {r['nonfinite']} | {r['disconnected']} | {r['both']} "
              f"| {r['nonfinite_only']} | {r['disconnected_only']} |")
    exact = all(r["nonfinite_only"] == 0 and r["disconnected_only"] == 0 for r in results)
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
