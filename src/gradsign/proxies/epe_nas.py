"""epe_nas: EPE-NAS, per-class correlation of the input Jacobians (NASLib's implementation)."""

from __future__ import annotations

import numpy as np

from gradsign.proxies.context import ProxyContext
from gradsign.proxies.registry import register_proxy

_K = 1e-5


def epe_nas_score(jacobians: np.ndarray, labels: np.ndarray, n_classes: int) -> float:
    """NASLib's ``eval_score_perclass``: per class ``s_c = sum log(|corrcoef(J_c)| + 1e-5)``, then combined.

    ``jacobians``: ``(N, D)``, one flattened input gradient per sample;
    ``labels``: ``(N,)`` class indices; ``n_classes``: the width of the logits.

    * ``n_classes <= 100``: ``score = sum_c |s_c|``.
    * ``n_classes > 100``: each ``s_c`` is divided by the class's number of
      samples, and ``score = sum_c sum_c' |s_c - s_c'| / (number of classes)``.

    Classes are taken in the order they first appear. Exactly as NASLib:
    a class with one sample has ``corrcoef = 1`` and ``s_c = log(1 + 1e-5)``,
    except above 100 classes, where NASLib's ``len()`` of that 0-d matrix
    raises inside its ``try`` and the class is left out; a sample whose
    Jacobian is constant makes ``corrcoef`` NaN and the score NaN.
    """
    jac = np.asarray(jacobians, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    per_class: dict[object, list[int]] = {}
    for i, label in enumerate(labels.tolist()):
        per_class.setdefault(label, []).append(i)
    scores: dict[object, float] = {}
    with np.errstate(all="ignore"):
        for c, rows in per_class.items():
            if len(rows) == 1:
                if n_classes > 100:
                    continue  # NASLib: len() of a 0-d array raises, the class is skipped
                corrs = np.array(1.0)
            else:
                corrs = np.corrcoef(jac[rows])
            s = float(np.sum(np.log(np.abs(corrs) + _K)))
            if n_classes > 100:
                s /= len(corrs)
            scores[c] = s
    values = np.array(list(scores.values()), dtype=np.float64)
    if n_classes <= 100:
        return float(np.sum(np.abs(values)))
    if len(values) == 0:
        return 0.0
    return float(np.sum(np.abs(values[:, None] - values[None, :])) / len(values))


@register_proxy(
    "epe_nas",
    description="EPE-NAS: per-class correlation of the samples' input gradients, sum over classes of "
    "|sum log(|corr| + 1e-5)| (NASLib's version)",
    needs_data=True,
    needs_labels=True,
    higher_is_better=True,
    uses=("input_jacobian",),
    version="1",
    reference="Lopes et al., EPE-NAS: Efficient Performance Estimation Without Training for Neural Architecture "
    "Search, ICANN 2021; NASLib naslib/predictors/utils/pruners/measures/epe_nas.py",
)
def epe_nas(ctx: ProxyContext) -> float:
    """:func:`epe_nas_score` of ``J = d sum(logits) / d inputs`` (train-mode network, so BN couples the samples).

    The Jacobian is jacob_cov's (:meth:`ProxyContext.input_jacobian`): from the
    shared batch pass when one runs anyway, else one label-free pass shared with
    jacob_cov when both are asked for.
    """
    shared = ctx.input_jacobian()
    jac, n_classes = shared.jacobian, shared.n_logits
    labels = ctx.targets
    if labels.dim() == 2:  # one-hot / soft targets, as NASLib's TransNAS-Bench hack
        labels = labels.argmax(dim=1)
    return epe_nas_score(jac.reshape(jac.shape[0], -1).detach().cpu().double().numpy(),
                         labels.detach().cpu().numpy(), n_classes)


__all__ = ["epe_nas", "epe_nas_score"]
