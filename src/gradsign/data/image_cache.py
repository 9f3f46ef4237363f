"""Disk cache of decoded image arrays, so slow sources (60k JPEGs, 1 GB of pickles) decode once.

An entry is an uncompressed ``.npz`` (``images``, ``labels`` and ``key``, the
version string it was built from) in
``gradsign.cache.cache_dir("images")``. Its name carries a digest of the source
files' paths and one of their sizes and modification times, so editing or
replacing a source file makes a new entry (and the outdated one is removed),
while copies of the data in two directories keep one entry each.

The cache is an optimisation only: an unreadable or inconsistent entry is
deleted and rebuilt, and a cache directory that cannot be written to costs
speed, never the load itself.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from gradsign.cache import cache_dir
from gradsign.errors import DataError

log = logging.getLogger(__name__)

CACHE_VERSION = 1
"""Bump when the reader's output for the same source files changes."""

Arrays = tuple[np.ndarray, np.ndarray]


def fingerprint(paths: Sequence[Path]) -> tuple[str, str]:
    """``(location, version)`` of source files, for naming and validating cache entries.

    ``location`` depends on the resolved paths only; ``version`` also on each
    file's size and modification time (ns), cheap next to hashing a 65 MB zip
    and changed by any rewrite.
    """
    resolved = [p.resolve() for p in paths]
    location = "\n".join(str(p) for p in resolved)
    stats = [p.stat() for p in resolved]
    version = "\n".join([f"v{CACHE_VERSION}"] + [
        f"{p}|{st.st_size}|{st.st_mtime_ns}" for p, st in zip(resolved, stats)
    ])
    return location, version


def entry_path(name: str, location: str, version: str) -> Path:
    """The cache file of ``name`` (e.g. ``cifar10-test-cifar10-jpeg``) for one version of its sources."""
    return cache_dir("images") / f"{name}-{_digest(location, 8)}-{_digest(version, 12)}.npz"


def load_or_build(
    name: str,
    sources: Sequence[Path],
    build: Callable[[], Arrays],
    validate: Callable[[np.ndarray, np.ndarray, str], Arrays],
) -> tuple[Arrays, bool]:
    """Return ``(arrays, from_cache)``: the cached arrays of ``sources``, else ``build()`` and store them.

    ``validate(images, labels, where)`` checks arrays (raising DataError); it is
    applied to what is read back so a damaged entry is never returned. Entries
    of older versions of the same source files are removed; entries of other
    files (another data directory) are left alone.
    """
    try:
        location, version = fingerprint(sources)
    except OSError as exc:  # a source vanished after it was found
        raise DataError(f"{exc.filename}: cannot read ({exc.strerror or exc})") from None
    path = entry_path(name, location, version)
    if path.exists():
        try:
            arrays = _read(path, version, validate)
        except DataError as exc:
            log.warning("rebuilding image cache entry: %s", exc)
            _unlink(path)
        else:
            log.debug("loaded %s from cache %s", name, path)
            return arrays, True
    arrays = build()
    _write(path, version, arrays)
    for old in path.parent.glob(f"{name}-{_digest(location, 8)}-*.npz"):
        if old != path:
            _unlink(old)
    return arrays, False


def _digest(text: str, n: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def _read(path: Path, version: str, validate: Callable[[np.ndarray, np.ndarray, str], Arrays]) -> Arrays:
    try:
        # Our own file handle: np.load leaks its own when the archive is damaged.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            stored = str(npz["key"])
            images, labels = npz["images"], npz["labels"]
    # Any failure means the entry is damaged (truncated write, disk error, a
    # foreign file with the same name); the caller rebuilds it.
    except Exception as exc:
        raise DataError(f"cache file {path} is unreadable ({type(exc).__name__}: {exc})") from None
    if stored != version:
        raise DataError(f"cache file {path} belongs to other source files")
    return validate(images, labels, f"cache file {path}")


def _write(path: Path, version: str, arrays: Arrays) -> None:
    images, labels = arrays
    tmp = None
    try:
        # Write beside the target then rename: readers (other processes too)
        # never see a half-written entry.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, images=images, labels=labels, key=np.array(version))
        os.replace(tmp, path)
        tmp = None
        log.debug("cached %d images in %s", len(labels), path)
    except OSError as exc:
        log.warning("could not write image cache %s: %s", path, exc)
    finally:
        if tmp is not None:
            _unlink(Path(tmp))


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not remove %s: %s", path, exc)
