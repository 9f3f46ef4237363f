"""`predictors evaluate`: how well do performance predictors rank unseen architectures?

Split along its seams:

* :mod:`.sources` — the :class:`Problem`: ground truth and label-free features
  (zero-cost scores, low-fidelity accuracy, encodings) from the benchmark of the
  space and from the results store;
* :mod:`.protocol` — the protocol of White et al. (NeurIPS 2021): train-size
  plan, trials, disjoint test sets, metrics, bootstrap CIs, aggregation;
* :mod:`.report` — CSV / JSON / markdown tables and the correlation plot;
* :mod:`.run` — all three, end to end (:func:`run_predictor_evaluation`).
"""

from gradsign.workflows.predictors.protocol import (
    METRICS,
    MIN_TEST,
    PredictorEvaluation,
    _compute_kwargs,
    aggregate,
    bootstrap_mean_ci,
    evaluate_predictors,
    headline,
    plan_sizes,
)
from gradsign.workflows.predictors.report import plot_curves, summary_markdown, write_outputs
from gradsign.workflows.predictors.run import run_predictor_evaluation
from gradsign.workflows.predictors.sources import Problem, build_problem, join_zerocost, zerocost_from_store

__all__ = [
    "METRICS",
    "MIN_TEST",
    "PredictorEvaluation",
    "Problem",
    "_compute_kwargs",
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
