"""The one table of dataset names for the whole library, aliases included.

Every module that takes a dataset name (image loading, the NB201 table, the
NASLib reference scores, the search oracle, the predictor workflow) turns it
into a canonical name here, so ``c10``, ``CIFAR-10`` and ``cifar_10`` mean the
same thing everywhere::

    canonical_dataset("c10")                        # "cifar10"
    canonical_dataset("in16")                       # "ImageNet16-120"
    canonical_dataset("cifar10-valid")              # "cifar10"  (its images)
    canonical_dataset("cifar10-valid", among=("cifar10-valid", "cifar10"))  # "cifar10-valid"

``cifar10-valid`` is NAS-Bench-201's CIFAR-10 protocol with the training set
split 25k / 25k: the same images as ``cifar10``. Where a benchmark records it
separately (the NB201 table) it keeps its name; everywhere else (image sets,
the search settings, which follow it on ``cifar10``) it means ``cifar10``.

An unknown name raises a one-line :class:`~gradsign.errors.ConfigError` that
lists the valid names. Importing this module needs nothing but the standard
library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gradsign.errors import ConfigError

__all__ = [
    "DATASET_NAMES",
    "IMAGE_SETS",
    "DatasetName",
    "canonical_dataset",
]


@dataclass(frozen=True)
class DatasetName:
    """One canonical dataset name, the image set it is drawn from and its aliases."""

    name: str
    image_set: str
    #: other spellings; compared (like ``name``) after lower-casing and dropping ``-``, ``_`` and spaces
    aliases: tuple[str, ...] = ()


_TABLE: tuple[DatasetName, ...] = (
    DatasetName("cifar10", "cifar10", ("c10", "cifar-10")),
    DatasetName("cifar10-valid", "cifar10", ("c10-valid",)),
    DatasetName("cifar100", "cifar100", ("c100", "cifar-100")),
    DatasetName("ImageNet16-120", "ImageNet16-120", ("ImageNet16", "in16", "in16-120")),
)

#: Every canonical name, in table order.
DATASET_NAMES: tuple[str, ...] = tuple(entry.name for entry in _TABLE)
#: The image sets (what ``gradsign.data.images`` loads), in table order.
IMAGE_SETS: tuple[str, ...] = tuple(dict.fromkeys(entry.image_set for entry in _TABLE))


def _key(name: str) -> str:
    return "".join(ch for ch in str(name).lower() if ch not in "-_ ")


_BY_KEY: dict[str, DatasetName] = {
    _key(spelling): entry for entry in _TABLE for spelling in (entry.name, *entry.aliases)
}


def _entry(name: str, valid: Sequence[str], label: str) -> DatasetName:
    entry = _BY_KEY.get(_key(name)) if isinstance(name, str) else None
    if entry is None:
        raise ConfigError(f"unknown {label} {name!r}; valid: {', '.join(valid)}")
    return entry


def canonical_dataset(name: str, *, among: Sequence[str] | None = None, label: str = "dataset") -> str:
    """The canonical name of dataset ``name``.

    Args:
        name: any spelling of a dataset in the table (``"c10"``, ``"CIFAR-100"``, ``"in16"``).
        among: the canonical names the caller supports (a benchmark's datasets);
            default: the image sets. A name outside them is an error, except
            ``cifar10-valid``, which falls back to its image set ``cifar10``
            where ``among`` does not list it.
        label: what the error message calls the name (``"NB201 dataset"``).

    Raises:
        ConfigError: ``name`` is not in the table or not ``among`` the supported
            names; the message lists the valid ones.
    """
    valid = tuple(IMAGE_SETS if among is None else among)
    entry = _entry(name, valid, label)
    if entry.name in valid:
        return entry.name
    if entry.image_set in valid:
        return entry.image_set
    raise ConfigError(f"unknown {label} {name!r}; valid: {', '.join(valid)}")

