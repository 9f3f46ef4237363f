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

The tables come from the benchmark of the space (:mod:`gradsign.benchmarks.registry`:
``lowfidelity``, ``zerocost``, ``encoders``); the store-backed zero-cost table is
built by :func:`gradsign.workflows.predictors.zerocost_from_store`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from gradsign.benchmarks.naslib_zc import NaslibSample, naslib_sample
from gradsign.benchmarks.registry import get_benchmark
from gradsign.benchmarks.tables import LowFidelityTable, ZeroCostTable
from gradsign.errors import ConfigError
from gradsign.spaces.base import get_space
from gradsign.spaces.encodings import ENCODINGS, space_encoders


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
        encoders: Mapping[str, Callable[[Any], Any]] | None = None,
    ) -> None:
        self.space = get_space(space)
        self.space_name = self.space.name
        self.dataset = dataset
        self.zc = zerocost
        self.lf = lowfidelity
        # kind -> function of an arch object; default: the space's built-in encodings
        self.encoders = dict(space_encoders(self.space_name) if encoders is None else encoders)
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
        return encoding in self.encoders

    @property
    def zc_names(self) -> tuple[str, ...]:
        return self.zc.names if self.zc is not None else ()

    def describe(self) -> str:
        parts = [f"{self.space_name}/{self.dataset}", "encodings " + ",".join(self.encoders)]
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
                self._enc[k] = self._encoder(kind)(self.arch(a))
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
                self._enc[k] = self._encoder("graph")(self.arch(a))
            adj, f = self._enc[k]
            adjs.append(adj)
            feats.append(f)
        return np.stack(adjs).astype(np.float32), np.stack(feats).astype(np.float32)

    def _encoder(self, kind: str) -> Callable[[Any], Any]:
        if kind not in ENCODINGS:
            raise ConfigError(f"unknown encoding {kind!r}; valid: {', '.join(ENCODINGS)}")
        if kind not in self.encoders:
            raise ConfigError(f"encoding {kind!r} is not defined for {self.space_name}; use one of "
                              f"{', '.join(self.encoders) or 'none (it has no encodings)'}")
        return self.encoders[kind]

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
    """NB201's 12-epoch validation accuracy (:meth:`NB201Benchmark.lowfidelity`)."""
    return get_benchmark("nb201").lowfidelity(dataset, data_dir)


def nb201_reference_zerocost(data_dir: str | Path | None = None) -> ZeroCostTable:
    """The NB201 table's reference ``naswot`` and ``params`` columns of every cell (same on every dataset)."""
    return get_benchmark("nb201").zerocost("nb201-table", "cifar10", data_dir)


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
