"""Everything a predictor may know about an architecture *before* it is trained.

A :class:`FeatureProvider` is built once per (search space, dataset) and gives,
for canonical arch strings:

* encodings (:mod:`gradsign.predictors.encodings`): ``onehot``, ``path``, ``graph``;
* zero-cost proxy scores (a :class:`ZeroCostTable`: ours from the results store,
  NASLib's reference scores, or NB201's reference NASWOT column), oriented so
  that higher = predicted better;
* a low-fidelity accuracy (a :class:`LowFidelityTable`; on NB201 the
  12-epoch validation accuracy of the same training setting).

It holds no labels: the accuracies a predictor learns from reach it only
through ``fit``. Features are per-architecture lookups or pure functions of the
architecture, so the features of a test cell are the same whether or not it
was ever seen, and no statistic over other cells is computed here; scaling
statistics are the predictors' business and are fitted on training cells only
(:class:`ZeroCostScaler`).

Builders for the benchmark-backed tables are here too (they read only lower
layers: :mod:`gradsign.benchmarks`); the store-backed zero-cost table is built
by :func:`gradsign.workflows.predictors.zerocost_from_store`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from gradsign.errors import ConfigError, DataError
from gradsign.predictors.encodings import encode, supported_encodings
from gradsign.spaces.base import get_space


# --------------------------------------------------------------------------- tables


@dataclass
class ZeroCostTable:
    """Zero-cost scores of some archs: ``values[i, j]`` = proxy ``names[j]`` on ``archs[i]``.

    Scores are oriented so that higher = predicted better (every proxy of this
    project and of NASLib's files already is). Non-finite values are kept (a
    proxy that failed, NASLib's ``-inf``); predictors decide how to treat them.
    ``seconds`` (same shape, NaN where unknown) is what computing each score
    cost, for the report of feature costs. ``needs_data`` says per proxy whether
    it looks at images.
    """

    archs: list[str]
    names: tuple[str, ...]
    values: np.ndarray
    seconds: np.ndarray | None = None
    source: str = ""
    needs_data: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.values.shape != (len(self.archs), len(self.names)):
            raise DataError(f"zero-cost table {self.source!r}: values have shape {self.values.shape}, expected "
                            f"({len(self.archs)}, {len(self.names)})")
        if self.seconds is not None:
            self.seconds = np.asarray(self.seconds, dtype=np.float64)
            if self.seconds.shape != self.values.shape:
                raise DataError(f"zero-cost table {self.source!r}: seconds shape {self.seconds.shape} differs from "
                                f"values {self.values.shape}")
        if len(set(self.archs)) != len(self.archs):
            raise DataError(f"zero-cost table {self.source!r}: duplicate archs")
        if len(set(self.names)) != len(self.names) or not self.names:
            raise DataError(f"zero-cost table {self.source!r}: proxy names must be unique and non-empty")
        self._row = {a: i for i, a in enumerate(self.archs)}

    def rows(self, archs: Sequence[str]) -> np.ndarray:
        try:
            return np.fromiter((self._row[a] for a in archs), dtype=np.int64, count=len(archs))
        except KeyError as exc:
            raise DataError(f"no zero-cost scores ({self.source}) for arch {exc.args[0]!r}") from None

    def select(self, names: Sequence[str]) -> "ZeroCostTable":
        """A table with only the proxies ``names`` (in that order)."""
        unknown = [n for n in names if n not in self.names]
        if unknown:
            raise ConfigError(f"zero-cost proxies {', '.join(unknown)} are not in {self.source} "
                              f"(it has {', '.join(self.names)})")
        cols = [self.names.index(n) for n in names]
        return ZeroCostTable(list(self.archs), tuple(names), self.values[:, cols],
                             None if self.seconds is None else self.seconds[:, cols], self.source,
                             {n: self.needs_data.get(n, True) for n in names})

    def with_ensembles(self, names: Sequence[str]) -> "ZeroCostTable":
        """The table plus one column per ensemble in ``names`` (``a+b``, ``meanrank(a+b)``) not yet in it.

        The ensemble ranks the table's cells by each member (columns are already
        higher-is-better) and aggregates the ranks (:mod:`gradsign.proxies.ensemble`):
        label-free, over the whole table, so every train/test split sees the same
        feature. Its seconds are its members' summed.
        """
        from gradsign.proxies.ensemble import is_ensemble_name, parse_ensemble, rank_aggregate

        table = self
        for name in names:
            if name in table.names or not is_ensemble_name(name):
                continue
            spec = parse_ensemble(name)
            lacking = [m for m in spec.members if m not in table.names]
            if lacking:
                raise ConfigError(f"ensemble {name!r}: {', '.join(lacking)} not in {table.source} "
                                  f"(it has {', '.join(table.names)})")
            cols = [table.names.index(m) for m in spec.members]
            value, _ = rank_aggregate(table.values[:, cols], [True] * len(cols), spec.aggregation)
            values = np.column_stack([table.values, value])
            seconds = None if table.seconds is None else np.column_stack([table.seconds, table.seconds[:, cols].sum(axis=1)])
            needs = {**table.needs_data, spec.name: any(table.needs_data.get(m, True) for m in spec.members)}
            table = ZeroCostTable(list(table.archs), (*table.names, spec.name), values, seconds, table.source, needs)
        return table

    def restrict(self, archs: Iterable[str]) -> "ZeroCostTable":
        """Only the rows of ``archs`` that the table has (order of ``archs``)."""
        keep = [a for a in archs if a in self._row]
        rows = self.rows(keep)
        return ZeroCostTable(keep, self.names, self.values[rows],
                             None if self.seconds is None else self.seconds[rows], self.source, dict(self.needs_data))


@dataclass
class LowFidelityTable:
    """A cheap accuracy of some archs (percent), e.g. NB201's 12-epoch validation accuracy."""

    archs: list[str]
    values: np.ndarray
    seconds: np.ndarray | None = None  # training seconds per arch (NaN where unknown)
    description: str = ""

    def __post_init__(self) -> None:
        self.values = np.asarray(self.values, dtype=np.float64).reshape(-1)
        if len(self.values) != len(self.archs):
            raise DataError(f"low-fidelity table: {len(self.archs)} archs but {len(self.values)} values")
        if self.seconds is not None:
            self.seconds = np.asarray(self.seconds, dtype=np.float64).reshape(-1)
        self._row = {a: i for i, a in enumerate(self.archs)}

    def rows(self, archs: Sequence[str]) -> np.ndarray:
        try:
            return np.fromiter((self._row[a] for a in archs), dtype=np.int64, count=len(archs))
        except KeyError as exc:
            raise DataError(f"no low-fidelity accuracy ({self.description}) for arch {exc.args[0]!r}") from None


# --------------------------------------------------------------------------- the provider


class FeatureProvider:
    """Label-free features of the archs of one (space, dataset).

    Archs are passed as canonical strings (or arch objects of the space, which
    are converted); parsed archs and encodings are cached per string.
    """

    def __init__(
        self,
        space: str,
        dataset: str = "cifar10",
        *,
        zerocost: ZeroCostTable | None = None,
        lowfidelity: LowFidelityTable | None = None,
    ) -> None:
        self.space = get_space(space)
        self.space_name = self.space.name
        self.dataset = dataset
        self.zc = zerocost
        self.lf = lowfidelity
        self._parsed: dict[str, Any] = {}  # canonical string -> arch object
        self._canon: dict[Any, str] = {}  # any accepted spelling or arch object -> canonical string
        self._enc: dict[tuple[str, str], Any] = {}

    # --- what is available ----------------------------------------------------
    def has(self, need: str) -> bool:
        """Whether the provider can serve ``need`` (labels never come from here; "data" = ZC scores that used images)."""
        if need == "zerocost":
            return self.zc is not None
        if need == "lowfidelity":
            return self.lf is not None
        if need == "data":
            return self.zc is not None
        if need == "labels":
            return True
        raise ConfigError(f"unknown need {need!r}")

    def supports(self, encoding: str) -> bool:
        return encoding in supported_encodings(self.space_name)

    @property
    def zc_names(self) -> tuple[str, ...]:
        return self.zc.names if self.zc is not None else ()

    def describe(self) -> str:
        parts = [f"{self.space_name}/{self.dataset}", "encodings " + ",".join(supported_encodings(self.space_name))]
        parts.append(f"zero-cost: {self.zc.source} ({len(self.zc.archs)} archs)" if self.zc else "no zero-cost scores")
        parts.append(f"low-fidelity: {self.lf.description}" if self.lf else "no low-fidelity accuracy")
        return "; ".join(parts)

    def archs_with(self, needs: Iterable[str]) -> set[str] | None:
        """Archs for which every feature in ``needs`` exists (None = no restriction, e.g. encodings only)."""
        pool: set[str] | None = None
        for need in needs:
            table = self.zc if need in ("zerocost", "data") else self.lf if need == "lowfidelity" else None
            if table is None:
                continue
            archs = set(table.archs)
            pool = archs if pool is None else pool & archs
        return pool

    # --- archs ------------------------------------------------------------------
    def key(self, arch: Any) -> str:
        """The canonical string of ``arch`` (a string in any accepted spelling, or an arch object)."""
        canon = self._canon.get(arch)
        if canon is None:
            obj = self.space.parse(arch) if isinstance(arch, str) else arch
            canon = self.space.to_string(obj)
            self._canon[arch] = canon
            self._parsed.setdefault(canon, self.space.parse(canon) if not isinstance(arch, str) else obj)
        return canon

    def keys(self, archs: Sequence[Any]) -> list[str]:
        if isinstance(archs, (str, bytes)):
            raise ConfigError("archs must be a sequence of archs, not a single string")
        return [self.key(a) for a in archs]

    def arch(self, key: str) -> Any:
        return self._parsed[key] if key in self._parsed else self._parsed.setdefault(key, self.space.parse(key))

    # --- features ----------------------------------------------------------------
    def encode(self, archs: Sequence[str], kind: str = "onehot") -> np.ndarray:
        """``(n, d)`` float32 vectors (``onehot``/``path``)."""
        if kind == "graph":
            raise ConfigError("use graph() for the graph encoding")
        rows = []
        for a in archs:
            k = (a, kind)
            if k not in self._enc:
                self._enc[k] = encode(self.space_name, self.arch(a), kind)
            rows.append(self._enc[k])
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack(rows).astype(np.float32, copy=False)

    def graph(self, archs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Stacked ``(n, N, N)`` adjacency and ``(n, N, F)`` node features."""
        adjs, feats = [], []
        for a in archs:
            k = (a, "graph")
            if k not in self._enc:
                self._enc[k] = encode(self.space_name, self.arch(a), "graph")
            adj, f = self._enc[k]
            adjs.append(adj)
            feats.append(f)
        return np.stack(adjs).astype(np.float32), np.stack(feats).astype(np.float32)

    def zerocost(self, archs: Sequence[str], names: Sequence[str] | None = None) -> np.ndarray:
        """``(n, k)`` float64 scores (higher = better), for all proxies or ``names``."""
        if self.zc is None:
            raise ConfigError(f"no zero-cost scores for {self.space_name}/{self.dataset}")
        vals = self.zc.values[self.zc.rows(list(archs))]
        if names is None:
            return vals
        cols = []
        for n in names:
            if n not in self.zc.names:
                raise ConfigError(f"zero-cost proxy {n!r} is not in {self.zc.source} (it has {', '.join(self.zc.names)})")
            cols.append(self.zc.names.index(n))
        return vals[:, cols]

    def lowfidelity(self, archs: Sequence[str]) -> np.ndarray:
        if self.lf is None:
            raise ConfigError(f"no low-fidelity accuracy for {self.space_name}/{self.dataset}")
        return self.lf.values[self.lf.rows(list(archs))]

    def feature_seconds(self, archs: Sequence[str], uses: Iterable[str], zc_names: Sequence[str] | None = None) -> float:
        """Mean recorded cost (seconds per arch) of the label-free features in ``uses`` for ``archs``:
        the zero-cost scores' computation time and the low-fidelity training time. NaN when unknown."""
        uses = set(uses)
        total = 0.0
        if "zerocost" in uses and self.zc is not None:
            if self.zc.seconds is None:
                return math.nan
            cols = [self.zc.names.index(n) for n in (zc_names or self.zc.names)]
            sec = self.zc.seconds[self.zc.rows(list(archs))][:, cols]
            if not np.isfinite(sec).all():
                return math.nan
            total += float(sec.sum(axis=1).mean())
        if "lowfidelity" in uses and self.lf is not None:
            if self.lf.seconds is None:
                return math.nan
            sec = self.lf.seconds[self.lf.rows(list(archs))]
            if not np.isfinite(sec).all():
                return math.nan
            total += float(sec.mean())
        return total


# --------------------------------------------------------------------------- scaling


def signed_log(x: np.ndarray) -> np.ndarray:
    """``sign(x) * log1p(|x|)``: tames proxies spanning many orders of magnitude (synflow ~1e30),
    keeps order and sign, and needs no statistics (so it cannot leak)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return np.sign(x) * np.log1p(np.abs(x))


class ZeroCostScaler:
    """Turn raw zero-cost scores into well-scaled finite model inputs, with training-set statistics only.

    ``fit(Z_train)``: per proxy, after :func:`signed_log`, the finite minimum,
    maximum, median, mean and std of the *training* rows. ``transform(Z)``:
    signed log; ``-inf`` -> training minimum - 1 (a failed proxy ranks below every
    seen score), ``+inf`` -> maximum + 1, NaN -> training median; then
    standardised with the training mean and std. A test row never influences
    the statistics, so scaling cannot leak test information.
    """

    def fit(self, z: np.ndarray) -> "ZeroCostScaler":
        t = signed_log(np.asarray(z, dtype=np.float64))
        k = t.shape[1]
        self.lo, self.hi, self.med = np.zeros(k), np.zeros(k), np.zeros(k)
        for j in range(k):
            col = t[:, j]
            fin = col[np.isfinite(col)]
            if len(fin):
                self.lo[j], self.hi[j], self.med[j] = fin.min(), fin.max(), np.median(fin)
        filled = self._fill(t)
        self.mean = filled.mean(axis=0)
        std = filled.std(axis=0)
        self.std = np.where(std > 1e-12, std, 1.0)
        return self

    def _fill(self, t: np.ndarray) -> np.ndarray:
        t = t.copy()
        for j in range(t.shape[1]):
            col = t[:, j]
            col[np.isneginf(col)] = self.lo[j] - 1.0
            col[np.isposinf(col)] = self.hi[j] + 1.0
            col[np.isnan(col)] = self.med[j]
        return t

    def transform(self, z: np.ndarray) -> np.ndarray:
        return (self._fill(signed_log(np.asarray(z, dtype=np.float64))) - self.mean) / self.std


# --------------------------------------------------------------------------- benchmark-backed builders


def nb201_lowfidelity(dataset: str, data_dir: str | Path | None = None) -> LowFidelityTable:
    """NB201's 12-epoch *validation* accuracy of the setting whose 200-epoch test accuracy is the target.

    CIFAR-10 -> ``cifar10-valid/valid_acc@12`` (same training split as the target
    ``cifar10-valid/test_acc@200``); CIFAR-100 / ImageNet16-120 -> their
    ``valid_acc@12``. Validation, not test, so the feature never reads the test
    split of any run. Cost: 12 x the recorded per-epoch time (CIFAR-10 only; the
    CSVs have no times for the others, NaN there).
    """
    from gradsign.benchmarks import NB201Table
    from gradsign.data.images import canonical_dataset

    ds = canonical_dataset(dataset)
    setting = "cifar10-valid" if ds == "cifar10" else ds
    table = NB201Table.load(data_dir)
    values = np.asarray(table.accuracy(setting, "valid", 12), dtype=np.float64)
    try:
        seconds = np.asarray(table.train_time(setting, epochs=12, total=True), dtype=np.float64)
    except DataError:
        seconds = None
    return LowFidelityTable(list(table.archs), values, seconds,
                            f"NB201 {setting}/valid_acc@12 (12-epoch validation accuracy)")


def nb201_reference_zerocost(data_dir: str | Path | None = None) -> ZeroCostTable:
    """The NB201 table's reference columns for all 15,625 cells: ``naswot`` (NASWOT by its authors, the
    first version's Jacobian-covariance score, i.e. our ``jacob_cov`` proxy, not our ``naswot``;
    NaN for the 341 cells with no input-output path) and ``params`` (millions). Same on every dataset
    (computed on CIFAR-10 inputs / the 10-class network)."""
    from gradsign.benchmarks import NB201Table

    table = NB201Table.load(data_dir)
    values = np.stack([table.column("naswot_score"), table.column("params_m")], axis=1).astype(np.float64)
    return ZeroCostTable(list(table.archs), ("naswot", "params"), values, None,
                         "NB201 reference columns (naswot_score, params_m)", {"naswot": True, "params": False})


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
    from gradsign.benchmarks.naslib_zc import load_naslib_zc
    from gradsign.data.images import canonical_dataset

    name = get_space(space).name
    frame = load_naslib_zc(name, canonical_dataset(dataset), data_dir=data_dir)
    proxies = [c for c in frame.columns if c not in ("arch", "val_accuracy", "naslib_key") and not c.endswith("_time")]
    space_obj = get_space(name)

    def ident(text: str) -> str:  # the rule the ground truth merges by (gradsign.workflows.ground_truth)
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
    data_free = {"flops", "params"}
    zc = ZeroCostTable(archs, tuple(proxies), np.array(rows_v), np.array(rows_s), source,
                       {p: p not in data_free for p in proxies})
    merged_note = f"; {len(frame)} records merged into {len(archs)} distinct cells" if len(archs) != len(frame) else ""
    return NaslibSample(zc, acc, f"val_accuracy of {Path(frame.attrs['source']).name} ({name}, "
                                 f"{frame.attrs['dataset']}){merged_note}")


__all__ = [
    "FeatureProvider",
    "LowFidelityTable",
    "NaslibSample",
    "ZeroCostScaler",
    "ZeroCostTable",
    "naslib_sample",
    "nb201_lowfidelity",
    "nb201_reference_zerocost",
    "signed_log",
]
