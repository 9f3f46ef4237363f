"""`evaluate`: how well does each proxy rank architectures by their trained accuracy?

Samples N cells (seeded, without replacement), scores them with every proxy
through the results store, and reports per proxy Spearman's rho and Kendall's
tau with bootstrap 95% CIs, top-10% precision, the NaN count and seconds per
arch, next to the benchmark's own noise ceiling and the published figures.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from gradsign.benchmarks.registry import Benchmark, get_benchmark
from gradsign.errors import ConfigError
from gradsign.evaluation import kendall, summarize_correlation
from gradsign.evaluation.metrics import MIN_CI_PAIRS, MIN_CORRELATION_PAIRS, check_resamples, nan_mean_std
from gradsign.outputs import check_output_dir, dumps_json, write_with_fallback
from gradsign.proxies import get_proxy
from gradsign.reports.provenance import collect as collect_provenance
from gradsign.storage import ResultsStore
from gradsign.workflows.ground_truth import ground_truth
from gradsign.workflows.scoring import DEFAULT_MAX_ATTEMPTS, Scorer, ScoringSetup

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass
class EvaluationResult:
    """What :func:`evaluate` found: how well each proxy ranks the drawn archs by their trained accuracy.

    Attributes:
        summary: the run as written to ``summary.json``: space, dataset, target, per proxy
            (``summary["proxies"][name]``) Spearman's rho and Kendall's tau with 95% bootstrap CIs,
            top-10% precision, NaN / failure counts, seconds per arch, the published figure, and the
            noise ceiling, data description and provenance.
        archs: the scored archs (canonical strings); accuracy: their ground truth, in that order.
        scores: proxy -> scores aligned with ``archs`` (NaN where a proxy failed).
        files: what was written (empty without ``output``).
    """

    summary: dict[str, Any]
    archs: list[str]
    accuracy: np.ndarray
    scores: dict[str, np.ndarray]
    files: list[Path] = field(default_factory=list)

    @property
    def proxies(self) -> list[str]:
        """The proxies evaluated, in request order."""
        return list(self.summary["proxies"])

    def to_frame(self) -> "pd.DataFrame":
        """One row per proxy: rank correlations with their CIs, top-10% precision, failures, seconds."""
        import pandas as pd

        rows = []
        for name, p in self.summary["proxies"].items():
            rows.append({"proxy": name, "spearman": p["spearman"], "spearman_lo": p["spearman_ci"][0],
                         "spearman_hi": p["spearman_ci"][1], "kendall": p["kendall"],
                         "kendall_lo": p["kendall_ci"][0], "kendall_hi": p["kendall_ci"][1],
                         "top10_precision": p["top10_precision"], "n_nan": p["n_nan"], "n_failed": p["n_failed"],
                         "seconds_per_arch": p["seconds_per_arch"], "higher_is_better": p["higher_is_better"],
                         "literature_spearman": p["literature_spearman"]})
        return pd.DataFrame(rows)

    def scores_frame(self) -> "pd.DataFrame":
        """One row per arch: ``arch``, ``accuracy`` and one column per proxy scored."""
        import pandas as pd

        frame = pd.DataFrame({"arch": self.archs, "accuracy": self.accuracy})
        for name, values in self.scores.items():
            frame[name] = values
        return frame

    def to_json(self, path: str | Path | None = None) -> str:
        """The summary as strict JSON (what ``summary.json`` holds); also written to ``path`` if given."""
        text = dumps_json(self.summary)
        if path is not None:
            Path(path).write_text(text)
        return text


#: The name of :class:`EvaluationResult` before the typed API.
EvaluateResult = EvaluationResult


def nested_choice(population: int, n: int, seed: int) -> np.ndarray:
    """``n`` distinct indices below ``population``, drawn so that draws are NESTED.

    For the same seed, the set drawn for ``n`` is contained in the set drawn for
    any larger ``n`` (so growing ``--sample`` reuses every cell already scored).
    NumPy's ``Generator.choice(replace=False)`` is nested where it uses a partial
    Fisher-Yates shuffle of the tail (``population > 10000`` and ``n > population // 50``)
    and not where it uses Floyd's algorithm (every other case). So:

    * ``population > 10000``: draw at least ``population // 50 + 1`` with ``choice``
      and keep the first ``n``. Draws of more than ``population // 50`` are
      bit-identical to ``choice`` (the committed 500- and 1,000-cell NB201 runs of
      record keep their cells); smaller ones are a uniform subset of a nested draw.
    * ``population <= 10000``: the first ``n`` of one seeded permutation. (No committed
      run drew a proper subset of such a pool: NB101's 292 and DARTS's 725 cells are used whole.)
    """
    if population <= 10000:
        return np.random.default_rng(seed).permutation(population)[:n]
    m = min(population, max(n, population // 50 + 1))
    return np.random.default_rng(seed).choice(population, size=m, replace=False)[:n]


def draw_archs(space, n: int | None, seed: int, pool: list[str] | None = None,
               note: Callable[[str], None] | None = None) -> list:
    """``n`` distinct archs (seeded, nested in ``n``); all of them, in index order, when ``n`` is None or covers the space.

    With a ``pool`` (the archs a benchmark has ground truth for), draw from it
    instead. ``note`` is told when ``n`` is more than there is (everything is taken).
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
        raise ConfigError(f"--sample must be a positive integer, got {n!r}")
    if pool is not None:
        if n is None or n >= len(pool):
            if n is not None and n > len(pool) and note is not None:
                note(f"--sample {n} is more than the {len(pool):,} archs with ground truth; all {len(pool):,} are used")
            return [space.parse(a) for a in pool]
        picks = nested_choice(len(pool), int(n), seed)
        return [space.parse(pool[i]) for i in sorted(picks)]
    total = space.num_archs
    if n is None:
        if total is None:
            raise ConfigError(f"search space {space.name!r} cannot be enumerated; give --sample N")
        return list(space)
    if total is not None and n >= total:
        if n > total and note is not None:
            note(f"--sample {n} is more than the {total:,} archs of {space.name}; all {total:,} are used")
        return list(space)
    if total is not None:
        return [space.arch_at(int(i)) for i in nested_choice(total, int(n), seed)]
    return space.sample(n, seed)


def evaluate(
    space: str = "nb201",
    dataset: str = "cifar10",
    proxies: str | Sequence[str] = "gradsign",
    *,
    sample: int | str | None = 1000,
    seed: int = 0,
    target: str = "test",
    batch_size: int = 64,
    repeats: int = 1,
    sampling: str = "random",
    options: Sequence[str] | Mapping[str, Mapping[str, Any]] | None = None,
    engine: str = "auto",
    store: str | Path | ResultsStore | None = None,
    stored_only: bool = False,
    n_bootstrap: int = 1000,
    backend: Any = "inprocess",
    workers: int | None = None,
    address: str | None = None,
    output: str | Path | None = None,
    data_dir: str | Path | None = None,
    threads: int | None = None,
    device: str = "cpu",
    progress: bool = False,
    retry_failed: bool = False,
    note: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """How well do zero-cost proxies rank architectures of a benchmark by their trained accuracy?

    What ``gradsign evaluate`` runs: draw ``sample`` archs of ``space`` that have ground truth
    (seeded and nested: a larger sample keeps the cells of a smaller one; ``None`` or ``"all"``:
    every one), score them with ``proxies`` on a minibatch of ``dataset`` (reusing ``store``,
    a :class:`ResultsStore` or its path; None: no store), and correlate each proxy with the
    benchmark's ``target`` accuracy (Spearman, Kendall with ``n_bootstrap`` bootstrap CIs,
    top-10% precision; ``repeats`` > 1 adds the Kendall protocol over independent draws).

    Every argument is checked before anything is scored; ``output`` (a directory for
    ``summary.json``, ``scores.csv`` and scatter plots) is made writable first.
    ``options``: ``PROXY.KEY=VALUE`` strings or ``{proxy: {key: value}}``; ``backend``:
    ``inprocess``, ``process`` (``workers``) or ``ray`` (``workers``, ``address``).
    ``retry_failed``: retry every cell stored as an error (by default a cell is retried until it has
    failed twice). ``note`` receives one-line remarks (e.g. a sample larger than the benchmark).

    >>> result = gradsign.evaluate("nb201", "cifar10", ["synflow", "snip"], sample=200)  # doctest: +SKIP
    >>> result.to_frame()[["proxy", "spearman", "spearman_lo", "spearman_hi"]]  # doctest: +SKIP
    """
    from gradsign.workflows.scoring import scoring_backend, scoring_setup

    n = _sample_size(sample)
    setup = scoring_setup(space, dataset, proxies, batch_size=batch_size, seed=seed, sampling=sampling,
                          options=options, engine=engine, data_dir=data_dir, threads=threads, device=device)
    runner = scoring_backend(backend, workers, address)
    if store is not None and not isinstance(store, ResultsStore):
        store = ResultsStore(Path(store), read_only=stored_only)
    return run_evaluate(setup, sample=n, target=target, repeats=repeats, store=store,
                        output=None if output is None else Path(output), n_bootstrap=n_bootstrap,
                        progress=progress, backend=runner, stored_only=stored_only, retry_failed=retry_failed,
                        note=note)


def _sample_size(sample: int | str | None) -> int | None:
    """``sample`` as a count (None: every arch); ``"all"`` and digit strings accepted."""
    if sample is None or (isinstance(sample, str) and sample.strip().lower() == "all"):
        return None
    if isinstance(sample, str) and sample.strip().isdigit():
        sample = int(sample.strip())
    if isinstance(sample, bool) or not isinstance(sample, (int, np.integer)) or sample < 1:
        raise ConfigError(f"--sample must be a positive integer or 'all', got {sample!r}")
    return int(sample)


def run_evaluate(
    setup: ScoringSetup,
    *,
    sample: int | None,
    target: str = "test",
    repeats: int = 1,
    store: ResultsStore | None = None,
    output: Path | None = None,
    n_bootstrap: int = 1000,
    progress: bool = True,
    backend: Any = None,
    stored_only: bool = False,
    retry_failed: bool = False,
    note: Callable[[str], None] | None = None,
) -> EvaluationResult:
    """Score ``sample`` drawn cells (None: all) and correlate every proxy with ``target`` accuracy.

    Everything that can be checked is checked before any scoring: the bootstrap
    count, ``repeats``, the output directory (writable, created). If writing
    the outputs still fails at the end, they go to a fallback directory named
    in ``summary["output_fallback"]``; the scores are in the store either way.
    ``note`` receives one-line remarks for the user (e.g. a clamped sample).
    """
    started = time.time()
    check_resamples(n_bootstrap)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"--repeats must be a positive integer, got {repeats!r}")
    if stored_only and store is None:
        raise ConfigError("--stored-only needs a results store")
    if stored_only and repeats > 1:  # the repeat draws are other cells: they would need scoring
        raise ConfigError("--stored-only reports one draw from the store; --repeats > 1 draws other cells, "
                          "which would need scoring: drop one of the two")
    if stored_only and retry_failed:
        raise ConfigError("--stored-only computes nothing, so it cannot retry failed cells: drop one of the two")
    if output is not None:
        check_output_dir(output)
    truth = ground_truth(setup.space, setup.dataset, target, setup.data_dir)
    scorer = Scorer(setup, store, max_attempts=None if retry_failed else DEFAULT_MAX_ATTEMPTS)
    space = scorer.space
    archs = draw_archs(space, sample, setup.seed, truth.archs, note=note)
    n_drawn = len(archs)
    if stored_only:
        archs = _fully_stored(scorer, store, archs)
    if len(archs) < MIN_CI_PAIRS and note is not None:  # else blank CIs and NaN with no word of why
        note(f"{len(archs)} cell(s): a Spearman or Kendall needs {MIN_CORRELATION_PAIRS} cells with finite scores "
             f"and its confidence interval {MIN_CI_PAIRS} (NaN / no interval below that), and top-10% is the "
             f"best cell alone; hundreds of cells give figures worth reporting")
    table = scorer.score_archs(archs, progress=progress, description=f"{setup.space}/{scorer.dataset}",
                               backend=backend)
    acc = truth.accuracy(table.archs)
    bench = get_benchmark(setup.space)
    proxies = {name: _proxy_summary(name, table, acc, n_bootstrap, setup.seed, bench, scorer.dataset)
               for name in setup.proxies}
    n_computed = table.n_computed
    if repeats > 1:
        n_computed += _kendall_repeats(proxies, scorer, truth, archs, table, acc, repeats=repeats,
                                       progress=progress, backend=backend)

    summary = {
        "space": space.name,
        "dataset": scorer.dataset,
        "target": truth.target,
        "target_description": truth.description,
        "n_archs": len(table.archs),
        "seed": setup.seed,
        "batch_size": setup.batch_size,
        "sampling": setup.sampling,
        "data": table.data_description,
        "n_computed_this_run": n_computed,  # every draw's, when --repeats > 1
        "store": str(store.path) if store is not None else None,
        "stored_only": {"drawn": n_drawn, "kept": len(table.archs)} if stored_only else None,
        "noise_ceiling": truth.noise_ceiling(table.archs),
        "literature_source": bench.published_source,
        "proxies": proxies,
        "provenance": collect_provenance(seeds=[setup.seed + 7919 * r for r in range(repeats)], started=started,
                                         device=setup.device, threads=setup.threads),
    }
    result = EvaluationResult(summary, table.archs, acc, table.scores)
    if output is not None:
        files, problem = write_with_fallback(lambda d: write_outputs(result, space, d), output)
        result.files = files
        if problem is not None:
            summary["output_fallback"] = {"problem": problem, "written_to": str(files[0].parent)}
    return result


def _fully_stored(scorer: Scorer, store: ResultsStore, archs: list) -> list:
    """Interim report of a long run: the drawn cells that already have every requested proxy in the store
    (nothing is computed); at least 3 of them."""
    space = scorer.space
    strs = [space.to_string(a) for a in archs]
    have = set(strs)
    for key in scorer.read_keys.values():
        recs = store.get_many(key, strs)
        have &= {a for a, r in recs.items() if r.status != "error"}
    kept = [a for a, s_ in zip(archs, strs) if s_ in have]
    if len(kept) < 3:
        raise ConfigError(f"--stored-only: only {len(kept)} of the {len(archs)} drawn cells are fully scored")
    return kept


def _proxy_summary(name: str, table: Any, acc: np.ndarray, n_bootstrap: int, seed: int, bench: Benchmark,
                   dataset: str) -> dict[str, Any]:
    """Proxy ``name``'s rank agreement with ``acc`` on the scored table, as ``summary["proxies"][name]``."""
    spec = get_proxy(name)
    values = table.scores[name]
    summ = summarize_correlation(values, acc, higher_is_better=spec.higher_is_better,
                                 n_resamples=n_bootstrap, seed=seed)
    secs = table.seconds[name]
    ensemble = getattr(spec, "is_ensemble", False)
    out = {
        "spearman": summ.spearman,
        "spearman_ci": list(summ.spearman_ci),
        "kendall": summ.kendall,
        "kendall_ci": list(summ.kendall_ci),
        "top10_precision": summ.top10_precision,
        "seconds_per_arch": float(np.nanmean(secs)) if np.isfinite(secs).any() else None,
        "n_nan": int(summ.n_nan),
        "n_failed": table.n_failed(name),
        "failures_by_reason": table.failure_reasons(name),
        "failure_example": table.failure_example(name),
        "higher_is_better": spec.higher_is_better,
        # Published figures (NB201's) are for the whole benchmark; an ensemble has none.
        "literature_spearman": None if ensemble else bench.published_spearman(name, dataset),
    }
    if ensemble:
        out["members"] = list(spec.members)
        out["aggregation"] = spec.aggregation
        # cells some member could not score (ranked last by that member), never dropped
        out["n_member_nonfinite"] = table.member_nonfinite.get(name, 0)
    return out


def _kendall_repeats(proxies: dict[str, dict[str, Any]], scorer: Scorer, truth: Any, archs: list, table: Any,
                     acc: np.ndarray, *, repeats: int, progress: bool, backend: Any) -> int:
    """The Kendall protocol: ``repeats`` independent draws of as many cells (the first is the one scored);
    the mean and std of each proxy's tau go to ``proxies[name]["kendall_repeats"]``. Returns the
    (arch, proxy) scores computed for the other draws."""
    setup, space = scorer.setup, scorer.space
    n = len(table.archs)
    taus: dict[str, list[float]] = {p: [] for p in setup.proxies}
    n_computed = 0
    for r in range(repeats):
        draw = archs if r == 0 else draw_archs(space, n, setup.seed + 7919 * r, truth.archs)
        t = table if r == 0 else scorer.score_archs(draw, progress=progress, description=f"repeat {r + 1}/{repeats}",
                                                    backend=backend)
        n_computed += 0 if r == 0 else t.n_computed
        a = acc if r == 0 else truth.accuracy(t.archs)
        for p in setup.proxies:
            sign = 1.0 if get_proxy(p).higher_is_better else -1.0
            taus[p].append(kendall(sign * t.scores[p], a))
    for p in setup.proxies:
        arr = np.asarray(taus[p])
        proxies[p]["kendall_repeats"] = {"repeats": repeats, "sample_size": n,
                                         "mean": float(nan_mean_std(arr)[0]), "std": float(nan_mean_std(arr)[1])}
    return n_computed


def write_outputs(result: EvaluationResult, space, out: Path) -> list[Path]:
    """summary.json, scores.csv and one scatter PNG per proxy under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    files = []
    path = out / "summary.json"
    earlier = _summarised_proxies(path)  # before it is replaced: whose plots an earlier run left here
    path.write_text(dumps_json(result.summary))
    files.append(path)

    frame = result.scores_frame()
    try:
        frame.insert(0, "index", [space.index_of(space.parse(a)) for a in result.archs])
    except Exception:  # spaces without an index
        pass
    path = out / "scores.csv"
    frame.to_csv(path, index=False)  # full precision: a CSV is data, read back by scripts
    files.append(path)
    files.extend(plot_scatters(result, out))
    # An earlier run into this folder with other proxies left their plots: beside this summary they would
    # read as this run's (summary.json and scores.csv are replaced anyway). Only that run's own plots go.
    for name in earlier - set(result.summary["proxies"]):
        (out / f"scatter_{name}.png").unlink(missing_ok=True)
    return files


def _summarised_proxies(summary_path: Path) -> set[str]:
    """The proxies of an evaluate summary.json already there (none if absent or unreadable)."""
    try:
        return set(json.loads(summary_path.read_text()).get("proxies", {}))
    except (OSError, ValueError, AttributeError):
        return set()


def plot_scatters(result: EvaluationResult, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    s = result.summary
    for name, values in result.scores.items():
        if name not in s["proxies"]:  # an ensemble's member scored for it, not asked for itself
            continue
        stats = s["proxies"][name]
        ok = np.isfinite(values) & np.isfinite(result.accuracy)
        fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
        x = values[ok]
        # Scores span orders of magnitude for most proxies; a log axis shows them as the paper does.
        positive = bool(ok.any() and (x > 0).all() and x.max() / max(x.min(), 1e-300) > 100)
        ax.scatter(x, result.accuracy[ok], s=14 if ok.sum() < 200 else 4, alpha=0.6, linewidths=0)
        if positive:
            ax.set_xscale("log")
        ax.set_xlabel(f"{name} score" + ("" if stats["higher_is_better"] else " (lower is better)"))
        ax.set_ylabel(f"{s['dataset']} {s['target']} accuracy (%)")
        lo, hi = stats["spearman_ci"]
        ax.set_title(f"{s['space']} {s['dataset']}: {name}\n"
                     f"Spearman {stats['spearman']:.3f} [{lo:.3f}, {hi:.3f}], n={int(ok.sum())}", fontsize=9)
        fig.tight_layout()
        path = out / f"scatter_{name}.png"
        fig.savefig(path)
        plt.close(fig)
        files.append(path)
    return files
