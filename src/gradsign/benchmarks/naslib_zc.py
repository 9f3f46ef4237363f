"""Reference zero-cost proxy scores of NASLib (NAS-Bench-Suite-Zero): ``zc_nasbench{201,101,301}.json``.

Each file holds, for a random sample of architectures of one search space and
each of its datasets, NASLib's scores of its zero-cost proxies (``synflow,
snip, grasp, fisher, grad_norm, jacov, nwot, epe_nas, l2_norm, plain, flops,
params``, batch size 64), the seconds each took, and the architecture's
``val_accuracy``. :func:`load_naslib_zc` turns one (space, dataset) into a table:

========================  =====================================================
column                    meaning
========================  =====================================================
``arch``                  the architecture, as this project's canonical string
                          (``gradsign.spaces``: nb201, nb101 or darts)
``val_accuracy``          the benchmark's accuracy for it, percent
``<proxy>``               NASLib's score (float; NASLib wrote ``-inf`` where a
                          proxy failed, and that is kept; NaN where a record
                          lacks the proxy)
``<proxy>_time``          seconds NASLib took for it (NaN in the NB101 file,
                          which has no times)
``naslib_key``            the file's key for the row, verbatim
========================  =====================================================

One row per key of the file, in file order. Key formats (converted here):

* NB201 ``"(0, 2, 3, 2, 3, 1)"``: op indices over ``[skip_connect, none,
  nor_conv_3x3, nor_conv_1x1, avg_pool_3x3]`` on edges ``0->1, 0->2, 0->3,
  1->2, 1->3, 2->3`` (that is ``|o0~0|+|o1~0|o3~1|+|o2~0|o4~1|o5~2|``).
* NB101: 56 ints, the 7x7 adjacency matrix row by row then 7 op codes over
  ``[input, output, maxpool3x3, conv1x1-bn-relu, conv3x3-bn-relu]``. These are
  the *unpruned* specs NASLib sampled, so different keys can be the same cell:
  the 500 NB101 rows hold 292 distinct cells (55 rows are the trivial
  ``input -> output`` cell), each row with its own benchmark repeat's
  accuracy. Deduplicate on ``arch`` (or its :meth:`NB101Arch.spec_hash`) where
  that matters.
* NB301: NASLib's compact DARTS form, ``[[(input, op index) x 8], [... x 8]]``.

Any structural problem (missing file or dataset, bad JSON, an unparsable key,
a record missing a field or holding a non-number) raises a one-line
:class:`~gradsign.errors.DataError` naming the file.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from gradsign.data.paths import find_resource
from gradsign.benchmarks.datasets import canonical_dataset
from gradsign.benchmarks.tables import ZeroCostTable
from gradsign.errors import ArchError, ConfigError, DataError
from gradsign.spaces.base import get_space
from gradsign.spaces.darts import DartsArch, check_nb301
from gradsign.spaces.nb101 import NB101Arch
from gradsign.spaces.nb201 import NB201Arch

#: Data resource key (``gradsign.data.paths``) of each space's file.
NASLIB_ZC_RESOURCES: dict[str, str] = {
    "nb201": "naslib-zc-nb201",
    "nb101": "naslib-zc-nb101",
    "darts": "naslib-zc-nb301",
}
#: The file's top-level wrapper key, where it has one (``{"nasbench101": {"cifar10": ...}}``).
_WRAPPERS = {"nb201": "nasbench201", "nb101": "nasbench101", "darts": "nasbench301"}
#: NASLib's NB201 op order, the meaning of the ints of its NB201 keys.
NASLIB_NB201_OPS: tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
#: Our proxy name -> NASLib's name for the same proxy (where NASLib's files hold it).
NASLIB_PROXY_NAMES: dict[str, str] = {
    "params": "params", "flops": "flops", "synflow": "synflow", "l2_norm": "l2_norm",
    "grad_norm": "grad_norm", "snip": "snip", "grasp": "grasp", "fisher": "fisher",
    "jacob_cov": "jacov", "plain": "plain", "naswot": "nwot", "epe_nas": "epe_nas",
}
#: NASLib's stand-in for a failed (NaN / infinite) score in its files.
NASLIB_FAIL = -1e8
#: Record fields that are not proxies.
_META_FIELDS = ("val_accuracy", "idx", "arch")


def nb201_from_naslib(key: Any) -> NB201Arch:
    """The NB201 cell of a NASLib key: 6 op indices over :data:`NASLIB_NB201_OPS` on edges
    ``0->1, 0->2, 0->3, 1->2, 1->3, 2->3`` (a tuple, list or its string form)."""
    values = _int_tuple(key, "NASLib NB201 key")
    if len(values) != 6 or not all(0 <= v < len(NASLIB_NB201_OPS) for v in values):
        raise ArchError(f"NASLib NB201 key must be 6 op indices in 0..{len(NASLIB_NB201_OPS) - 1}, got {key!r}")
    o = [NASLIB_NB201_OPS[v] for v in values]
    # NASLib lists edge 0->3 before 1->2; NB201Arch (and the arch string) list 1->2 first.
    return NB201Arch.from_op_names([o[0], o[1], o[3], o[2], o[4], o[5]])


def _int_tuple(key: Any, what: str) -> tuple[int, ...]:
    if isinstance(key, str):
        text = key.strip()
        if not (text[:1] in "([" and text[-1:] in ")]"):
            raise ArchError(f"{what} must be a tuple of ints, got {key!r}")
        try:
            return tuple(int(v) for v in text[1:-1].split(",") if v.strip())
        except ValueError:
            raise ArchError(f"{what} must be a tuple of ints, got {key!r}") from None
    try:
        values = tuple(key)
    except TypeError:
        raise ArchError(f"{what} must be a tuple of ints, got {key!r}") from None
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise ArchError(f"{what} must be a tuple of ints, got {key!r}")
    return tuple(int(v) for v in values)


_CONVERTERS: dict[str, Callable[[str], str]] = {
    "nb201": lambda key: nb201_from_naslib(key).to_string(),
    "nb101": lambda key: NB101Arch.from_naslib(key).to_string(),
    # NB301's rules (no 'none', two different inputs per node) are checked: the DARTS space takes more.
    "darts": lambda key: check_nb301(DartsArch.from_string(key), "a NASLib NB301 record").to_string(),
}


def _space_name(space: str) -> str:
    name = get_space(space).name  # resolves aliases ("nb301", "NAS-Bench-101", ...)
    if name not in NASLIB_ZC_RESOURCES:
        raise ConfigError(
            f"NASLib zero-cost files exist for the spaces {', '.join(NASLIB_ZC_RESOURCES)}, not {space!r}"
        )
    return name


def _read_json(path: Path) -> Any:
    try:
        with open(path, "rb") as f:
            return json.load(f)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
    except (OSError, UnicodeDecodeError, RecursionError) as exc:
        raise DataError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None


def _datasets_of(doc: Any, space: str, path: Path) -> dict[str, Any]:
    """The ``{dataset: {key: record}}`` mapping of a file (unwrapping ``{"nasbench101": ...}``)."""
    if not isinstance(doc, dict) or not doc:
        raise DataError(f"{path}: expected a JSON object mapping dataset names to records, got {type(doc).__name__}")
    wrapper = _WRAPPERS[space]
    if set(doc) == {wrapper}:
        doc = doc[wrapper]
        if not isinstance(doc, dict) or not doc:
            raise DataError(f"{path}: {wrapper!r} must map dataset names to records")
    for name, records in doc.items():
        if not isinstance(records, dict) or not records:
            raise DataError(f"{path}: dataset {name!r} must map architecture keys to records, got {type(records).__name__}")
    return doc


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def naslib_zc_datasets(space: str, *, path: str | os.PathLike[str] | None = None,
                       data_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """The dataset names in ``space``'s NASLib file (e.g. ``['cifar10', 'cifar100', 'ImageNet16-120']``)."""
    name = _space_name(space)
    file = Path(path) if path is not None else find_resource(NASLIB_ZC_RESOURCES[name], data_dir)
    return list(_datasets_of(_read_json(file), name, file))


def load_naslib_zc(
    space: str,
    dataset: str = "cifar10",
    *,
    path: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """NASLib's zero-cost scores for ``space`` (``nb201``, ``nb101`` or ``darts``/``nb301``) on ``dataset``.

    ``path`` reads that file; otherwise the space's file is looked up in the
    data directory (``data_dir``, ``$GRADSIGN_DATA`` or ``../shared/data``).
    ``dataset`` is matched case-insensitively (``imagenet16-120`` works).
    Returns the table described in the module docstring; ``df.attrs`` holds
    ``space``, ``dataset`` (as spelled in the file) and ``source`` (the path).
    """
    name = _space_name(space)
    if not isinstance(dataset, str):
        raise ConfigError(f"dataset must be a string, got {dataset!r}")
    file = Path(path) if path is not None else find_resource(NASLIB_ZC_RESOURCES[name], data_dir)
    datasets = _datasets_of(_read_json(file), name, file)
    matches = [d for d in datasets if d.lower() == dataset.strip().lower()]
    if not matches:
        raise DataError(f"{file}: no dataset {dataset!r} (it has {', '.join(datasets)})")
    ds = matches[0]
    records = datasets[ds]
    convert = _CONVERTERS[name]

    # Proxies: every non-meta field of any record. A record lacking one gets NaN
    # (NASLib's NB201 cifar10 record '(3, 2, 4, 0, 4, 4)' has no synflow).
    for key, rec in records.items():
        if not isinstance(rec, dict):
            raise DataError(f"{file}: {ds} record {key!r} is a {type(rec).__name__}, expected an object")
    proxies = sorted({k for rec in records.values() for k in rec} - set(_META_FIELDS))
    if not proxies:
        raise DataError(f"{file}: the {ds} records hold no proxy scores")
    rows: list[dict[str, Any]] = []
    for key, rec in records.items():
        where = f"{file}: {ds} record {key!r}"
        try:
            arch = convert(key)
        except ArchError as exc:
            raise DataError(f"{where}: key is not a valid {name} architecture ({exc})") from None
        if "arch" in rec and rec["arch"] != key:
            raise DataError(f"{where}: its 'arch' field {rec['arch']!r} differs from its key")
        acc = _number(rec.get("val_accuracy"))
        if acc is None or not math.isfinite(acc):
            raise DataError(f"{where}: 'val_accuracy' must be a finite number, got {rec.get('val_accuracy')!r}")
        row: dict[str, Any] = {"arch": arch, "val_accuracy": acc}
        for proxy in proxies:
            if proxy not in rec:
                row[proxy] = row[f"{proxy}_time"] = math.nan
                continue
            value = rec[proxy]
            if isinstance(value, dict):  # {"score": s, "time": t}
                if set(value) != {"score", "time"}:
                    raise DataError(f"{where}: {proxy!r} must be a number or {{'score', 'time'}}, got keys {sorted(value)}")
                score, seconds = _number(value["score"]), _number(value["time"])
                if seconds is None or not seconds >= 0:
                    raise DataError(f"{where}: {proxy!r} time must be a non-negative number, got {value['time']!r}")
            else:  # the NB101 file stores bare scores
                score, seconds = _number(value), math.nan
            if score is None:
                value_text = value["score"] if isinstance(value, dict) else value
                raise DataError(f"{where}: {proxy!r} score must be a number, got {value_text!r}")
            row[proxy] = score
            row[f"{proxy}_time"] = seconds
        row["naslib_key"] = key
        rows.append(row)

    columns = ["arch", "val_accuracy", *proxies, *(f"{p}_time" for p in proxies), "naslib_key"]
    df = pd.DataFrame(rows, columns=columns)
    df.attrs.update(space=name, dataset=ds, source=str(file))
    return df


@dataclass
class NaslibSample:
    """NASLib's zero-cost file for one (space, dataset), one row per distinct cell."""

    zerocost: ZeroCostTable
    accuracy: dict[str, float]  # representative arch string -> mean val_accuracy
    description: str


def naslib_sample(space: str, dataset: str = "cifar10", data_dir: str | Path | None = None) -> NaslibSample:
    """NASLib's reference zero-cost scores (and ``val_accuracy``) of ``space``/``dataset``, one row per cell.

    Rows that are the same cell (NB101: isomorphic specs, same spec hash; DARTS:
    the same genotype up to the order of a node's two pairs) are merged: the first
    row's arch string represents the cell, accuracies and finite scores are
    averaged (a proxy that is ``-inf`` in every copy stays ``-inf``). Merging keeps
    one cell from landing in both a training and a test set.
    """
    name = get_space(space).name
    frame = load_naslib_zc(name, canonical_dataset(dataset), data_dir=data_dir)
    proxies = [c for c in frame.columns if c not in ("arch", "val_accuracy", "naslib_key") and not c.endswith("_time")]
    space_obj = get_space(name)

    def ident(text: str) -> str:  # the rule the ground truth merges by (NaslibSampleBenchmark.ground_truth)
        return space_obj.identity(space_obj.parse(text))

    groups: dict[Any, list[int]] = {}
    for i, a in enumerate(frame["arch"]):
        groups.setdefault(ident(a), []).append(i)
    vals = frame[proxies].to_numpy(dtype=np.float64)
    secs = frame[[f"{p}_time" for p in proxies]].to_numpy(dtype=np.float64)
    accs = frame["val_accuracy"].to_numpy(dtype=np.float64)
    archs, rows_v, rows_s, acc = [], [], [], {}
    for members in groups.values():
        rep = frame["arch"].iat[members[0]]
        archs.append(rep)
        v = vals[members]
        merged = np.empty(v.shape[1])
        for j in range(v.shape[1]):
            fin = v[:, j][np.isfinite(v[:, j])]
            merged[j] = fin.mean() if len(fin) else (v[0, j] if not np.isnan(v[:, j]).all() else np.nan)
        rows_v.append(merged)
        with warnings.catch_warnings():  # a proxy column with no recorded seconds is NaN, not an alarm
            warnings.simplefilter("ignore", RuntimeWarning)
            rows_s.append(np.nanmean(secs[members], axis=0) if np.isfinite(secs[members]).any() else secs[members[0]])
        acc[rep] = float(accs[members].mean())
    source = f"NASLib reference scores {Path(frame.attrs['source']).name} ({name}, {frame.attrs['dataset']})"
    zc = ZeroCostTable(archs, tuple(proxies), np.array(rows_v), np.array(rows_s), source,
                       {p: _naslib_needs_data(p) for p in proxies})
    merged_note = f"; {len(frame)} records merged into {len(archs)} distinct cells" if len(archs) != len(frame) else ""
    return NaslibSample(zc, acc, f"val_accuracy of {Path(frame.attrs['source']).name} ({name}, "
                                 f"{frame.attrs['dataset']}){merged_note}")


def _naslib_needs_data(naslib_name: str) -> bool:
    """Whether NASLib's proxy ``naslib_name`` looks at images: what our proxy of the same definition declares."""
    from gradsign.proxies import get_proxy

    ours = {theirs: mine for mine, theirs in NASLIB_PROXY_NAMES.items()}.get(naslib_name)
    return True if ours is None else get_proxy(ours).needs_data


def score_ratios(ours: Any, theirs: Any) -> tuple[float, float, float] | None:
    """Ours / NASLib's score, record by record: (median, min, max), or None when no record qualifies.

    Only records where both scores are finite and NASLib's is neither 0 nor
    :data:`NASLIB_FAIL` count. A scale check on top of rank agreement: it shows,
    e.g., a different batch size behind NASLib's stored values.
    """
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    ok = np.isfinite(a) & np.isfinite(b) & (b != 0) & (b != NASLIB_FAIL)
    if not ok.any():
        return None
    r = a[ok] / b[ok]
    return float(np.median(r)), float(r.min()), float(r.max())


__all__ = [
    "NASLIB_FAIL",
    "NASLIB_NB201_OPS",
    "NASLIB_PROXY_NAMES",
    "NASLIB_ZC_RESOURCES",
    "NaslibSample",
    "load_naslib_zc",
    "naslib_sample",
    "naslib_zc_datasets",
    "nb201_from_naslib",
    "score_ratios",
]
