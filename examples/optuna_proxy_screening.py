"""Screen Optuna's candidates with GradSign before training them: a template to copy.

    pip install 'gradsign[optuna]'
    OMP_NUM_THREADS=1 python examples/optuna_proxy_screening.py            # synthetic CIFAR-10-like images
    OMP_NUM_THREADS=1 python examples/optuna_proxy_screening.py --cifar10  # real CIFAR-10 images (gradsign's data)

What to change for your own search: ``SPACE`` (the architecture parameters),
``build_model(params)`` (the network of a parameter set) and ``train_and_validate``
(your training). The study is an ordinary Optuna study; only its sampler differs:
``ProxyScreeningSampler`` asks TPE for K candidates per trial, scores each
candidate's untrained network with GradSign on one minibatch (cached in a gradsign
results store, so a rerun scores nothing), and hands the best one to the objective.
Hyperparameters that are not architecture (here the learning rate) are drawn by
TPE with each candidate, unscreened. The same study is run with plain TPE for
comparison; screening's seconds are recorded on each trial
(``trial.user_attrs["gradsign:proxy_seconds"]``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import torch
from torch import nn

from gradsign.integrations.optuna import ATTRS, ProxyScreeningSampler

#: the architecture parameters build_model reads (Optuna categorical choices)
SPACE: dict[str, list[Any]] = {"width": [4, 8, 16, 32], "depth": [1, 2, 3], "kernel": [1, 3, 5], "pool": ["max", "avg"]}
NUM_CLASSES = 10


def build_model(params: dict[str, Any]) -> nn.Module:
    """A small CNN: ``depth`` conv blocks of ``width`` channels and ``kernel`` size, then global pooling."""
    layers: list[nn.Module] = []
    channels = 3
    for block in range(params["depth"]):
        layers += [nn.Conv2d(channels, params["width"], params["kernel"], padding=params["kernel"] // 2),
                   nn.BatchNorm2d(params["width"]), nn.ReLU()]
        if block < params["depth"] - 1:
            layers.append(nn.MaxPool2d(2) if params["pool"] == "max" else nn.AvgPool2d(2))
        channels = params["width"]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, NUM_CLASSES)]
    return nn.Sequential(*layers)


def synthetic_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10-shaped stand-ins (3x16x16, 10 classes): a smooth random template per class plus noise.

    The templates come from a fixed generator, so every split shares them; ``seed`` draws the split's
    labels and noise.
    """
    templates = nn.functional.interpolate(torch.randn(NUM_CLASSES, 3, 4, 4, generator=torch.Generator().manual_seed(0)),
                                          size=16, mode="bilinear", align_corners=False)
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, NUM_CLASSES, (n,), generator=gen)
    return templates[labels] + 3.0 * torch.randn(n, 3, 16, 16, generator=gen), labels


def cifar10_images(n_train: int, n_val: int, seed: int) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """Two disjoint random subsets of the CIFAR-10 training images, downsampled to 16x16 (gradsign's data loader)."""
    import numpy as np

    from gradsign.data.images import load_image_set

    images = load_image_set("cifar10", "train")
    order = np.random.default_rng(seed).permutation(len(images))  # the files are not in random order
    splits = []
    for indices in (order[:n_train], order[n_train:n_train + n_val]):
        x, y = images.tensors(np.sort(indices))  # normalised, NCHW
        splits.append((nn.functional.avg_pool2d(x, 2), y))
    return tuple(splits)


def train_and_validate(model: nn.Module, lr: float, data: dict[str, torch.Tensor], epochs: int, seed: int) -> float:
    """A short SGD training; returns the validation accuracy (%)."""
    torch.manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    x, y = data["train_x"], data["train_y"]
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return 100.0 * (model(data["val_x"]).argmax(1) == data["val_y"]).float().mean().item()


def make_objective(data: dict[str, torch.Tensor], epochs: int, seed: int):
    def objective(trial: optuna.Trial) -> float:
        params = {name: trial.suggest_categorical(name, choices) for name, choices in SPACE.items()}
        lr = trial.suggest_float("lr", 1e-3, 0.3, log=True)
        torch.manual_seed(seed)
        start = time.perf_counter()
        accuracy = train_and_validate(build_model(params), lr, data, epochs, seed)
        trial.set_user_attr("train_seconds", time.perf_counter() - start)
        return accuracy
    return objective


def run(trials: int = 12, k: int = 8, proxy: str = "gradsign", epochs: int = 3, seed: int = 0,
        store: str | Path | None = "runs/optuna_example.sqlite", cifar10: bool = False, n_train: int = 1024,
        n_val: int = 512, verbose: bool = True) -> dict[str, Any]:
    """Plain TPE and TPE + proxy screening, ``trials`` trials each; returns both studies' summaries."""
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if cifar10:
        (tx, ty), (vx, vy) = cifar10_images(n_train, n_val, seed)
    else:
        (tx, ty), (vx, vy) = synthetic_images(n_train, seed + 1), synthetic_images(n_val, seed + 2)
    data = {"train_x": tx, "train_y": ty, "val_x": vx, "val_y": vy}
    minibatch = (tx[:64], ty[:64])  # what the proxy sees: one training minibatch
    objective = make_objective(data, epochs, seed)
    out: dict[str, Any] = {}
    for label in ("tpe", f"tpe+{proxy}"):
        tpe = optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)
        sampler: optuna.samplers.BaseSampler = tpe
        if label != "tpe":
            sampler = ProxyScreeningSampler(tpe, build_model, search_space=SPACE, proxy=proxy, k=k,
                                            inputs=minibatch[0], targets=minibatch[1], store=store,
                                            space_name="examples.optuna_proxy_screening.tiny_cnn", seed=seed)
        study = optuna.create_study(direction="maximize", sampler=sampler, study_name=label)
        study.optimize(objective, n_trials=trials)
        train_s = sum(t.user_attrs["train_seconds"] for t in study.trials)
        proxy_s = sum(t.user_attrs.get(ATTRS["proxy_seconds"], 0.0) for t in study.trials)
        computed = sum(t.user_attrs.get(ATTRS["proxy_computed"], 0) for t in study.trials)
        out[label] = {"best_value": study.best_value, "best_params": study.best_params, "train_seconds": train_s,
                      "proxy_seconds": proxy_s, "proxy_computed": computed,
                      "values": [t.value for t in study.trials], "params": [t.params for t in study.trials]}
        if verbose:
            print(f"{label}: best validation accuracy {study.best_value:.1f}% with {study.best_params} "
                  f"({trials} trials; training {train_s:.1f} s, screening {proxy_s:.1f} s, "
                  f"{computed} networks scored now)")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--k", type=int, default=8, help="candidates screened per trial")
    ap.add_argument("--proxy", default="gradsign", help="a proxy or ensemble name (gradsign, synflow, gradsign+synflow)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--store", default="runs/optuna_example.sqlite", help="where proxy scores are cached ('' = none)")
    ap.add_argument("--cifar10", action="store_true", help="real CIFAR-10 images instead of synthetic ones")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    run(args.trials, args.k, args.proxy, args.epochs, args.seed, args.store or None, args.cifar10)
    print(f"# {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
