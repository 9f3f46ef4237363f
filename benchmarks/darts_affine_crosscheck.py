"""Does the cell-op BatchNorm affine explain our DARTS scores' distance from NASLib's?

Our DARTS network is DARTS's own ``NetworkCIFAR``, whose cell ops have affine
BatchNorms; NASLib's (which produced ``zc_nasbench301.json``) builds them with
``affine=False`` (``benchmarks/check_params_nb101_darts.py`` matches its parameter
counts only that way). This script scores a seeded sample of the file's cells
twice, with the two networks built from the same seed and scored on the same
minibatch, and prints, per proxy, how each version ranks the cells against
NASLib's stored scores (Spearman), and how the two versions rank against each
other. A version that agrees with NASLib much better than the other means the
affine parameters are (part of) the difference; equal agreement means they are not::

    python benchmarks/darts_affine_crosscheck.py --cells 40 --proxies grad_norm,snip,fisher

Not a test (about 40 s of one core per cell for those three proxies).
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


def run(cells: int, proxies: list[str], seed: int, batch_size: int, data_dir: str | None) -> str:
    missing = [p for p in proxies if p not in NASLIB_PROXY_NAMES]
    if missing:
        raise GradsignError(f"no NASLib score for {', '.join(missing)}; choose among {', '.join(NASLIB_PROXY_NAMES)}")
    ref = load_naslib_zc("darts", "cifar10", data_dir=data_dir)
    rng = np.random.default_rng(seed)
    rows = ref.iloc[np.sort(rng.choice(len(ref), size=min(cells, len(ref)), replace=False))]
    x, y = load_image_set("cifar10", "train", data_dir=data_dir).sample_batch(batch_size, seed=seed)
    ours = {affine: {p: [] for p in proxies} for affine in (True, False)}
    start = time.perf_counter()
    for i, arch in enumerate(rows["arch"]):
        for affine in (True, False):
            torch.manual_seed(seed)
            model = build_darts_network(arch, 10, cell_affine=affine)
            values = score(model, x, y, proxies, seed=seed)
            for p in proxies:
                ours[affine][p].append(values[p])
        elapsed = time.perf_counter() - start
        print(f"{i + 1}/{len(rows)} cells, {elapsed:.0f} s", file=sys.stderr, flush=True)
    lines = [f"{len(rows)} cells of zc_nasbench301.json (seed {seed}), batch {batch_size}; "
             f"Spearman of our scores with NASLib's, cell-op BatchNorm affine vs not:", "",
             "| proxy | affine (our default) vs NASLib | no affine (NASLib's network) vs NASLib | affine vs no affine |",
             "|---|---|---|---|"]
    for p in proxies:
        theirs = rows[NASLIB_PROXY_NAMES[p]].to_numpy(dtype=float)
        a, n = np.asarray(ours[True][p]), np.asarray(ours[False][p])
        lines.append(f"| {p} | {stats.spearmanr(a, theirs).statistic:.4f} | {stats.spearmanr(n, theirs).statistic:.4f} "
                     f"| {stats.spearmanr(a, n).statistic:.4f} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=40)
    ap.add_argument("--proxies", default="grad_norm,snip,fisher")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--data-dir")
    args = ap.parse_args()
    try:
        if args.cells < 3:
            raise GradsignError("--cells must be at least 3")
        print(run(args.cells, parse_proxy_list(args.proxies), args.seed, args.batch_size, args.data_dir))
    except GradsignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
