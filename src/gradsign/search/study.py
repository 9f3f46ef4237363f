"""One search run's state: the :class:`Study` owns the budget, the ledger, the incumbent and the trajectory.

The split follows Optuna's: the *study* (this module) is what a run knows and
spends; the *sampler* is the search algorithm
(:class:`~gradsign.search.registry.SearchAlgorithm`), which proposes archs through
the objective's :class:`~gradsign.spaces.base.SearchSpace` and asks the study to
train them; the *storage* of a finished run is a
:class:`~gradsign.search.results.SearchRun` (:meth:`Study.result`).

A run works like this: the algorithm calls ``study.evaluate(arch)``, which trains
the arch through the :class:`~gradsign.search.objective.Objective`, charges the
cost to the budget (:class:`Ledger`) and updates the incumbent and the
:class:`Trajectory`. Where the algorithm would propose one candidate it proposes
``study.candidates`` (K) and lets ``study.pick`` keep the one with the best proxy
score (GradSign, Zhang & Jia, ICLR 2022); ``study.warmup_ranking`` gives the
warm-up variant of Abdelfattah et al. (ICLR 2021). Proxy scores come from a
:class:`~gradsign.search.providers.ProxyProvider`; their seconds are charged to the
budget unless ``charge_proxy=False`` (the papers' setting, which treats proxies
as free). See :mod:`gradsign.search.budget` for the budget rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradsign.errors import ConfigError, DataError
from gradsign.search.budget import Budget, BudgetExhausted
from gradsign.search.journal import RunJournal
from gradsign.search.objective import Objective
from gradsign.search.providers import ProxyProvider, provider_name


@dataclass
class Ledger:
    """What a run has spent, and the budget it may spend.

    ``charged_seconds`` counts against a seconds budget: training seconds, plus
    proxy seconds when ``charge_proxy``; ``proxy_seconds`` records every proxy
    second computed, charged or not. With an evaluation budget nothing limits
    proxy seconds (they are recorded).
    """

    budget: Budget
    charge_proxy: bool = True
    train_seconds: float = 0.0
    proxy_seconds: float = 0.0
    charged_seconds: float = 0.0
    evaluations: int = 0
    proxy_scored: int = 0  # distinct archs scored (each is computed, and paid, once per run)
    proxy_queries: int = 0  # score look-ups including repeats

    @property
    def spent(self) -> float:
        """Budget used so far, in the budget's unit."""
        return self.charged_seconds if self.budget.kind == "seconds" else float(self.evaluations)

    @property
    def remaining(self) -> float:
        return self.budget.amount - self.spent

    def _charge_seconds(self, seconds: float) -> None:
        if self.charged_seconds + seconds > self.budget.amount:
            raise BudgetExhausted
        self.charged_seconds += seconds

    def pay_training(self, seconds: float) -> None:
        """Charge one training; raises :class:`BudgetExhausted` if it does not fit."""
        if self.budget.kind == "seconds":
            self._charge_seconds(seconds)
        elif self.evaluations + 1 > self.budget.amount:
            raise BudgetExhausted
        else:
            self.charged_seconds += seconds
        self.train_seconds += seconds
        self.evaluations += 1

    def pay_proxy(self, seconds: float, what: str, arch: Any) -> None:
        """Record ``seconds`` of zero-cost computation; charge them if ``charge_proxy``."""
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise DataError(f"{what} reports {seconds} seconds for cell {arch}")
        if self.charge_proxy and self.budget.kind == "seconds":
            self._charge_seconds(seconds)
        elif self.charge_proxy:
            self.charged_seconds += seconds
        self.proxy_seconds += seconds


@dataclass
class Trajectory:
    """One entry per training: budget spent, training and proxy seconds so far, incumbent, its reported accuracy."""

    spent: list[float] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    proxy_seconds: list[float] = field(default_factory=list)
    incumbent: list[int | str] = field(default_factory=list)
    test: list[float] = field(default_factory=list)

    def append(self, ledger: Ledger, incumbent: int | str, test: float) -> None:
        self.spent.append(ledger.spent)
        self.train_seconds.append(ledger.train_seconds)
        self.proxy_seconds.append(ledger.proxy_seconds)
        self.incumbent.append(incumbent)
        self.test.append(test)

    def to_dict(self) -> dict[str, list]:
        return {"spent": self.spent, "train_seconds": self.train_seconds, "proxy_seconds": self.proxy_seconds,
                "incumbent": self.incumbent, "test": self.test}


class Study:
    """The state of one search run, shared by the algorithm and the runner.

    Algorithms use ``space``, ``rng``, ``candidates``, ``evaluate``, ``pick``,
    ``proxy_scores``, ``pay_proxy_seconds``, ``warmup_ranking`` and ``event``; the
    rest is bookkeeping that :meth:`result` turns into a
    :class:`~gradsign.search.results.SearchRun`.
    """

    def __init__(
        self,
        objective: Objective,
        budget: Budget,
        rng: np.random.Generator,
        *,
        proxy: ProxyProvider | None = None,
        charge_proxy: bool = True,
        candidates: int = 1,
        warmup_pool: int = 0,
        record_events: bool = False,
        journal: "RunJournal | None" = None,
    ) -> None:
        if candidates < 1:
            raise ConfigError(f"candidates must be >= 1, got {candidates}")
        if proxy is None and (candidates > 1 or warmup_pool > 0):
            raise ConfigError("proxy assistance (candidates > 1) and warm-up need a proxy provider")
        if budget.kind == "seconds" and objective.min_cost is not None and not objective.min_cost > 0:
            # a free training would let a seconds budget run forever
            raise ConfigError("a seconds budget needs every simulated training to cost > 0 s; use an evaluation budget")
        self.objective = objective
        self.space = objective.space
        self.budget = budget
        self.rng = rng
        self.proxy = proxy
        self.charge_proxy = bool(charge_proxy)
        self.candidates = int(candidates)
        self.warmup_pool = int(warmup_pool)
        self.ledger = Ledger(budget, self.charge_proxy)
        self.trajectory = Trajectory()
        self._proxy_cache: dict[Any, float] = {}
        self._member_cache: dict[Any, np.ndarray] = {}  # ensemble providers: member scores per arch
        self._features_paid: set[Any] = set()  # archs whose zero-cost features were paid (pay_proxy_seconds)
        # incumbent: best observed signal at the highest fidelity (rank) seen so far
        self.incumbent: Any = None
        self.incumbent_signal = -math.inf
        self._incumbent_level = -1
        self._incumbent_record: int | str = -1
        self._incumbent_test = math.nan
        self.events: list[tuple] | None = [] if record_events else None
        self.journal = journal

    # --- spending (read-only views of the ledger) ------------------------------------
    @property
    def spent(self) -> float:
        return self.ledger.spent

    @property
    def remaining(self) -> float:
        return self.ledger.remaining

    @property
    def evaluations(self) -> int:
        return self.ledger.evaluations

    @property
    def proxy_seconds(self) -> float:
        return self.ledger.proxy_seconds

    # --- training ------------------------------------------------------------------
    def evaluate(self, arch: Any, *, high: bool = False, rank: int | None = None) -> float:
        """Train ``arch``: charge its cost, return the observed accuracy.

        ``high=True`` uses the objective's expensive fidelity. Raises
        :class:`BudgetExhausted` (ending the run) if the cost does not fit.
        ``rank`` orders evaluations for the incumbent (default: the fidelity,
        0 or 1): the incumbent is the best observation among those of the
        highest rank seen so far. BOHB passes its Hyperband rung to reproduce
        hpbandster's "best run on the largest budget".
        """
        if self.budget.kind == "evaluations" and self.ledger.evaluations + 1 > self.budget.amount:
            raise BudgetExhausted  # known before training: do not train what cannot be paid for
        if self.journal is None:
            signal, cost = self.objective.evaluate(arch, high=high)
        else:  # replayed from the journal when it has this step, else trained and recorded
            signal, cost = self.journal.train(self.objective, arch, high)
        self.ledger.pay_training(cost)
        level = (1 if high else 0) if rank is None else rank
        # A higher fidelity replaces the incumbent outright: accuracies after 12
        # and 200 epochs are not comparable, and the longer training is the one
        # to trust (Hyperband/BOHB report the best run on the largest budget).
        if level > self._incumbent_level or (level == self._incumbent_level and signal > self.incumbent_signal):
            self.incumbent, self.incumbent_signal, self._incumbent_level = arch, signal, level
            self._incumbent_record = self.objective.record(arch)
            test = self.objective.test_of(arch)
            self._incumbent_test = signal if test is None else test
        self.trajectory.append(self.ledger, self._incumbent_record, self._incumbent_test)
        if self.events is not None:
            self.events.append(("train", self.objective.record(arch), 1 if high else 0, signal))
        return signal

    # --- proxy ---------------------------------------------------------------------
    def _proxy_what(self) -> str:
        return f"proxy {provider_name(self.proxy)!r}"

    def proxy_score(self, arch: Any) -> float:
        """The proxy score of one arch; the first time a run asks, its seconds are paid."""
        key = self.objective.key(arch)
        self.ledger.proxy_queries += 1
        cached = self._proxy_cache.get(key)
        if cached is not None:
            return cached
        assert self.proxy is not None
        self.ledger.pay_proxy(float(self.proxy.seconds(key)), self._proxy_what(), key)
        value = float(self.proxy.score(key))
        if value != value:
            raise DataError(f"{self._proxy_what()} returned NaN for cell {key}")
        self._proxy_cache[key] = value
        self.ledger.proxy_scored += 1
        return value

    def _member_scores(self, arch: Any) -> np.ndarray:
        """An ensemble provider's member scores of one arch; the first time a run asks, their seconds are paid."""
        key = self.objective.key(arch)
        self.ledger.proxy_queries += 1
        cached = self._member_cache.get(key)
        if cached is not None:
            return cached
        assert self.proxy is not None
        self.ledger.pay_proxy(float(self.proxy.seconds(key)), self._proxy_what(), key)
        value = np.asarray(self.proxy.member_scores(key), dtype=np.float64)
        if np.isnan(value).any():
            raise DataError(f"{self._proxy_what()} returned NaN for cell {key}")
        self._member_cache[key] = value
        self.ledger.proxy_scored += 1
        return value

    def proxy_scores(self, archs: Iterable[Any]) -> np.ndarray:
        """Scores of ``archs``, comparable among themselves (higher = predicted better).

        A provider with an ``aggregate`` method is an ensemble: its score of an arch
        depends on the archs compared with it, so each arch's member scores are
        fetched (and paid) once per run, and the group is ranked together.
        """
        archs = list(archs)
        aggregate = getattr(self.proxy, "aggregate", None)
        if aggregate is None:
            return np.array([self.proxy_score(a) for a in archs], dtype=np.float64)
        rows = np.array([self._member_scores(a) for a in archs], dtype=np.float64)
        return np.asarray(aggregate(rows), dtype=np.float64)

    def pay_proxy_seconds(self, arch: Any, seconds: float, *, what: str = "features") -> None:
        """Pay for a zero-cost computation made outside :meth:`proxy_score`, once per arch and run.

        A predictor-guided search reads each candidate's zero-cost *features*
        from a table; computing them would have cost ``seconds``, charged and
        recorded exactly like a proxy score (``charge_proxy`` decides whether the
        budget pays). ``what`` names the computation in errors.
        """
        key = self.objective.key(arch)
        if key in self._features_paid:
            return
        self.ledger.pay_proxy(float(seconds), what, key)
        self._features_paid.add(key)
        self.ledger.proxy_scored += 1

    def pick(self, candidates: Sequence[Any]) -> Any:
        """The candidate with the highest proxy score (the first one on ties).

        Without a proxy, or with a single candidate, the first candidate, unscored.
        """
        if self.proxy is None or len(candidates) == 1:
            return candidates[0]
        scores = self.proxy_scores(candidates)
        chosen = candidates[int(np.argmax(scores))]
        if self.events is not None:
            record = self.objective.record
            self.events.append(("pick", [record(c) for c in candidates], scores.tolist(), record(chosen)))
        return chosen

    def warmup_ranking(self) -> list[Any]:
        """Warm-up pool ranked by proxy, best first (Abdelfattah et al. 2021).

        ``warmup_pool`` distinct archs drawn uniformly (without replacement, so no
        slot of the initial population is wasted on a duplicate) and scored;
        every score is paid like any other proxy call. Empty if warm-up is off.
        """
        if self.warmup_pool <= 0:
            return []
        size = self.space.num_archs
        pool = self.space.sample(self.warmup_pool if size is None else min(self.warmup_pool, size), self.rng)
        scores = self.proxy_scores(pool)
        ranked = [pool[i] for i in np.argsort(-scores, kind="stable").tolist()]
        self.event("warmup", [self.objective.record(a) for a in ranked[:10]])
        return ranked

    # --- debugging ------------------------------------------------------------------
    def event(self, kind: str, *data: Any) -> None:
        """Record an algorithm event (only when the run records events; for tests)."""
        if self.events is not None:
            self.events.append((kind, *data))

    # --- the finished run ---------------------------------------------------------------
    def result(self, run: int, seed: Sequence[int]) -> "SearchRun":
        """This run as a :class:`~gradsign.search.results.SearchRun`."""
        from gradsign.search.results import SearchRun

        inc, o, ledger = self.incumbent, self.objective, self.ledger
        found = self.ledger.evaluations > 0
        return SearchRun(
            run=run,
            seed=[int(s) for s in seed],
            incumbent=self._incumbent_record if found else -1,
            arch=o.name_of(inc) if found else "",
            test=self._incumbent_test if found else float("nan"),
            signal=self.incumbent_signal if found else float("nan"),
            reported=o.reported_of(inc) if found else {},
            evaluations=ledger.evaluations,
            proxy_scored=ledger.proxy_scored,
            proxy_queries=ledger.proxy_queries,
            train_seconds=ledger.train_seconds,
            proxy_seconds=ledger.proxy_seconds,
            charged_seconds=ledger.charged_seconds,
            trajectory=self.trajectory.to_dict(),
            events=self.events,
        )


__all__ = ["Ledger", "Study", "Trajectory"]
