"""A short, fixed training recipe that 2 CPU cores can run hundreds of times (issue #25).

The recipe is data, not code: every number that decides a training run is a field
of :class:`TrainingRecipe`, and its :meth:`~TrainingRecipe.key` (a hash of those
fields) is part of every stored run's key, so runs of two recipes never mix.

The default (``SMALL_CIFAR10``) trains NAS-Bench-201 cells at reduced width and
depth (8 channels, one cell per stage instead of 16 and 5) on 5,000 CIFAR-10
training images (500 per class) downsampled to 16x16, for 8 epochs; 1,000 other
training images (100 per class) are the validation set the search sees; the
10,000 CIFAR-10 test images give the final number. Why these numbers: one run
takes tens of CPU-seconds, so 500 architectures x 2 seeds fit in a few sessions
of a 2-core machine, and the accuracies (about 40-60%) still spread widely
enough to rank architectures.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

from gradsign.errors import ConfigError


@dataclass(frozen=True)
class TrainingRecipe:
    """Everything that decides a training run besides the architecture and the seed."""

    dataset: str = "cifar10"
    #: training images, drawn per class (balanced) from the dataset's train split
    train_images: int = 5000
    #: validation images, other images of the train split, balanced; what a search observes
    val_images: int = 1000
    #: images are average-pooled to this side (32: as stored; must divide 32)
    image_size: int = 16
    #: network width (NB201's C) and cells per stage (NB201's N)
    width: int = 8
    cells_per_stage: int = 1
    epochs: int = 8
    batch_size: int = 128
    #: SGD with Nesterov momentum, cosine-annealed from ``lr`` to 0 over all steps
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    #: random crop (zero padding ``crop_padding``) and horizontal flip of training images
    augment: bool = True
    crop_padding: int = 2
    #: seed of the train/validation split (fixed for a benchmark; the training seed varies)
    split_seed: int = 0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type in ("int", int) and (isinstance(v, bool) or not isinstance(v, int)):
                raise ConfigError(f"training recipe: {f.name} must be an int, got {v!r}")
        positive = ("train_images", "val_images", "image_size", "width", "cells_per_stage", "epochs", "batch_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"training recipe: {name} must be at least 1, got {getattr(self, name)}")
        if 32 % self.image_size:
            raise ConfigError(f"training recipe: image_size must divide 32, got {self.image_size}")
        if not self.lr > 0 or not 0 <= self.momentum < 1 or self.weight_decay < 0 or self.crop_padding < 0:
            raise ConfigError("training recipe: need lr > 0, 0 <= momentum < 1, weight_decay >= 0, crop_padding >= 0")

    def to_dict(self) -> dict:
        return asdict(self)

    def key(self) -> str:
        """12 hex digits identifying the recipe: equal recipes, equal keys; any changed field, another key."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @classmethod
    def from_dict(cls, data: dict) -> "TrainingRecipe":
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"training recipe: unknown field(s) {', '.join(sorted(unknown))}")
        return cls(**data)


#: The recipe of the small real benchmark (docs/real_benchmark.md).
SMALL_CIFAR10 = TrainingRecipe()
