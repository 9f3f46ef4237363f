"""Learned and zero-cost performance predictors, one module per family (White et al., NeurIPS 2021).

* :mod:`.base` — the :class:`Predictor` interface (``fit(archs, accuracies)``,
  ``predict(archs)``, declared needs, fit/query seconds) and the registry.
* :mod:`.features` — :class:`FeatureProvider`: encodings, zero-cost scores and
  low-fidelity accuracy of the archs of one (space, dataset); no labels.
* :mod:`.encodings` — one-hot, BANANAS path and graph encodings (NB201, NB101, DARTS).
* model-based: :mod:`.linear` (``linear``), :mod:`.forest` (``forest``),
  :mod:`.boosting` (``boosting``), :mod:`.gp` (``gp``), :mod:`.bananas`
  (``bananas``), :mod:`.gcn` (``gcn``);
* label-free: :mod:`.lowfidelity` (``lowfidelity``), :mod:`.zerocost`
  (``zc:<proxy>``, ``zc-ensemble``);
* combined: :mod:`.omni` (``omni``, ``omni-linear``).

The evaluation protocol (training sizes, trials, disjoint test sets, CIs) is
:mod:`gradsign.workflows.predictors`; the command is ``gradsign predictors evaluate``.
"""

from gradsign.predictors.base import (
    FAMILIES,
    NEEDS,
    Predictor,
    default_predictor_names,
    make_predictor,
    parse_predictor_list,
    predictor_class,
    predictor_classes,
    predictor_names,
    register_predictor,
)
from gradsign.predictors.features import (
    FeatureProvider,
    LowFidelityTable,
    ZeroCostScaler,
    ZeroCostTable,
    naslib_sample,
    nb201_lowfidelity,
    nb201_reference_zerocost,
)

__all__ = [
    "FAMILIES",
    "NEEDS",
    "FeatureProvider",
    "LowFidelityTable",
    "Predictor",
    "ZeroCostScaler",
    "ZeroCostTable",
    "default_predictor_names",
    "make_predictor",
    "naslib_sample",
    "nb201_lowfidelity",
    "nb201_reference_zerocost",
    "parse_predictor_list",
    "predictor_class",
    "predictor_classes",
    "predictor_names",
    "register_predictor",
]
