"""The NB201 table: every cell's ground truth in index order, and the queries on it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradsign.benchmarks.nb201.schema import (
    COLUMNS,
    DATASETS,
    EPOCHS,
    FORMAT_VERSION,
    NUM_ARCHS,
    SEED_NAMES,
    SPLITS,
    _EXAMPLE_ARCH,
    _SPEC_BY_NAME,
    _as_arch_text,
    _canonical_dataset,
    _canonical_target,
    _seed_column,
    _short,
    _time_column,
    acc_column,
    is_nb201_arch_string,
)
from gradsign.errors import ArchError, ConfigError, DataError


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
        from gradsign.benchmarks.nb201.cache import _cached, _file_stat, _label
        from gradsign.benchmarks.nb201.ingest import CSV_RESOURCE_KEYS, _build_from_csv
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
