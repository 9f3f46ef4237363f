"""What FastAvgPool2d saves the forward-only proxies on NB201 / DARTS (a script, not a test).

    .venv/bin/python scripts/bench_avg_pool.py                           # 6 NB201 cells, CIFAR-10
    .venv/bin/python scripts/bench_avg_pool.py --space darts --cells 3 --proxies swap

Two parts, each timed in this one run, native and fast in alternating order so that
drifting machine load favours neither:

1. The 3x3 average pool alone (stride 1, padding 1, padding excluded) on the map
   sizes of an NB201 network: torch's ``avg_pool2d`` against
   :class:`gradsign.spaces.pooling.FastAvgPool2d` under ``torch.no_grad``.
2. The proxies on cells that contain an ``avg_pool_3x3`` edge (seeded sample of the
   space; the first cell is a warm-up and is not counted): each cell scored with
   the space's pools as built (``fast``) and with their forward replaced by
   ``nn.AvgPool2d.forward`` (``native``).

Printed: milliseconds / seconds of both, the median and summed ratios
native/fast, and how many results are bit-for-bit equal (all must be).
"""

from __future__ import annotations

import argparse
import statistics
import time
from contextlib import contextmanager, nullcontext

import torch
from torch import nn

from gradsign.proxies import score
from gradsign.spaces.pooling import FastAvgPool2d
from gradsign.workflows.scoring import Scorer, ScoringSetup

DEFAULT_PROXIES = "swap,naswot,meco,zen,az_expressivity"
# (batch, channels, side): the maps an NB201 cell pools on CIFAR, for SWAP's 16 samples and the 64 of a batch.
NB201_MAPS = ((16, 16, 32), (16, 32, 16), (16, 64, 8), (64, 16, 32), (64, 32, 16), (64, 64, 8))


@contextmanager
def native_pools():
    """Within the block, FastAvgPool2d runs torch's own kernel (the reference the fast path must equal)."""
    fast = FastAvgPool2d.forward
    FastAvgPool2d.forward = nn.AvgPool2d.forward
    try:
        yield
    finally:
        FastAvgPool2d.forward = fast


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal values, NaN where NaN, and the same sign bits (so +0 / -0 count as different)."""
    return (a.shape == b.shape and torch.equal(a.isnan(), b.isnan())
            and torch.equal(a.nan_to_num(0.0), b.nan_to_num(0.0)) and torch.equal(a.signbit(), b.signbit()))


def time_pool_op(repeats: int, seed: int) -> None:
    pool = FastAvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    generator = torch.Generator().manual_seed(seed)
    print(f"{'map (N, C, H=W)':>18}  {'native ms':>9}  {'fast ms':>7}  ratio  bits equal")
    ratios = []
    for i, (n, c, side) in enumerate(NB201_MAPS):
        x = torch.randn(n, c, side, side, generator=generator)
        times: dict[bool, float] = {}
        outputs: dict[bool, torch.Tensor] = {}
        for native in ((True, False) if i % 2 == 0 else (False, True)):
            with torch.no_grad(), (native_pools() if native else nullcontext()):
                outputs[native] = pool(x)
                start = time.perf_counter()
                for _ in range(repeats):
                    pool(x)
                times[native] = (time.perf_counter() - start) / repeats * 1e3
        ratios.append(times[True] / times[False])
        print(f"{str((n, c, side)):>18}  {times[True]:>9.3f}  {times[False]:>7.3f}  {ratios[-1]:>5.2f}  "
              f"{same_bits(outputs[True], outputs[False])}")
    print(f"pool alone: median ratio native/fast {statistics.median(ratios):.2f}")


def time_proxies(args: argparse.Namespace) -> None:
    proxies = [p.strip() for p in args.proxies.split(",") if p.strip()]
    scorer = Scorer(ScoringSetup(space=args.space, dataset=args.dataset, proxies=proxies,
                                 batch_size=args.batch_size, seed=args.seed))
    # Only cells with an average pool can change; draw until enough of them are found.
    candidates = scorer.space.sample(max(50, 20 * (args.cells + 1)), seed=args.seed)
    archs = [a for a in candidates if "avg_pool_3x3" in scorer.space.to_string(a)][:args.cells + 1]
    inputs, targets = scorer.minibatch
    print(f"\n{args.space}/{args.dataset}, batch {args.batch_size}, {args.threads} thread(s), proxies "
          f"{','.join(proxies)}; cells with an avg_pool_3x3 edge; data: {scorer.data_description}")
    print(f"{'cell':>4}  {'native s':>8}  {'fast s':>6}  ratio")
    native_t, fast_t, equal, total = [], [], 0, 0
    for i, arch in enumerate(archs):
        torch.manual_seed(args.seed)
        net = scorer.build_network(arch)
        res = {}
        for native in ((True, False) if i % 2 == 0 else (False, True)):
            with native_pools() if native else nullcontext():
                start = time.perf_counter()
                scores = score(net, inputs, targets, proxies, seed=args.seed)
                res[native] = (scores, time.perf_counter() - start)
        (a, ta), (b, tb) = res[True], res[False]
        if i == 0:
            continue  # warm-up: first-call allocations and kernel selection
        equal += sum(a[p] == b[p] or (a[p] != a[p] and b[p] != b[p]) for p in proxies)
        total += len(proxies)
        native_t.append(ta)
        fast_t.append(tb)
        print(f"{i:>4}  {ta:>8.2f}  {tb:>6.2f}  {ta / tb:.2f}")
    if not native_t:
        print("no cell with an avg_pool_3x3 edge was timed (raise --cells)")
        return
    ratios = [a / b for a, b in zip(native_t, fast_t)]
    print(f"median ratio native/fast: {statistics.median(ratios):.2f}; "
          f"summed: {sum(native_t):.1f} s / {sum(fast_t):.1f} s = {sum(native_t) / sum(fast_t):.2f}")
    print(f"bit-for-bit equal scores: {equal}/{total}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--space", default="nb201")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--cells", type=int, default=6, help="cells timed (plus one warm-up)")
    ap.add_argument("--proxies", default=DEFAULT_PROXIES)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=50, help="calls per timing of the pool alone")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    time_pool_op(args.repeats, args.seed)
    if args.cells > 0:
        time_proxies(args)


if __name__ == "__main__":
    main()
