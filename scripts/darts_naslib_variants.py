"""Which difference from NASLib's set-up explains our DARTS proxy scores' distance from theirs?

Our DARTS network is DARTS's own evaluation ``NetworkCIFAR``, scored on one
seeded minibatch of 64 shared by all cells. NASLib, which produced
``zc_nasbench301.json``, differs in three ways (found by reading its code; see
docs/results.md): its cell ops' BatchNorms have no affine parameters, its pooling
ops are followed by a parameter-free BatchNorm, and it drew a new minibatch of 32
(training augmentation on) for every cell. This script scores a seeded sample of
the file's cells under variants that switch these on one at a time:

* ``ours``: our default (affine cell BNs, no BN after pools, one batch of
  ``--batch-size`` for all cells);
* ``no_affine``: cell-op BNs without affine parameters;
* ``pool_bn``: a ``BatchNorm2d(affine=False)`` after every pool op;
* ``batch_per_cell``: our network, but a new random batch of 32 per cell
  (seed ``1000 + i`` for the i-th cell; no augmentation);
* ``naslib``: all three together.

Every network is built under the same torch seed (the added BNs draw nothing,
so the weights are the same across variants). For each proxy it prints
Spearman with NASLib's stored scores for each variant, and each variant's
Spearman with ``ours``::

    python scripts/darts_naslib_variants.py --cells 30 --proxies grad_norm,snip,fisher

Not a test: about 3 s of one core per proxy, cell and variant.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from scipy import stats

from gradsign.benchmarks.naslib_zc import NASLIB_PROXY_NAMES, load_naslib_zc
from gradsign.data.images import load_image_set
from gradsign.errors import GradsignError
from gradsign.proxies import parse_proxy_list
from gradsign.proxies.api import score
from gradsign.spaces.darts_network import build_darts_network

# name -> (cell_affine, pool_bn, new batch of 32 per cell)
VARIANTS = {
    "ours": (True, False, False),
    "no_affine": (False, False, False),
    "pool_bn": (True, True, False),
    "batch_per_cell": (True, False, True),
    "naslib": (False, True, True),
}
PER_CELL_BATCH = 32  # NASLib's batch for this file (its jacob_cov is 2.015x smaller than ours at 64)


def run(cells: int, proxies: list[str], variants: list[str], seed: int, batch_size: int, data_dir: str | None) -> str:
    missing = [p for p in proxies if p not in NASLIB_PROXY_NAMES]
    if missing:
        raise GradsignError(f"no NASLib score for {', '.join(missing)}; choose among {', '.join(NASLIB_PROXY_NAMES)}")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise GradsignError(f"unknown variant {', '.join(unknown)}; valid: {', '.join(VARIANTS)}")
    if "ours" not in variants:
        variants = ["ours", *variants]  # the reference column
    ref = load_naslib_zc("darts", "cifar10", data_dir=data_dir)
    rng = np.random.default_rng(seed)
    rows = ref.iloc[np.sort(rng.choice(len(ref), size=min(cells, len(ref)), replace=False))]
    images = load_image_set("cifar10", "train", data_dir=data_dir)
    shared = images.sample_batch(batch_size, seed=seed)
    ours = {v: {p: [] for p in proxies} for v in variants}
    need_own_batch = any(VARIANTS[v][2] for v in variants)
    start = time.perf_counter()
    for i, arch in enumerate(rows["arch"]):
        own = images.sample_batch(PER_CELL_BATCH, seed=1000 + i) if need_own_batch else None
        for v in variants:
            affine, pool_bn, per_cell = VARIANTS[v]
            x, y = own if per_cell else shared
            torch.manual_seed(seed)
            model = build_darts_network(arch, 10, cell_affine=affine, pool_bn=pool_bn)
            values = score(model, x, y, proxies, seed=seed)
            for p in proxies:
                ours[v][p].append(values[p])
        print(f"{i + 1}/{len(rows)} cells, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    lines = [f"{len(rows)} cells of zc_nasbench301.json (sample seed {seed}); shared batch {batch_size}, "
             f"per-cell batch {PER_CELL_BATCH}. Spearman with NASLib's stored scores (and with `ours`):", "",
             "| proxy | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    for p in proxies:
        theirs = rows[NASLIB_PROXY_NAMES[p]].to_numpy(dtype=float)
        base = np.asarray(ours["ours"][p])
        cells_ = []
        for v in variants:
            mine = np.asarray(ours[v][p])
            rho = stats.spearmanr(mine, theirs).statistic
            cells_.append(f"{rho:.3f}" if v == "ours" else f"{rho:.3f} ({stats.spearmanr(mine, base).statistic:.3f})")
        lines.append(f"| {p} | " + " | ".join(cells_) + " |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=30)
    ap.add_argument("--proxies", default="grad_norm,snip,fisher")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--data-dir")
    args = ap.parse_args()
    try:
        if args.cells < 3:
            raise GradsignError("--cells must be at least 3")
        variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        print(run(args.cells, parse_proxy_list(args.proxies), variants, args.seed, args.batch_size, args.data_dir))
    except GradsignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
