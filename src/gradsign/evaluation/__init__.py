"""Statistics that say how well a score predicts accuracy, with uncertainty."""

from gradsign.evaluation.metrics import (
    CorrelationSummary,
    bootstrap_ci,
    kendall,
    kendall_protocol,
    spearman,
    summarize_correlation,
    top_k_precision,
)

__all__ = [
    "CorrelationSummary",
    "bootstrap_ci",
    "kendall",
    "kendall_protocol",
    "spearman",
    "summarize_correlation",
    "top_k_precision",
]
