"""What a search optimises: an :class:`Objective` trains an arch and says what that cost.

``evaluate(arch) -> (accuracy, seconds)``: the accuracy the search observes
(higher is better) and the seconds charged to the budget. Two kinds:

* a *tabular* objective (:class:`~gradsign.search.tabular.TabularObjective`):
  training is an array lookup and the seconds are the benchmark's recorded
  (simulated) training time; NAS-Bench-201's is
  :func:`~gradsign.search.oracle.nb201_oracle`;
* a *callable* objective (:class:`CallableObjective`): a user's function
  ``train(arch) -> accuracy`` that really trains; its wall-clock seconds are
  measured and charged, exactly as a
  :class:`~gradsign.search.providers.CallableProxyProvider`'s proxy seconds are.

Every objective belongs to a :class:`~gradsign.spaces.base.SearchSpace`, through
which the search algorithms propose archs (``sample`` / ``mutate`` and, for
REINFORCE and BOHB, the categorical parametrisation ``choices``).
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Sequence
from typing import Any

from gradsign.errors import ConfigError, DataError, GradsignError, TrainingError
from gradsign.search.journal import callable_identity
from gradsign.spaces.base import SearchSpace


class Objective(ABC):
    """An arch's observed accuracy and its training cost, on one space.

    Subclasses set :attr:`space` and implement :meth:`evaluate`; the other
    methods have defaults fit for objectives whose archs have no index.
    """

    #: the space the archs come from
    space: SearchSpace
    #: labels written into results
    dataset: str = ""
    #: seconds budget when a search gives none (None: the search must give one)
    default_budget: float | None = None
    #: caveats about how results were obtained, copied into every result
    notes: tuple[str, ...] = ()
    #: the smallest cost of a training when known in advance (a seconds budget needs it > 0)
    min_cost: float | None = None
    #: whether ``evaluate(arch, high=True)`` (a second, expensive fidelity) exists
    has_high_fidelity: bool = False
    #: epochs of the training one evaluation stands for, when the objective knows it (BOHB's notes say it)
    training_epochs: int | None = None

    @abstractmethod
    def evaluate(self, arch: Any, *, high: bool = False) -> tuple[float, float]:
        """Train ``arch``: (observed accuracy, seconds it cost)."""

    def key(self, arch: Any) -> Hashable:
        """What caches and proxy providers know the arch by (the arch itself unless indexed)."""
        return arch

    def record(self, arch: Any) -> int | str:
        """The arch as written into results and trajectories (JSON: an index or a string)."""
        return self.space.to_string(arch)

    def name_of(self, arch: Any) -> str:
        """The arch's readable name."""
        return self.space.to_string(arch)

    def test_of(self, arch: Any) -> float | None:
        """The number reported for a picked arch (a test accuracy the search never sees).

        None: the objective has none, and the observed accuracy is reported.
        """
        return None

    def reported_of(self, arch: Any) -> dict[str, float]:
        """More numbers reported for a picked arch (e.g. its accuracy on other datasets)."""
        return {}


class CallableObjective(Objective):
    """An objective from a training function; its measured wall-clock seconds are the cost.

    ``train(arch) -> accuracy`` trains ``arch`` (an arch of ``space``) and
    returns the accuracy the search should maximise (a validation accuracy).
    ``test(arch) -> accuracy``, optional, gives the number reported for the
    arch a run picks (computed once per arch; without it the observed accuracy
    is reported). ``clock`` measures seconds (default :func:`time.perf_counter`;
    tests pass a fake one). A training that does not fit in what is left of the
    budget is discarded and ends the run (its cost is known only afterwards).
    """

    def __init__(
        self,
        space: SearchSpace,
        train: Callable[[Any], float],
        *,
        test: Callable[[Any], float] | None = None,
        dataset: str = "",
        default_budget: float | None = None,
        notes: Sequence[str] = (),
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not isinstance(space, SearchSpace):
            raise ConfigError(f"an objective needs a SearchSpace, got {space!r}")
        if not callable(train):
            raise ConfigError(f"train must be callable as train(arch) -> accuracy, got {train!r}")
        if test is not None and not callable(test):
            raise ConfigError(f"test must be callable as test(arch) -> accuracy, got {test!r}")
        self.space = space
        self._train = train
        self._test = test
        self._tested: dict[Hashable, float] = {}
        self.dataset = str(dataset)
        self.default_budget = None if default_budget is None else float(default_budget)
        self.notes = ("training cost: measured wall-clock seconds of each training", *map(str, notes))
        self._clock = clock

    def identity(self) -> dict[str, str]:
        """What a search journal records: the space, the dataset label and the training function (name and
        source digest, :func:`~gradsign.search.journal.callable_identity`), so an edited one is not replayed."""
        return {"space": self.space.name, "dataset": self.dataset, "objective": callable_identity(self._train)}

    def evaluate(self, arch: Any, *, high: bool = False) -> tuple[float, float]:
        if high:
            raise ConfigError("this objective has one fidelity; it cannot train at a higher one")
        start = self._clock()
        accuracy = float(_call_user(self._train, arch, "training", self.space))
        seconds = self._clock() - start
        if not math.isfinite(accuracy):
            raise DataError(f"training {self.space.to_string(arch)} returned a non-finite accuracy ({accuracy})")
        return accuracy, seconds

    def test_of(self, arch: Any) -> float | None:
        if self._test is None:
            return None
        if arch not in self._tested:
            self._tested[arch] = float(_call_user(self._test, arch, "test", self.space))
        return self._tested[arch]

    def __repr__(self) -> str:
        return f"<CallableObjective {getattr(self._train, '__name__', 'train')!r} on {self.space!r}>"


def _call_user(fn: Callable[[Any], float], arch: Any, what: str, space: SearchSpace) -> Any:
    """``fn(arch)``; an exception of the user's code becomes a one-line :class:`TrainingError` naming the arch."""
    try:
        return fn(arch)
    except (GradsignError, KeyboardInterrupt):
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise TrainingError(f"your {what} function {getattr(fn, '__name__', what)!r} raised on "
                            f"{space.to_string(arch)}: {type(exc).__name__}" + (f": {first}" if first else "")) from exc


def as_objective(objective: Any, space: SearchSpace | None = None) -> Objective:
    """An :class:`Objective` from an objective, or from a callable ``train(arch) -> accuracy`` and its space."""
    if isinstance(objective, Objective):
        if space is not None and space is not objective.space:
            raise ConfigError("give the space only with a training function; this objective has its own")
        return objective
    if callable(objective):
        if space is None:
            raise ConfigError("a training function needs its search space: give space=...")
        return CallableObjective(space, objective)
    raise ConfigError(f"objective must be an Objective or a function train(arch) -> accuracy, got {objective!r}")


__all__ = ["CallableObjective", "Objective", "as_objective"]
