"""Random search (RS), as NAS-Bench-201 runs it, with proxy assistance and warm-up.

NB201 (``exps/NAS-Bench-201-algos/RANDOM.py``): draw a uniformly random cell,
train it (12-epoch schedule), keep the best validation accuracy seen, until the
next training would not fit in the time budget.

Proxy assistance (GradSign's "G-RS", ``autodl/RANDOM.py`` of cmu-catalyst/GradSign):
draw K random cells, train only the one with the best proxy score.

Warm-up (Abdelfattah et al., ICLR 2021, ``notebooks/nas_examples.ipynb``
of SamsungLabs/zero-cost-nas): rank a pool of random cells by the proxy and
train them in that order first; after the pool, continue as above.
"""

from __future__ import annotations

from typing import Any

from gradsign.search.registry import SearchAlgorithm, register_search
from gradsign.search.study import Study


@register_search("random", aliases=("rs", "random_search", "randomsearch"))
class RandomSearch(SearchAlgorithm):
    """Random search; ``warmup_top`` caps how many of the ranked pool are trained first.

    ``warmup_top=None`` (default) goes through the whole ranked pool, as
    Abdelfattah et al.'s random-search warm-up does.
    """

    def __init__(self, warmup_top: int | None = None) -> None:
        self.warmup_top = None if warmup_top is None else int(warmup_top)

    def params(self) -> dict[str, Any]:
        return {"warmup_top": self.warmup_top}

    def run(self, study: Study) -> None:
        ranked = study.warmup_ranking()
        if self.warmup_top is not None:
            ranked = ranked[: self.warmup_top]
        for arch in ranked:
            study.evaluate(arch)
        space, rng, k = study.space, study.rng, study.candidates
        while True:
            study.evaluate(study.pick(space.sample(k, rng, replace=True)))
