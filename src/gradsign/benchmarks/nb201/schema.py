"""The NB201 table's schema: datasets, splits, epochs, the column names and types, arch strings, name checks.

See :mod:`gradsign.benchmarks.nb201` for what each column holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gradsign.benchmarks.datasets import canonical_dataset
from gradsign.errors import ArchError, ConfigError

NUM_ARCHS = 15_625
DATASETS: tuple[str, ...] = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
EPOCHS: tuple[int, ...] = (200, 12)
SPLITS: dict[str, tuple[str, ...]] = {
    "cifar10-valid": ("train", "valid", "test"),
    # Trained on train+valid: NB201 evaluates it only on the test set.
    "cifar10": ("train", "test"),
    "cifar100": ("train", "valid", "test"),
    "ImageNet16-120": ("train", "valid", "test"),
}
SEED_NAMES: tuple[str, ...] = ("seed_a", "seed_b", "seed_c")

# Bump when the stored layout (columns, dtypes, meta) changes: old caches are then ignored.
FORMAT_VERSION = 1

_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
_OP = "(?:" + "|".join(_OPS) + ")"
_ARCH_RE = re.compile(
    rf"^\|{_OP}~0\|\+\|{_OP}~0\|{_OP}~1\|\+\|{_OP}~0\|{_OP}~1\|{_OP}~2\|$"
)
_EXAMPLE_ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def is_nb201_arch_string(text: Any) -> bool:
    """Whether ``text`` is a well-formed NAS-Bench-201 arch string."""
    return isinstance(text, str) and _ARCH_RE.match(text) is not None


def acc_column(dataset: str, split: str, epochs: int) -> str:
    """Name of the accuracy column, e.g. ``acc_column("cifar100", "test", 200)``."""
    return f"{dataset}/{split}_acc@{epochs}"


def _seed_column(seed: str) -> str:
    return f"cifar10/test_acc@200/{seed}"


def _time_column(dataset: str) -> str:
    return f"{dataset}/train_time_epoch"


@dataclass(frozen=True)
class ColumnSpec:
    """One numeric column of the table."""

    name: str
    dtype: str  # "float32" or "float64"
    unit: str
    description: str


def _column_specs() -> tuple[ColumnSpec, ...]:
    specs: list[ColumnSpec] = []
    for epochs in EPOCHS:
        for ds in DATASETS:
            for split in SPLITS[ds]:
                specs.append(ColumnSpec(
                    acc_column(ds, split, epochs), "float64", "%",
                    f"{split} accuracy of {ds} after {epochs} epochs, mean over runs"))
    for split in ("train", "valid", "test"):
        specs.append(ColumnSpec(
            f"cifar10-valid/{split}_loss@200", "float32", "nats",
            f"{split} loss of cifar10-valid after 200 epochs, mean over runs"))
    for ds in DATASETS:
        specs.append(ColumnSpec(_time_column(ds), "float32", "s",
                                f"training time per epoch on {ds}"))
    for seed in SEED_NAMES:
        specs.append(ColumnSpec(_seed_column(seed), "float64", "%",
                                f"cifar10 test accuracy after 200 epochs, run {seed[-1]} (NaN if absent)"))
    specs += [
        ColumnSpec("params_m", "float64", "M", "parameters of the 10-class network, millions"),
        ColumnSpec("flops_m", "float64", "M", "FLOPs of the 10-class network, millions"),
        ColumnSpec("naswot_score", "float64", "", "NASWOT (jacob_cov v1) score by that paper's authors"),
    ]
    return tuple(specs)


COLUMNS: tuple[ColumnSpec, ...] = _column_specs()
_SPEC_BY_NAME = {c.name: c for c in COLUMNS}

_TARGET_ALIASES = {"val": "valid", "validation": "valid", "x-valid": "valid", "ori-test": "test", "x-test": "test"}


def _canonical_dataset(dataset: Any) -> str:
    return canonical_dataset(dataset, among=DATASETS, label="NB201 dataset")


def _canonical_target(target: Any) -> str:
    if isinstance(target, str):
        t = target.strip().lower()
        t = _TARGET_ALIASES.get(t, t)
        if t in ("train", "valid", "test"):
            return t
    raise ConfigError(f"unknown target {target!r}; valid: test, valid, train")


def _as_arch_text(arch: Any) -> str:
    if isinstance(arch, str):
        return arch
    to_string = getattr(arch, "to_string", None)
    if callable(to_string):
        text = to_string()
        if isinstance(text, str):
            return text
    raise ArchError(f"cannot interpret {_short(repr(arch))} as an NB201 arch (give an arch string or an index)")


def _short(text: str, limit: int = 100) -> str:
    text = str(text).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
