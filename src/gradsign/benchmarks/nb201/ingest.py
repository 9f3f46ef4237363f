"""Reading the NB201 table from the five shared CSVs: their columns, parsing, validation and the join."""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gradsign.benchmarks.nb201.schema import (
    SEED_NAMES,
    _SPEC_BY_NAME,
    _seed_column,
    _short,
    _time_column,
    acc_column,
    is_nb201_arch_string,
)
from gradsign.benchmarks.nb201.table import NB201Table
from gradsign.errors import DataError


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
    """Parse, validate and join the five CSVs (see the module docstring of :mod:`gradsign.benchmarks.nb201`)."""
    n = int(expected_rows)
    parsed = {src.key: _read_csv_file(paths[src.key], labels[src.key], src, n) for src in _CSV_SOURCES}
    arch_by_index = _arch_by_index(parsed, labels, n)
    positions = _row_positions(parsed, arch_by_index)
    notes = _missing_rows(parsed, positions, n)
    _check_train_times(parsed["nb201-cifar10-valid"])
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


def _arch_by_index(parsed: Mapping[str, _Parsed], labels: Mapping[str, str], n: int) -> np.ndarray:
    """The arch string of every index, from the files with an index column; they must agree, cover every
    index, and give distinct, well-formed strings."""
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
        dup = np.zeros(len(idx), dtype=bool)
        order = np.argsort(idx, kind="stable")
        dup[order[1:]] = idx[order[1:]] == idx[order[:-1]]
        if dup.any():
            r = int(np.argmax(dup))
            raise DataError(f"{p.label}: row {r} (line {r + 2}) index {int(idx[r])} appears twice")
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
    for i, a in enumerate(arch_by_index):
        if not is_nb201_arch_string(a):
            raise DataError(f"{parsed[indexed[owner[i]].key].label}: index {i}: {_short(a)!r} is not an NB201 arch string")
    if len(set(arch_by_index)) != n:
        seen_at: dict[str, int] = {}
        for i, a in enumerate(arch_by_index):
            if a in seen_at:
                raise DataError(f"{parsed[indexed[owner[i]].key].label}: arch {a} appears at index "
                                f"{seen_at[a]} and {i}")
            seen_at[a] = i
    return arch_by_index


def _row_positions(parsed: Mapping[str, _Parsed], arch_by_index: np.ndarray) -> dict[str, np.ndarray]:
    """The NB201 index of every row of every file; files without an index column must follow index order."""
    n = len(arch_by_index)
    arch_index = {a: i for i, a in enumerate(arch_by_index)}
    ref_label = Path(parsed[next(s for s in _CSV_SOURCES if s.index_col).key].label).name
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
    return positions


def _missing_rows(parsed: Mapping[str, _Parsed], positions: Mapping[str, np.ndarray], n: int) -> list[str]:
    """Rows missing at the end of a file mean a truncated file (an error); in the middle, NaN and a note."""
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
    return notes


def _check_train_times(ochoa: _Parsed) -> None:
    """The total training time must be 200 x the per-epoch time: derived 12-epoch costs rely on it."""
    per, tot = ochoa.values["train-per-time"], ochoa.values["train-all-time"]
    off = np.abs(tot - 200.0 * per) > 1e-6 * np.abs(tot) + 1e-3
    if off.any():
        r = int(np.argmax(off))
        raise DataError(f"{ochoa.label}: row {r} (line {r + 2}) train-all-time {float(tot[r])!r} is not 200 x "
                        f"train-per-time {float(per[r])!r}")


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
