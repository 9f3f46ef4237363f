"""What sharing one forward+backward saves the batch-gradient proxies (a script, not a test).

    .venv/bin/python scripts/bench_shared_pass.py                       # 8 NB201 cells, CIFAR-10
    .venv/bin/python scripts/bench_shared_pass.py --space nb101 --cells 4

grad_norm, snip, plain, fisher, grasp and jacob_cov all start with a forward of the
same network copy on the same minibatch. ``ProxyContext.batch_pass`` runs that
forward and the loss backward once and records what each requested proxy needs
(weight gradients; fisher's per-channel values; grasp's first-order graph;
jacob_cov's input gradient by an input-only second backward).

For each cell (seeded sample of the space; the first cell is a warm-up and is not
counted) this times the proxies twice in one process:

* ``separate``: a context that was not told which proxies follow, so each proxy
  runs its own pass, as before the shared pass existed (grad_norm, snip and plain
  already shared their plain backward then);
* ``shared``: the context ``gradsign.proxies.score`` builds.

The order alternates between cells so drifting machine load favours neither.
Printed: per-cell seconds of both, the median ratio separate/shared, the summed
ratio, and how many of the (cell, proxy) scores are bit-for-bit equal (all must be).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gradsign.proxies.context import ProxyContext
from gradsign.proxies.registry import get_proxy
from gradsign.workflows.scoring import Scorer, ScoringSetup

PROXIES = ("grad_norm", "snip", "plain", "fisher", "grasp", "jacob_cov")


def run_proxies(net, inputs, targets, names, *, share: bool, seed: int) -> tuple[dict[str, float], float]:
    """Score ``names`` on one context (reseeded per proxy as ``score`` does); returns (scores, seconds)."""
    start = time.perf_counter()
    ctx = ProxyContext(net, inputs, targets, requested=names if share else ())
    out = {}
    for name in names:
        torch.random.default_generator.manual_seed(seed)
        out[name] = float(get_proxy(name)(ctx))
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--space", default="nb201")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--cells", type=int, default=8, help="cells timed (plus one warm-up)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    scorer = Scorer(ScoringSetup(space=args.space, dataset=args.dataset, proxies=PROXIES,
                                 batch_size=args.batch_size, seed=args.seed))
    archs = scorer.space.sample(args.cells + 1, seed=args.seed)
    inputs, targets = scorer.minibatch
    print(f"{args.space}/{args.dataset}, batch {args.batch_size}, {args.threads} thread(s), "
          f"proxies {','.join(PROXIES)}; data: {scorer.data_description}")
    print(f"{'cell':>4}  {'separate s':>10}  {'shared s':>8}  ratio")
    sep_t, sh_t, equal, total = [], [], 0, 0
    for i, arch in enumerate(archs):
        torch.manual_seed(args.seed)
        net = scorer.build_network(arch)
        order = (False, True) if i % 2 == 0 else (True, False)
        res = {share: run_proxies(net, inputs, targets, PROXIES, share=share, seed=args.seed) for share in order}
        (a, ta), (b, tb) = res[False], res[True]
        if i == 0:
            continue  # warm-up: first-call allocations and kernel selection
        equal += sum(a[p] == b[p] or (a[p] != a[p] and b[p] != b[p]) for p in PROXIES)
        total += len(PROXIES)
        sep_t.append(ta)
        sh_t.append(tb)
        print(f"{i:>4}  {ta:>10.2f}  {tb:>8.2f}  {ta / tb:.2f}")
    ratios = [a / b for a, b in zip(sep_t, sh_t)]
    print(f"median ratio separate/shared: {statistics.median(ratios):.2f}; "
          f"summed: {sum(sep_t):.1f} s / {sum(sh_t):.1f} s = {sum(sep_t) / sum(sh_t):.2f}")
    print(f"bit-for-bit equal scores: {equal}/{total}")


if __name__ == "__main__":
    main()
