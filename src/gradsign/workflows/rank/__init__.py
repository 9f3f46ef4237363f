"""Rank any PyTorch classifiers at initialization with zero-cost proxies.

Two calls, one result type (:class:`RankResult`):

* :func:`rank` -- models named by specs (``timm:NAME``, ``torchvision:NAME``,
  ``path/to/file.py:factory`` or any registered source, see :mod:`gradsign.models`),
  one minibatch drawn from a dataset; every setting is validated before any model is
  built. What ``gradsign rank`` runs::

      result = gradsign.rank(["examples/cifar_models.py:resnet20", "timm:resnet18"],
                             dataset="cifar10", proxies=["gradsign", "synflow", "snip"])
      result.to_frame()     # sorted by the first proxy's rank
      result.to_json()      # the document of `gradsign rank --format json`

* :func:`rank_models` -- your own modules (or callables building them) on your own
  minibatch::

      result = rank_models({"resnet20": net_a, "vgg11": lambda: make_vgg(num_classes=10)},
                           inputs, targets, proxies=["gradsign", "synflow", "snip"], num_classes=10)

Modules: :mod:`~gradsign.workflows.rank.api` (:func:`rank`: validation, the minibatch),
:mod:`~gradsign.workflows.rank.scoring` (:func:`rank_models`), :mod:`~gradsign.workflows.rank.result`
(:class:`RankResult`). Loading models (sources, head surgery) lives in :mod:`gradsign.models`;
its names are re-exported here for existing imports.

Fairness between models: every model is created right after
``torch.manual_seed(seed)``, every proxy runs under the same seed (see
:func:`gradsign.score`), and all models see the same minibatch. Whatever had to
be changed to fit the dataset (the classifier head, the input size) is stated
in the ``notes`` of each row, never done silently. A model that fails on a
proxy gets NaN for it and the error in its ``error`` column; the ranking of
the other models goes on.
"""

from __future__ import annotations

from gradsign.models._optional import install_hint
from gradsign.models.heads import adapt_head
from gradsign.models.loading import LoadedModel, load_model
from gradsign.models.sources import ModelSpec, parse_model_spec, validate_spec
from gradsign.workflows.rank.api import rank
from gradsign.workflows.rank.result import INFO_PROXIES, RankInterrupted, RankResult, RankSetup
from gradsign.workflows.rank.scoring import ModelLike, rank_models

__all__ = [
    "INFO_PROXIES",
    "LoadedModel",
    "ModelLike",
    "ModelSpec",
    "RankInterrupted",
    "RankResult",
    "RankSetup",
    "adapt_head",
    "install_hint",
    "load_model",
    "parse_model_spec",
    "rank",
    "rank_models",
    "validate_spec",
]
