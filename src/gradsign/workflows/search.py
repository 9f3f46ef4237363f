"""`gradsign.search(...)`: seeded searches, plain and proxy-assisted, on a benchmark or your own objective.

The typed API behind ``gradsign search`` (the CLI only parses and displays):
:func:`search` validates, builds the objective (a benchmark's tabular one, or
the user's) and the proxy provider, runs every setting on the same seeds
(:func:`gradsign.search.run_searches`) and returns a :class:`SearchReport`.

A named proxy's scores come from the results store
(:mod:`gradsign.workflows.search_store`, re-exported here).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from gradsign.errors import ConfigError, TrainingError
from gradsign.outputs import check_output_dir, dumps_json, write_with_fallback
from gradsign.reports.provenance import collect as collect_provenance
from gradsign.storage import ResultsStore
from gradsign.workflows.scoring import Scorer, ScoringSetup
from gradsign.workflows.search_store import (EnsembleStoreProvider, StoreBackedProvider, gradsign_mean_from_gradsign,
                                             store_provider)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass
class SearchReport:
    """What :func:`search` returns: every setting's runs, their table and the files written.

    ``results``: one :class:`~gradsign.search.SearchResults` per setting (plain,
    proxy-assisted with its time charged, and free), each with every run and its
    trajectory; ``summary``: the settings' table (``summary["settings"]``, also
    :attr:`table`), the notes and the provenance; ``files``: what was written.
    """

    results: list[Any]
    summary: dict[str, Any]
    files: list[Path] = field(default_factory=list)

    @property
    def table(self) -> list[dict[str, Any]]:
        """One row per setting: runs, mean/std/CI of the final accuracy, trainings and seconds per run."""
        return self.summary["settings"]

    def to_frame(self) -> "pd.DataFrame":
        """One row per run of every setting: the pick, its accuracy, what the run spent."""
        import pandas as pd

        rows = []
        for res in self.results:
            for r in res.runs:
                row = {"setting": res.label, "run": r.run, "incumbent": r.incumbent, "arch": r.arch, "test": r.test,
                       "signal": r.signal, "evaluations": r.evaluations, "proxy_scored": r.proxy_scored,
                       "train_seconds": r.train_seconds, "proxy_seconds": r.proxy_seconds,
                       "charged_seconds": r.charged_seconds}
                row.update({f"reported_{k}": v for k, v in r.reported.items()})
                rows.append(row)
        return pd.DataFrame(rows)

    def trajectories(self, **kwargs: Any) -> dict[str, dict[str, Any]]:
        """Each setting's mean incumbent accuracy on a budget grid (see :func:`~gradsign.search.aggregate_trajectories`)."""
        return {res.label: res.trajectory(**kwargs) for res in self.results}

    def to_json(self, path: str | Path, *, trajectories: bool = True) -> Path:
        """The summary and every setting's runs in one JSON document."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        doc = {"summary": self.summary, "results": [r.to_dict(trajectories=trajectories) for r in self.results]}
        p.write_text(dumps_json(doc, default=_jsonable))
        return p


def search(
    algo: Any = "rea",
    *,
    objective: Any = None,
    space: Any = None,
    dataset: str = "cifar10",
    proxy: Any = None,
    candidates: int = 10,
    budget: Any = None,
    runs: int = 100,
    seed: int = 0,
    charge_proxy: bool | None = None,
    warmup_pool: int = 0,
    algo_params: dict[str, Any] | None = None,
    setup: ScoringSetup | None = None,
    store: ResultsStore | str | Path | None = None,
    precompute: bool = False,
    backend: Any = None,
    predictor: str | None = None,
    zc_source: str = "nb201-table",
    zc_seconds: float | None = None,
    store_path: Path | None = None,
    batch_size: int = 64,
    output: Path | None = None,
    data_dir: Path | None = None,
    progress: bool = True,
    journal: Any = None,
    proxy_batch: "tuple[Any, Any] | str | None" = None,
    num_classes: int | None = None,
    test: Any = None,
) -> SearchReport:
    """Run ``runs`` seeded searches of ``algo``, plain and proxy-assisted; the typed API of ``gradsign search``.

    What is searched: with ``objective=None``, the benchmark ``space`` (default
    ``"nb201"``) on ``dataset`` through its tabular objective (NB201: the 12-epoch
    validation accuracy observed, its simulated training time charged); else your
    :class:`~gradsign.search.Objective`, or a function ``train(arch) -> accuracy``
    with ``space=`` its :class:`~gradsign.spaces.base.SearchSpace`, whose measured
    seconds are the budget's unit (give ``budget=``: ``"3600s"``, ``"50evals"``).

    ``proxy``: a proxy name scored on the benchmark's cells through the results
    ``store`` (``setup`` says how; ``precompute`` scores every cell first), or a
    function ``proxy(arch) -> score`` (its measured seconds charged like
    training seconds), or a :class:`~gradsign.search.ProxyProvider`. With a proxy
    the plain algorithm runs too (same seeds), then the assisted one charged and,
    for a tabular objective, free (the papers' setting); ``charge_proxy=True`` /
    ``False`` runs only that one. ``candidates``: K proposals per step, the best by
    the proxy trained; ``warmup_pool``: Abdelfattah et al.'s warm-up.
    ``algo="predictor"``: the predictor-guided search with ``predictor``, zero-cost
    features from ``zc_source`` at ``zc_seconds`` per cell if it records none.
    ``algo_params`` go to the algorithm; ``output``: a folder for one JSON per
    setting, ``summary.json`` and ``trajectory.png`` (checked before searching).
    ``journal``: a SQLite path recording every training (and measured proxy score);
    rerun with it, a killed search resumes without retraining. A proxy *name* on
    your own space scores ``space.build_network(arch, num_classes)`` on
    ``proxy_batch=(inputs, targets)``, its seconds measured and charged.

    From files (what ``gradsign search --objective`` passes): ``objective`` and ``test``
    may be ``"path/to/file.py:function"`` (``train(arch) -> accuracy``; ``test(arch) ->
    accuracy`` is the number reported for a picked arch), and ``proxy_batch`` either
    ``"file.py:function"`` (called with no arguments, returning ``(inputs, targets)``)
    or ``"dataset"``: ``batch_size`` training images of ``dataset`` drawn by ``seed``
    (``num_classes`` then defaults to the dataset's).
    """
    from gradsign.search import Budget, Journal, TabularObjective

    started = time.time()
    _check_counts(runs=runs, candidates=candidates, warmup_pool=warmup_pool)
    if warmup_pool and proxy is None:  # the warm-up ranks cells by the proxy: without one it would be ignored
        raise ConfigError(f"--warmup-pool {warmup_pool} ranks cells by a proxy: give --proxy")
    if output is not None:
        check_output_dir(output)  # before minutes of searching, not after
    if store is not None and not isinstance(store, ResultsStore):  # a path, as evaluate and score_archs take
        store = ResultsStore(store)
        store_path = store_path if store_path is not None else store.path
    obj = _objective(objective, space, dataset, data_dir, test)
    algorithm, guided = _algorithm(algo, algo_params, proxy, obj, predictor, zc_source, zc_seconds, store_path,
                                   batch_size, seed, data_dir)
    if budget is None and obj.default_budget is None:
        raise ConfigError("a search with your own training function needs a budget: budget='600s' (--budget 600s) "
                          "charges measured seconds, '50evals' counts trainings")
    tabular = isinstance(obj, TabularObjective)
    if tabular:  # a budget below the cheapest training would give every run no pick at all (NaN)
        need = Budget.parse(budget, obj.default_budget)
        if need.kind == "seconds" and need.amount < obj.min_cost:
            raise ConfigError(f"--budget {need.amount:g} s is below the cheapest training of {obj.space.name} "
                              f"{obj.dataset} ({obj.min_cost:.1f} s): no run could train a single cell")
    journal = journal if journal is None or isinstance(journal, Journal) else Journal(journal)
    if isinstance(proxy, str) and not tabular:
        proxy = _network_proxy(proxy, obj, proxy_batch, num_classes, seed, dataset, batch_size, data_dir)
    provider = _provider(proxy, obj, tabular, setup, store, precompute, progress, backend, journal)
    try:
        results = _run_settings(algorithm, obj, provider, charge_proxy, candidates, warmup_pool, tabular=tabular,
                                runs=runs, seed=seed, budget=budget, journal=journal)
    except TrainingError as exc:  # say what is kept: the finished trainings, if a journal recorded them
        kept = (f"the journal {journal.path} keeps the trainings finished ({journal.recorded} this call): fix it "
                "and rerun the same command to resume" if journal is not None
                else "no --journal was given, so the trainings finished are not kept")
        raise TrainingError(f"{exc}; {kept}") from exc.__cause__
    if all(r.evaluations == 0 for res in results for r in res.runs):  # e.g. your training costs more than it
        raise ConfigError(f"--budget {budget}: no run of any setting finished a single training within it, so "
                          "there is no pick to report; give a larger budget")
    report = SearchReport(results, _summary(results, obj, algorithm, proxy, provider, candidates, budget, runs, seed,
                                            setup, started, zc_source if guided else None))
    if journal is not None:  # what this call trained, and what it replayed from an earlier (killed) one
        report.summary["journal"] = {"path": str(journal.path), "trainings_done": journal.recorded,
                                     "trainings_from_journal": journal.replayed}
    if output is not None:
        _write(report, obj, Path(output))
    return report


def _network_proxy(name: str, objective: Any, batch: "tuple[Any, Any] | str | None", num_classes: int | None,
                   seed: int, dataset: str = "cifar10", batch_size: int = 64, data_dir: Path | None = None) -> Any:
    """A named proxy on a user's space: it scores the networks the space builds, on the given minibatch."""
    from gradsign.search import network_proxy

    if batch == "dataset":
        batch, num_classes = _dataset_batch(dataset, batch_size, seed, data_dir, num_classes)
    elif isinstance(batch, str):
        batch = _file_batch(batch)

    if batch is None or num_classes is None:
        raise ConfigError(f"proxy {name!r} on your own space scores the networks space.build_network(arch, "
                          "num_classes) builds: give proxy_batch=(inputs, targets) and num_classes (--proxy-batch "
                          "FILE.py:fn --num-classes N), proxy_batch='dataset' (a minibatch of the dataset), or a "
                          "function proxy(arch) -> score")
    return network_proxy(objective.space, name, batch[0], batch[1], num_classes=num_classes, seed=seed)


def _algorithm(algo: Any, algo_params: dict[str, Any] | None, proxy: Any, objective: Any, predictor: str | None,
               zc_source: str, zc_seconds: float | None, store_path: Path | None, batch_size: int, seed: int,
               data_dir: Path | None) -> tuple[Any, bool]:
    """The algorithm instance, and whether it is the predictor-guided search (which reads its own features)."""
    from gradsign.search import get_search, search_name

    guided = (search_name(algo) if isinstance(algo, str) else getattr(algo, "name", "")) == "predictor"
    if guided and proxy is not None:
        raise ConfigError("the predictor-guided search reads zero-cost features through zc_source (--zc-source), "
                          "not a proxy")
    if predictor is not None and not guided:
        raise ConfigError("predictor (--predictor) is for the predictor-guided search (--algo predictor)")
    if guided and isinstance(algo, str):
        return _predictor_guided(algo, algo_params, objective, predictor, zc_source, zc_seconds, store_path,
                                 batch_size, seed, data_dir), True
    return get_search(algo, **(algo_params or {})), guided


def _check_counts(**counts: Any) -> None:
    minimum = {"runs": 1, "candidates": 1, "warmup_pool": 0}
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum[name]:
            raise ConfigError(f"{name} must be an integer >= {minimum[name]}, got {value!r}")


def _objective(objective: Any, space: Any, dataset: str, data_dir: Path | None, test: Any = None) -> Any:
    """The user's objective (or training function on ``space``), else the benchmark space's tabular one."""
    from gradsign.search import CallableObjective, as_objective
    from gradsign.spaces import get_space

    if isinstance(objective, str):  # loaded first: the file may register the space it searches
        objective = load_function(objective, "objective")
    if isinstance(test, str):
        test = load_function(test, "test")
    if test is not None and (objective is None or not callable(objective) or hasattr(objective, "evaluate")):
        raise ConfigError("test goes with a training function (objective=train); an Objective reports its own")
    if objective is None:
        return _benchmark_objective(space or "nb201", dataset, data_dir)
    space = get_space(space) if isinstance(space, str) else space
    if test is not None:
        return CallableObjective(space, objective, test=test, dataset=dataset)
    return as_objective(objective, space)


def load_function(spec: str, what: str) -> Any:
    """The function ``name`` of the Python file in ``"path/to/file.py:name"`` (``what``: its role, for errors).

    The file is imported as a private module, with its folder on ``sys.path`` so it may
    import modules next to it; a file imported twice is executed once.
    """
    import hashlib
    import importlib.util
    import inspect
    import sys

    path_text, _, name = str(spec).rpartition(":")
    if not path_text.endswith(".py") or not name.isidentifier():
        raise ConfigError(f"{what} {spec!r}: write path/to/file.py:function")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise ConfigError(f"{what} {spec}: no such file {path}")
    resolved = path.resolve()
    mod_name = "gradsign_user_" + hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    module = sys.modules.get(mod_name)
    if module is None:
        mod_spec = importlib.util.spec_from_file_location(mod_name, resolved)
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules[mod_name] = module  # dataclasses and pickling look the module up there
        sys.path.insert(0, str(resolved.parent))
        try:
            mod_spec.loader.exec_module(module)
        except Exception as exc:  # noqa: BLE001 - any failure of user code is reported in one line
            sys.modules.pop(mod_name, None)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ConfigError(f"{what} {spec}: importing {path} failed ({type(exc).__name__}: {first})") from None
        finally:
            if str(resolved.parent) in sys.path:
                sys.path.remove(str(resolved.parent))
    function = getattr(module, name, None)
    if function is None:
        defined = sorted(n for n, v in vars(module).items()
                         if inspect.isfunction(v) and not n.startswith("_") and v.__module__ == mod_name)
        raise ConfigError(f"{what} {spec}: {path.name} has no {name!r}; functions defined there: "
                          f"{', '.join(defined) or 'none'}")
    if not callable(function):
        raise ConfigError(f"{what} {spec}: {name!r} is of type {type(function).__name__}, not a function")
    return function


def _file_batch(spec: str) -> tuple[Any, Any]:
    """``(inputs, targets)`` from a function in a file, called with no arguments."""
    function = load_function(spec, "proxy batch")
    try:
        batch = function()
    except Exception as exc:  # noqa: BLE001 - any failure of user code is reported in one line
        raise ConfigError(f"proxy batch {spec}: calling it with no arguments failed ({type(exc).__name__}: "
                          f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from None
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise ConfigError(f"proxy batch {spec}: the function must return (inputs, targets), got "
                          f"{type(batch).__name__}")
    return batch[0], batch[1]


def _dataset_batch(dataset: str, batch_size: int, seed: int, data_dir: Path | None,
                   num_classes: int | None) -> tuple[tuple[Any, Any], int]:
    """``batch_size`` training images of ``dataset`` drawn by ``seed``, and the number of classes."""
    from gradsign.data.images import dataset_info, load_image_set

    info = dataset_info(dataset)
    inputs, targets = load_image_set(info.name, "train", data_dir=data_dir).sample_batch(batch_size, seed=seed)
    return (inputs, targets), info.num_classes if num_classes is None else num_classes


def _benchmark_objective(space: Any, dataset: str, data_dir: Path | None) -> Any:
    """The benchmark's simulated-training objective (NB201: its tabular objective); a one-line refusal otherwise."""
    from gradsign.benchmarks.registry import get_benchmark

    name = space if isinstance(space, str) else space.name
    return get_benchmark(name).objective(dataset, data_dir)


def _predictor_guided(algo: Any, algo_params: dict[str, Any] | None, objective: Any, predictor: str | None,
                      zc_source: str, zc_seconds: float | None, store_path: Path | None, batch_size: int, seed: int,
                      data_dir: Path | None) -> Any:
    """The predictor-guided search with its benchmark's zero-cost features."""
    from gradsign.search import get_search
    from gradsign.workflows.predictors import build_problem

    problem = build_problem(objective.space.name, objective.dataset, zc_source=zc_source, store=store_path,
                            lowfidelity=False, batch_size=batch_size, seed=seed, data_dir=data_dir)
    params = dict(algo_params or {})
    params.update(features=problem.features, predictor=predictor or params.get("predictor", "forest"),
                  zc_seconds=zc_seconds)
    return get_search(algo, **params)


def _provider(proxy: Any, objective: Any, tabular: bool, setup: ScoringSetup | None, store: ResultsStore | None,
              precompute: bool, progress: bool, backend: Any, journal: Any = None) -> Any:
    """The proxy provider: store-backed for a named proxy on a benchmark, measured for a user's function."""
    from gradsign.search import CallableProxyProvider, ProxyProvider

    if proxy is None:
        return None
    if isinstance(proxy, str) and hasattr(objective, "proxy_provider"):
        # A benchmark whose proxies were scored on its own networks (nb201_small: as the recipe
        # trains them) serves them itself; the results store scores full-size networks.
        if setup is not None or store is not None or precompute:
            raise ConfigError(f"{objective.space.name}: proxy scores come from the benchmark's own table; "
                              "a scoring setup, store or precompute does not apply")
        return objective.proxy_provider(proxy)
    if isinstance(proxy, str):
        if setup is None:
            setup = ScoringSetup(space=objective.space.name, dataset=objective.dataset, proxies=(proxy,))
        scorer = Scorer(setup, store)
        provider = store_provider(scorer, proxy)
        if precompute:
            provider.precompute(progress, backend)
        return provider
    if isinstance(proxy, ProxyProvider):
        return proxy
    if callable(proxy):
        return CallableProxyProvider(proxy, journal=journal, arch_name=objective.name_of)
    raise ConfigError(f"proxy must be a proxy name, a function proxy(arch) -> score or a ProxyProvider, got {proxy!r}")


def _run_settings(algorithm: Any, objective: Any, provider: Any, charge_proxy: bool | None, candidates: int,
                  warmup_pool: int, *, tabular: bool, **common: Any) -> list[Any]:
    """The plain algorithm, then the assisted one charged and (tabular objectives) free, all on the same seeds."""
    from gradsign.search import run_searches

    results = []
    if provider is None or charge_proxy is None:
        results.append(run_searches(algorithm, objective, None, **common))
        if getattr(algorithm, "uses_zerocost", False):  # predictor-guided with zero-cost features: free too
            results.append(run_searches(algorithm, objective, None, charge_proxy=False, **common))
    if provider is not None:
        charges = [charge_proxy] if charge_proxy is not None else ([True, False] if tabular else [True])
        for charge in charges:
            results.append(run_searches(algorithm, objective, provider, candidates=candidates,
                                        warmup_pool=warmup_pool, charge_proxy=charge, **common))
    return results


def _empty_runs_note(result: Any) -> list[str]:
    empty = sum(r.evaluations == 0 for r in result.runs)
    return ([f"{empty} of {len(result.runs)} runs trained no cell within the budget: no pick, counted as NaN"]
            if empty else [])


def _summary(results: list[Any], objective: Any, algorithm: Any, proxy: Any, provider: Any, candidates: int,
             budget: Any, runs: int, seed: int, setup: ScoringSetup | None, started: float,
             zc_source: str | None) -> dict[str, Any]:
    from gradsign.search import results_table
    from gradsign.search.results import shared_notes

    common = shared_notes([list(r.notes) for r in results])  # every setting's; the rest go under their setting
    summary: dict[str, Any] = {
        "space": objective.space.name, "dataset": objective.dataset, "algo": algorithm.name, "runs": runs,
        "seed": seed, "budget": budget or "benchmark default",
        "proxy": proxy if proxy is None or isinstance(proxy, str) else getattr(provider, "name", "proxy"),
        "candidates": candidates if proxy is not None else 1,
        "predictor": getattr(algorithm, "predictor", None) if zc_source else None, "zc_source": zc_source,
        "settings": results_table(results),
        # notes every setting shares, then each setting's own (e.g. whether its proxy seconds were charged)
        "notes": common,
        "setting_notes": {r.label: [n for n in r.notes if n not in common] + _empty_runs_note(r) for r in results},
        "provenance": collect_provenance(seeds=[seed], started=started, device=setup.device if setup else None,
                                         threads=setup.threads if setup else None),
    }
    if isinstance(provider, StoreBackedProvider):
        summary["proxy_cells_scored_this_invocation"] = provider.n_computed
        summary["proxy_cells_from_store"] = provider.n_preloaded
    if isinstance(getattr(provider, "nonfinite", None), set):
        # cells whose score was undefined (ranked last): store-backed, array and ensemble providers
        summary["proxy_nonfinite_cells_seen"] = len(provider.nonfinite)
    return summary


def _write(report: SearchReport, objective: Any, output: Path) -> None:
    """One JSON per setting, summary.json and trajectory.png (or the fallback folder, said in the summary)."""
    from gradsign.search import plot_trajectories

    summary, results = report.summary, report.results
    tests = getattr(objective, "test", None)
    best = float(np.nanmax(tests)) if tests is not None else None

    def write(directory: Path) -> list[Path]:
        files = []
        names = {f"runs_{res.label.replace(' ', '_').replace('/', '-').replace(',', '')}.json": res for res in results}
        for name, res in names.items():
            files.append(res.to_json(directory / name))
        # An earlier search's settings in this folder would be read with this summary (gradsign report
        # reads every runs_*.json beside it): they go once this search's are written, and the summary says which.
        stale = [p.name for p in sorted(directory.glob("runs_*.json")) if p.name not in names and _is_search_results(p)]
        if stale:
            summary["removed_earlier_files"] = stale
        path = directory / "summary.json"
        path.write_text(dumps_json(summary, default=_jsonable))
        files.append(path)
        for name in stale:
            (directory / name).unlink()
        files.append(plot_trajectories(results, directory / "trajectory.png", x="spent", reference=best,
                                       title=f"{summary['algo']} on {summary['space']} {summary['dataset']}: "
                                             "mean incumbent test accuracy"))
        return files

    report.files, problem = write_with_fallback(write, output)
    if problem is not None:
        summary["output_fallback"] = {"problem": problem, "written_to": str(report.files[0].parent)}


def _is_search_results(path: Path) -> bool:
    """Whether ``path`` is a setting's results document written by a search (``SearchResults.to_json``)."""
    import json

    from gradsign.search.results import RESULTS_FORMAT

    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("format") == RESULTS_FORMAT


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, tuple):
        return list(x)
    return str(x)


__all__ = ["EnsembleStoreProvider", "SearchReport", "StoreBackedProvider", "gradsign_mean_from_gradsign", "load_function",
           "search"]
