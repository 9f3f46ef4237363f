"""`predictors evaluate` end to end: the problem from the benchmark, the protocol, the written outputs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

from gradsign.errors import ConfigError
from gradsign.workflows.predictors.protocol import PredictorEvaluation, evaluate_predictors
from gradsign.workflows.predictors.report import write_outputs
from gradsign.workflows.predictors.sources import build_problem


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


__all__ = ["run_predictor_evaluation"]
