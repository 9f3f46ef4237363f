"""Published |Spearman rho| of zero-cost proxies on the whole NAS-Bench-201 space.

Batch size 64, all 15,625 cells, against CIFAR-10 (`cifar10-valid` test),
CIFAR-100 test and ImageNet16-120 test accuracy. GradSign's figures are as the
ZiCo paper (Li et al., ICLR 2023) measured them; the others are from
Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS" (ICLR 2021), Table 1.
They are printed next to our measurements so a reader can compare; nothing is
fitted to them.
"""

from __future__ import annotations

LITERATURE_SPEARMAN_NB201: dict[str, dict[str, float]] = {
    "gradsign": {"cifar10": 0.77, "cifar100": 0.79, "ImageNet16-120": 0.78},
    "synflow": {"cifar10": 0.74, "cifar100": 0.76, "ImageNet16-120": 0.75},
    "jacob_cov": {"cifar10": 0.73, "cifar100": 0.70, "ImageNet16-120": 0.70},
    "snip": {"cifar10": 0.60, "cifar100": 0.64, "ImageNet16-120": 0.58},
    "grad_norm": {"cifar10": 0.59, "cifar100": 0.64, "ImageNet16-120": 0.58},
    "grasp": {"cifar10": 0.51, "cifar100": 0.55, "ImageNet16-120": 0.55},
    "fisher": {"cifar10": 0.36, "cifar100": 0.39, "ImageNet16-120": 0.33},
    "params": {"cifar10": 0.75, "cifar100": 0.73, "ImageNet16-120": 0.69},
}

LITERATURE_SOURCE = (
    "GradSign: ZiCo paper (ICLR 2023) Table; others: Abdelfattah et al. (ICLR 2021) Table 1; "
    "|Spearman rho|, all 15,625 NB201 cells, batch 64"
)


def literature_spearman(proxy: str, dataset: str) -> float | None:
    """Published |rho| for ``proxy`` on ``dataset`` (cifar10-valid counts as cifar10), or None."""
    ds = "cifar10" if dataset in ("cifar10", "cifar10-valid") else dataset
    return LITERATURE_SPEARMAN_NB201.get(proxy, {}).get(ds)
