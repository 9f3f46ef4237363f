"""Which gradsign engine ``auto`` picks on real models, and how much faster it is than the loop.

A script, not a test. For every model it scores one minibatch with
``gradsign_sign_sums(engine="auto")`` and with the per-sample reference loop
(``engine="reference"``) and prints: the engine ``auto`` used (``fast``, ``func``
or ``reference``), why it did not use the ones before it, the seconds of each
(after one untimed warm-up run of each, so oneDNN's per-shape kernel generation
and the allocator's first touches are not charged to whichever runs first), the
loop / auto ratio, the seconds of the cold first runs, and whether the two
scores are equal.

Models are ``gradsign rank`` specs (``timm:NAME``, ``torchvision:NAME``,
``file.py:factory``), built by :func:`gradsign.models.load_model` with the
dataset's classes, as ``rank`` builds them. timm and torchvision are not in the
project's environment; run it where they are, e.g. the models venv of
docs/rank.md, whose torchvision needs ``rank_model_zoo.import_torchvision``::

    OMP_NUM_THREADS=1 /work/venv-models/bin/python scripts/bench_engine_coverage.py \\
        --batch-size 32 --image-size 64            # the ten models of docs/rank.md + timm:efficientnet_b0

Inputs: a seeded CIFAR-10 training minibatch (bilinear-resized to ``--image-size``)
when the data is found, else seeded random normal tensors (said in the output).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

#: The ten models of docs/rank.md's model-zoo table, plus timm's efficientnet_b0 (issue #23).
ZOO = (
    "torchvision:resnet18 torchvision:resnet50 torchvision:vgg11_bn torchvision:mobilenet_v3_small "
    "torchvision:efficientnet_b0 torchvision:densenet121 timm:convnext_atto timm:vit_tiny_patch16_224 "
    "timm:mobilevitv2_050 timm:resnet26d timm:efficientnet_b0"
).split()


def _inputs(batch_size: int, image_size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    try:
        from gradsign.data.images import load_image_set

        images = load_image_set("cifar10", "train")
        x, y = images.sample_batch(batch_size, seed=seed)
        what = f"CIFAR-10 train minibatch, seed {seed}"
    except Exception as exc:  # no data here: seeded random normal inputs instead
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(batch_size, 3, 32, 32, generator=g)
        y = torch.randint(0, 10, (batch_size,), generator=g)
        what = f"seeded random normal tensors (no CIFAR-10: {type(exc).__name__})"
    if x.shape[-1] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
        what += f", resized to {image_size}x{image_size}"
    return x, y, what


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", default=list(ZOO), help="rank specs (default: the model zoo)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from rank_model_zoo import import_torchvision

    print(f"# {import_torchvision()}", file=sys.stderr)
    from gradsign.proxies.engine import gradsign_sign_sums
    from gradsign.models import load_model

    x, y, what = _inputs(args.batch_size, args.image_size, args.seed)
    print(f"# torch {torch.__version__}, {args.threads} thread(s), batch {args.batch_size}, {what}")
    header = ("model", "auto engine", "loop s", "auto s", "loop/auto", "cold loop s", "cold auto s", "same score",
              "why not the engines before it")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    total = time.perf_counter()
    for spec in args.models:
        loaded = load_model(spec, 10, input_shape=tuple(x.shape[1:]), seed=args.seed)
        model = loaded.model
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fallback warnings: the table says it
            cold_auto, auto = _timed(lambda: gradsign_sign_sums(model, x, y, engine="auto"))
            cold_loop, loop = _timed(lambda: gradsign_sign_sums(model, x, y, engine="reference"))
            t_auto, auto2 = _timed(lambda: gradsign_sign_sums(model, x, y, engine="auto"))
            t_loop, _ = _timed(lambda: gradsign_sign_sums(model, x, y, engine="reference"))
        assert auto2.score == auto.score or (auto.score != auto.score and auto2.score != auto2.score)
        if auto.score == loop.score:
            same = "yes"
        else:
            same = f"rel. diff {abs(auto.score - loop.score) / abs(loop.score):.1e}"
        why = (auto.fallback_reason or "").replace("|", "/")
        print(f"| `{spec}` | {auto.engine_used} | {t_loop:.2f} | {t_auto:.2f} | {t_loop / t_auto:.2f}x | "
              f"{cold_loop:.2f} | {cold_auto:.2f} | {same} | {why[:160]} |", flush=True)
        del model, loaded
    print(f"# total {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
