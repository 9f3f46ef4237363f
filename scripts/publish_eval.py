"""Copy a ``gradsign evaluate --output DIR`` folder into ``results/`` without the benchmark's data.

``scores.csv`` of ``evaluate`` carries, next to our scores, the ``accuracy`` column read from the
benchmark table (NAS-Bench-201 / NAS-Bench-101 / NAS-Bench-301): the user's own data, fine in
``runs/``, but a slice of a file we must not redistribute. This script writes everything else
unchanged (summary.json, the scatter PNGs, any extra .md files) and ``scores.csv`` without the
accuracy column; the accuracies come back from the benchmark itself (``gradsign evaluate`` with
the same arguments reads the scores from the store and recomputes nothing).

    python scripts/publish_eval.py runs/eval_c10_full_all results/eval_nb201_cifar10_allcells [--gzip]
    python scripts/publish_eval.py results/eval_nb201_cifar10 results/eval_nb201_cifar10   # in place
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import pandas as pd

#: Columns of evaluate's scores.csv that come from the benchmark table, not from us.
BENCHMARK_COLUMNS = ("accuracy",)


def publish(src: Path, dst: Path, gzip: bool = False) -> list[Path]:
    if not (src / "summary.json").is_file() or not (src / "scores.csv").is_file():
        raise SystemExit(f"error: {src} is not a gradsign evaluate output (no summary.json / scores.csv)")
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.iterdir()):
        if path.name == "scores.csv" or not path.is_file():
            continue
        target = dst / path.name
        if path.resolve() != target.resolve():
            shutil.copyfile(path, target)
        written.append(target)
    frame = pd.read_csv(src / "scores.csv", dtype=str, keep_default_na=False)  # text in, text out
    frame = frame.drop(columns=[c for c in BENCHMARK_COLUMNS if c in frame.columns])
    out = dst / ("scores.csv.gz" if gzip else "scores.csv")
    # Write to a temporary name first, so that an in-place run never leaves a half file.
    tmp = out.with_name(out.name + ".part")
    frame.to_csv(tmp, index=False, compression="gzip" if gzip else None)
    tmp.replace(out)
    if gzip and (dst / "scores.csv").exists():
        (dst / "scores.csv").unlink()
    written.append(out)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="gradsign evaluate --output folder")
    ap.add_argument("dst", type=Path, help="folder under results/ (may be src itself)")
    ap.add_argument("--gzip", action="store_true", help="write scores.csv.gz (for all-cells runs)")
    args = ap.parse_args(argv)
    for path in publish(args.src, args.dst, gzip=args.gzip):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
