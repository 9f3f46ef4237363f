"""`predictors evaluate`: how well do performance predictors rank unseen architectures?

The protocol of White et al. (NeurIPS 2021), on the architectures that have
ground truth and every feature the chosen predictors need (the *pool*):

1. For trial ``t`` (``t = 0..T-1``), shuffle the pool with the generator
   ``numpy.random.default_rng([seed, t])``. The first ``test_size`` cells are the
   trial's **test set**; the next ``max(train_sizes)`` are its training
   reservoir, and the training set of size ``n`` is the reservoir's first ``n``
   cells (nested across sizes, so within a trial a larger training set only
   adds cells; the test set is the same for every size and predictor).
2. Every predictor that needs labels is built fresh (seed ``seed * 1000 + t``),
   ``fit`` on the training archs and their accuracies, and asked to
   ``predict`` the test archs. Predictors that need no labels (zero-cost,
   low-fidelity) are evaluated once per trial and reported at every training
   size (their ``fit`` is a no-op), so they draw horizontal lines. Training
   size 0 has only those.
3. On the test set: Spearman's rho, Kendall's tau-b and the top-10% precision
   (share of the predicted top 10% that is in the true top 10%; ties broken by
   test-set position, which is random), plus the
   wall-clock seconds of ``fit`` and ``predict``, and the recorded cost of the
   features per arch (zero-cost seconds, low-fidelity training seconds).
   A predictor whose test predictions are all equal ranks nothing: its
   correlations count as 0 for that trial (``constant_trials`` says how often).

Confidence intervals (``--trials >= 2``): per (predictor, training size), the
mean over trials and a 95% percentile bootstrap of that mean *over trials*
(resampling whole trials with replacement, ``n_bootstrap`` times, seeded).
A trial redraws both the training and the test set, so this interval covers
the variation from both draws — what a user repeating the experiment on new
random cells would see. With few trials (5) the percentile interval is
somewhat too narrow; the standard deviation over trials is reported beside it.
With ``--trials 1`` there is nothing to resample over trials, so Spearman and
Kendall get a paired bootstrap over the test cells instead (top-10% gets none).

Leakage guards: the test archs and their accuracies never reach ``fit`` (the
split is checked to be disjoint every time, and a test with a spy predictor
checks what ``fit`` receives); the features are label-free per-arch lookups
(:class:`~gradsign.predictors.features.FeatureProvider`); every statistic used
to scale features or targets is computed inside ``fit`` from the training
archs; hyperparameters are fixed defaults (each predictor module says which and
why) or fitted by marginal likelihood / evidence on the training archs only.
The zero-cost rank ensemble ranks each arch among the queried test archs by
their zero-cost scores only (no accuracies).

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
* ``auto``: ``store`` on NB201 when the store holds every requested proxy for at
  least as many cells as NASLib's reference scores cover (725), else ``naslib``;
  a note says which was used and why.

Sources can be joined with ``+`` (``store+nb201-table``): the pool is then the
cells present in all of them. A name two sources share gets ``@<source>`` on
the later one (``params@nb201-table``); in ``--zc-proxies``, ``name@source``
picks that source's column (``naswot@nb201-table``: the table's reference
score, not our ``naswot`` proxy from the store).
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from gradsign.errors import ConfigError, DataError, StoreError
from gradsign.evaluation import bootstrap_ci, kendall, spearman, top_k_precision
from gradsign.predictors import (
    FeatureProvider,
    ZeroCostTable,
    make_predictor,
    parse_predictor_list,
    predictor_class,
)

_SOURCE_NAMES = {"naslib": "NASLib's reference scores"}
#: A test set is never cut below this many cells (or the requested size, if smaller) to fit a training size.
MIN_TEST = 100
METRICS = ("spearman", "kendall", "top10")


# --------------------------------------------------------------------------- zero-cost sources


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
    name = bench.space
    ds = bench.dataset(dataset)
    notes: list[str] = []
    truth = bench.ground_truth(ds, "test", data_dir)
    accuracy = truth.accuracy
    target = truth.description
    # A benchmark whose ground truth is a sample of cells brings its own zero-cost scores for them.
    sample_only = truth.archs is not None
    own = bench.zerocost_sources()
    valid_sources = ("auto", *(() if sample_only else ("store",)), *own, "none")
    parts = [s.strip() for s in str(zc_source).split("+") if s.strip()]
    bad = [s for s in parts if s not in valid_sources]
    if bad or not parts:
        raise ConfigError(f"unknown zero-cost source {zc_source!r} for {bench.name}; valid: "
                          f"{', '.join(valid_sources)} (join with '+')")
    universe = list(truth.archs) if sample_only else [bench.search_space.to_string(a) for a in bench.search_space]
    reference: dict[str, ZeroCostTable] = {}  # each benchmark source read once

    def from_benchmark(src: str) -> ZeroCostTable:
        if src not in reference:
            reference[src] = bench.zerocost(src, ds, data_dir)
        return reference[src]

    tables: list[ZeroCostTable] = []
    labels: list[str] = []
    strict = len(parts) == 1  # with a join, each source contributes whichever of --zc-proxies it has
    # "name@source" picks one source's column where several sources have the name (our naswot and the
    # NB201 table's, say); the store is asked only for the names meant for it, since its pool is the
    # cells that have all of them.
    auto_sources = ([] if sample_only else ["store"]) + list(own[:1])  # "auto" picks one of these
    named_sources = [p for p in parts if p != "auto"] + (auto_sources if "auto" in parts else [])
    entries = _zc_entries(zc_proxies, named_sources)

    def from_store() -> ZeroCostTable:
        wanted = None if entries is None else _with_members([n for n, src in entries if src in (None, "store")])
        if wanted == []:
            raise ConfigError("--zc-proxies names no proxy for the store; leave 'store' out of --zc-source")
        return zerocost_from_store(_store_path(store), name, ds, batch_size=batch_size, seed=seed,
                                   proxies=wanted, strict=strict)

    for src in parts:
        if src == "auto":
            src = auto_sources[-1] if auto_sources else "none"
            if len(auto_sources) == 2:
                # The store serves the request only if it covers at least the cells the benchmark's reference
                # scores do: a store holding a few scores of an unrelated run must not shrink the pool.
                ref = from_benchmark(src)
                try:
                    stored = from_store()
                except (DataError, StoreError, ConfigError) as exc:
                    notes.append(f"zero-cost source auto: {_SOURCE_NAMES.get(src, src)} ({len(ref.archs)} cells); "
                                 f"the store is unusable here ({exc})")
                else:
                    usable = len(set(stored.archs) & set(universe))
                    if usable >= len(ref.archs):
                        notes.append(f"zero-cost source auto: the store ({usable} cells with every proxy)")
                        tables.append(stored)
                        labels.append("store")
                        continue
                    notes.append(f"zero-cost source auto: {_SOURCE_NAMES.get(src, src)} ({len(ref.archs)} cells); "
                                 f"the store has only {usable} cells with every proxy for this setting")
        if src == "store":
            tables.append(from_store())
        elif src == "none":
            continue
        else:
            tables.append(from_benchmark(src))
        labels.append(src)
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

    lf = None
    if lowfidelity and bench.supports("lowfidelity"):
        lf = bench.lowfidelity(ds, data_dir)
    elif lowfidelity:
        notes.append(f"no low-fidelity accuracy for {name} here: low-fidelity predictors are skipped and omni runs "
                     "on encoding + zero-cost scores")
    features = FeatureProvider(name, ds, zerocost=zc, lowfidelity=lf, encoders=bench.encoders())
    return Problem(features, accuracy, universe, target, notes)


def _store_path(store: str | Path | None) -> Path:
    if store is not None:
        return Path(store)
    from gradsign.workflows.scoring import default_store_path

    return default_store_path()


# --------------------------------------------------------------------------- the protocol


@dataclass
class PredictorEvaluation:
    """Per-trial rows, the aggregate table, the run's settings/notes, and the files written."""

    trials: pd.DataFrame
    summary: pd.DataFrame
    meta: dict[str, Any]
    files: list[Path] = field(default_factory=list)


def plan_sizes(pool: int, train_sizes: Sequence[int], test_size: int) -> tuple[list[int], int, list[str]]:
    """Training sizes that fit and the test size, given ``pool`` cells. Test sets shrink first (to
    ``min(test_size, MIN_TEST)`` at most), then the largest training sizes are dropped."""
    notes: list[str] = []
    sizes = sorted(set(int(n) for n in train_sizes))
    if not sizes or sizes[0] < 0:
        raise ConfigError(f"training sizes must be non-negative integers, got {list(train_sizes)}")
    if test_size < 2:
        raise ConfigError(f"test size must be at least 2, got {test_size}")
    floor = min(test_size, MIN_TEST)
    kept = [n for n in sizes if n + floor <= pool]
    if not kept:
        raise ConfigError(f"only {pool} cells have all needed features: not enough for a test set of {floor} "
                          f"and a training set of {sizes[0]}")
    if len(kept) < len(sizes):
        dropped = [n for n in sizes if n not in kept]
        notes.append(f"training sizes {dropped} dropped: the pool has only {pool} cells and the test set keeps at "
                     f"least {floor}")
    test = min(test_size, pool - max(kept))
    if test < test_size:
        notes.append(f"test size reduced from {test_size} to {test}: the pool has only {pool} cells "
                     f"(largest training size {max(kept)})")
    return kept, test, notes


def evaluate_predictors(
    problem: Problem,
    predictors: Sequence[str] | str | None = None,
    *,
    train_sizes: Sequence[int] = (0, 10, 20, 50, 100, 200, 500),
    test_size: int = 1000,
    trials: int = 10,
    seed: int = 0,
    n_bootstrap: int = 2000,
    threads: int = 1,
    progress: bool = False,
    device: str = "cpu",
) -> PredictorEvaluation:
    """Run the protocol of the module docstring on ``problem``; see :class:`PredictorEvaluation`.

    ``device``: where the torch predictors (BANANAS, GCN) fit; the others run on the CPU.
    """
    from threadpoolctl import threadpool_limits

    from gradsign.workflows.progress import progress_bar

    if trials < 1:
        raise ConfigError(f"trials must be at least 1, got {trials}")
    fp = problem.features
    names = parse_predictor_list(predictors, fp)
    notes = list(problem.notes)
    runnable: list[str] = []
    for n in names:
        cls, _ = predictor_class(n)
        lacking = [need for need in cls.needs if not fp.has(need)]
        if lacking:
            if predictors is None or (isinstance(predictors, str) and predictors.strip().lower() in ("", "all")):
                notes.append(f"{n} skipped: needs {', '.join(lacking)}")
                continue
            raise ConfigError(f"predictor {n!r} needs {', '.join(lacking)}, which {fp.space_name}/{fp.dataset} "
                              f"does not have here ({fp.describe()})")
        runnable.append(n)
    if not runnable:
        raise ConfigError("no predictor can run with the available features")
    classes = {n: predictor_class(n)[0] for n in runnable}

    needed = set().union(*(cls.needs | (cls.optional & {k for k in ("zerocost", "lowfidelity") if fp.has(k)})
                           for cls in classes.values()))
    restrict = fp.archs_with(needed)
    pool = sorted(set(problem.universe) & restrict) if restrict is not None else sorted(problem.universe)
    sizes, n_test, size_notes = plan_sizes(len(pool), train_sizes, test_size)
    notes.extend(size_notes)
    max_train = max(sizes)
    label_free = [n for n in runnable if "labels" not in classes[n].needs]
    learned = [n for n in runnable if "labels" in classes[n].needs]
    if learned and not any(s > 0 for s in sizes):
        if not label_free:
            raise ConfigError("nothing to evaluate: training size 0 allows only predictors that need no labels "
                              f"(zero-cost, low-fidelity), and none of {', '.join(runnable)} is one")
        notes.append("only training size 0: predictors that need labels are not evaluated")
        learned = []

    if any(predictor_class(n)[0].__module__.endswith(("bananas", "gcn")) for n in learned):
        import torch  # noqa: F401  (imported here so its one-off import time is not charged to the first fit)

    rows: list[dict[str, Any]] = []
    infos: dict[str, dict[str, Any]] = {}
    units = trials * (len(label_free) + len(learned) * sum(1 for s in sizes if s > 0))
    with threadpool_limits(limits=max(1, int(threads))), \
            progress_bar("predictors", units, unit="fits", enabled=progress) as advance:
        for t in range(trials):
            rng = np.random.default_rng([seed, t])
            perm = rng.permutation(len(pool))
            test = [pool[i] for i in perm[:n_test]]
            reservoir = [pool[i] for i in perm[n_test:n_test + max_train]]
            y_test = problem.accuracy(test)
            pseed = seed * 1000 + t
            for n in label_free:
                pred = make_predictor(n, fp, seed=pseed, **_compute_kwargs(classes[n], threads, device))
                pred.fit([], [])
                scores = pred.predict(test)
                infos.setdefault(n, pred.info())
                base = _metrics(scores, y_test, trials == 1, n_bootstrap, pseed)
                fsec = fp.feature_seconds(test, pred.uses, getattr(pred, "proxies", None))
                for s in sizes:
                    rows.append({"predictor": n, "family": pred.family, "train_size": s, "trial": t,
                                 "n_train": 0, "n_test": len(test), **base, "fit_s": pred.fit_seconds,
                                 "query_s": pred.query_seconds, "feature_s_per_arch": fsec, "label_free": True})
                advance()
            for s in sizes:
                if s == 0:
                    continue
                train = reservoir[:s]
                _check_disjoint(train, test)
                y_train = problem.accuracy(train)
                for n in learned:
                    pred = make_predictor(n, fp, seed=pseed, **_compute_kwargs(classes[n], threads, device))
                    pred.fit(train, y_train)
                    scores = pred.predict(test)
                    infos.setdefault(n, pred.info())
                    m = _metrics(scores, y_test, trials == 1, n_bootstrap, pseed)
                    rows.append({"predictor": n, "family": pred.family, "train_size": s, "trial": t,
                                 "n_train": len(train), "n_test": len(test), **m, "fit_s": pred.fit_seconds,
                                 "query_s": pred.query_seconds,
                                 "feature_s_per_arch": fp.feature_seconds(test, set(pred.uses) - {"labels"}),
                                 "label_free": False})
                    advance()

    trial_frame = pd.DataFrame(rows)
    summary = aggregate(trial_frame, n_bootstrap=n_bootstrap, seed=seed)
    order = {n: i for i, n in enumerate(runnable)}
    summary = summary.sort_values(["predictor", "train_size"], key=lambda c: c.map(order) if c.name == "predictor"
                                  else c).reset_index(drop=True)
    meta = {
        "space": fp.space_name,
        "dataset": fp.dataset,
        "target": problem.target,
        "features": fp.describe(),
        "zero_cost_proxies": list(fp.zc_names),
        "pool_size": len(pool),
        "train_sizes": sizes,
        "test_size": n_test,
        "trials": trials,
        "seed": seed,
        "ci": ("95% percentile bootstrap of the mean over trials" if trials > 1
               else "95% paired bootstrap over test cells (one trial)"),
        "n_bootstrap": n_bootstrap,
        "predictors": {n: infos.get(n, {}) for n in runnable},
        "notes": notes,
    }
    meta["headline"] = headline(summary, 100)
    return PredictorEvaluation(trial_frame, summary, meta)


def _compute_kwargs(cls: type, threads: int, device: str) -> dict[str, Any]:
    """``threads`` / ``device`` for a predictor class whose constructor takes them (the torch ones)."""
    import inspect

    params = inspect.signature(cls.__init__).parameters
    out: dict[str, Any] = {}
    if "threads" in params:
        out["threads"] = threads
    if "device" in params:
        out["device"] = device
    return out  # scikit-learn / LightGBM predictors run on the CPU whatever the device


def _check_disjoint(train: Sequence[str], test: Sequence[str]) -> None:
    overlap = set(train) & set(test)
    if overlap:  # cannot happen with the split above; a guard against future edits
        raise RuntimeError(f"{len(overlap)} test archs are in the training set")


def _metrics(scores: np.ndarray, acc: np.ndarray, with_ci: bool, n_bootstrap: int, seed: int) -> dict[str, float]:
    from scipy import stats

    out = {"spearman": spearman(scores, acc), "kendall": kendall(scores, acc),
           "top10": top_k_precision(scores, acc, 0.1)}
    fin = scores[np.isfinite(scores)]
    out["constant"] = bool(len(fin) == 0 or np.ptp(fin) == 0)
    if out["constant"]:
        # A predictor that ranks nothing (e.g. a GP that explains 10 archs as pure noise) has no rank
        # correlation; counting it as 0 rather than dropping the trial keeps the mean honest.
        out["spearman"] = out["kendall"] = 0.0
    if with_ci:
        # -inf (a failed proxy) would break the correlation bootstrap; rank it last with a finite stand-in.
        s = np.where(np.isneginf(scores), np.nanmin(np.where(np.isfinite(scores), scores, np.nan)) - 1.0, scores) \
            if np.isfinite(scores).any() else scores
        out["spearman_ci_cells"] = bootstrap_ci(lambda x, y: stats.spearmanr(x, y).statistic, s, acc,
                                                n_resamples=n_bootstrap, seed=seed)
        out["kendall_ci_cells"] = bootstrap_ci(lambda x, y: stats.kendalltau(x, y).statistic, s, acc,
                                               n_resamples=n_bootstrap, seed=seed + 1)
    return out


def bootstrap_mean_ci(values: np.ndarray, *, n_resamples: int = 2000, seed: int = 0,
                      confidence: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (NaNs dropped); NaN for < 2 values."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_resamples, len(v)))].mean(axis=1)
    alpha = (1 - confidence) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def aggregate(trials: pd.DataFrame, *, n_bootstrap: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per (predictor, training size): mean, std and 95% CI of each metric, mean seconds."""
    out = []
    for (pred, size), g in trials.groupby(["predictor", "train_size"], sort=False):
        row: dict[str, Any] = {"predictor": pred, "family": g["family"].iat[0], "train_size": int(size),
                               "trials": len(g), "n_test": int(g["n_test"].iat[0])}
        for k, metric in enumerate(METRICS):
            v = g[metric].to_numpy(dtype=np.float64)
            row[metric] = float(np.nanmean(v)) if np.isfinite(v).any() else math.nan
            row[f"{metric}_std"] = float(np.nanstd(v)) if np.isfinite(v).sum() > 1 else math.nan
            if len(g) > 1:
                lo, hi = bootstrap_mean_ci(v, n_resamples=n_bootstrap, seed=seed + 7 * k)
            elif f"{metric}_ci_cells" in g:
                lo, hi = g[f"{metric}_ci_cells"].iat[0]
            else:
                lo, hi = math.nan, math.nan
            row[f"{metric}_lo"], row[f"{metric}_hi"] = lo, hi
            row[f"{metric}_nan_trials"] = int((~np.isfinite(v)).sum())
        row["constant_trials"] = int(g["constant"].sum()) if "constant" in g else 0
        row["fit_s"] = float(g["fit_s"].mean())
        row["query_s"] = float(g["query_s"].mean())
        row["feature_s_per_arch"] = float(g["feature_s_per_arch"].mean())
        row["label_free"] = bool(g["label_free"].iat[0])
        out.append(row)
    return pd.DataFrame(out)


def headline(summary: pd.DataFrame, size: int = 100) -> dict[str, Any] | None:
    """At training size ``size`` (or the nearest evaluated one): the best combined predictor, the best
    single zero-cost proxy and the best model-based predictor without zero-cost features, by mean Spearman.

    "Best" is picked on the reported (test) numbers: a *description* of this table, not a predictor
    selection rule (picking the best single proxy after the fact flatters the zero-cost baseline).
    """
    labelled = sorted(set(summary.loc[summary["train_size"] > 0, "train_size"]))
    if not labelled:
        return None
    at = min(labelled, key=lambda s: (abs(s - size), s))
    sub = summary[summary["train_size"] == at]

    def best(mask: pd.Series) -> dict[str, Any] | None:
        cand = sub[mask & np.isfinite(sub["spearman"])]
        if cand.empty:
            return None
        r = cand.loc[cand["spearman"].idxmax()]
        return {"predictor": r["predictor"], "spearman": float(r["spearman"]),
                "ci": [float(r["spearman_lo"]), float(r["spearman_hi"])], "kendall": float(r["kendall"])}

    return {
        "train_size": int(at),
        "best_combined": best(sub["family"] == "combined"),
        "best_single_zero_cost": best(sub["predictor"].str.startswith("zc:")),
        "best_model_based_without_zero_cost": best(sub["family"] == "model-based"),
        "zero_cost_ensemble": best(sub["predictor"] == "zc-ensemble"),
        "low_fidelity": best(sub["predictor"] == "lowfidelity"),
    }


# --------------------------------------------------------------------------- outputs


def write_outputs(ev: PredictorEvaluation, out: Path) -> list[Path]:
    """``trials.csv``, ``summary.csv``, ``summary.json``, ``summary.md`` and ``correlation_vs_train_size.png``."""
    from gradsign.outputs import dumps_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    trials = ev.trials.copy()
    for col in [c for c in trials.columns if c.endswith("_ci_cells")]:
        trials[col] = trials[col].map(lambda v: json.dumps(list(v)) if isinstance(v, (tuple, list)) else v)
    path = out / "trials.csv"
    trials.to_csv(path, index=False, float_format="%.6g")
    files.append(path)
    path = out / "summary.csv"
    ev.summary.to_csv(path, index=False, float_format="%.6g")
    files.append(path)
    path = out / "summary.json"
    payload = {**ev.meta, "results": json.loads(ev.summary.to_json(orient="records", double_precision=6))}
    path.write_text(dumps_json(payload))
    files.append(path)
    path = out / "summary.md"
    path.write_text(summary_markdown(ev))
    files.append(path)
    files.append(plot_curves(ev, out / "correlation_vs_train_size.png"))
    return files


def summary_markdown(ev: PredictorEvaluation, metrics: Sequence[str] = ("spearman", "kendall", "top10")) -> str:
    """Markdown tables (one per metric): predictors x training sizes, ``mean [95% CI]``, plus fit/query seconds."""
    s, m = ev.summary, ev.meta
    sizes = sorted(set(s["train_size"]))
    names = list(dict.fromkeys(s["predictor"]))
    titles = {"spearman": "Spearman's rho", "kendall": "Kendall's tau", "top10": "top-10% precision"}
    lines = [f"{m['space']} / {m['dataset']}: {m['trials']} trials, {m['test_size']} test cells per trial, pool "
             f"{m['pool_size']}; mean [{m['ci']}]. Label-free predictors (zero-cost, low-fidelity) need no "
             f"training set: one value, shown under n={sizes[0]}, holds at every size (″).", ""]
    for metric in metrics:
        lines.append(f"**{titles[metric]}**")
        lines.append("")
        head = ["predictor", "family", *(f"n={n}" for n in sizes)]
        if metric == metrics[0]:
            head += [f"fit s (n={max(sizes)})", f"query s ({m['test_size']} archs)"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name in names:
            g = s[s["predictor"] == name].set_index("train_size")
            row = [f"`{name}`", g["family"].iat[0]]
            free = bool(g["label_free"].iat[0])
            for n in sizes:
                if free and n != sizes[0]:
                    row.append("″")  # label-free: the same value at every size
                    continue
                if n not in g.index or not math.isfinite(g.at[n, metric]):
                    row.append("")
                    continue
                lo, hi = g.at[n, f"{metric}_lo"], g.at[n, f"{metric}_hi"]
                ci = f" [{lo:.2f}, {hi:.2f}]" if math.isfinite(lo) else ""
                row.append(f"{g.at[n, metric]:.3f}{ci}")
            if metric == metrics[0]:
                last = g.iloc[-1]
                row += [f"{last['fit_s']:.2f}", f"{last['query_s']:.3f}"]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    for note in m.get("notes", []):
        lines.append(f"Note: {note}")
    return "\n".join(lines).rstrip() + "\n"


def plot_curves(ev: PredictorEvaluation, path: Path) -> Path:
    """Spearman, Kendall and top-10% precision against training size, one line per predictor (95% CI bands).

    Label-free predictors (zero-cost, low-fidelity) are dashed horizontal lines. Training sizes sit at
    evenly spaced positions (so that 0 can be shown), labelled with their values.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = ev.summary
    sizes = sorted(set(s["train_size"]))
    pos = {v: i for i, v in enumerate(sizes)}
    names = list(dict.fromkeys(s["predictor"]))
    cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2), dpi=120)
    titles = {"spearman": "Spearman's rho", "kendall": "Kendall's tau", "top10": "top-10% precision"}
    for ax, metric in zip(axes, METRICS):
        for i, name in enumerate(names):
            g = s[s["predictor"] == name].sort_values("train_size")
            x = np.array([pos[v] for v in g["train_size"]], dtype=float)
            y = g[metric].to_numpy(dtype=float)
            lo, hi = g[f"{metric}_lo"].to_numpy(dtype=float), g[f"{metric}_hi"].to_numpy(dtype=float)
            free = bool(g["label_free"].iat[0])
            style = dict(color=cmap(i % cmap.N), lw=1.2 if free else 1.8, ls="--" if free else "-",
                         marker=None if free else "o", ms=3.5)
            ax.plot(x, y, label=name, **style)
            if np.isfinite(lo).any():
                ax.fill_between(x, lo, hi, color=style["color"], alpha=0.12 if not free else 0.07, lw=0)
        ax.set_xticks(range(len(sizes)), [str(v) for v in sizes])
        ax.set_xlabel("training set size (architectures with trained accuracy)")
        ax.set_title(titles[metric])
        ax.grid(alpha=0.3)
    m = ev.meta
    fig.suptitle(f"Predictors on {m['space']} / {m['dataset']}: {m['trials']} trials, test set {m['test_size']} "
                 f"of a pool of {m['pool_size']}; band = {m['ci']}", fontsize=10)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(0.905, 0.5), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 0.9, 0.95))
    fig.savefig(path)
    plt.close(fig)
    return path


def run_predictor_evaluation(
    space: str = "nb201",
    dataset: str = "cifar10",
    *,
    predictors: Sequence[str] | str | None = None,
    train_sizes: Sequence[int] = (0, 10, 20, 50, 100, 200, 500),
    test_size: int = 1000,
    trials: int = 10,
    seed: int = 0,
    zc_source: str = "auto",
    zc_proxies: Sequence[str] | None = None,
    store: str | Path | None = None,
    batch_size: int = 64,
    lowfidelity: bool = True,
    n_bootstrap: int = 2000,
    threads: int = 1,
    data_dir: str | Path | None = None,
    output: str | Path | None = None,
    progress: bool = False,
    device: str = "cpu",
) -> PredictorEvaluation:
    """Build the problem from the benchmarks (and the store), run the protocol, write outputs.

    Arguments are checked and the output directory made writable before any fitting;
    outputs that cannot be written at the end go to a fallback directory named in
    ``meta["output_fallback"]``.
    """
    from gradsign.evaluation.metrics import check_resamples
    from gradsign.outputs import check_output_dir, write_with_fallback
    from gradsign.reports.provenance import collect as collect_provenance
    from gradsign.runtime import check_threads, resolve_device

    started = time.time()
    check_resamples(n_bootstrap)
    check_threads(threads)
    device = str(resolve_device(device))
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"--trials must be a positive integer, got {trials!r}")
    if isinstance(test_size, bool) or not isinstance(test_size, int) or test_size < 2:
        raise ConfigError(f"--test-size must be an integer of at least 2, got {test_size!r}")
    if output is not None:
        check_output_dir(output)
    problem = build_problem(space, dataset, zc_source=zc_source, zc_proxies=zc_proxies, store=store,
                            batch_size=batch_size, seed=seed, lowfidelity=lowfidelity, data_dir=data_dir)
    ev = evaluate_predictors(problem, predictors, train_sizes=train_sizes, test_size=test_size, trials=trials,
                             seed=seed, n_bootstrap=n_bootstrap, threads=threads, progress=progress, device=device)
    ev.meta["zc_source"] = zc_source
    ev.meta["provenance"] = collect_provenance(seeds=[seed], started=started, device=device, threads=threads)
    if output is not None:
        ev.files, problem_text = write_with_fallback(lambda d: write_outputs(ev, d), Path(output))
        if problem_text is not None:
            ev.meta["output_fallback"] = {"problem": problem_text, "written_to": str(ev.files[0].parent)}
    return ev


__all__ = [
    "MIN_TEST",
    "PredictorEvaluation",
    "Problem",
    "aggregate",
    "bootstrap_mean_ci",
    "build_problem",
    "evaluate_predictors",
    "headline",
    "join_zerocost",
    "plan_sizes",
    "plot_curves",
    "run_predictor_evaluation",
    "summary_markdown",
    "write_outputs",
    "zerocost_from_store",
]
