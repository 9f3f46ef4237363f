"""gradsign: model performance inference.

Predict how accurate a neural network will be after training from signals that
cost seconds: GradSign and the other zero-cost proxies, NAS benchmarks with
their ground truth, learned performance predictors and proxy-assisted NAS.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
