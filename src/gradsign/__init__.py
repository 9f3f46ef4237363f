"""gradsign: model performance inference.

Predict how accurate a neural network will be after training from signals that
cost seconds: GradSign and the other zero-cost proxies, NAS benchmarks with
their ground truth, learned performance predictors and proxy-assisted NAS.

    >>> import gradsign
    >>> gradsign.score(model, inputs, targets, ["snip", "synflow"])  # doctest: +SKIP
    {'snip': 12.3, 'synflow': 4.5e+21}
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# Names served lazily from submodules, so `import gradsign` does not import torch.
_LAZY = {
    "score": "gradsign.proxies.api",
    "score_archs": "gradsign.workflows.score",
    "ScoreResult": "gradsign.workflows.score",
    "describe_proxies": "gradsign.proxies.api",
    "count_nonfinite": "gradsign.proxies.api",
    "ensemble_scores": "gradsign.proxies.api",
    "rank": "gradsign.workflows.rank",
    "RankResult": "gradsign.workflows.rank",
    "rank_models": "gradsign.workflows.rank",
    "register_model_source": "gradsign.models.sources",
    "evaluate": "gradsign.workflows.evaluate",
    "EvaluationResult": "gradsign.workflows.evaluate",
    "evaluate_predictors": "gradsign.workflows.predictors.run",
    "PredictorEvaluation": "gradsign.workflows.predictors.protocol",
    "get_benchmark": "gradsign.benchmarks.registry",
    "register_benchmark": "gradsign.benchmarks.registry",
    "available_benchmarks": "gradsign.benchmarks.registry",
    "fewshot_ensemble": "gradsign.evaluation.ensemble_selection",
    "build_report": "gradsign.reports.build",
    # the package gradsign.search is callable: gradsign.search(...) runs gradsign.workflows.search.search
    "search": "gradsign.search",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name])
        value = module if module.__name__ == f"{__name__}.{name}" else getattr(module, name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'gradsign' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
