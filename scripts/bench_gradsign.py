"""Benchmark the gradsign engines on NB201 networks (a script, not a test).

    .venv/bin/python scripts/bench_gradsign.py                 # 20 cells, batch 64, CPU
    .venv/bin/python scripts/bench_gradsign.py --cells 30 --threads 1 --profile

For a fixed, seeded set of NB201 cells it times, per cell and after a warm-up:

* ``plain``: ONE ordinary batched forward + backward of the cross-entropy loss on
  a private copy (what grad_norm / snip cost) -- the yardstick;
* ``fast``: ``gradsign_sign_sums(engine="fast")`` (the whole proxy, private copy,
  runtime check and reduction included);
* ``reference``: ``gradsign_sign_sums(engine="reference")``, the per-sample loop.

It prints the median seconds per cell of each, the ratios, the largest relative
score difference between the engines, the float64 "exact" score (fast engine in
float64, which equals the float64 reference loop to rounding, see
tests/test_engine_parity.py) and each float32 engine's distance to it, and the
per-sample sign flips between the engines (``compare_engines``). Finally the
peak memory of scoring the largest NB201 network (every edge nor_conv_3x3) at
batch 128 with the fast engine, measured in a fresh subprocess (peak RSS delta on
the CPU, ``torch.cuda.max_memory_allocated`` on CUDA).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from gradsign.proxies.engine import gradsign_sign_sums
from gradsign.spaces.nb201 import sample_nb201
from gradsign.spaces.nb201_network import build_nb201_network

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its sibling engine_diagnostics.py
from engine_diagnostics import compare_engines  # noqa: E402

LARGEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _inputs(batch_size: int, seed: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, str]:
    try:
        from gradsign.data.images import load_image_set

        images = load_image_set("cifar10", "train")
        x, y = images.sample_batch(batch_size, seed=seed)
        what = f"a real CIFAR-10 minibatch ({images.describe()}), seed {seed}"
    except Exception as exc:  # no data here: seeded random normal inputs instead
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(batch_size, 3, 32, 32, generator=g)
        y = torch.randint(0, 10, (batch_size,), generator=g)
        what = f"seeded random normal tensors (no CIFAR-10: {type(exc).__name__}: {exc})"
    return x.to(device), y.to(device), what


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, device: torch.device) -> tuple[float, object]:
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return time.perf_counter() - start, out


def _plain(net, x, y) -> None:
    m = copy.deepcopy(net)
    m.train()
    F.cross_entropy(m(x), y).backward()


def _rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_child(what: str, batch_size: int, device: str, seed: int, chunk: int | None) -> None:
    """Runs in a fresh process: peak memory of one scoring call on the largest network."""
    dev = torch.device(device)
    torch.manual_seed(seed)
    net = build_nb201_network(LARGEST).to(dev)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch_size, 3, 32, 32, generator=g).to(dev)
    y = torch.randint(0, 10, (batch_size,), generator=g).to(dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    else:
        base = _rss_mib()
    if what == "plain":
        _plain(net, x, y)
    else:
        gradsign_sign_sums(net, x, y, engine=what, chunk_size=chunk)
    if dev.type == "cuda":
        peak = (torch.cuda.max_memory_allocated(dev) - base) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base  # Linux: KiB
    print(json.dumps({"what": what, "peak_delta_mib": peak, "baseline_mib": base if dev.type != "cuda" else None}))


def _memory(what: str, args, chunk: int | None = None) -> float:
    cmd = [sys.executable, __file__, "--memory-child", what, "--batch-size", str(args.memory_batch_size),
           "--device", args.device, "--seed", str(args.seed)]
    if chunk:
        cmd += ["--chunk-size", str(chunk)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(out)["peak_delta_mib"]


def _profile(net, x, y) -> None:
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if x.is_cuda else [])
    for name, fn in (("plain forward+backward", lambda: _plain(net, x, y)),
                     ("fast engine", lambda: gradsign_sign_sums(net, x, y, engine="fast"))):
        with profile(activities=acts) as prof:
            fn()
        print(f"\n-- torch.profiler, {name} (largest network, batch {x.shape[0]}) --")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of plain and fast per cell (reference: 1)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's default)")
    ap.add_argument("--no-flips", action="store_true", help="skip the per-sample sign-flip diagnostic")
    ap.add_argument("--memory-batch-size", type=int, default=128)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--profile", action="store_true", help="torch.profiler tables for the largest network")
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--chunk-size", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args.memory_child, args.batch_size, args.device, args.seed, args.chunk_size)
        return

    device = torch.device(args.device)
    x, y, what = _inputs(args.batch_size, args.seed, device)
    archs = sample_nb201(args.cells, seed=args.seed)
    print(f"gradsign engine benchmark: {len(archs)} NB201 cells (sample_nb201(seed={args.seed})), batch {args.batch_size}, "
          f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"inputs: {what}")

    # Warm-up (allocator, mkldnn primitives, lazy imports).
    torch.manual_seed(args.seed)
    warm = build_nb201_network(archs[0]).to(device)
    _plain(warm, x, y)
    gradsign_sign_sums(warm, x, y, engine="fast")
    gradsign_sign_sums(warm, x[:2], y[:2], engine="reference")

    rows = []
    for i, arch in enumerate(archs):
        torch.manual_seed(args.seed + i)
        net = build_nb201_network(arch).to(device)
        t_plain, t_fast = [], []
        fast_res = None
        for _ in range(args.repeats):
            t_plain.append(_timed(lambda: _plain(net, x, y), device)[0])
            t, fast_res = _timed(lambda: gradsign_sign_sums(net, x, y, engine="fast"), device)
            t_fast.append(t)
        t_ref, ref_res = _timed(lambda: gradsign_sign_sums(net, x, y, engine="reference"), device)
        exact = gradsign_sign_sums(net.double(), x.double(), y, engine="fast").score
        net.float()
        row = {
            "arch": str(arch), "plain": statistics.median(t_plain), "fast": statistics.median(t_fast),
            "reference": t_ref, "score_ref": ref_res.score, "score_fast": fast_res.score, "score_exact": exact,
            "engine": fast_res.engine_used,
        }
        row["rel_diff"] = abs(row["score_fast"] - row["score_ref"]) / row["score_ref"] if row["score_ref"] else 0.0
        row["ref_vs_exact"] = abs(row["score_ref"] - exact) / exact if exact else 0.0
        row["fast_vs_exact"] = abs(row["score_fast"] - exact) / exact if exact else 0.0
        if not args.no_flips:
            cmp = compare_engines(net, x, y)
            row.update(flips=cmp.n_sign_flips, tiny=cmp.n_tiny_flips, entries=cmp.n_entries,
                       kinks=len(cmp.kink_samples), explained=cmp.explained,
                       clean_flip=cmp.max_flip_rel_clean, clean_diff=cmp.max_rel_grad_diff_clean,
                       ref_wrong=cmp.ref_sign_errors, fast_wrong=cmp.fast_sign_errors,
                       ref_err_med=cmp.ref_err_median, fast_err_med=cmp.fast_err_median,
                       ref_err_max=cmp.ref_err_max, fast_err_max=cmp.fast_err_max)
        rows.append(row)
        flips = (f"\n        flips fast vs ref {row['flips']}/{row['entries']} (tiny {row['tiny']}, samples with differing "
                 f"ReLU decisions {row['kinks']}); wrong signs vs float64: ref {row['ref_wrong']} fast "
                 f"{row['fast_wrong']}; per-sample error vs float64 (x layer scale) median/max: ref "
                 f"{row['ref_err_med']:.1e}/{row['ref_err_max']:.1e} fast {row['fast_err_med']:.1e}/"
                 f"{row['fast_err_max']:.1e}" if "flips" in row else "")
        print(f"[{i + 1:2d}/{len(archs)}] {arch}  plain {row['plain']:.3f}s fast {row['fast']:.3f}s "
              f"ref {row['reference']:.2f}s | score ref {row['score_ref']:.0f} fast {row['score_fast']:.0f} "
              f"exact {exact:.0f} rel diff {row['rel_diff']:.1e}{flips}", flush=True)

    med = {k: statistics.median(r[k] for r in rows) for k in ("plain", "fast", "reference")}
    ratio_fast_plain = statistics.median(r["fast"] / r["plain"] for r in rows)
    ratio_ref_fast = statistics.median(r["reference"] / r["fast"] for r in rows)
    print("\nmedian seconds per cell (batch %d):" % args.batch_size)
    print(f"  plain forward+backward  {med['plain']:.3f} s   (1.00x plain)")
    print(f"  fast engine             {med['fast']:.3f} s   ({med['fast'] / med['plain']:.2f}x plain; "
          f"median per-cell ratio {ratio_fast_plain:.2f}x; {med['reference'] / med['fast']:.1f}x faster than reference, "
          f"median per-cell {ratio_ref_fast:.1f}x)")
    print(f"  reference loop          {med['reference']:.3f} s   ({med['reference'] / med['plain']:.1f}x plain)")
    print(f"fast engine used on {sum(r['engine'] == 'fast' for r in rows)}/{len(rows)} cells")
    worst = max(rows, key=lambda r: r["rel_diff"])
    print(f"largest relative score difference fast vs reference: {worst['rel_diff']:.2e} ({worst['arch']}); "
          f"cells above 1e-4: {sum(r['rel_diff'] > 1e-4 for r in rows)}")
    print(f"distance to the float64 score: reference loop max {max(r['ref_vs_exact'] for r in rows):.2e} "
          f"(median {statistics.median(r['ref_vs_exact'] for r in rows):.1e}), fast engine max "
          f"{max(r['fast_vs_exact'] for r in rows):.2e} (median {statistics.median(r['fast_vs_exact'] for r in rows):.1e})")
    if not args.no_flips:
        print(f"per-sample sign flips fast vs reference: {sum(r['flips'] for r in rows)} of "
              f"{sum(r['entries'] for r in rows)} entries ({sum(r['tiny'] for r in rows)} tiny, |g| <= 1e-5 x layer scale); "
              f"all others in samples whose ReLU decisions differ between the engines: "
              f"{all(r['explained'] for r in rows)}; in the other samples: largest flipped |g| "
              f"{max(r['clean_flip'] for r in rows):.1e} x scale, max |g_fast - g_ref| "
              f"{max(r['clean_diff'] for r in rows):.1e} x scale")
        print(f"against float64 per-sample gradients: wrong signs reference loop {sum(r['ref_wrong'] for r in rows)}, "
              f"fast engine {sum(r['fast_wrong'] for r in rows)}; error per (sample, layer) x layer scale, median of "
              f"cell medians / max: reference {statistics.median(r['ref_err_med'] for r in rows):.1e} / "
              f"{max(r['ref_err_max'] for r in rows):.1e}, fast {statistics.median(r['fast_err_med'] for r in rows):.1e} / "
              f"{max(r['fast_err_max'] for r in rows):.1e}")
    if not args.no_memory:
        fast_mem = _memory("fast", args)
        plain_mem = _memory("plain", args)
        print(f"peak memory, largest network (all nor_conv_3x3), batch {args.memory_batch_size}, "
              f"{'CUDA max_memory_allocated' if device.type == 'cuda' else 'RSS delta, fresh process'}: "
              f"fast engine {fast_mem:.0f} MiB, plain forward+backward {plain_mem:.0f} MiB")
    if args.profile:
        torch.manual_seed(args.seed)
        _profile(build_nb201_network(LARGEST).to(device), x, y)


if __name__ == "__main__":
    main()
