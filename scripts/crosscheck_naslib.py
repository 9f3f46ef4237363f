#!/usr/bin/env python
"""Cross-check our baseline zero-cost proxies against NASLib's published scores on NAS-Bench-201.

NASLib (automl/NASLib, NAS-Bench-Suite-Zero) stores, for ~725 NB201 cells per
dataset, the score of each proxy computed with batch size 64
(``naslib_zc/zc_nasbench201.json`` in the shared data folder). For the first
``--limit`` of those cells (by NASLib idx) this script builds the network with
:func:`gradsign.spaces.build_nb201_network` (seeded per cell), takes ONE seeded
minibatch of 64 training images from :mod:`gradsign.data.images`, scores every
proxy with :func:`gradsign.score`, and prints per proxy the Spearman and Kendall
correlation between our scores and NASLib's, over the cells.

Failures: NASLib stores -1e8 for a NaN/inf score; our non-finite scores are
mapped to -1e8 for the correlation too (same rank), and counted.

Rows are appended to ``--output`` (CSV) as they are computed; rerunning with the
same output file skips the cells already there, so a long run can be resumed.

    nice python scripts/crosscheck_naslib.py --dataset cifar10 --limit 100 --output runs/xcheck_c10.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy import stats

import gradsign
from gradsign.benchmarks.naslib_zc import NASLIB_FAIL, NASLIB_PROXY_NAMES, score_ratios
from gradsign.data.images import SplitFallbackWarning, load_image_set
from gradsign.data.paths import resolve_data_dir
from gradsign.spaces.nb201 import NB201Arch
from gradsign.spaces.nb201_network import build_nb201_network

# NASLib's op order in its 6-int tuples, and its edge order (0->1, 0->2, 0->3, 1->2, 1->3, 2->3).
NASLIB_OPS = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
NASLIB_NAME = NASLIB_PROXY_NAMES  # our proxy name -> NASLib's
TARGET = {"params": 0.95, "flops": 0.95, "synflow": 0.95, "l2_norm": 0.95}  # others: 0.85
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "ImageNet16-120": 120}
FAIL = NASLIB_FAIL  # NASLib's stand-in for NaN/inf


def naslib_key_to_arch(key: str) -> NB201Arch:
    """``"(0, 2, 3, 2, 3, 1)"`` -> the NB201 cell (edges 0->1, 0->2, 0->3, 1->2, 1->3, 2->3)."""
    o = [NASLIB_OPS[int(t)] for t in key.strip("()").split(",")]
    return NB201Arch.from_string(f"|{o[0]}~0|+|{o[1]}~0|{o[3]}~1|+|{o[2]}~0|{o[4]}~1|{o[5]}~2|")


def _finite_or_fail(x: float) -> float:
    return x if math.isfinite(x) else FAIL


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="cifar10", choices=sorted(NUM_CLASSES))
    ap.add_argument("--limit", type=int, default=None, help="first N cells by NASLib idx (default: all)")
    ap.add_argument("--output", type=Path, required=True, help="CSV of all scores (appended; resumable)")
    ap.add_argument("--proxies", default=",".join(NASLIB_NAME), help="comma list (default: every proxy NASLib's file holds)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--batch-seed", type=int, default=0, help="seed of the one minibatch used for every cell")
    ap.add_argument("--init-seed", type=int, default=0, help="cell k is built after torch.manual_seed(init_seed + idx)")
    ap.add_argument("--no-augment", action="store_true", help="no crop/flip (NASLib's batches were augmented)")
    ap.add_argument("--per-cell-batch", action="store_true",
                    help="a different batch per cell (seed batch_seed + idx), as NASLib's loader did")
    ap.add_argument("--against", type=Path, default=None,
                    help="another output CSV of this script (e.g. other --init-seed/--batch-seed): also print the "
                    "correlation of our scores between the two runs, our own seed-to-seed agreement")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (1 is fastest on a busy machine)")
    ap.add_argument("--no-channels-last", action="store_true",
                    help="keep NCHW; by default network and batch use channels_last, 2x faster convolutions on "
                    "CPU, same numbers up to float rounding")
    args = ap.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    proxies = [p.strip() for p in args.proxies.split(",") if p.strip()]
    unknown = [p for p in proxies if p not in NASLIB_NAME]
    if unknown:
        ap.error(f"no NASLib counterpart for {unknown}")

    ddir = resolve_data_dir(args.data_dir)
    if ddir is None:
        ap.error("data directory not found (../shared/data or $GRADSIGN_DATA)")
    table = json.loads((Path(ddir) / "naslib_zc" / "zc_nasbench201.json").read_text())[args.dataset]
    cells = sorted(table.items(), key=lambda kv: int(kv[1]["idx"]))
    if args.limit is not None:
        cells = cells[: args.limit]

    with warnings.catch_warnings():
        # The shared CIFAR-100 / ImageNet16-120 files hold test images only; say so once, below.
        warnings.simplefilter("ignore", SplitFallbackWarning)
        images = load_image_set(args.dataset, "train", data_dir=ddir)
    print(f"# images: {images.describe() if hasattr(images, 'describe') else images.dataset} "
          f"(split used: {images.split}, augment: {not args.no_augment})", flush=True)

    def batch_for(idx: int):
        seed = args.batch_seed + (idx if args.per_cell_batch else 0)
        return images.sample_batch(args.batch_size, seed=seed, augment=not args.no_augment)

    fixed_batch = None if args.per_cell_batch else batch_for(0)

    columns = ["naslib_key", "naslib_idx", "arch", "val_accuracy", "seconds"]
    columns += [f"ours_{p}" for p in proxies] + [f"naslib_{p}" for p in proxies]
    done: dict[str, dict[str, str]] = {}
    if args.output.exists():
        with args.output.open() as f:
            for row in csv.DictReader(f):
                done[row["naslib_key"]] = row
        if done and list(next(iter(done.values())).keys()) != columns:
            ap.error(f"{args.output} has other columns (other proxies?); use a new --output")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    new_file = not args.output.exists() or not done
    out = args.output.open("w" if new_file else "a", newline="")
    writer = csv.DictWriter(out, fieldnames=columns)
    if new_file:
        writer.writeheader()

    t_start = time.time()
    n_new = 0
    for i, (key, rec) in enumerate(cells):
        if key in done:
            continue
        idx = int(rec["idx"])
        arch = naslib_key_to_arch(key)
        torch.manual_seed(args.init_seed + idx)
        net = build_nb201_network(arch, NUM_CLASSES[args.dataset])
        x, y = fixed_batch if fixed_batch is not None else batch_for(idx)
        if not args.no_channels_last:
            net = net.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        t0 = time.time()
        ours = gradsign.score(net, x, y, proxies, seed=args.init_seed + idx)
        sec = time.time() - t0
        row = {"naslib_key": key, "naslib_idx": idx, "arch": arch.to_string(),
               "val_accuracy": rec["val_accuracy"], "seconds": f"{sec:.2f}"}
        for p in proxies:
            row[f"ours_{p}"] = repr(ours[p])
            # A few cells lack a score in NASLib's file (one cifar10 cell has no synflow).
            ref = rec.get(NASLIB_NAME[p])
            row[f"naslib_{p}"] = repr(float(ref["score"])) if isinstance(ref, dict) else "nan"
        writer.writerow(row)
        out.flush()
        done[key] = {k: str(v) for k, v in row.items()}
        n_new += 1
        print(f"[{i + 1}/{len(cells)}] idx {idx} {arch.to_string()} {sec:.1f}s", flush=True)
    out.close()
    if n_new:
        print(f"# {n_new} new cells, {(time.time() - t_start) / n_new:.1f} s per cell", flush=True)

    rows = [done[k] for k, _ in cells if k in done]
    report(rows, proxies, args.dataset)
    if args.against is not None:
        self_agreement(rows, args.against, proxies)
    return 0


def self_agreement(rows: list[dict[str, str]], other_csv: Path, proxies: list[str]) -> None:
    """Spearman of our scores between this run and ``other_csv`` over their common cells.

    Two runs that differ only in seeds (initialization, batch) bound how well any
    re-implementation can agree with NASLib's single run: if ours-vs-NASLib is
    as high as ours-vs-ours, the remaining gap is seed noise, not definition.
    """
    with other_csv.open() as f:
        other = {r["naslib_key"]: r for r in csv.DictReader(f)}
    common = [r for r in rows if r["naslib_key"] in other]
    print(f"\nour seed-to-seed agreement with {other_csv} ({len(common)} common cells)")
    print(f"{'proxy':<10} {'n':>4} {'spearman':>9} {'kendall':>8}")
    for p in proxies:
        if not common or f"ours_{p}" not in other[common[0]["naslib_key"]]:
            continue
        a = np.array([_finite_or_fail(float(r[f"ours_{p}"])) for r in common])
        b = np.array([_finite_or_fail(float(other[r["naslib_key"]][f"ours_{p}"])) for r in common])
        rho = stats.spearmanr(a, b).statistic if len(common) > 2 else float("nan")
        tau = stats.kendalltau(a, b).statistic if len(common) > 2 else float("nan")
        print(f"{p:<10} {len(common):>4} {rho:>9.4f} {tau:>8.4f}")


def report(rows: list[dict[str, str]], proxies: list[str], dataset: str) -> None:
    """Print the per-proxy agreement table (and each side's correlation with val accuracy)."""
    print(f"\n{dataset}: {len(rows)} cells")
    # rho_abs / sign_agree: Spearman of |ours| vs |NASLib| and the share of cells whose signs agree
    # (for proxies like grasp whose sign flips between seeds on large-magnitude cells);
    # ratio_*: ours / NASLib cell by cell (median, min, max over cells where both are finite, NASLib's non-zero):
    # a scale check on top of the ranking one.
    head = (f"{'proxy':<10} {'n':>4} {'spearman':>9} {'kendall':>8} {'target':>6} {'ok':>3} {'nan_ours':>8} "
            f"{'fail_naslib':>11} {'rho_acc_ours':>12} {'rho_acc_naslib':>14} {'rho_abs':>8} {'sign_agree':>10} "
            f"{'ratio_med':>10} {'ratio_min':>10} {'ratio_max':>10}")
    print(head)
    print("-" * len(head))
    for p in proxies:
        have = [r for r in rows if not math.isnan(float(r[f"naslib_{p}"]))]  # NASLib has a score
        ours = np.array([float(r[f"ours_{p}"]) for r in have])
        ref = np.array([float(r[f"naslib_{p}"]) for r in have])
        acc = np.array([float(r["val_accuracy"]) for r in have])
        nan_ours = int(np.sum(~np.isfinite(ours)))
        fail_ref = int(np.sum((ref == FAIL) | ~np.isfinite(ref)))  # -1e8 or a stored -inf
        a = np.array([_finite_or_fail(v) for v in ours])
        enough = len(have) > 2
        rho = stats.spearmanr(a, ref).statistic if enough else float("nan")
        tau = stats.kendalltau(a, ref).statistic if enough else float("nan")
        ra = stats.spearmanr(a, acc).statistic if enough else float("nan")
        rr = stats.spearmanr(ref, acc).statistic if enough else float("nan")
        target = TARGET.get(p, 0.85)
        ok = "yes" if rho >= target else "NO"
        rabs = stats.spearmanr(np.abs(a), np.abs(ref)).statistic if enough else float("nan")
        sign = float(np.mean(np.sign(a) == np.sign(ref))) if enough else float("nan")
        r_med, r_min, r_max = score_ratios(ours, ref) or (np.nan,) * 3
        print(f"{p:<10} {len(have):>4} {rho:>9.4f} {tau:>8.4f} {target:>6.2f} {ok:>3} {nan_ours:>8} {fail_ref:>11} "
              f"{ra:>12.4f} {rr:>14.4f} {rabs:>8.4f} {sign:>10.2f} {r_med:>10.4g} {r_min:>10.4g} {r_max:>10.4g}")


if __name__ == "__main__":
    sys.exit(main())
