"""The NB201 table's cache: a built table stored as an uncompressed ``.npz``, keyed by its sources' fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gradsign.benchmarks.nb201.table import NB201Table
from gradsign.errors import DataError


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
