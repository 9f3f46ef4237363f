"""Read the official NAS-Bench-201 / NATS-Bench topology files into an :class:`NB201Table`.

The shared CSVs (:meth:`NB201Table.load`) cover what the project needs; this
reader is for users who have the official file and want the numbers straight
from it (it also fills what the CSVs lack: 200-epoch validation accuracy of
CIFAR-100 and ImageNet16-120, train accuracy and time on every dataset, FLOPs).

Formats (found by :func:`detect_format`)
-----------------------------------------
``"nb201-pth"``: ``NAS-Bench-201-v1_0-e61699.pth`` / ``NAS-Bench-201-v1_1-096897.pth``.
    A ``torch.save``\\ d dict::

        meta_archs        list of the 15,625 arch strings, index order
        total_archs       15625
        evaluated_indexes indexes that have results
        arch2infos        {index: {"full": ArchResults, "less": ArchResults}}

    ``full`` is the 200-epoch schedule, ``less`` the 12-epoch one.
``"nats-simple"``: the directory ``NATS-tss-v1_0-3ffb9-simple/``.
    ``meta.pickle.pbz2`` (a bz2-compressed pickle of a dict with ``meta_archs``,
    ``total_archs``, ``arch2infos: None``, ``evaluated_indexes``) and one
    ``{index:06d}.pickle.pbz2`` (or ``{index}.pickle.pbz2``) per cell holding
    ``{"12": ArchResults, "200": ArchResults}``.
``"nats-pickle"``: ``NATS-tss-v1_0-3ffb9.pickle.pbz2``, one bz2 pickle shaped like
    the ``.pth`` dict but with ``"12"`` / ``"200"`` keys per index.

An ``ArchResults`` is stored as its state dict (plain dicts, lists, numbers)::

    arch_index, arch_str
    dataset_seed   {dataset: [seed, ...]}              e.g. {"cifar10": [777, 888, 999], ...}
    all_results    {(dataset, seed): ResultsCount}

and each ``ResultsCount`` (one training run) as a dict; the keys read are::

    epochs        number of epochs of the run (the last one, epochs-1, is read)
    train_acc1es  {epoch: train accuracy}       train_losses {epoch: loss}
    train_times   {epoch: seconds} or None
    eval_acc1es   {"<set>@<epoch>": accuracy}   eval_losses  {"<set>@<epoch>": loss}
    params        millions of parameters        flop         millions of FLOPs

with ``<set>`` ``x-valid`` (validation split), ``x-test`` (test split of
cifar100 / ImageNet16-120) or ``ori-test`` (the original CIFAR-10 test set).
Each table column is the mean over a cell's runs of the value after the last
epoch, as NB201's ``get_metrics(..., is_random=False)`` computes it; the
per-run CIFAR-10 columns take the ``cifar10`` runs in seed order, ``params_m`` and
``flops_m`` the ``cifar10-valid`` runs (10-class network). ``naswot_score`` is not
in these files (NaN). Cells without results get NaN (and a warning).

Safety
------
These files are pickles, and unpickling can run code. The reader never unpickles
them blindly: bz2 pickles go through an unpickler that only accepts the few
globals the files use (``collections.OrderedDict`` and numpy's scalar and dtype
reconstructors), and ``.pth`` files are read with
``torch.load(weights_only=True)`` allowing the same numpy globals. A file that
needs anything else is refused with a DataError; pass ``trusted=True`` (only for a
file you downloaded yourself from the official source) to load it with full
pickle, which warns.

Speed
-----
The ``.pth`` and the single NATS pickle are read whole (several GB of memory).
The simple directory takes about 15 ms per cell (bz2), about 4 minutes on one
core for all 15,625; ``workers`` spreads it over processes. :func:`load_official`
caches the resulting table like :meth:`NB201Table.load` does, so this happens once.
"""

from __future__ import annotations

import bz2
import collections
import os
import pickle
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradsign.benchmarks.nb201 import (
    COLUMNS,
    DATASETS,
    FORMAT_VERSION,
    SEED_NAMES,
    SPLITS,
    NB201Table,
    _cached,
    _check_arch_list,
    _file_stat,
    _short,
    acc_column,
)
from gradsign.errors import DataError

__all__ = ["detect_format", "read_official", "load_official", "FORMATS"]

FORMATS = ("nb201-pth", "nats-simple", "nats-pickle")
META_FILE = "meta.pickle.pbz2"
_PBZ2 = ".pickle.pbz2"
READER_VERSION = 1

# Schedule key in the files -> epochs.
_HP_EPOCHS = {"full": 200, "less": 12, "200": 200, "12": 12}
# (dataset, split) -> evaluation set name in eval_acc1es keys.
_EVAL_SET = {
    ("cifar10-valid", "valid"): "x-valid",
    ("cifar10-valid", "test"): "ori-test",
    ("cifar10", "test"): "ori-test",
    ("cifar100", "valid"): "x-valid",
    ("cifar100", "test"): "x-test",
    ("ImageNet16-120", "valid"): "x-valid",
    ("ImageNet16-120", "test"): "x-test",
}


# --------------------------------------------------------------------------- safe loading


def _numpy_scalar_fn():
    try:
        from numpy._core.multiarray import scalar  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import scalar
    return scalar


_NP_SCALAR = _numpy_scalar_fn()
_NUMERIC_KINDS = "biufc"


def _safe_scalar(dtype: Any, data: Any = None):
    # Only plain numeric scalars: an object-dtype "scalar" would hand back arbitrary objects.
    if not isinstance(dtype, np.dtype) or dtype.kind not in _NUMERIC_KINDS or not isinstance(data, bytes):
        raise pickle.UnpicklingError(f"numpy scalar of dtype {dtype!r} is not allowed")
    return _NP_SCALAR(dtype, data)


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("numpy", "dtype"): np.dtype,
    # numpy 1.x (which wrote the official files) and numpy 2 name the reconstructor differently.
    ("numpy.core.multiarray", "scalar"): _safe_scalar,
    ("numpy._core.multiarray", "scalar"): _safe_scalar,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in :data:`_ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed") from None


def _refusal(label: str, exc: Exception) -> DataError:
    detail = str(exc).strip().splitlines()
    what = next((line for line in detail if "global" in line.lower() or "allowed" in line.lower()),
                detail[0] if detail else type(exc).__name__)
    return DataError(
        f"{label}: refused to unpickle it ({_short(what, 160)}); if this is your own copy of the official "
        "file, pass trusted=True (unpickling an untrusted file can run code)"
    )


def _warn_trusted(label: str) -> None:
    warnings.warn(
        f"{label}: loading with full pickle (trusted=True); this can run code stored in the file, "
        "only do it for a file you trust",
        stacklevel=4,
    )


def _load_bz2_pickle(path: Path, label: str, trusted: bool) -> Any:
    try:
        with bz2.BZ2File(path, "rb") as f:
            if trusted:
                return pickle.load(f)
            return _RestrictedUnpickler(f).load()
    except pickle.UnpicklingError as exc:
        if not trusted and "not allowed" in str(exc):
            raise _refusal(label, exc) from None
        raise DataError(f"{label}: not a valid pickle ({_short(exc, 120)})") from None
    except (OSError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError, KeyError) as exc:
        raise DataError(f"{label}: cannot read as a bz2-compressed pickle ({type(exc).__name__}: "
                        f"{_short(exc, 120)})") from None


def _torch_safe_globals() -> list[Any]:
    scalar = _NP_SCALAR
    dtype_classes = []
    for code in "?bhilqBHILQefdgFDG":
        cls = type(np.dtype(code))
        if cls not in dtype_classes:
            dtype_classes.append(cls)
    # The (object, name) form lets files written under numpy 1.x ('numpy.core.multiarray') through.
    return [scalar, (scalar, "numpy.core.multiarray.scalar"), np.dtype, *dtype_classes]


def _load_pth(path: Path, label: str, trusted: bool) -> Any:
    import torch

    try:
        if trusted:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(_torch_safe_globals()):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"GLOBAL ([\w.]+)", text) or re.search(r"Can only build .* but got <class '([\w.]+)'>", text)
        if not trusted and found:
            raise _refusal(label, Exception(f"global {found.group(1)} is not allowed")) from None
        detail = [ln.strip() for ln in text.splitlines() if ln.strip() and "WeightsUnpickler" not in ln
                  and "Weights only" not in ln and "PyTorch" not in ln and "documentation" not in ln]
        raise DataError(f"{label}: cannot read as a torch file ({_short(detail[0] if detail else type(exc).__name__, 120)})") from None
    except (OSError, EOFError, RuntimeError, ValueError, TypeError, AttributeError, ImportError) as exc:
        raise DataError(f"{label}: cannot read as a torch file ({type(exc).__name__}: {_short(exc, 120)})") from None


# --------------------------------------------------------------------------- format detection


def detect_format(path: str | os.PathLike[str]) -> str:
    """Which official format ``path`` is in (one of :data:`FORMATS`); DataError if none."""
    p = Path(path)
    if p.is_dir():
        if (p / META_FILE).is_file():
            return "nats-simple"
        raise DataError(f"{p}: a directory without {META_FILE}, so not a NATS-Bench 'simple' archive")
    if not p.is_file():
        raise DataError(f"{p}: no such file or directory (expected an official NAS-Bench-201 / NATS-Bench file)")
    name = p.name.lower()
    if name.endswith(".pth") or name.endswith(".pt"):
        return "nb201-pth"
    if name.endswith(".pbz2") or name.endswith(".bz2"):
        return "nats-pickle"
    with open(p, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80\x02"):
        return "nb201-pth"
    if head.startswith(b"BZh"):
        return "nats-pickle"
    raise DataError(f"{p}: not a NAS-Bench-201 .pth, a NATS-Bench .pickle.pbz2 or a NATS-Bench simple directory")


# --------------------------------------------------------------------------- extraction


def _epoch_value(series: Any, epoch: int) -> Any:
    """Value at ``epoch`` of a per-epoch record (a dict keyed by epoch, or a list)."""
    if series is None:
        return None
    if isinstance(series, Mapping):
        return series.get(epoch)
    if isinstance(series, Sequence) and 0 <= epoch < len(series):
        return series[epoch]
    return None


def _mean(values: list[float]) -> float:
    vals = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def _to_float(x: Any) -> float | None:
    if x is None:
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def extract_columns(hp_results: Mapping[Any, Mapping[str, Any]]) -> dict[str, float]:
    """Table values of one cell from its ``{schedule key: ArchResults state dict}``.

    Schedule keys ``"full"``/``"200"`` are the 200-epoch runs, ``"less"``/``"12"``
    the 12-epoch runs; other keys are ignored. Values absent from the record are
    left out (NaN in the table).
    """
    out: dict[str, float] = {}
    for hp_key, ar in hp_results.items():
        epochs = _HP_EPOCHS.get(str(hp_key))
        if epochs is None or ar is None:
            continue
        all_results = ar["all_results"]
        for ds in DATASETS:
            seeds = sorted(ar["dataset_seed"].get(ds, ()), key=_seed_key)
            runs = [all_results[(ds, s)] for s in seeds if (ds, s) in all_results]
            if not runs:
                continue
            lasts = [int(run["epochs"]) - 1 for run in runs]
            for split in SPLITS[ds]:
                if split == "train":
                    vals = [_to_float(_epoch_value(run.get("train_acc1es"), e)) for run, e in zip(runs, lasts)]
                else:
                    name = _EVAL_SET[(ds, split)]
                    vals = [_to_float((run.get("eval_acc1es") or {}).get(f"{name}@{e}")) for run, e in zip(runs, lasts)]
                value = _mean(vals)
                if np.isfinite(value):
                    out[acc_column(ds, split, epochs)] = value
            if epochs != 200:
                continue
            times = []
            for run in runs:
                tt = run.get("train_times")
                if isinstance(tt, Mapping) and len(tt) > 0:
                    times.append(float(np.mean([float(t) for t in tt.values()])))
            if times:
                out[f"{ds}/train_time_epoch"] = _mean(times)
            if ds == "cifar10-valid":
                for split, name in (("train", None), ("valid", "x-valid"), ("test", "ori-test")):
                    if name is None:
                        vals = [_to_float(_epoch_value(run.get("train_losses"), e)) for run, e in zip(runs, lasts)]
                    else:
                        vals = [_to_float((run.get("eval_losses") or {}).get(f"{name}@{e}")) for run, e in zip(runs, lasts)]
                    value = _mean(vals)
                    if np.isfinite(value):
                        out[f"cifar10-valid/{split}_loss@200"] = value
            if ds in ("cifar10-valid", "cifar10") and "params_m" not in out:
                for key, col in (("params", "params_m"), ("flop", "flops_m")):
                    value = _mean([_to_float(run.get(key)) for run in runs])
                    if np.isfinite(value):
                        out[col] = value
            if ds == "cifar10":
                for seed_name, run, e in zip(SEED_NAMES, runs, lasts):
                    value = _to_float((run.get("eval_acc1es") or {}).get(f"ori-test@{e}"))
                    if value is not None:
                        out[f"cifar10/test_acc@200/{seed_name}"] = value
    return out


def _seed_key(seed: Any) -> tuple[int, Any]:
    try:
        return (0, int(seed))
    except (TypeError, ValueError):
        return (1, str(seed))


def _cell_values(index: int, record: Any, arch: str, label: str) -> dict[str, float]:
    if not isinstance(record, Mapping):
        raise DataError(f"{label}: arch {index}: expected a dict of schedules, got {type(record).__name__}")
    try:
        for ar in record.values():
            if isinstance(ar, Mapping) and ar.get("arch_str") not in (None, arch):
                raise DataError(f"{label}: arch {index}: its record is for {ar.get('arch_str')}, "
                                f"but meta_archs says {arch}")
        return extract_columns(record)
    except DataError:
        raise
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise DataError(f"{label}: arch {index}: unexpected record structure "
                        f"({type(exc).__name__}: {_short(exc, 100)})") from None


def _meta_archs(obj: Any, label: str) -> list[str]:
    if not isinstance(obj, Mapping) or "meta_archs" not in obj:
        raise DataError(f"{label}: not a NAS-Bench-201 / NATS-Bench file (no 'meta_archs' key)")
    archs = obj["meta_archs"]
    if not isinstance(archs, (list, tuple)) or not archs:
        raise DataError(f"{label}: 'meta_archs' is not a non-empty list of arch strings")
    total = obj.get("total_archs")
    if total is not None and total != len(archs):
        raise DataError(f"{label}: total_archs is {total} but meta_archs lists {len(archs)} archs")
    return _check_arch_list(archs, label)


def _assemble(archs: list[str], cells: dict[int, dict[str, float]], source: str, label: str) -> NB201Table:
    n = len(archs)
    columns = {spec.name: np.full(n, np.nan, dtype=np.float64) for spec in COLUMNS}
    for i, values in cells.items():
        for name, v in values.items():
            columns[name][i] = v
    notes = []
    missing = n - len(cells)
    if missing:
        first = next(i for i in range(n) if i not in cells)
        notes.append(f"{label}: {missing:,} of {n:,} architectures have no results (first: index {first}); "
                     "their values are NaN")
    for note in notes:
        warnings.warn(note, stacklevel=4)
    return NB201Table(archs, columns, source=source, notes=notes)


def _read_whole(obj: Any, label: str, name: str) -> NB201Table:
    archs = _meta_archs(obj, label)
    infos = obj.get("arch2infos")
    if not isinstance(infos, Mapping):
        raise DataError(f"{label}: 'arch2infos' is not a dict of per-arch results")
    cells = {}
    for key, record in infos.items():
        try:
            i = int(key)
        except (TypeError, ValueError):
            raise DataError(f"{label}: arch2infos key {_short(repr(key))} is not an index") from None
        if not 0 <= i < len(archs):
            raise DataError(f"{label}: arch2infos has index {i}, outside 0..{len(archs) - 1}")
        cells[i] = _cell_values(i, record, archs[i], label)
    return _assemble(archs, cells, f"official: {name}", label)


def _simple_cell_path(directory: Path, index: int) -> Path | None:
    for name in (f"{index:06d}{_PBZ2}", f"{index}{_PBZ2}"):
        p = directory / name
        if p.is_file():
            return p
    return None


def _read_simple_chunk(directory: str, items: list[tuple[int, str]], trusted: bool) -> list[tuple[int, Any]]:
    """Worker: (index, values dict | None if the cell has no file) for each (index, arch)."""
    d = Path(directory)
    out: list[tuple[int, Any]] = []
    for i, arch in items:
        p = _simple_cell_path(d, i)
        if p is None:
            out.append((i, None))
            continue
        label = f"{d.name}/{p.name}"
        record = _load_bz2_pickle(p, label, trusted)
        out.append((i, _cell_values(i, record, arch, label)))
    return out


def _read_simple(directory: Path, label: str, trusted: bool, workers: int | None) -> NB201Table:
    meta = _load_bz2_pickle(directory / META_FILE, f"{label}/{META_FILE}", trusted)
    archs = _meta_archs(meta, f"{label}/{META_FILE}")
    items = list(enumerate(archs))
    if workers is None:
        # Process start-up costs more than it saves on a handful of cells.
        workers = 1 if len(items) < 512 else min(8, os.cpu_count() or 1)
    results: list[tuple[int, Any]] = []
    if workers <= 1:
        results = _read_simple_chunk(str(directory), items, trusted)
    else:
        from concurrent.futures import ProcessPoolExecutor

        size = max(1, len(items) // (workers * 8))
        chunks = [items[k:k + size] for k in range(0, len(items), size)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for part in pool.map(_read_simple_chunk, [str(directory)] * len(chunks), chunks,
                                 [trusted] * len(chunks)):
                results.extend(part)
    cells = {i: values for i, values in results if values is not None}
    return _assemble(archs, cells, f"official: {directory.name}", label)


def read_official(
    path: str | os.PathLike[str],
    *,
    trusted: bool = False,
    workers: int | None = None,
) -> NB201Table:
    """Read an official file (any of :data:`FORMATS`) into a table; no caching.

    ``trusted=True`` loads with full pickle after a warning (see the module
    docstring). ``workers``: processes for the simple directory (default: up to 8
    when there are many cells).
    """
    p = Path(path)
    fmt = detect_format(p)
    label = str(p)
    if trusted:
        _warn_trusted(label)
    if fmt == "nats-simple":
        return _read_simple(p, label, trusted, workers)
    obj = _load_pth(p, label, trusted) if fmt == "nb201-pth" else _load_bz2_pickle(p, label, trusted)
    return _read_whole(obj, label, p.name)


def _fingerprint(path: Path) -> dict[str, Any]:
    fp: dict[str, Any] = {"kind": "nb201-official", "reader": READER_VERSION, "format": FORMAT_VERSION}
    if path.is_dir():
        count = size = latest = 0
        with os.scandir(path) as it:
            for entry in it:
                if entry.name.endswith(_PBZ2) and entry.is_file():
                    st = entry.stat()
                    count += 1
                    size += st.st_size
                    latest = max(latest, st.st_mtime_ns)
        fp["dir"] = [str(path.resolve()), count, size, latest]
    else:
        fp["file"] = _file_stat("nb201-official", path)
    return fp


def _locate_official(data_dir: str | os.PathLike[str] | None) -> Path:
    """The official file or simple directory in the data directory.

    The ``nb201-official`` resource lists both file names and the NATS-Bench
    directory name, while ``find_resource`` matches only files for it, so the
    candidates are checked here (files or directories); when none exists,
    ``find_resource`` raises its usual message.
    """
    from gradsign.data.paths import find_resource, get_resource, resolve_data_dir

    ddir = resolve_data_dir(data_dir)
    if ddir is not None:
        for rel in get_resource("nb201-official").candidates:
            cand = ddir / rel
            if cand.is_file() or (cand.is_dir() and (cand / META_FILE).is_file()):
                return cand
    return find_resource("nb201-official", ddir)


def load_official(
    path: str | os.PathLike[str] | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache: bool | str | os.PathLike[str] = True,
    trusted: bool = False,
    workers: int | None = None,
) -> NB201Table:
    """Like :func:`read_official`, with the result cached (see :meth:`NB201Table.load`).

    Without ``path``, the file is looked up in the data directory under the names
    of the ``nb201-official`` resource (``NAS-Bench-201-v1_1-096897.pth``,
    ``NATS-tss-v1_0-3ffb9-simple``, ...).
    """
    p = Path(path) if path is not None else _locate_official(data_dir)
    detect_format(p)  # a clear error before hashing anything
    return _cached("nb201-official", _fingerprint(p), cache,
                   lambda: read_official(p, trusted=trusted, workers=workers))
