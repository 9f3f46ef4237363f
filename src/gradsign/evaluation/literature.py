"""Published NAS-Bench-201 figures; they live in :mod:`gradsign.benchmarks.literature` (the NB201 benchmark serves them).

Kept so that ``from gradsign.evaluation.literature import ...`` goes on working.
"""

from gradsign.benchmarks.literature import LITERATURE_SOURCE, LITERATURE_SPEARMAN_NB201, literature_spearman

__all__ = ["LITERATURE_SOURCE", "LITERATURE_SPEARMAN_NB201", "literature_spearman"]
