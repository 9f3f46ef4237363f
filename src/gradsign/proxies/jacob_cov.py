"""jacob_cov: NASWOT v1, the eigenvalue score of the correlation matrix of input Jacobians."""

from __future__ import annotations

import numpy as np

from gradsign.proxies.context import ProxyContext
from gradsign.proxies.registry import register_proxy

_K = 1e-5


def jacob_cov_score(jacobians: np.ndarray) -> float:
    """``-sum(log(v + k) + 1/(v + k))`` over the eigenvalues ``v`` of ``corrcoef(jacobians)``, k = 1e-5.

    ``jacobians``: ``(N, D)``, one flattened input gradient per sample. The
    correlation matrix is symmetric, so its eigenvalues come from ``eigvalsh``:
    always real and in float64. The reference's general ``np.linalg.eig`` gives
    the same values up to rounding, but may return them as complex numbers with
    tiny imaginary parts, and refuses NaN input (which the reference turns into
    NaN too). A sample whose Jacobian is constant (zero variance) makes its row of
    the correlation matrix NaN and the score NaN, as in the reference; a tiny
    negative eigenvalue below -k gives ``log`` of a negative number: NaN as well.
    """
    jac = np.asarray(jacobians, dtype=np.float64)
    with np.errstate(all="ignore"):
        corrs = np.atleast_2d(np.corrcoef(jac))
        if not np.all(np.isfinite(corrs)):
            return float("nan")
        try:
            v = np.linalg.eigvalsh(corrs)
        except np.linalg.LinAlgError:
            return float("nan")
        return float(-np.sum(np.log(v + _K) + 1.0 / (v + _K)))


@register_proxy(
    "jacob_cov",
    description="NASWOT v1: eigenvalue score of the correlation of per-sample input gradients (one batch)",
    needs_data=True,
    needs_labels=False,
    higher_is_better=True,
    uses=("input_jacobian",),
    version="1",
    reference="Mellor et al., Neural Architecture Search without Training (v1, 2020); Abdelfattah et al., "
    "ICLR 2021, SamsungLabs/zero-cost-nas foresight/pruners/measures/jacob_cov.py",
)
def jacob_cov(ctx: ProxyContext) -> float:
    """Gradient of ``sum(output)`` with respect to the input batch, one row per sample, scored by :func:`jacob_cov_score`.

    The network is in train mode (batch-statistics BN), so a sample's row also
    carries the other samples' influence through BN, exactly as in the reference.
    """
    # From the shared batch pass when it runs anyway for other proxies, else from one
    # label-free pass shared with any other proxy that reads the input Jacobian.
    jac = ctx.input_jacobian().jacobian
    return jacob_cov_score(jac.reshape(jac.shape[0], -1).detach().cpu().double().numpy())


__all__ = ["jacob_cov", "jacob_cov_score"]
