"""Shared machinery of simulated NAS: budgets, proxy providers, the search context.

One simulated run works like this: an algorithm (a :class:`SearchAlgorithm`)
asks its :class:`SearchContext` to *train* cells (``ctx.evaluate``), which looks
the result up in a :class:`~gradsign.search.oracle.SearchOracle`, charges the
simulated training time to the budget and updates the incumbent and the
trajectory. Where the algorithm would propose one candidate it proposes
``ctx.candidates`` (K) and lets ``ctx.pick`` keep the one with the best proxy
score (GradSign, Zhang & Jia, ICLR 2022); ``ctx.warmup_ranking`` gives the warm-up
variant of Abdelfattah et al. (ICLR 2021). Proxy scores come from a
:class:`ProxyProvider`; their measured seconds are charged to the budget unless
``charge_proxy=False`` (the papers' setting, which treats proxies as free).

Budget rule (all algorithms): a charge (one training, or one proxy score) is
made only if it fits in what is left of the budget; the first one that does
not fit ends the run, and its result is never seen. So the budget is never
exceeded. NB201's scripts do the same (``if total + cost > budget: stop``),
except that their REINFORCE appends the over-budget result to its trace
before the check and may report it; we never use an unpaid result.

Arches are identified by their benchmark index everywhere (NB201: the official
index, ``gradsign.spaces.get_space("nb201").arch_at(i)`` is the cell).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from gradsign.errors import ConfigError, DataError
from gradsign.search.oracle import SearchOracle

# --------------------------------------------------------------------------- budget


@dataclass(frozen=True)
class Budget:
    """How much a run may spend: simulated seconds, or a number of trainings.

    ``Budget.seconds(12000)`` (NB201's CIFAR-10 budget) or
    ``Budget.evaluations(100)``. With an evaluation budget proxy seconds are
    recorded but cannot be charged (they are not trainings).
    """

    kind: str  # "seconds" | "evaluations"
    amount: float

    def __post_init__(self) -> None:
        if self.kind not in ("seconds", "evaluations"):
            raise ConfigError(f"budget kind must be 'seconds' or 'evaluations', got {self.kind!r}")
        if not (isinstance(self.amount, (int, float)) and math.isfinite(self.amount) and self.amount > 0):
            raise ConfigError(f"budget must be a positive finite number, got {self.amount!r}")

    @classmethod
    def seconds(cls, amount: float) -> "Budget":
        return cls("seconds", float(amount))

    @classmethod
    def evaluations(cls, amount: int) -> "Budget":
        if int(amount) != amount:
            raise ConfigError(f"an evaluation budget must be a whole number, got {amount!r}")
        return cls("evaluations", float(int(amount)))

    @classmethod
    def parse(cls, value: "Budget | float | int | str | None", default: float | None = None) -> "Budget":
        """A Budget from a Budget, a number of seconds, or text like ``"12000s"`` / ``"100evals"``."""
        if isinstance(value, Budget):
            return value
        if value is None:
            if default is None:
                raise ConfigError("no budget given and the oracle has no default budget")
            return cls.seconds(default)
        if isinstance(value, bool):
            raise ConfigError(f"invalid budget {value!r}")
        if isinstance(value, (int, float, np.integer, np.floating)):
            return cls.seconds(float(value))
        if isinstance(value, str):
            text = value.strip().lower().replace(" ", "")
            for suffix, kind in (("evaluations", "evaluations"), ("evals", "evaluations"), ("eval", "evaluations"),
                                 ("archs", "evaluations"), ("seconds", "seconds"), ("sec", "seconds"), ("s", "seconds")):
                if text.endswith(suffix):
                    number = text[: -len(suffix)]
                    try:
                        amount = float(number)
                    except ValueError:
                        break
                    return cls.evaluations(int(amount)) if kind == "evaluations" else cls.seconds(amount)
            try:
                return cls.seconds(float(text))
            except ValueError:
                pass
        raise ConfigError(f"invalid budget {value!r}; use seconds (12000, '12000s') or trainings ('100evals')")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "amount": self.amount}


# --------------------------------------------------------------------------- proxies


@runtime_checkable
class ProxyProvider(Protocol):
    """Where proxy scores come from.

    ``score(arch)``: the proxy's value for the cell with benchmark index
    ``arch``; higher must mean "predicted better" (negate lower-is-better
    proxies). ``seconds(arch)``: what computing that score cost, measured, in
    seconds. A provider may also have a ``name`` attribute (used in results).

    An *ensemble* provider (``a+b``, see :mod:`gradsign.proxies.ensemble`) instead has
    ``member_scores(arch)`` (one value per member, higher = better, -inf where
    undefined) and ``aggregate(rows)`` (rows = cells compared together): its value
    for a cell depends on the cells it is compared with, so the search context
    ranks each group (the K candidates, the warm-up pool) together.
    """

    def score(self, arch: int) -> float: ...

    def seconds(self, arch: int) -> float: ...


class ArrayProxyProvider:
    """A :class:`ProxyProvider` over arrays in benchmark index order.

    ``seconds`` may be one number (the same cost for every cell) or an array.
    NaN scores mark cells that were never scored; asking for one is an error
    naming the cell, never a silent imputation. ``higher_is_better=False``
    negates the scores so the search can always take the maximum.

    This is also the fast path for a store-backed provider: load every score
    of one (proxy, dataset) once and wrap the arrays.
    """

    def __init__(
        self,
        scores: Any,
        seconds: Any = 0.0,
        *,
        name: str = "proxy",
        higher_is_better: bool = True,
        arch_name: Callable[[int], str] | None = None,
    ) -> None:
        s = np.asarray(scores, dtype=np.float64)
        if s.ndim != 1 or s.shape[0] == 0:
            raise DataError(f"proxy scores must be a non-empty 1-D array, got shape {s.shape}")
        t = np.asarray(seconds, dtype=np.float64)
        if t.ndim == 0:
            t = np.full(s.shape, float(t))
        if t.shape != s.shape:
            raise DataError(f"proxy seconds must be one number or one per cell ({s.shape[0]}), got shape {t.shape}")
        if (t[np.isfinite(s)] < 0).any() or not np.isfinite(t[np.isfinite(s)]).all():
            raise DataError("proxy seconds must be finite and non-negative for every scored cell")
        self._scores = (s if higher_is_better else -s).tolist()
        self._seconds = t.tolist()
        self.name = str(name)
        self.higher_is_better = bool(higher_is_better)
        self._arch_name = arch_name

    def __len__(self) -> int:
        return len(self._scores)

    def _check(self, arch: int) -> None:
        if not 0 <= arch < len(self._scores):
            raise DataError(f"proxy {self.name!r} has no entry for cell {arch} (it covers 0..{len(self._scores) - 1})")

    def score(self, arch: int) -> float:
        self._check(arch)
        v = self._scores[arch]
        if v != v:  # NaN: never scored
            label = self._arch_name(arch) if self._arch_name else f"#{arch}"
            raise DataError(f"proxy {self.name!r} has no score for cell {arch} ({label}); score it first")
        return v

    def seconds(self, arch: int) -> float:
        self._check(arch)
        return self._seconds[arch]

    def __repr__(self) -> str:
        return f"<ArrayProxyProvider {self.name!r}: {len(self._scores)} cells>"


def provider_name(provider: ProxyProvider | None) -> str | None:
    if provider is None:
        return None
    return str(getattr(provider, "name", type(provider).__name__))


# --------------------------------------------------------------------------- the context


class BudgetExhausted(Exception):
    """Raised inside a run when the next charge does not fit; ends the run."""


class SearchContext:
    """The state of one simulated run, shared by the algorithm and the runner.

    Algorithms use: ``oracle``, ``rng``, ``candidates``, ``evaluate``, ``pick``,
    ``proxy_scores``, ``pay_proxy_seconds``, ``warmup_ranking``, ``event``. Everything else is
    bookkeeping that the runner turns into a :class:`SearchRun`.
    """

    def __init__(
        self,
        oracle: SearchOracle,
        budget: Budget,
        rng: np.random.Generator,
        *,
        proxy: ProxyProvider | None = None,
        charge_proxy: bool = True,
        candidates: int = 1,
        warmup_pool: int = 0,
        record_events: bool = False,
    ) -> None:
        if candidates < 1:
            raise ConfigError(f"candidates must be >= 1, got {candidates}")
        if proxy is None and (candidates > 1 or warmup_pool > 0):
            raise ConfigError("proxy assistance (candidates > 1) and warm-up need a proxy provider")
        if budget.kind == "seconds" and not oracle.min_cost > 0:
            # a free training would let a seconds budget run forever
            raise ConfigError("a seconds budget needs every simulated training to cost > 0 s; use an evaluation budget")
        self.oracle = oracle
        self.budget = budget
        self.rng = rng
        self.proxy = proxy
        self.charge_proxy = bool(charge_proxy)
        self.candidates = int(candidates)
        self.warmup_pool = int(warmup_pool)
        self._by_seconds = budget.kind == "seconds"
        self._limit = budget.amount
        # spending
        self.train_seconds = 0.0
        self.proxy_seconds = 0.0  # measured seconds of all proxy scores computed (charged or not)
        self.charged_seconds = 0.0  # what counts against a seconds budget
        self.evaluations = 0
        self.proxy_scored = 0  # distinct cells scored (each is computed, and paid, once per run)
        self.proxy_queries = 0  # score look-ups including repeats
        self._proxy_cache: dict[int, float] = {}
        self._member_cache: dict[int, np.ndarray] = {}  # ensemble providers: member scores per cell
        self._features_paid: set[int] = set()  # cells whose zero-cost features were paid (pay_proxy_seconds)
        # incumbent: best observed signal at the highest fidelity seen so far
        self.incumbent = -1
        self.incumbent_signal = -math.inf
        self._incumbent_level = -1
        # trajectory, one entry per training
        self.traj_spent: list[float] = []
        self.traj_train: list[float] = []
        self.traj_proxy: list[float] = []
        self.traj_incumbent: list[int] = []
        self.traj_test: list[float] = []
        self.events: list[tuple] | None = [] if record_events else None

    # --- budget -------------------------------------------------------------------
    @property
    def spent(self) -> float:
        """Budget used so far, in the budget's unit."""
        return self.charged_seconds if self._by_seconds else float(self.evaluations)

    @property
    def remaining(self) -> float:
        return self._limit - self.spent

    def _charge_seconds(self, seconds: float) -> None:
        if self.charged_seconds + seconds > self._limit:
            raise BudgetExhausted
        self.charged_seconds += seconds

    # --- training -----------------------------------------------------------------
    def evaluate(self, index: int, *, high: bool = False, rank: int | None = None) -> float:
        """Train cell ``index`` (simulated): charge its cost, return the observed accuracy.

        ``high=True`` uses the oracle's expensive fidelity (200 epochs). Raises
        :class:`BudgetExhausted` (ending the run) if the cost does not fit.
        ``rank`` orders evaluations for the incumbent (default: the fidelity,
        0 or 1): the incumbent is the best observation among those of the
        highest rank seen so far. BOHB passes its Hyperband rung to reproduce
        hpbandster's "best run on the largest budget".
        """
        index = int(index)
        signal, cost = self.oracle.observe(index, high)
        if self._by_seconds:
            self._charge_seconds(cost)
        elif self.evaluations + 1 > self._limit:
            raise BudgetExhausted
        else:
            self.charged_seconds += cost
        self.train_seconds += cost
        self.evaluations += 1
        level = (1 if high else 0) if rank is None else rank
        # A higher fidelity replaces the incumbent outright: accuracies after 12
        # and 200 epochs are not comparable, and the longer training is the one
        # to trust (Hyperband/BOHB report the best run on the largest budget).
        if level > self._incumbent_level or (level == self._incumbent_level and signal > self.incumbent_signal):
            self.incumbent, self.incumbent_signal, self._incumbent_level = index, signal, level
        self.traj_spent.append(self.spent)
        self.traj_train.append(self.train_seconds)
        self.traj_proxy.append(self.proxy_seconds)
        self.traj_incumbent.append(self.incumbent)
        self.traj_test.append(self.oracle.test_of(self.incumbent))
        if self.events is not None:
            self.events.append(("train", index, 1 if high else 0, signal))
        return signal

    # --- proxy ------------------------------------------------------------------------
    def proxy_score(self, index: int) -> float:
        """The proxy score of one cell; the first time a run asks, its seconds are paid."""
        index = int(index)
        self.proxy_queries += 1
        cached = self._proxy_cache.get(index)
        if cached is not None:
            return cached
        assert self.proxy is not None
        self._pay_proxy(float(self.proxy.seconds(index)), f"proxy {provider_name(self.proxy)!r}", index)
        value = float(self.proxy.score(index))
        if value != value:
            raise DataError(f"proxy {provider_name(self.proxy)!r} returned NaN for cell {index}")
        self._proxy_cache[index] = value
        self.proxy_scored += 1
        return value

    def pay_proxy_seconds(self, index: int, seconds: float, *, what: str = "features") -> None:
        """Pay for a zero-cost computation made outside :meth:`proxy_score`, once per cell and run.

        A predictor-guided search reads each candidate's zero-cost *features*
        (e.g. NASWOT and parameter count) from a table; computing them would have
        cost ``seconds``, charged and recorded exactly like a proxy score
        (``charge_proxy`` decides whether the budget pays). ``what`` names the
        computation in errors.
        """
        index = int(index)
        if index in self._features_paid:
            return
        self._pay_proxy(float(seconds), what, index)
        self._features_paid.add(index)
        self.proxy_scored += 1

    def _pay_proxy(self, seconds: float, what: str, index: int) -> None:
        """Record ``seconds`` of zero-cost computation; charge them to the budget if ``charge_proxy``."""
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise DataError(f"{what} reports {seconds} seconds for cell {index}")
        if self.charge_proxy and self._by_seconds:
            self._charge_seconds(seconds)
        elif self.charge_proxy:
            self.charged_seconds += seconds
        self.proxy_seconds += seconds

    def proxy_scores(self, indices: Iterable[int]) -> np.ndarray:
        """Scores of ``indices``, comparable among themselves (higher = predicted better).

        A provider with an ``aggregate`` method is an ensemble: its score of a cell
        depends on the cells compared with it, so each cell's member scores are
        fetched (and paid) once per run, and the group is ranked together.
        """
        idx = [int(i) for i in indices]
        aggregate = getattr(self.proxy, "aggregate", None)
        if aggregate is None:
            return np.array([self.proxy_score(i) for i in idx], dtype=np.float64)
        rows = np.array([self._member_scores(i) for i in idx], dtype=np.float64)
        return np.asarray(aggregate(rows), dtype=np.float64)

    def _member_scores(self, index: int) -> np.ndarray:
        """An ensemble provider's member scores of one cell; the first time a run asks, their seconds are paid."""
        self.proxy_queries += 1
        cached = self._member_cache.get(index)
        if cached is not None:
            return cached
        assert self.proxy is not None
        self._pay_proxy(float(self.proxy.seconds(index)), f"proxy {provider_name(self.proxy)!r}", index)
        value = np.asarray(self.proxy.member_scores(index), dtype=np.float64)
        if np.isnan(value).any():
            raise DataError(f"proxy {provider_name(self.proxy)!r} returned NaN for cell {index}")
        self._member_cache[index] = value
        self.proxy_scored += 1
        return value

    def pick(self, candidates: Sequence[int] | np.ndarray) -> int:
        """The candidate with the highest proxy score (the first one on ties).

        Without a proxy, or with a single candidate, the first candidate, unscored.
        """
        if self.proxy is None or len(candidates) == 1:
            return int(candidates[0])
        scores = self.proxy_scores(candidates)
        chosen = int(candidates[int(np.argmax(scores))])
        if self.events is not None:
            self.events.append(("pick", [int(c) for c in candidates], scores.tolist(), chosen))
        return chosen

    def warmup_ranking(self) -> np.ndarray:
        """Warm-up pool ranked by proxy, best first (Abdelfattah et al. 2021).

        ``warmup_pool`` distinct cells drawn uniformly (without replacement, so no
        slot of the initial population is wasted on a duplicate) and scored;
        every score is paid like any other proxy call. Empty if warm-up is off.
        """
        if self.warmup_pool <= 0:
            return np.empty(0, dtype=np.int64)
        n = min(self.warmup_pool, self.oracle.num_archs)
        pool = self.rng.choice(self.oracle.num_archs, size=n, replace=False)
        scores = self.proxy_scores(pool)
        order = np.argsort(-scores, kind="stable")
        ranked = pool[order]
        self.event("warmup", ranked[:10].tolist())
        return ranked

    # --- debugging --------------------------------------------------------------------
    def event(self, kind: str, *data: Any) -> None:
        """Record an algorithm event (only when the run records events; for tests)."""
        if self.events is not None:
            self.events.append((kind, *data))


# --------------------------------------------------------------------------- algorithms


class SearchAlgorithm(ABC):
    """A NAS algorithm: its settings in ``__init__``, one run in :meth:`run`.

    ``run`` loops until the context raises :class:`BudgetExhausted`; it keeps no
    state on ``self`` between runs, so one instance can serve many runs.
    """

    #: registry name, set by :func:`register_search`
    name: ClassVar[str] = ""
    #: whether a proxy provider may assist it (candidates / warm-up)
    accepts_proxy: ClassVar[bool] = True

    @abstractmethod
    def run(self, ctx: SearchContext) -> None:
        """Search until the budget is spent (the context raises BudgetExhausted)."""

    def params(self) -> dict[str, Any]:
        """The algorithm's settings (JSON-serialisable), written into results."""
        return {}

    def notes(self, ctx: SearchContext) -> list[str]:
        """Caveats about this algorithm's setting for the results."""
        return []

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


_ALGORITHMS: dict[str, type[SearchAlgorithm]] = {}
_ALIASES: dict[str, str] = {}


def register_search(name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[type], type]:
    """Class decorator registering a :class:`SearchAlgorithm` under ``name``."""

    def deco(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, SearchAlgorithm)):
            raise TypeError(f"register_search({name!r}) expects a SearchAlgorithm subclass")
        cls.name = name
        _ALGORITHMS[name] = cls
        for key in (name, *aliases):
            _ALIASES[key.lower().replace("-", "").replace("_", "")] = name
        return cls

    return deco


def _load_algorithms() -> None:
    # The algorithm modules register themselves on import.
    from gradsign.search import bohb, evolution, predictor_guided, random_search, reinforce  # noqa: F401


def available_searches() -> list[str]:
    _load_algorithms()
    return sorted(_ALGORITHMS)


def search_name(name: str) -> str:
    """The registry name of an algorithm name or alias (``"bananas"`` -> ``"predictor"``)."""
    _load_algorithms()
    key = _ALIASES.get(str(name).strip().lower().replace("-", "").replace("_", ""))
    if key is None:
        raise ConfigError(f"unknown search algorithm {name!r}; available: {', '.join(available_searches())}")
    return key


def get_search(name: "str | SearchAlgorithm", **params: Any) -> SearchAlgorithm:
    """An algorithm instance from its name (or alias) and settings; instances pass through."""
    if isinstance(name, SearchAlgorithm):
        if params:
            raise ConfigError("settings can only be given with an algorithm name, not an instance")
        return name
    if not isinstance(name, str):
        raise ConfigError(f"search algorithm must be a name or a SearchAlgorithm, got {name!r}")
    _load_algorithms()
    key = _ALIASES.get(name.strip().lower().replace("-", "").replace("_", ""))
    if key is None:
        raise ConfigError(f"unknown search algorithm {name!r}; available: {', '.join(available_searches())}")
    try:
        return _ALGORITHMS[key](**params)
    except TypeError as exc:
        raise ConfigError(f"invalid settings for search algorithm {key!r}: {exc}") from None


# --------------------------------------------------------------------------- one run's result


@dataclass
class SearchRun:
    """The outcome of one simulated run (JSON-serialisable via :meth:`to_dict`).

    ``trajectory`` has one entry per training: ``spent`` (budget used, in the
    budget's unit, after that training), ``train_seconds`` and
    ``proxy_seconds`` (simulated training and measured proxy seconds so far,
    charged or not), ``incumbent`` (index) and ``test`` (the incumbent's
    reported accuracy). ``charged_seconds`` counts what the
    budget was charged; ``train_seconds + proxy_seconds`` is the honest total
    whatever was charged.
    """

    run: int
    seed: list[int]
    incumbent: int
    arch: str
    test: float
    signal: float
    reported: dict[str, float]
    evaluations: int
    proxy_scored: int
    proxy_queries: int
    train_seconds: float
    proxy_seconds: float
    charged_seconds: float
    trajectory: dict[str, list]
    events: list | None = None

    @property
    def total_seconds(self) -> float:
        return self.train_seconds + self.proxy_seconds

    def to_dict(self) -> dict[str, Any]:
        d = {
            "run": self.run, "seed": list(self.seed), "incumbent": self.incumbent, "arch": self.arch,
            "test": _json_float(self.test), "signal": _json_float(self.signal),
            "reported": {k: _json_float(v) for k, v in self.reported.items()},
            "evaluations": self.evaluations, "proxy_scored": self.proxy_scored, "proxy_queries": self.proxy_queries,
            "train_seconds": self.train_seconds, "proxy_seconds": self.proxy_seconds,
            "charged_seconds": self.charged_seconds, "total_seconds": self.total_seconds,
            "trajectory": {k: [_json_float(x) for x in v] for k, v in self.trajectory.items()},
        }
        if self.events is not None:
            d["events"] = self.events
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SearchRun":
        return cls(
            run=int(d["run"]), seed=list(d["seed"]), incumbent=int(d["incumbent"]), arch=str(d["arch"]),
            test=_float(d["test"]), signal=_float(d["signal"]),
            reported={k: _float(v) for k, v in d.get("reported", {}).items()},
            evaluations=int(d["evaluations"]), proxy_scored=int(d["proxy_scored"]),
            proxy_queries=int(d.get("proxy_queries", 0)), train_seconds=float(d["train_seconds"]),
            proxy_seconds=float(d["proxy_seconds"]), charged_seconds=float(d["charged_seconds"]),
            trajectory={k: [(_float(x) if k != "incumbent" else int(x)) for x in v] for k, v in d.get("trajectory", {}).items()},
            events=d.get("events"),
        )


def _json_float(x: Any) -> Any:
    # JSON has no NaN/inf; None stands for "no value" (e.g. no incumbent yet).
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _float(x: Any) -> float:
    return float("nan") if x is None else float(x)


def finish_run(ctx: SearchContext, run: int, seed: Sequence[int]) -> SearchRun:
    """Turn a finished context into a :class:`SearchRun`."""
    inc = ctx.incumbent
    o = ctx.oracle
    return SearchRun(
        run=run,
        seed=[int(s) for s in seed],
        incumbent=inc,
        arch=o.arch_name(inc) if inc >= 0 else "",
        test=o.test_of(inc) if inc >= 0 else float("nan"),
        signal=ctx.incumbent_signal if inc >= 0 else float("nan"),
        reported=o.reported_of(inc) if inc >= 0 else {},
        evaluations=ctx.evaluations,
        proxy_scored=ctx.proxy_scored,
        proxy_queries=ctx.proxy_queries,
        train_seconds=ctx.train_seconds,
        proxy_seconds=ctx.proxy_seconds,
        charged_seconds=ctx.charged_seconds,
        trajectory={
            "spent": ctx.traj_spent,
            "train_seconds": ctx.traj_train,
            "proxy_seconds": ctx.traj_proxy,
            "incumbent": ctx.traj_incumbent,
            "test": ctx.traj_test,
        },
        events=ctx.events,
    )


__all__ = [
    "ArrayProxyProvider",
    "Budget",
    "BudgetExhausted",
    "ProxyProvider",
    "SearchAlgorithm",
    "SearchContext",
    "SearchRun",
    "available_searches",
    "finish_run",
    "get_search",
    "provider_name",
    "register_search",
    "search_name",
]
