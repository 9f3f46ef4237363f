"""Seeded minibatch selection, training-style augmentation and normalisation.

Everything random draws from a ``numpy.random.Generator`` the caller passes in
(built from a seed), never from global RNG state, so the same seed gives the
same batch in any process and scoring runs do not disturb each other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from gradsign.errors import ConfigError

SAMPLING_METHODS: tuple[str, ...] = ("random", "grasp")
"""``random``: a uniform batch without replacement. ``grasp``: k images of every class."""


def sample_indices(
    labels: np.ndarray,
    num_classes: int,
    rng: np.random.Generator,
    *,
    sampling: str = "random",
    batch_size: int = 64,
    samples_per_class: int = 1,
) -> np.ndarray:
    """Indices into ``labels`` of one minibatch.

    ``random`` draws ``batch_size`` distinct indices uniformly. ``grasp`` draws
    ``samples_per_class`` distinct indices of each class and returns them class
    by class (class 0 first), a batch of ``num_classes * samples_per_class``
    images, as the zero-cost-proxies code's ``get_some_data_grasp`` builds it;
    ``batch_size`` does not apply to it.
    """
    if sampling == "random":
        _check_positive("batch_size", batch_size)
        if batch_size > len(labels):
            raise ConfigError(f"batch_size {batch_size} exceeds the {len(labels)} images available")
        return rng.choice(len(labels), size=batch_size, replace=False)
    if sampling == "grasp":
        _check_positive("samples_per_class", samples_per_class)
        by_class = [np.flatnonzero(labels == c) for c in range(num_classes)]
        short = [c for c, idx in enumerate(by_class) if len(idx) < samples_per_class]
        if short:
            most = min(len(idx) for idx in by_class)
            raise ConfigError(
                f"grasp sampling with samples_per_class={samples_per_class} needs that many images of every class, "
                f"but {len(short)} class(es) have fewer (e.g. class {short[0]}: {len(by_class[short[0]])}); "
                f"this image set allows at most {most}"
            )
        return np.concatenate([rng.choice(idx, size=samples_per_class, replace=False) for idx in by_class])
    raise ConfigError(f"unknown sampling {sampling!r}; valid: {', '.join(SAMPLING_METHODS)}")


def random_crop_flip(images: np.ndarray, padding: int, rng: np.random.Generator) -> np.ndarray:
    """Random crop after zero padding, then random horizontal flip (probability 1/2), per image.

    ``images`` is uint8 (N, H, W, C); the result has the same shape. Padding is
    applied to the raw pixels (value 0) before normalisation, as torchvision's
    ``RandomCrop(size, padding)`` does in NAS-Bench-201's training transforms.
    """
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    top = rng.integers(0, 2 * padding + 1, size=n)
    left = rng.integers(0, 2 * padding + 1, size=n)
    flip = rng.random(n) < 0.5
    rows = top[:, None] + np.arange(h)  # (N, H)
    cols = left[:, None] + np.arange(w)  # (N, W)
    # A flip reverses the column order of the crop window; folding it into the
    # gather avoids a second pass over the batch.
    cols[flip] = cols[flip, ::-1]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def normalize(images: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (N, H, W, 3) to float32 (N, 3, H, W): scaled to [0, 1], then ``(x - mean) / std``.

    The same arithmetic as torchvision's ``ToTensor()`` followed by ``Normalize(mean, std)``.
    """
    if not images.flags.writeable:
        # torch.from_numpy warns on read-only arrays (tensors could write through).
        images = images.copy()
    x = torch.from_numpy(images).permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return ((x - m) / s).contiguous()


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
