"""`predictors evaluate` end to end (the Python API ``gradsign.evaluate_predictors``): the problem from the
benchmark, the protocol, the written outputs.

:func:`gradsign.workflows.predictors.evaluate_predictors` (the protocol on a built
:class:`~.sources.Problem`) is the step in the middle.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from gradsign.errors import ConfigError
from gradsign.workflows.predictors.protocol import PredictorEvaluation, PredictorsInterrupted
from gradsign.workflows.predictors.protocol import evaluate_predictors as run_protocol
from gradsign.workflows.predictors.report import write_outputs
from gradsign.workflows.predictors.sources import build_problem


def evaluate_predictors(
    space: str = "nb201",
    dataset: str = "cifar10",
    *,
    predictors: Sequence[str] | str | None = None,
    train_sizes: Sequence[int] | str = (0, 10, 20, 50, 100, 200, 500),
    test_size: int = 1000,
    trials: int = 10,
    seed: int = 0,
    zc_source: str = "auto",
    zc_proxies: Sequence[str] | str | None = None,
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
    """How well do performance predictors rank unseen architectures of a benchmark? (``gradsign predictors evaluate``)

    Builds the features and ground truth from the benchmark of ``space`` (and the results
    store for ``zc_source="store"``), runs White et al.'s protocol (``trials`` random
    train/test draws; every training size of ``train_sizes``, a list or a comma list;
    ``test_size`` test cells), and writes the tables and plot to ``output`` if given.
    ``predictors``: names or a comma list (default: every one the features allow);
    ``zc_proxies``: the zero-cost columns to use (a list or a comma list; ``NAME@SOURCE``
    picks one joined source's column).

    Arguments are checked and the output directory made writable before any fitting;
    outputs that cannot be written at the end go to a fallback directory named in
    ``meta["output_fallback"]``.

    >>> ev = gradsign.evaluate_predictors("nb201", "cifar10", predictors="forest,zc:synflow", trials=2)  # doctest: +SKIP
    >>> ev.to_frame()[["predictor", "train_size", "spearman", "spearman_lo", "spearman_hi"]]  # doctest: +SKIP
    """
    from gradsign.evaluation.metrics import check_resamples
    from gradsign.outputs import check_output_dir, write_with_fallback
    from gradsign.reports.provenance import collect as collect_provenance
    from gradsign.runtime import check_threads, resolve_device

    started = time.time()
    check_resamples(n_bootstrap)
    check_threads(threads)
    device = str(resolve_device(device))
    sizes = _int_list(train_sizes, "--train-sizes")
    if isinstance(zc_proxies, str):
        zc_proxies = [p.strip() for p in zc_proxies.split(",") if p.strip()]
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"--trials must be a positive integer, got {trials!r}")
    if isinstance(test_size, bool) or not isinstance(test_size, int) or test_size < 2:
        raise ConfigError(f"--test-size must be an integer of at least 2, got {test_size!r}")
    if output is not None:
        check_output_dir(output)
    problem = build_problem(space, dataset, zc_source=zc_source, zc_proxies=zc_proxies, store=store,
                            batch_size=batch_size, seed=seed, lowfidelity=lowfidelity, data_dir=data_dir)
    def finish(ev: PredictorEvaluation) -> PredictorEvaluation:
        ev.meta["zc_source"] = zc_source
        ev.meta["provenance"] = collect_provenance(seeds=[seed], started=started, device=device, threads=threads)
        if output is not None:
            ev.files, problem_text = write_with_fallback(lambda d: write_outputs(ev, d), Path(output))
            if problem_text is not None:
                ev.meta["output_fallback"] = {"problem": problem_text, "written_to": str(ev.files[0].parent)}
        return ev

    try:
        ev = run_protocol(problem, predictors, train_sizes=sizes, test_size=test_size, trials=trials,
                          seed=seed, n_bootstrap=n_bootstrap, threads=threads, progress=progress, device=device)
    except PredictorsInterrupted as stop:  # the finished trials are written (marked partial), then the stop goes on
        finish(stop.partial)
        raise
    return finish(ev)


def _int_list(values: Sequence[int] | str, option: str) -> list[int]:
    """Non-negative integers from a sequence or a comma list (``"0,10,20"``)."""
    out = []
    for v in (values.split(",") if isinstance(values, str) else values):
        if isinstance(v, str) and not v.strip():
            continue
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ConfigError(f"{option} must be comma-separated non-negative integers, got {values!r}")
        out.append(int(v))
    if not out:
        raise ConfigError(f"{option} must be comma-separated non-negative integers, got {values!r}")
    return out


#: The name of :func:`evaluate_predictors` before the typed API.
run_predictor_evaluation = evaluate_predictors


__all__ = ["evaluate_predictors", "run_predictor_evaluation"]
