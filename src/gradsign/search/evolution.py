"""Regularized (aging) evolution, REA (Real et al., AAAI 2019), NB201 settings.

NB201 (``exps/NAS-Bench-201-algos/R_EA.py`` and the command the NB201 docs give,
``R-EA.sh cifar10 3``; NATS-Bench's ``run-all.sh`` uses the same numbers):

* population of 10 random cells, each trained;
* each cycle: draw ``sample_size = 3`` members uniformly *with replacement*
  (``random.choice`` three times), take the one with the best validation
  accuracy as parent (the first of equals), mutate one edge to a different
  op, train the child, append it, and remove the *oldest* member (aging);
* the answer is the best validation accuracy in the whole history.

Proxy assistance (GradSign's "G-REA", ``autodl/R_EA.py``): make K mutations of
the parent and train the one with the best proxy score; the initial population
stays random, as there.

Warm-up (Abdelfattah et al. 2021): the initial population is the top of a
proxy-ranked random pool instead of random cells.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from gradsign.errors import ConfigError
from gradsign.search.registry import SearchAlgorithm, register_search
from gradsign.search.study import Study


@register_search("rea", aliases=("evolution", "regularized_evolution", "aging_evolution", "r-ea"))
class RegularizedEvolution(SearchAlgorithm):
    """Aging evolution with tournament selection; see the module docstring."""

    def __init__(self, population_size: int = 10, sample_size: int = 3) -> None:
        if population_size < 1 or sample_size < 1:
            raise ConfigError(f"REA needs population_size >= 1 and sample_size >= 1, got {population_size}, {sample_size}")
        self.population_size = int(population_size)
        self.sample_size = int(sample_size)

    def params(self) -> dict[str, Any]:
        return {"population_size": self.population_size, "sample_size": self.sample_size}

    def run(self, study: Study) -> None:
        space, rng, k = study.space, study.rng, study.candidates
        seeds = study.warmup_ranking()[: self.population_size]
        # population members are (arch, accuracy); deque so aging is O(1)
        population: deque[tuple[Any, float]] = deque()
        for i in range(self.population_size):
            arch = seeds[i] if i < len(seeds) else space.sample(1, rng, replace=True)[0]
            population.append((arch, study.evaluate(arch)))
        record = study.events is not None
        if record:
            study.event("population", [study.objective.record(m[0]) for m in population])
        s = self.sample_size
        while True:
            size = len(population)
            picks = [int(u * size) for u in rng.random(s).tolist()]  # with replacement, like random.choice
            parent = population[picks[0]]
            for j in picks[1:]:
                member = population[j]
                if member[1] > parent[1]:  # strict: the first of equals wins, like max()
                    parent = member
            child = study.pick([space.mutate(parent[0], rng) for _ in range(k)])
            population.append((child, study.evaluate(child)))
            population.popleft()  # aging: the oldest dies, whatever its accuracy
            if record:
                study.event("population", [study.objective.record(m[0]) for m in population])
