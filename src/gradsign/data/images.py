"""Image sets for zero-cost scoring: CIFAR-10, CIFAR-100 and ImageNet16-120.

Typical use::

    from gradsign.data.images import load_image_set

    images = load_image_set("cifar10", "train")          # official pickles, else the JPEG zip
    x, y = images.sample_batch(64, seed=0)               # float32 (64, 3, 32, 32), int64 (64,)
    print(images.describe())                             # what was actually used, for reports

Sources
    Each dataset has an *official* source (the pickles of the original
    releases) and a *shared* one (the repackaged files of ``../shared/data``).
    ``source="auto"`` uses the official files when they are in the data
    directory and the shared ones otherwise; ``"official"`` / ``"shared"``
    insist on one. Where the files are looked for is defined in
    :mod:`gradsign.data.paths`.

Splits
    ``train`` and ``test`` (for ImageNet16 the official ``val_data``, the split
    NAS-Bench-201 reports test accuracy on). The shared CIFAR-100 and
    ImageNet16-120 files hold test images only. Scoring needs a labelled
    minibatch, not a particular split, so by default asking them for ``train``
    gives their test images with a :class:`SplitFallbackWarning`; the returned
    set says so (``split``, ``requested_split``, ``fell_back``) for the caller to
    report. ``allow_fallback=False`` makes it a :class:`~gradsign.errors.DataError`.

Decoding the CIFAR-10 JPEGs or the ImageNet16 pickles is slow, so their
decoded arrays are cached (see :mod:`gradsign.data.image_cache`); only the
requested split is decoded.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gradsign.data import formats, image_cache
from gradsign.data.formats import Progress, RawImages
from gradsign.data.paths import find_resource, get_resource, locate, note_used, resolve_data_dir
from gradsign.data.sampling import SAMPLING_METHODS, normalize, random_crop_flip, sample_indices
from gradsign.benchmarks.datasets import canonical_dataset
from gradsign.errors import ConfigError, DataError

__all__ = [
    "DATASETS",
    "SAMPLING_METHODS",
    "SOURCES",
    "SPLITS",
    "DatasetInfo",
    "ImageSet",
    "SplitFallbackWarning",
    "canonical_dataset",
    "dataset_info",
    "find_image_source",
    "input_size",
    "load_image_set",
    "num_classes",
]


@dataclass(frozen=True)
class DatasetInfo:
    """Static facts about one image set."""

    name: str
    num_classes: int
    image_size: int  # square images, side in pixels
    mean: tuple[float, float, float]  # per-channel, on the [0, 1] scale (NAS-Bench-201's values)
    std: tuple[float, float, float]
    crop_padding: int  # zero padding of the random-crop augmentation

    @property
    def input_size(self) -> tuple[int, int, int]:
        """``(channels, height, width)`` of one network input."""
        return (3, self.image_size, self.image_size)


def _scaled(*values: float) -> tuple[float, float, float]:
    a, b, c = (v / 255 for v in values)
    return (a, b, c)


_INFO: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("cifar10", 10, 32, _scaled(125.3, 123.0, 113.9), _scaled(63.0, 62.1, 66.7), 4),
        DatasetInfo("cifar100", 100, 32, _scaled(129.3, 124.1, 112.4), _scaled(68.2, 65.4, 70.4), 4),
        DatasetInfo("ImageNet16-120", 120, 16, _scaled(122.68, 116.66, 104.01), _scaled(63.22, 61.26, 65.09), 2),
    )
}

DATASETS: tuple[str, ...] = tuple(_INFO)
"""Canonical dataset names: ``cifar10``, ``cifar100``, ``ImageNet16-120``."""

SPLITS: tuple[str, ...] = ("train", "test")
SOURCES: tuple[str, ...] = ("auto", "official", "shared")


class SplitFallbackWarning(UserWarning):
    """The requested split is not in the chosen source; another split was loaded instead."""


def dataset_info(name: str) -> DatasetInfo:
    """Static facts (classes, size, normalisation) of dataset ``name`` (aliases accepted)."""
    return _INFO[canonical_dataset(name)]


def num_classes(dataset: str) -> int:
    """Number of classes: 10, 100 or 120."""
    return dataset_info(dataset).num_classes


def input_size(dataset: str) -> tuple[int, int, int]:
    """``(3, H, W)`` of one input: ``(3, 32, 32)`` for CIFAR, ``(3, 16, 16)`` for ImageNet16-120."""
    return dataset_info(dataset).input_size


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class _Source:
    key: str  # a gradsign.data.paths resource key
    official: bool
    fmt: str  # "cifar-pickles", "imagenet16-pickles", "jpeg-zip" or "npz"
    splits: tuple[str, ...]
    # For directory sources: the files each split reads.
    members: dict[str, tuple[str, ...]] = field(default_factory=dict)


_SOURCE_TABLE: dict[str, tuple[_Source, _Source]] = {  # dataset -> (official, shared)
    "cifar10": (
        _Source("cifar10-official", True, "cifar-pickles", SPLITS,
                {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}),
        _Source("cifar10-jpeg", False, "jpeg-zip", SPLITS),
    ),
    "cifar100": (
        _Source("cifar100-official", True, "cifar-pickles", SPLITS, {"train": ("train",), "test": ("test",)}),
        _Source("cifar100-subset", False, "npz", ("test",)),
    ),
    "ImageNet16-120": (
        _Source("imagenet16-official", True, "imagenet16-pickles", SPLITS,
                {"train": tuple(f"train_data_batch_{i}" for i in range(1, 11)), "test": ("val_data",)}),
        _Source("imagenet16-subset", False, "npz", ("test",)),
    ),
}


def find_image_source(
    dataset: str, source: str = "auto", *, data_dir: str | os.PathLike[str] | None = None
) -> tuple[str, Path]:
    """Which files ``load_image_set`` would read: ``(resource key, path)``.

    ``source``: ``auto`` (official files if present, else shared), ``official`` or ``shared``.
    Raises DataError naming the expected paths when nothing is found.
    """
    src, path = _find_source(dataset_info(dataset).name, source, data_dir)
    return src.key, path


def _find_source(dataset: str, source: str, data_dir: str | os.PathLike[str] | None) -> tuple[_Source, Path]:
    if source not in SOURCES:
        raise ConfigError(f"unknown image source {source!r}; valid: {', '.join(SOURCES)}")
    ddir = resolve_data_dir(data_dir, required=True)
    official, shared = _SOURCE_TABLE[dataset]
    candidates = {"auto": (official, shared), "official": (official,), "shared": (shared,)}[source]
    for src in candidates:
        path = locate(src.key, ddir)
        if path is not None:
            return src, note_used(path)
    if len(candidates) == 1:
        find_resource(candidates[0].key, ddir)  # raises its "expected <path> (how to obtain)" error
    expected = " or ".join(
        f"{get_resource(s.key).candidates[0]} ({'official' if s.official else 'shared'})" for s in candidates
    )
    raise DataError(f"{dataset}: no image files in {ddir}: expected {expected}; run `gradsign data` for details")


# --------------------------------------------------------------------------- loading


def load_image_set(
    dataset: str,
    split: str = "train",
    *,
    source: str = "auto",
    data_dir: str | os.PathLike[str] | None = None,
    allow_fallback: bool = True,
    use_cache: bool = True,
    progress: Progress | None = None,
) -> ImageSet:
    """Load one split of an image set, fully decoded into memory.

    Args:
        dataset: ``cifar10``, ``cifar100`` or ``ImageNet16-120`` (aliases accepted).
        split: ``train`` or ``test``.
        source: ``auto`` (official files when present, else the shared ones),
            ``official`` or ``shared``.
        data_dir: the data directory (default: ``$GRADSIGN_DATA``, else ``../shared/data``).
        allow_fallback: when the source lacks ``split`` (the shared CIFAR-100 and
            ImageNet16-120 files hold test images only), load the split it has and
            warn with SplitFallbackWarning; if False, raise DataError instead.
        use_cache: read and write decoded arrays in the user cache directory.
        progress: called as ``progress(done, total)`` while decoding a slow source
            (JPEGs: images, every 1000; pickles: files). Not called for a cache hit
            or an npz, which take well under a second.

    Raises:
        ConfigError: unknown dataset, split or source name.
        DataError: files missing, truncated or malformed (one line naming the file).
    """
    info = dataset_info(dataset)
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    src, path = _find_source(info.name, source, data_dir)
    used = split
    if split not in src.splits:
        available = src.splits[0]
        if not allow_fallback:
            raise DataError(
                f"{path}: holds only the {available} split of {info.name}, not {split} "
                f"(add the official files for {split} images, or allow the fallback)"
            )
        warnings.warn(
            f"{info.name}: {path.name} has no {split} split; using its {available} images instead",
            SplitFallbackWarning,
            stacklevel=2,
        )
        used = available
    (images, labels), cached = _read_source(src, path, info, used, use_cache, progress)
    return ImageSet(
        dataset=info.name, split=used, images=images, labels=labels,
        source=src.key, path=path, requested_split=split, cached=cached,
    )


def _read_source(
    src: _Source, path: Path, info: DatasetInfo, split: str, use_cache: bool, progress: Progress | None
) -> tuple[RawImages, bool]:
    if src.fmt == "npz":
        # A few MB of npz loads in milliseconds: caching would only duplicate it.
        return formats.read_npz(path, image_size=info.image_size, num_classes=info.num_classes), False

    files = src.members.get(split, ())
    missing = [m for m in files if not (path / m).is_file()]
    if missing:
        raise DataError(f"{path}: missing {', '.join(missing)} (needed for the {split} split of {info.name})")
    inputs = [path / m for m in files] if files else [path]

    def build() -> RawImages:
        if src.fmt == "jpeg-zip":
            return formats.read_class_folder_zip(
                path, split, class_names=formats.CIFAR10_CLASSES, image_size=info.image_size, progress=progress
            )
        if src.fmt == "imagenet16-pickles":
            return formats.read_imagenet16_pickles(path, files, num_classes=info.num_classes, progress=progress)
        label_key = "labels" if info.name == "cifar10" else "fine_labels"
        return formats.read_cifar_pickles(
            path, files, label_key=label_key, num_classes=info.num_classes, progress=progress
        )

    if not use_cache:
        return build(), False

    def validate(images: np.ndarray, labels: np.ndarray, where: str) -> RawImages:
        return formats.check_arrays(
            images, labels, where=where, image_size=info.image_size, num_classes=info.num_classes
        )

    return image_cache.load_or_build(f"{info.name}-{split}-{src.key}", inputs, build, validate)


# --------------------------------------------------------------------------- the image set


@dataclass(frozen=True, eq=False)
class ImageSet:
    """One split of an image set, decoded: compact uint8 images plus labels.

    Attributes:
        dataset: canonical dataset name.
        split: the split these images are from (``train`` or ``test``).
        images: uint8 (N, H, W, 3), RGB, read-only.
        labels: int64 (N,), 0..num_classes-1, read-only.
        source: the resource key the images came from (e.g. ``cifar10-jpeg``,
            ``cifar100-official``), or ``memory`` for a set built in code.
        path: the file or directory read (None for a set built in code).
        requested_split: the split the caller asked for; differs from ``split``
            after a fallback.
        cached: whether the arrays came from the decoded-image cache.
    """

    dataset: str
    split: str
    images: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    source: str = "memory"
    path: Path | None = None
    requested_split: str | None = None
    cached: bool = False

    def __post_init__(self) -> None:
        info = dataset_info(self.dataset)
        if self.split not in SPLITS:
            raise ConfigError(f"unknown split {self.split!r}; valid: {', '.join(SPLITS)}")
        images, labels = formats.check_arrays(
            self.images, self.labels, where=f"{info.name} {self.split} images",
            image_size=info.image_size, num_classes=info.num_classes,
        )
        # Read-only, so a set can be shared (and cached by callers) without
        # one user's in-place edit leaking into another's batches.
        images, labels = images.view(), labels.view()
        images.setflags(write=False)
        labels.setflags(write=False)
        object.__setattr__(self, "dataset", info.name)
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels)
        if self.requested_split is None:
            object.__setattr__(self, "requested_split", self.split)

    # -- facts ---------------------------------------------------------------

    @property
    def info(self) -> DatasetInfo:
        return _INFO[self.dataset]

    @property
    def num_classes(self) -> int:
        return self.info.num_classes

    @property
    def image_size(self) -> int:
        """Side of the square images in pixels (32 or 16)."""
        return self.info.image_size

    @property
    def input_size(self) -> tuple[int, int, int]:
        """``(3, H, W)`` of one network input."""
        return self.info.input_size

    @property
    def mean(self) -> tuple[float, float, float]:
        return self.info.mean

    @property
    def std(self) -> tuple[float, float, float]:
        return self.info.std

    @property
    def fell_back(self) -> bool:
        """True when the requested split was unavailable and ``split`` was loaded instead."""
        return self.split != self.requested_split

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> np.ndarray:
        """Number of images of each class, shape (num_classes,)."""
        return np.bincount(self.labels, minlength=self.num_classes)

    def describe(self) -> str:
        """One line saying what this set is and where it came from, for logs and reports."""
        where = f" from {self.path}" if self.path is not None else ""
        text = (f"{self.dataset} {self.split} split, {len(self)} images, {self.num_classes} classes "
                f"({self.source}{where})")
        if self.fell_back:
            text += f"; {self.requested_split} was requested but this source has no {self.requested_split} split"
        return text

    # -- tensors -------------------------------------------------------------

    def tensors(self, indices: np.ndarray | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised inputs float32 (n, 3, H, W) and targets int64 (n,), all images or ``indices``."""
        if indices is None:
            images, labels = self.images, self.labels
        else:
            images, labels = self.images[indices], self.labels[indices]
        return normalize(images, self.mean, self.std), torch.from_numpy(np.array(labels, dtype=np.int64))

    def sample_indices(
        self, batch_size: int = 64, *, seed: int = 0, sampling: str = "random", samples_per_class: int = 1
    ) -> np.ndarray:
        """The indices ``sample_batch`` with the same arguments uses (see there)."""
        return sample_indices(
            self.labels, self.num_classes, _rng(seed),
            sampling=sampling, batch_size=batch_size, samples_per_class=samples_per_class,
        )

    def sample_batch(
        self,
        batch_size: int = 64,
        *,
        seed: int = 0,
        sampling: str = "random",
        samples_per_class: int = 1,
        augment: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A seeded minibatch: normalised inputs float32 (B, 3, H, W) and targets int64 (B,).

        Args:
            batch_size: images in a ``random`` batch (not used by ``grasp``).
            seed: the same seed gives identical tensors; global RNG state is neither
                used nor changed.
            sampling: ``random`` (uniform, without replacement) or ``grasp``
                (``samples_per_class`` images of every class, class by class: a
                batch of ``num_classes * samples_per_class``).
            samples_per_class: images per class for ``grasp``.
            augment: apply NAS-Bench-201's training augmentation (zero-padded random
                crop, random horizontal flip). The batch's images are the same with
                and without it: augmentation draws come after the index draws.

        Raises:
            ConfigError: bad sampling name or sizes, or more images asked for than
                the set (or, for ``grasp``, its smallest class) holds.
        """
        rng = _rng(seed)
        indices = sample_indices(
            self.labels, self.num_classes, rng,
            sampling=sampling, batch_size=batch_size, samples_per_class=samples_per_class,
        )
        images = self.images[indices]
        if augment:
            images = random_crop_flip(images, self.info.crop_padding, rng)
        return normalize(images, self.mean, self.std), torch.from_numpy(self.labels[indices].copy())


def _rng(seed: int) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng(int(seed))
