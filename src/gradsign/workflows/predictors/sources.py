"""Where a predictor evaluation's features and ground truth come from: the benchmark and the results store.

Sources of zero-cost features (``zc_source``):

* ``store``: this project's scores in the results store, for
  (space, dataset, batch size, seed, random sampling, default options). The pool
  is then the cells that have a stored record for every proxy (NaN / failed
  scores are kept and handled by the predictors). The store may be filling
  while it is read: the pool is whatever is complete at read time.
* ``naslib``: NASLib's reference scores (NAS-Bench-Suite-Zero's
  ``zc_nasbench*.json``; batch 64, NASLib's implementations) for its
  725 NB201 cells per dataset, 500 NB101 records (cells merged) or 725 DARTS
  archs. On NB101 and DARTS it is also the only ground truth here
  (``val_accuracy``), so those spaces always use it.
* ``nb201-table``: the NB201 table's reference NASWOT score and parameter
  count, for all cells.
* ``none``: no zero-cost features (model-based and low-fidelity predictors only).
* ``auto``: ``store`` when the store holds every requested proxy for at least
  as many cells as the benchmark's first reference source covers (NB201: NASLib's
  725), else that source (where the ground truth is a sample: that source);
  a note says which was used and why.

Sources can be joined with ``+`` (``store+nb201-table``): the pool is then the
cells present in all of them. A name two sources share gets ``@<source>`` on
the later one (``params@nb201-table``); in ``--zc-proxies``, ``name@source``
picks that source's column (``naswot@nb201-table``: the table's reference
score, not our ``naswot`` proxy from the store).

Which sources exist is the benchmark's business (``Benchmark.zerocost_sources``;
``store``, ``auto`` and ``none`` exist everywhere, except ``store`` on a
benchmark whose ground truth is a sample of cells).
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from gradsign.errors import ConfigError, DataError, StoreError
from gradsign.predictors import FeatureProvider, ZeroCostTable

_SOURCE_NAMES = {"naslib": "NASLib's reference scores"}


def zerocost_from_store(
    path: str | Path,
    space: str,
    dataset: str,
    *,
    batch_size: int = 64,
    seed: int = 0,
    sampling: str = "random",
    proxies: Sequence[str] | None = None,
    strict: bool = True,
) -> ZeroCostTable:
    """Our proxies' scores from the results store at ``path``, opened **read-only**.

    ``proxies`` limits the table to those proxies (all stored ones when None); with
    ``strict=False`` names the store lacks are ignored (for joins with other sources).

    Rows matching (space, dataset, batch size, seed), a sampling key ending in
    ``:<sampling>`` and default options (``{}``). Where a proxy has rows under
    several versions / image sources, the variant with the most rows is used.
    Cells are those with a record for every selected proxy; errors and NaN
    become NaN (a failed proxy stays a failed proxy), ``-inf`` stays. Scores are
    negated for proxies registered as lower-is-better, so higher = better.
    """
    from gradsign.proxies import get_proxy
    from gradsign.storage.store import connect_read_only

    p = Path(path)
    if not p.is_file():
        raise StoreError(f"results store {p} does not exist")
    try:
        # mode=ro: never write (or create) anything in a store another job may be filling.
        conn = connect_read_only(p)  # also on a read-only file system; StoreError names the path
        rows = conn.execute(
            "SELECT proxy, proxy_version, sampling, init, arch, value, status, seconds FROM scores "
            "WHERE space=? AND dataset=? AND batch_size=? AND seed=? AND options='{}'",
            (space, dataset, int(batch_size), int(seed)),
        ).fetchall()
        conn.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"results store {p} is not readable ({exc})") from None
    rows = [r for r in rows if str(r[2]).endswith(f":{sampling}")]
    if not rows:
        raise DataError(f"results store {p} has no scores for {space}/{dataset} (batch {batch_size}, seed {seed}, "
                        f"{sampling} sampling); score some cells first (gradsign evaluate/score --store {p}) or use "
                        "--zc-source naslib / nb201-table / none")
    variants = Counter((r[0], r[1], r[2], r[3]) for r in rows)
    best: dict[str, tuple] = {}
    for key, count in variants.most_common():
        best.setdefault(key[0], key)
    names = sorted(best) if proxies is None else [n for n in proxies if strict or n in best]
    missing = [n for n in names if n not in best]
    if not names:
        raise DataError(f"results store {p} has none of the proxies {', '.join(proxies or [])} for {space}/{dataset} "
                        f"(it has {', '.join(sorted(best))})")
    if missing:
        raise DataError(f"results store {p} has no {space}/{dataset} scores for {', '.join(missing)} "
                        f"(it has {', '.join(sorted(best))})")
    per: dict[str, dict[str, tuple[float, float]]] = {n: {} for n in names}
    for proxy, version, samp, init, arch, value, status, seconds in rows:
        if proxy in per and best[proxy] == (proxy, version, samp, init):
            v = {"inf": math.inf, "-inf": -math.inf}.get(status, math.nan if value is None else float(value))
            per[proxy][arch] = (v, math.nan if seconds is None else float(seconds))
    archs = sorted(set.intersection(*(set(d) for d in per.values())))
    if not archs:
        raise DataError(f"results store {p}: no {space}/{dataset} cell has scores for all of {', '.join(names)}")
    sign = np.array([1.0 if get_proxy(n).higher_is_better else -1.0 for n in names])
    values = np.array([[per[n][a][0] for n in names] for a in archs]) * sign
    seconds = np.array([[per[n][a][1] for n in names] for a in archs])
    source = f"results store {p} ({space}/{dataset}, batch {batch_size}, seed {seed}, {best[names[0]][2]})"
    return ZeroCostTable(archs, tuple(names), values, seconds, source,
                         {n: get_proxy(n).needs_data for n in names})


def join_zerocost(tables: Sequence[ZeroCostTable], labels: Sequence[str] | None = None) -> ZeroCostTable:
    """Columns of several tables side by side, on the archs all of them have.

    A proxy name that an earlier table already has gets ``@<label>`` appended (``params@nb201-table``;
    label = the source name in ``labels``, else the table's position).
    """
    return _join_with_origins(tables, labels)[0]


def _join_with_origins(
    tables: Sequence[ZeroCostTable], labels: Sequence[str] | None = None
) -> tuple[ZeroCostTable, dict[tuple[str, str], str]]:
    """:func:`join_zerocost`, and where each column came from: ``(label, name in its source) -> joined name``."""
    tags = [str(labels[k]) if labels else str(k) for k in range(len(tables))]
    if len(tables) == 1:
        return tables[0], {(tags[0], n): n for n in tables[0].names}
    common = sorted(set.intersection(*(set(t.archs) for t in tables)))
    if not common:
        raise DataError("the zero-cost sources " + " + ".join(t.source for t in tables) + " share no architecture")
    names: list[str] = []
    origin: dict[tuple[str, str], str] = {}
    values, seconds, needs = [], [], {}
    for k, t in enumerate(tables):
        r = t.restrict(common)
        for n in t.names:
            unique = n if n not in names else f"{n}@{tags[k]}"
            names.append(unique)
            origin[(tags[k], n)] = unique
            needs[unique] = t.needs_data.get(n, True)
        values.append(r.values)
        seconds.append(r.seconds if r.seconds is not None else np.full(r.values.shape, np.nan))
    joined = ZeroCostTable(common, tuple(names), np.hstack(values), np.hstack(seconds),
                           " + ".join(t.source for t in tables), needs)
    return joined, origin


def _with_members(names: Sequence[str]) -> list[str]:
    """``names`` with each ensemble replaced by its members (order kept, no duplicates)."""
    from gradsign.proxies.ensemble import is_ensemble_name, parse_ensemble

    out: dict[str, None] = {}
    for n in names:
        for m in (parse_ensemble(n).members if is_ensemble_name(n) else (n,)):
            out.setdefault(m, None)
    return list(out)


def _zc_entries(zc_proxies: Sequence[str] | None, sources: Sequence[str]) -> list[tuple[str, str | None]] | None:
    """``--zc-proxies`` as (name, source or None): ``naswot@nb201-table`` names one source's column."""
    if zc_proxies is None:
        return None
    entries = []
    for item in zc_proxies:
        name, _, source = str(item).partition("@")
        if source and source not in sources:
            raise ConfigError(f"--zc-proxies {item!r} names source {source!r}, which is not in --zc-source "
                              f"({'+'.join(sources)})")
        entries.append((name, source or None))
    return entries


# --------------------------------------------------------------------------- problem set-up


@dataclass
class Problem:
    """What an evaluation runs on: features, ground truth and the candidate archs."""

    features: FeatureProvider
    accuracy: Callable[[Sequence[str]], np.ndarray]
    universe: list[str]  # archs with ground truth
    target: str  # description of the ground truth
    notes: list[str] = field(default_factory=list)
    #: the benchmark's registered name when it is not the space's (nb201_small trains NB201 cells)
    benchmark: str | None = None


def build_problem(
    space: str,
    dataset: str,
    *,
    zc_source: str = "auto",
    zc_proxies: Sequence[str] | None = None,
    store: str | Path | None = None,
    batch_size: int = 64,
    seed: int = 0,
    lowfidelity: bool = True,
    data_dir: str | Path | None = None,
) -> Problem:
    """Ground truth and a :class:`FeatureProvider` for (space, dataset) from its benchmark and the store."""
    from gradsign.benchmarks.registry import get_benchmark

    bench = get_benchmark(space)
    ds = bench.dataset(dataset)
    truth = bench.ground_truth(ds, "test", data_dir)
    # A benchmark whose ground truth is a sample of cells brings its own zero-cost scores for them.
    sample_only = truth.archs is not None
    valid = ("auto", *(() if sample_only else ("store",)), *bench.zerocost_sources(), "none")
    parts = [s.strip() for s in str(zc_source).split("+") if s.strip()]
    if not parts or any(s not in valid for s in parts):
        raise ConfigError(f"unknown zero-cost source {zc_source!r} for {bench.name}; valid: "
                          f"{', '.join(valid)} (join with '+')")
    universe = list(truth.archs) if sample_only else [bench.search_space.to_string(a) for a in bench.search_space]
    notes: list[str] = []
    # "auto" picks the store when it covers the cells of the benchmark's first reference source, else that source.
    auto_sources = ([] if sample_only else ["store"]) + list(bench.zerocost_sources()[:1])
    named_sources = [p for p in parts if p != "auto"] + (auto_sources if "auto" in parts else [])
    reader = _SourceReader(bench, ds, data_dir, store=store, batch_size=batch_size, seed=seed,
                           entries=_zc_entries(zc_proxies, named_sources), strict=len(parts) == 1)
    tables: list[ZeroCostTable] = []
    labels: list[str] = []
    for src in parts:
        if src == "auto":
            src = reader.auto(auto_sources, universe, notes)
        if src != "none":
            tables.append(reader.store() if src == "store" else reader.benchmark(src))
            labels.append(src)
    zc = _select_columns(tables, labels, reader.entries, zc_proxies)

    lf = None
    if lowfidelity and bench.supports("lowfidelity"):
        lf = bench.lowfidelity(ds, data_dir)
    elif lowfidelity:
        notes.append(f"no low-fidelity accuracy for {bench.space} here: low-fidelity predictors are skipped and omni "
                     "runs on encoding + zero-cost scores")
    features = FeatureProvider(bench.space, ds, zerocost=zc, lowfidelity=lf, encoders=bench.encoders())
    return Problem(features, truth.accuracy, universe, truth.description, notes,
                   benchmark=bench.name if bench.name != features.space_name else None)


class _SourceReader:
    """Reads each zero-cost source of one (benchmark, dataset) once."""

    def __init__(self, bench: Any, dataset: str, data_dir: str | Path | None, *, store: str | Path | None,
                 batch_size: int, seed: int, entries: list[tuple[str, str | None]] | None, strict: bool) -> None:
        self.bench, self.dataset, self.data_dir = bench, dataset, data_dir
        self.store_path, self.batch_size, self.seed = store, batch_size, seed
        self.entries = entries
        # with a join, each source contributes whichever of --zc-proxies it has
        self.strict = strict
        self._read: dict[str, ZeroCostTable] = {}

    def benchmark(self, source: str) -> ZeroCostTable:
        if source not in self._read:
            self._read[source] = self.bench.zerocost(source, self.dataset, self.data_dir)
        return self._read[source]

    def store(self) -> ZeroCostTable:
        if "store" not in self._read:
            self._read["store"] = self._read_store()
        return self._read["store"]

    def _read_store(self) -> ZeroCostTable:
        # "name@source" picks one source's column where several sources have the name (our naswot and the
        # NB201 table's, say); the store is asked only for the names meant for it, since its pool is the
        # cells that have all of them.
        wanted = None if self.entries is None else _with_members([n for n, src in self.entries
                                                                  if src in (None, "store")])
        if wanted == []:
            raise ConfigError("--zc-proxies names no proxy for the store; leave 'store' out of --zc-source")
        return zerocost_from_store(_store_path(self.store_path), self.bench.space, self.dataset,
                                   batch_size=self.batch_size, seed=self.seed, proxies=wanted, strict=self.strict)

    def auto(self, candidates: Sequence[str], universe: Sequence[str], notes: list[str]) -> str:
        """The source "auto" stands for: the store if it covers at least the cells the benchmark's reference
        scores do (a store holding a few scores of an unrelated run must not shrink the pool), else those."""
        if len(candidates) < 2:
            return candidates[0] if candidates else "none"
        reference_name = candidates[-1]
        reference = self.benchmark(reference_name)
        what = f"{_SOURCE_NAMES.get(reference_name, reference_name)} ({len(reference.archs)} cells)"
        try:
            stored = self.store()
        except (DataError, StoreError, ConfigError) as exc:
            notes.append(f"zero-cost source auto: {what}; the store is unusable here ({exc})")
            return reference_name
        usable = len(set(stored.archs) & set(universe))
        if usable >= len(reference.archs):
            notes.append(f"zero-cost source auto: the store ({usable} cells with every proxy)")
            return "store"
        notes.append(f"zero-cost source auto: {what}; the store has only {usable} cells with every proxy for "
                     "this setting")
        return reference_name


def _select_columns(tables: Sequence[ZeroCostTable], labels: Sequence[str],
                    entries: list[tuple[str, str | None]] | None,
                    zc_proxies: Sequence[str] | None) -> ZeroCostTable | None:
    """The sources joined, with the ensembles and only the columns ``--zc-proxies`` asks for."""
    zc, origin = _join_with_origins(tables, labels) if tables else (None, {})
    if zc is not None and entries is not None:
        zc = zc.with_ensembles([n for n, src in entries if src is None])  # ensembles of the joined columns
        resolved = []
        for n, src in entries:
            if src is not None and (src, n) not in origin:
                raise ConfigError(f"--zc-proxies {n}@{src}: source {src} has no proxy {n!r}")
            resolved.append(origin[(src, n)] if src is not None else n)
        zc = zc.select(resolved)  # validates every unqualified name
    elif zc_proxies is not None:
        raise ConfigError("--zc-proxies needs a zero-cost source (not --zc-source none)")
    return zc


def _store_path(store: str | Path | None) -> Path:
    if store is not None:
        return Path(store)
    from gradsign.workflows.scoring import default_store_path

    return default_store_path()


__all__ = ["Problem", "build_problem", "join_zerocost", "zerocost_from_store"]
