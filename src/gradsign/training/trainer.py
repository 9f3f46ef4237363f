"""Train one architecture with a :class:`~gradsign.training.recipe.TrainingRecipe`, deterministically.

Same arch, recipe, seed and thread count: the same numbers to the last bit (one
torch thread is the default; the caller sets it, see :mod:`gradsign.runtime`).
The seed decides the initialization, the order of the training images and the
augmentation draws; the train / validation split is the recipe's.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from gradsign.data.images import ImageSet, load_image_set
from gradsign.data.sampling import normalize
from gradsign.errors import ConfigError, DataError
from gradsign.training.recipe import TrainingRecipe


@dataclass(frozen=True)
class TrainingData:
    """The recipe's three image sets as normalised tensors (N, 3, S, S) and labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    description: str


@dataclass
class TrainingRun:
    """One arch trained under one seed: the learning curve, the final numbers and what it cost."""

    arch: str
    seed: int
    recipe_key: str
    train_loss: list[float]  # mean training loss of each epoch
    val_accuracy: list[float]  # validation accuracy (%) after each epoch
    test_accuracy: float  # test accuracy (%) after the last epoch
    epoch_seconds: list[float]  # wall-clock seconds of each epoch's training (evaluation excluded)
    seconds: float  # the whole run: building, training and evaluating
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def val_final(self) -> float:
        return self.val_accuracy[-1]


def _split_indices(labels: np.ndarray, num_classes: int, n_train: int, n_val: int, seed: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Balanced, disjoint train / validation indices: per class a seeded permutation, first train then val."""
    if n_train % num_classes or n_val % num_classes:
        raise ConfigError(f"training recipe: train_images and val_images must be multiples of the "
                          f"{num_classes} classes, got {n_train} and {n_val}")
    per_train, per_val = n_train // num_classes, n_val // num_classes
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c in range(num_classes):
        idx = np.flatnonzero(labels == c)
        if len(idx) < per_train + per_val:
            raise DataError(f"class {c} has {len(idx)} training images; the recipe needs {per_train + per_val}")
        idx = idx[rng.permutation(len(idx))]
        train.append(idx[:per_train])
        val.append(idx[per_train:per_train + per_val])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _to_tensor(images: np.ndarray, image_set: ImageSet, size: int) -> torch.Tensor:
    x = normalize(images, image_set.mean, image_set.std)
    factor = x.shape[-1] // size
    return F.avg_pool2d(x, factor) if factor > 1 else x


def prepare_data(recipe: TrainingRecipe, *, train_set: ImageSet | None = None, test_set: ImageSet | None = None
                 ) -> TrainingData:
    """Load (or take) the train and test splits and cut them as the recipe says."""
    train_set = train_set if train_set is not None else load_image_set(recipe.dataset, "train", allow_fallback=False)
    test_set = test_set if test_set is not None else load_image_set(recipe.dataset, "test", allow_fallback=False)
    if train_set.images.shape[1] % recipe.image_size:
        raise ConfigError(f"training recipe: image_size {recipe.image_size} does not divide the images' "
                          f"{train_set.images.shape[1]} pixels")
    tr, va = _split_indices(train_set.labels, train_set.num_classes, recipe.train_images, recipe.val_images,
                            recipe.split_seed)
    size = recipe.image_size
    return TrainingData(
        x_train=_to_tensor(train_set.images[tr], train_set, size),
        y_train=torch.from_numpy(train_set.labels[tr].astype(np.int64)),
        x_val=_to_tensor(train_set.images[va], train_set, size),
        y_val=torch.from_numpy(train_set.labels[va].astype(np.int64)),
        x_test=_to_tensor(test_set.images, test_set, size),
        y_test=torch.from_numpy(test_set.labels.astype(np.int64)),
        num_classes=train_set.num_classes,
        description=(f"{train_set.dataset}: {len(tr)} train / {len(va)} validation images of the train split "
                     f"(split seed {recipe.split_seed}), {len(test_set)} test images, {size}x{size}"),
    )


def _augment(x: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Zero-padded random crop and random horizontal flip, per image, from ``gen``."""
    n, _, h, w = x.shape
    if padding:
        padded = F.pad(x, (padding,) * 4)
        dy = torch.randint(0, 2 * padding + 1, (n,), generator=gen)
        dx = torch.randint(0, 2 * padding + 1, (n,), generator=gen)
        rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, x.shape[1], h, w + 2 * padding)
        x = padded.gather(2, rows)
        cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, x.shape[1], h, w)
        x = x.gather(3, cols)
    flip = torch.rand(n, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], x.flip(3), x)


def _logits(out: Any) -> torch.Tensor:
    return out[1] if isinstance(out, tuple) else out  # NB201's network returns (features, logits)


@torch.no_grad()
def accuracy(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy in percent, in eval mode."""
    net.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((_logits(net(x[i:i + batch_size])).argmax(1) == y[i:i + batch_size]).sum())
    return 100.0 * correct / len(x)


def train_arch(space: Any, arch: Any, recipe: TrainingRecipe, seed: int, data: TrainingData) -> TrainingRun:
    """Build ``arch`` of ``space`` under ``seed``, train it by ``recipe`` on ``data``, evaluate it."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"training seed must be a non-negative int, got {seed!r}")
    start = time.perf_counter()
    torch.manual_seed(seed)
    net = space.build_network(arch, data.num_classes, C=recipe.width, N=recipe.cells_per_stage)
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(len(data.x_train) / recipe.batch_size)
    opt = torch.optim.SGD(net.parameters(), lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.momentum > 0,
                          weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=recipe.epochs * steps_per_epoch)
    losses, val_acc, epoch_seconds = [], [], []
    for _ in range(recipe.epochs):
        t0 = time.perf_counter()
        net.train()
        order = torch.randperm(len(data.x_train), generator=gen)
        total, count = 0.0, 0
        for i in range(0, len(order), recipe.batch_size):
            idx = order[i:i + recipe.batch_size]
            x = data.x_train[idx]
            if recipe.augment:
                x = _augment(x, recipe.crop_padding, gen)
            loss = F.cross_entropy(_logits(net(x)), data.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        epoch_seconds.append(time.perf_counter() - t0)
        losses.append(total / count)
        val_acc.append(accuracy(net, data.x_val, data.y_val))
    test = accuracy(net, data.x_test, data.y_test)
    return TrainingRun(arch=space.to_string(arch), seed=seed, recipe_key=recipe.key(), train_loss=losses,
                       val_accuracy=val_acc, test_accuracy=test, epoch_seconds=epoch_seconds,
                       seconds=time.perf_counter() - start)
