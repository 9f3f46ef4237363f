"""Check the NB101 and DARTS network builders against NASLib's parameter counts.

NASLib's zero-cost files record, per architecture, the parameter count of the
network it scored (``params``, in millions: ``count / 1e6`` with 6 decimals,
computed by tensorwatch over the modules a forward pass uses):

* ``zc_nasbench101.json`` (500 cells): NASLib's NB101 model is the
  ``nasbench_pytorch`` port of the benchmark network. Our builder with the
  benchmark's defaults (128 stem channels, 3 stacks of 3 cells, 10 classes) is
  compared; its count includes BN weights/biases and the classifier, like the
  benchmark's ``trainable_parameters`` (two official values are checked too).
* ``zc_nasbench301.json`` (725 archs): NASLib's NB301 model is the DARTS
  evaluation network with NB301's ``C = 32, layers = 8``, no auxiliary head,
  and *non-affine* BNs inside the cell operations (NASLib builds cell ops with
  ``affine=False``). Our builder is compared with ``cell_affine=False``;
  DARTS's own ``NetworkCIFAR`` (our default, ``cell_affine=True``) has
  ``2 * channels`` more parameters per BN in each cell op.

Every network is really built, on PyTorch's ``meta`` device (shapes only, no
memory or init cost), and counted; the analytic counters
(``count_nb101_params``, ``count_darts_params``) must agree with the built
networks too. Tolerance: the file value times 1e6 must be within 0.5 of our
integer count, i.e. exact (the 6 decimals of a count in millions are its units).

Usage::

    python scripts/check_params_nb101_darts.py [--data-dir DIR] [--list]

Prints ``NB101 params matched: X / 500`` and ``DARTS params matched: Y / 725``
and exits with status 1 on any mismatch (2 if the files cannot be read).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from gradsign.data.paths import find_resource
from gradsign.errors import GradsignError
from gradsign.spaces.darts import DartsArch
from gradsign.spaces.darts_network import build_darts_network, count_darts_params
from gradsign.spaces.nb101 import NB101Arch
from gradsign.spaces.nb101_network import build_nb101_network, count_nb101_params

TOLERANCE = 0.5  # parameters; the files store count / 1e6 with 6 decimals
DARTS_OPTIONS = dict(C=32, layers=8, auxiliary=False, cell_affine=False)

# Published NAS-Bench-101 data points (the benchmark's own records): spec, hash, trainable_parameters.
OFFICIAL_NB101 = (
    (
        [[0, 1, 0, 0, 1, 1, 0], [0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 1, 0],
         [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
        ["input", "conv3x3-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv3x3-bn-relu", "conv1x1-bn-relu", "output"],
        "00005c142e6f48ac74fdcf73e3439874",
        8_555_530,
    ),
    (
        [[0, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
         [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
        ["input", "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3", "conv3x3-bn-relu", "conv3x3-bn-relu", "output"],
        None,  # the README's Inception-like example; its hash is not published
        2_694_282,
    ),
)


def meta_params(build, *args, **kwargs) -> int:
    """Parameter count of a network built on the meta device (no storage, no init work)."""
    with torch.device("meta"):
        net = build(*args, **kwargs)
    return sum(p.numel() for p in net.parameters())


def load_records(path: Path, wrapper: str | None) -> dict[str, dict]:
    with open(path, "rb") as f:
        doc = json.load(f)
    if wrapper is not None:
        doc = doc[wrapper]
    return doc["cifar10"]


def compare(name: str, records: dict[str, dict], to_arch, built_count, analytic_count, show: bool) -> tuple[int, int, int]:
    """(matched, total, analytic-vs-built disagreements); prints mismatches."""
    matched = disagree = 0
    counts: dict = {}  # arch -> built count; NASLib's NB101 keys repeat cells (500 keys, 301 pruned specs)
    for key, rec in records.items():
        value = rec["params"]["score"] if isinstance(rec["params"], dict) else rec["params"]
        arch = to_arch(key)
        if arch not in counts:
            counts[arch] = built_count(arch)
            if analytic_count(arch) != counts[arch]:
                disagree += 1
                print(f"  {name} analytic counter disagrees with the built network for {key}")
        n = counts[arch]
        if abs(value * 1e6 - n) <= TOLERANCE:
            matched += 1
        elif show or matched + disagree < 10:
            print(f"  {name} mismatch {key}: file {value} ours {n / 1e6:.6f} ({arch})")
    print(f"  {name}: built {len(counts)} distinct networks for {len(records)} records")
    return matched, len(records), disagree


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", help="data directory holding naslib_zc/ (default: $GRADSIGN_DATA or ../shared/data)")
    ap.add_argument("--list", action="store_true", help="print every mismatch")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    try:
        nb101_path = find_resource("naslib-zc-nb101", args.data_dir)
        nb301_path = find_resource("naslib-zc-nb301", args.data_dir)
        nb101 = load_records(nb101_path, "nasbench101")
        nb301 = load_records(nb301_path, None)
    except (GradsignError, OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    failed = False

    official_ok = 0
    for matrix, ops, spec_hash, params in OFFICIAL_NB101:
        arch = NB101Arch(matrix, ops)
        ok = meta_params(build_nb101_network, arch) == params and (spec_hash is None or arch.spec_hash() == spec_hash)
        official_ok += ok
    print(f"NB101 official data points (hash, trainable_parameters) matched: {official_ok} / {len(OFFICIAL_NB101)}")
    failed |= official_ok != len(OFFICIAL_NB101)

    print(f"NB101: {nb101_path} (benchmark network: 128 stem channels, 3x3 cells, 10 classes)")
    m, total, dis = compare(
        "NB101", nb101, NB101Arch.from_naslib,
        lambda a: meta_params(build_nb101_network, a), count_nb101_params, args.list,
    )
    print(f"NB101 params matched: {m} / {total}  (tolerance {TOLERANCE} parameters: exact count)")
    failed |= m != total or dis > 0

    print(f"DARTS: {nb301_path} (options {DARTS_OPTIONS})")
    m, total, dis = compare(
        "DARTS", nb301, DartsArch.from_string,
        lambda a: meta_params(build_darts_network, a, **DARTS_OPTIONS),
        lambda a: count_darts_params(a, **DARTS_OPTIONS), args.list,
    )
    print(f"DARTS params matched: {m} / {total}  (tolerance {TOLERANCE} parameters: exact count)")
    failed |= m != total or dis > 0

    print(f"time: {time.perf_counter() - t0:.1f} s")
    print("RESULT:", "FAIL" if failed else "OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
