"""Seconds per cell of each proxy from store exports, split by the day the rows were computed.

A long run that spans sessions can be scored on different machines (the store keeps each row's
creation time and seconds, and ``gradsign store import`` keeps both). ``gradsign evaluate``'s
s/cell column is the mean over every row; this script shows where those seconds came from, and
``--since`` restricts the mean to rows computed from that day on (one machine).

    python scripts/seconds_per_cell.py results/nb201_cifar10_allcells_seed0_bs64_*.csv.gz [--since 2026-12-05]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from gradsign.errors import StoreError
from gradsign.storage import read_score_export

COLUMNS = ("proxy", "status", "seconds", "created")


def load(paths: list[Path]) -> pd.DataFrame:
    frames = []
    for path in paths:
        try:
            frames.append(read_score_export(path)[list(COLUMNS)])
        except StoreError as exc:
            raise SystemExit(f"error: {exc}") from None
    rows = pd.concat(frames, ignore_index=True)
    rows["day"] = pd.to_datetime(rows["created"], unit="s", utc=True).dt.strftime("%Y-%m-%d")
    return rows


def report(rows: pd.DataFrame, since: str | None) -> str:
    lines = ["rows per proxy and day computed (mean s/cell):", ""]
    by_day = rows.groupby(["proxy", "day"])["seconds"].agg(["count", "mean"])
    for (proxy, day), r in by_day.iterrows():
        lines.append(f"  {proxy:<10} {day}  {int(r['count']):>6} rows  {r['mean']:.3f} s")
    if since is not None:
        kept = rows[rows["day"] >= since]
        lines += ["", f"from {since} on:", "",
                  "| proxy | cells | mean s/cell | median s/cell |", "|---|---|---|---|"]
        for proxy, r in kept.groupby("proxy")["seconds"].agg(["count", "mean", "median"]).iterrows():
            lines.append(f"| {proxy} | {int(r['count'])} | {r['mean']:.3f} | {r['median']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("exports", type=Path, nargs="+", help="gradsign store export files (.csv or .csv.gz)")
    ap.add_argument("--since", help="YYYY-MM-DD (UTC): also report the means over rows computed from that day on")
    args = ap.parse_args(argv)
    print(report(load(args.exports), args.since))
    return 0


if __name__ == "__main__":
    sys.exit(main())
