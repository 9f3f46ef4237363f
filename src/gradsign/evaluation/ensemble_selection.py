"""Choosing a proxy ensemble that holds across search spaces, without leakage (issue #22 item 3).

Two rules live here, both pure functions of arrays (loading benchmarks is the caller's job:
``scripts/select_ensemble.py`` reads the committed scores and the ground truth).

**Zero-shot** (no trained architecture of the target space). Candidates are the
combinations of 1..``max_members`` proxies under each aggregation of
:mod:`gradsign.proxies.ensemble` (``a+b`` = sum of ``log(rank/N)``, ``meanrank(a+b)``),
built from the proxies available on every benchmark involved. On each *training*
benchmark a candidate's Spearman rho is computed on that benchmark's selection cells
(ranks over those cells), and the chosen candidate maximises the **worst case over the
training benchmarks of rho(candidate) - rho(best single proxy there)**; ties go to the
higher mean rho over the training benchmarks, then fewer members, then the name.
:func:`choose_combination` reads only the columns of the training benchmarks, so a
benchmark left out (:func:`leave_one_benchmark_out`) cannot influence the choice that is
then reported on it. A benchmark may reserve a seeded part of its cells for reporting
(:func:`selection_split`, NB201 CIFAR-10: half of its 1,000 cells choose, the other half
report); those cells are never used for choosing.

**Few-shot** (``k`` trained architectures of the target space): :func:`fewshot_ensemble`
fits a weighted rank aggregate ``sum_j w_j f_j`` over the member proxies, where ``f_j`` is
the member's ``log(rank/N)`` (``rank/N`` for a meanrank prior) over the candidates ranked
together, by ridge regression of the labelled architectures' standardised accuracy ranks,
shrunk towards the zero-shot default (``w = c * w0 + delta``: ``w0`` = 1 on the default's
members, 0 elsewhere; ``c`` >= 0 its fitted scale; ``delta`` ridge-penalised). The penalty
is chosen by leave-one-out cross-validation on the ``k`` labelled architectures with the
one-standard-error rule towards the *largest* penalty, and the grid includes an infinite
penalty (= the default itself), so the rule departs from the default only as far as the
labels clearly support. Weights may turn negative: a member that ranks the target space
backwards can be flipped. Without labels (or with fewer than :data:`MIN_LABELS`) it is the
zero-shot default.
"""

from __future__ import annotations

import itertools
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from gradsign.errors import ConfigError
from gradsign.evaluation.metrics import spearman
from gradsign.proxies.ensemble import AGGREGATIONS, aggregate_doubled_ranks, normalised_ranks

#: Fewest labelled architectures the few-shot rule fits on; below, it is the zero-shot default.
MIN_LABELS = 4
#: Ridge penalties of the few-shot rule, in units of k (the member features have unit-order variance).
RIDGE_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, math.inf)


# --------------------------------------------------------------------------- combinations


@dataclass(frozen=True, order=True)
class Combination:
    """A single proxy (one member) or an ensemble of members under an aggregation."""

    members: tuple[str, ...]
    aggregation: str = "logrank"

    def __post_init__(self) -> None:
        if not self.members:
            raise ConfigError("a combination needs at least one member")
        if self.aggregation not in AGGREGATIONS:
            raise ConfigError(f"unknown aggregation {self.aggregation!r}; valid: {', '.join(AGGREGATIONS)}")
        if len(self.members) == 1 and self.aggregation != "logrank":  # one member: one ranking, one name
            object.__setattr__(self, "aggregation", "logrank")

    @property
    def name(self) -> str:
        """``p`` for one proxy, ``a+b`` (log-rank) or ``meanrank(a+b)``: a name every command accepts."""
        body = "+".join(self.members)
        return body if self.aggregation == "logrank" or len(self.members) == 1 else f"{self.aggregation}({body})"

    @classmethod
    def parse(cls, text: str) -> "Combination":
        """A proxy name or ensemble name (named ensembles included) -> Combination."""
        from gradsign.proxies.ensemble import is_ensemble_name, parse_ensemble

        t = text.strip()
        if is_ensemble_name(t):
            spec = parse_ensemble(t)
            return cls(tuple(spec.members), spec.aggregation)
        return cls((t,))

    def values(self, ranks: Mapping[str, np.ndarray]) -> np.ndarray:
        """The combination's value per cell from its members' normalised ranks over those cells (higher = better)."""
        cols = [np.asarray(ranks[m], dtype=np.float64) for m in self.members]
        if len(cols) == 1:
            return cols[0]
        # rank / n back to exact doubled ranks, so that the value is the ensemble's (rank_aggregate's) to the bit.
        n = len(cols[0])
        if n == 0:
            return np.empty(0)
        scaled = np.column_stack(cols) * (2 * n)
        doubled = np.rint(scaled).astype(np.int64)
        if np.abs(scaled - doubled).max() > 1e-6 or doubled.min() < 2 or doubled.max() > 2 * n:
            raise ValueError(f"Combination.values needs each member's normalised ranks over these {n} cells "
                             "(make_part's), not ranks over another set")
        return aggregate_doubled_ranks(doubled, n, self.aggregation)


def candidate_combinations(proxies: Iterable[str], max_members: int = 3,
                           aggregations: Sequence[str] = AGGREGATIONS) -> list[Combination]:
    """Every subset of 1..``max_members`` of ``proxies`` (sorted), each multi-member subset under each aggregation."""
    names = sorted(set(proxies))
    if max_members < 1:
        raise ConfigError(f"max_members must be at least 1, got {max_members}")
    out: list[Combination] = []
    for size in range(1, max_members + 1):
        for members in itertools.combinations(names, size):
            if size == 1:
                out.append(Combination(members))
            else:
                out.extend(Combination(members, agg) for agg in aggregations)
    return out


# --------------------------------------------------------------------------- benchmarks


@dataclass
class BenchmarkPart:
    """Cells of one benchmark that are ranked together: accuracy and each proxy's normalised ranks over them."""

    name: str
    accuracy: np.ndarray
    ranks: dict[str, np.ndarray]

    @property
    def proxies(self) -> set[str]:
        return set(self.ranks)

    def __len__(self) -> int:
        return len(self.accuracy)

    def rho(self, combo: Combination) -> float:
        if not set(combo.members) <= self.proxies:
            return math.nan
        return spearman(combo.values(self.ranks), self.accuracy)


@dataclass
class Benchmark:
    """One benchmark: its cells, their accuracies and the proxies' raw scores (registry direction).

    ``role``: ``"lobo"`` = a member of the leave-one-benchmark-out set (chooses and is
    reported on), ``"report"`` = reported only. ``selection``: mask of the cells that may be
    used for choosing (None: all); the others are the held-out cells it is reported on.
    """

    name: str
    archs: list[str]
    accuracy: np.ndarray
    scores: dict[str, np.ndarray]
    role: str = "lobo"
    selection: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.accuracy = np.asarray(self.accuracy, dtype=np.float64)
        n = len(self.archs)
        if self.accuracy.shape != (n,):
            raise ConfigError(f"benchmark {self.name}: {len(self.accuracy)} accuracies for {n} cells")
        self.scores = {p: np.asarray(v, dtype=np.float64) for p, v in self.scores.items()}
        bad = [p for p, v in self.scores.items() if v.shape != (n,)]
        if bad:
            raise ConfigError(f"benchmark {self.name}: proxies {', '.join(bad)} do not have one score per cell")
        if self.role not in ("lobo", "report"):
            raise ConfigError(f"benchmark {self.name}: role must be 'lobo' or 'report', got {self.role!r}")
        if self.selection is not None:
            self.selection = np.asarray(self.selection, dtype=bool)
            if self.selection.shape != (n,) or self.selection.all() or not self.selection.any():
                raise ConfigError(f"benchmark {self.name}: the selection mask must mark some but not all cells")

    @property
    def proxies(self) -> set[str]:
        return set(self.scores)

    def part(self, which: str = "select") -> BenchmarkPart:
        """``select``: the cells used for choosing; ``eval``: the cells reported on; ``all``: every cell."""
        if which == "all" or self.selection is None:
            mask = np.ones(len(self.archs), dtype=bool)
        elif which == "select":
            mask = self.selection
        elif which == "eval":
            mask = ~self.selection
        else:
            raise ConfigError(f"unknown part {which!r}; valid: select, eval, all")
        return make_part(f"{self.name}:{which}" if self.selection is not None and which != "all" else self.name,
                         {p: v[mask] for p, v in self.scores.items()}, self.accuracy[mask])

    def restricted(self, archs: Sequence[str], name: str | None = None) -> "Benchmark":
        """The benchmark on the given cells only (order kept), e.g. the held-out NB201 cells of another dataset."""
        row = {a: i for i, a in enumerate(self.archs)}
        idx = np.array([row[a] for a in archs if a in row], dtype=np.int64)
        return Benchmark(name or self.name, [self.archs[i] for i in idx], self.accuracy[idx],
                         {p: v[idx] for p, v in self.scores.items()}, role="report")


def make_part(name: str, scores: Mapping[str, Sequence[float]], accuracy: Sequence[float],
              higher_is_better: Mapping[str, bool] | None = None) -> BenchmarkPart:
    """Rank every proxy over these cells (non-finite scores rank last; direction from the registry
    unless ``higher_is_better`` gives it)."""
    def direction(p: str) -> bool:
        if higher_is_better is not None and p in higher_is_better:
            return bool(higher_is_better[p])
        from gradsign.errors import GradsignError
        from gradsign.proxies.registry import get_proxy

        try:
            return bool(get_proxy(p).higher_is_better)
        except GradsignError:  # a name the registry does not know (synthetic benchmarks): higher is better
            return True

    ranks = {p: normalised_ranks(np.asarray(v, dtype=np.float64), direction(p)) for p, v in scores.items()}
    return BenchmarkPart(name, np.asarray(accuracy, dtype=np.float64), ranks)


def selection_split(archs: Sequence[str], fraction: float = 0.5, seed: int = 0) -> np.ndarray:
    """Mask of the cells used for choosing: a seeded ``fraction`` of ``archs``, the rest held out.

    Depends on the set of arch strings only (they are sorted first), not on their order in a file:
    ``default_rng(seed).permutation`` of the sorted strings, the first ``round(fraction * N)`` choose.
    """
    if not 0 < fraction < 1:
        raise ConfigError(f"selection fraction must be in (0, 1), got {fraction}")
    archs = list(archs)
    if len(set(archs)) != len(archs):
        raise ConfigError("selection_split: duplicate arch strings")
    order = sorted(range(len(archs)), key=lambda i: archs[i])
    perm = np.random.default_rng(seed).permutation(len(archs))
    n_sel = int(round(fraction * len(archs)))
    mask = np.zeros(len(archs), dtype=bool)
    mask[[order[i] for i in perm[:n_sel]]] = True
    return mask


# --------------------------------------------------------------------------- zero-shot choice


def rho_table(combos: Sequence[Combination], parts: Sequence[BenchmarkPart]) -> "Any":
    """Spearman rho of every combination on every part (rows: combination names, columns: part names;
    NaN where a member has no scores on that part)."""
    import pandas as pd

    data = {p.name: [p.rho(c) for c in combos] for p in parts}
    return pd.DataFrame(data, index=[c.name for c in combos])


@dataclass
class Choice:
    """The combination chosen on some training parts, and why."""

    combination: Combination
    train: list[str]  # the parts it was chosen on
    train_rho: dict[str, float]
    best_single: dict[str, tuple[str, float]]  # per training part: the best single proxy and its rho
    worst_gap: float  # min over training parts of rho(combination) - rho(best single)
    mean_rho: float
    candidates: list[str]  # the proxies combinations were built from
    n_combinations: int
    runner_up: list[dict[str, Any]] = field(default_factory=list)  # the next few, for the report

    def as_dict(self) -> dict[str, Any]:
        return {"combination": self.combination.name, "members": list(self.combination.members),
                "aggregation": self.combination.aggregation, "chosen_on": self.train, "train_rho": self.train_rho,
                "best_single": {k: {"proxy": v[0], "rho": v[1]} for k, v in self.best_single.items()},
                "worst_gap_to_best_single": self.worst_gap, "mean_train_rho": self.mean_rho,
                "candidate_proxies": self.candidates, "n_combinations": self.n_combinations,
                "next_best": self.runner_up}


CRITERIA = ("worst_gap", "worst_rho", "mean_rho")


def choose_combination(table: "Any", combos: Sequence[Combination], train: Sequence[str],
                       proxies: Iterable[str] | None = None, *, cost: Mapping[str, float] | None = None,
                       max_cost: float | None = None, n_runner_up: int = 5, criterion: str = "worst_gap") -> Choice:
    """Maximise the worst case over ``train`` (columns of ``table``) of rho(c) - rho(best single proxy).

    Only combinations whose members are all in ``proxies`` (default: all) and, with
    ``max_cost``, whose members' summed ``cost`` (e.g. multiples of one forward+backward) is at
    most ``max_cost`` compete. The best single proxy of each training part, the gap's reference,
    is taken among all ``proxies`` whatever their cost: a cost cap buys speed, and the gap says
    what it costs in rho. Ties: higher mean rho over ``train``, then fewer members, then the name.
    Reads nothing but the ``train`` columns. ``criterion``: ``worst_gap`` (the rule above, the
    default), or, for comparison only, ``worst_rho`` (maximise the smallest rho) or ``mean_rho``.
    """
    if criterion not in CRITERIA:
        raise ConfigError(f"unknown criterion {criterion!r}; valid: {', '.join(CRITERIA)}")
    train = list(train)
    if not train:
        raise ConfigError("choose_combination needs at least one training benchmark")
    missing = [t for t in train if t not in table.columns]
    if missing:
        raise ConfigError(f"no rho column for training part(s) {', '.join(missing)}")
    allowed = None if proxies is None else set(proxies)
    sub = table[train].to_numpy(dtype=np.float64)  # the training columns only, from here on
    keep, singles = [], []
    for i, c in enumerate(combos):
        if allowed is not None and not set(c.members) <= allowed:
            continue
        if len(c.members) == 1 and np.isfinite(sub[i]).all():
            singles.append(i)
        if max_cost is not None:
            if cost is None or any(m not in cost for m in c.members):
                raise ConfigError("max_cost needs a cost for every candidate proxy")
            if sum(cost[m] for m in c.members) > max_cost:
                continue
        if not np.isfinite(sub[i]).all():
            continue  # not computable on some training part
        keep.append(i)
    if not keep:
        raise ConfigError("no candidate combination is available on every training benchmark")
    if not singles:
        raise ConfigError("no single proxy among the candidates: cannot measure the gap to the best single proxy")
    single_rho = sub[singles]
    best_idx = single_rho.argmax(axis=0)
    best = single_rho.max(axis=0)
    gaps = sub[keep] - best
    worst = gaps.min(axis=1)
    mean = sub[keep].mean(axis=1)
    primary = {"worst_gap": worst, "worst_rho": sub[keep].min(axis=1), "mean_rho": mean}[criterion]
    order = sorted(range(len(keep)), key=lambda j: (-round(float(primary[j]), 12), -round(float(mean[j]), 12),
                                                    len(combos[keep[j]].members), combos[keep[j]].name))
    j = order[0]
    c = combos[keep[j]]
    runner = [{"combination": combos[keep[r]].name, "worst_gap_to_best_single": float(worst[r]),
               "mean_train_rho": float(mean[r])} for r in order[1:1 + n_runner_up]]
    used = sorted({m for i in keep for m in combos[i].members})
    return Choice(
        combination=c, train=train, train_rho={t: float(sub[keep[j], k]) for k, t in enumerate(train)},
        best_single={t: (combos[singles[best_idx[k]]].name, float(best[k])) for k, t in enumerate(train)},
        worst_gap=float(worst[j]), mean_rho=float(mean[j]), candidates=used, n_combinations=len(keep),
        runner_up=runner,
    )


@dataclass
class Fold:
    """One leave-one-benchmark-out fold: the choice made without ``left_out`` and how it does there."""

    left_out: str
    eval_part: str
    choice: Choice
    rho: float  # the chosen combination on the left-out benchmark's evaluation cells
    hindsight: tuple[str, float]  # the best candidate combination there, in hindsight
    best_single: tuple[str, float]  # the best single proxy there, in hindsight
    excluded: dict[str, list[str]]  # proxy -> benchmarks of this fold that lack it (so it was no candidate)
    extra: dict[str, float] = field(default_factory=dict)  # the choice on report-only parts
    best_any: tuple[str, float] = ("", math.nan)  # the best single proxy scored there, candidate or not

    def as_dict(self) -> dict[str, Any]:
        return {"left_out": self.left_out, "evaluated_on": self.eval_part, "chosen": self.choice.as_dict(),
                "rho_on_left_out": self.rho, "hindsight_best": {"combination": self.hindsight[0],
                                                                "rho": self.hindsight[1]},
                "best_single_on_left_out": {"proxy": self.best_single[0], "rho": self.best_single[1]},
                "best_single_any_proxy_on_left_out": {"proxy": self.best_any[0], "rho": self.best_any[1]},
                "gap_to_best_single": self.rho - self.best_single[1], "excluded_proxies": self.excluded,
                "on_report_benchmarks": self.extra}


@dataclass
class SelectionStudy:
    """Everything the selection needs: the benchmarks, the candidate combinations and their rho table."""

    benchmarks: list[Benchmark]
    combos: list[Combination]
    table: Any  # pandas DataFrame: combination x part
    parts: dict[str, BenchmarkPart]
    max_members: int
    aggregations: tuple[str, ...]

    @property
    def lobo(self) -> list[Benchmark]:
        return [b for b in self.benchmarks if b.role == "lobo"]

    def select_name(self, b: Benchmark) -> str:
        return self.parts[f"{b.name}/select"].name

    def eval_name(self, b: Benchmark) -> str:
        return self.parts[f"{b.name}/eval"].name


def prepare_study(benchmarks: Sequence[Benchmark], *, max_members: int = 3,
                  aggregations: Sequence[str] = AGGREGATIONS) -> SelectionStudy:
    """Rank every proxy on every part of every benchmark and compute the rho of every candidate combination."""
    names = [b.name for b in benchmarks]
    if len(set(names)) != len(names):
        raise ConfigError(f"benchmark names must be unique: {names}")
    if not any(b.role == "lobo" for b in benchmarks):
        raise ConfigError("no benchmark with role 'lobo'")
    parts: dict[str, BenchmarkPart] = {}
    ordered: list[BenchmarkPart] = []
    for b in benchmarks:
        sel, ev = b.part("select"), b.part("eval")
        parts[f"{b.name}/select"], parts[f"{b.name}/eval"] = sel, ev
        ordered.append(sel)
        if ev.name != sel.name:
            ordered.append(ev)
    every = set().union(*(b.proxies for b in benchmarks))
    combos = candidate_combinations(every, max_members, aggregations)
    return SelectionStudy(list(benchmarks), combos, rho_table(combos, ordered), parts, max_members,
                          tuple(aggregations))


def _common(benchmarks: Sequence[Benchmark]) -> tuple[set[str], dict[str, list[str]]]:
    every = set().union(*(b.proxies for b in benchmarks))
    common = set.intersection(*(b.proxies for b in benchmarks))
    excluded = {p: [b.name for b in benchmarks if p not in b.proxies] for p in sorted(every - common)}
    return common, excluded


def leave_one_benchmark_out(study: SelectionStudy, **choose_kw: Any) -> list[Fold]:
    """For each ``lobo`` benchmark: choose on the other ``lobo`` benchmarks' selection cells, report on its
    evaluation cells (and the report-only benchmarks). Candidates: proxies every benchmark of the fold has."""
    folds = []
    lobo = study.lobo
    if len(lobo) < 2:
        raise ConfigError("leave-one-benchmark-out needs at least two 'lobo' benchmarks")
    for left in lobo:
        train = [b for b in lobo if b is not left]
        common, excluded = _common(lobo)
        choice = choose_combination(study.table, study.combos, [study.select_name(b) for b in train], common,
                                    **choose_kw)
        ev = study.eval_name(left)
        col = study.table[ev]
        usable = [c.name for c in study.combos if set(c.members) <= common and np.isfinite(col[c.name])]
        hind = col[usable].astype(float).idxmax()
        singles = [n for n in usable if "+" not in n]
        bs = col[singles].astype(float).idxmax()
        anyp = [c.name for c in study.combos if len(c.members) == 1 and c.members[0] in left.proxies]
        ba = col[anyp].astype(float).idxmax()
        extra = {study.eval_name(r): float(study.table.at[choice.combination.name, study.eval_name(r)])
                 for r in study.benchmarks if r.role == "report"}
        folds.append(Fold(left.name, ev, choice, float(col[choice.combination.name]), (hind, float(col[hind])),
                          (bs, float(col[bs])), excluded, extra, (ba, float(col[ba]))))
    return folds


def final_choice(study: SelectionStudy, **choose_kw: Any) -> tuple[Choice, dict[str, list[str]]]:
    """The recommendation: chosen on every ``lobo`` benchmark's selection cells; and the proxies left out
    because some benchmark lacks them."""
    common, excluded = _common(study.lobo)
    choice = choose_combination(study.table, study.combos, [study.select_name(b) for b in study.lobo], common,
                                **choose_kw)
    return choice, excluded


# --------------------------------------------------------------------------- few-shot rule


def _features(member_scores: Mapping[str, Sequence[float]], members: Sequence[str], transform: str,
              higher_is_better: Mapping[str, bool] | None = None) -> np.ndarray:
    part = make_part("fewshot", {m: member_scores[m] for m in members},
                     np.zeros(len(np.asarray(member_scores[members[0]]))), higher_is_better)
    cols = [part.ranks[m] for m in members]
    x = np.column_stack(cols) if cols else np.empty((0, 0))
    return np.log(x) if transform == "logrank" else x


@dataclass
class FewShotEnsemble:
    """A weighted rank aggregate ``sum_j weights[j] * f_j`` over ``members`` (``f`` = log(rank/N) or rank/N).

    ``apply(member_scores)`` ranks the cells given together, as an ensemble does; higher = better.
    """

    members: tuple[str, ...]
    weights: np.ndarray
    transform: str  # the prior's aggregation: logrank -> f = log(rank/N); meanrank -> f = rank/N
    prior: str  # the zero-shot default it was shrunk towards
    k: int  # labelled architectures used
    penalty: float  # the chosen ridge penalty (in units of k); inf = the default's direction
    used_default: bool  # True when the ranking is the zero-shot default's
    reason: str
    cv: dict[str, float] = field(default_factory=dict)  # LOO mean squared error per penalty
    higher_is_better: dict[str, bool] | None = None
    warnings: list[str] = field(default_factory=list)  # labels that look wrong (scales mixed, inverted): say them

    def apply(self, member_scores: Mapping[str, Sequence[float]]) -> np.ndarray:
        missing = [m for m in self.members if m not in member_scores]
        if missing:
            raise ConfigError(f"few-shot ensemble: no scores for member(s) {', '.join(missing)}")
        return _features(member_scores, self.members, self.transform, self.higher_is_better) @ self.weights

    @property
    def name(self) -> str:
        """The prior's name when the ranking is the default's, else a readable weighted form."""
        if self.used_default:
            return self.prior
        return "fewshot(" + " ".join(f"{w:+.3g}*{m}" for m, w in zip(self.members, self.weights) if w != 0) + ")"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "prior": self.prior, "k": self.k, "used_default": self.used_default,
                "reason": self.reason, "transform": self.transform, "penalty_per_k": self.penalty,
                "weights": {m: float(w) for m, w in zip(self.members, self.weights)}, "loo_mse": self.cv,
                "warnings": list(self.warnings)}


def _ridge_towards(x: np.ndarray, y: np.ndarray, w0: np.ndarray, lam: float) -> tuple[np.ndarray, float]:
    """Weights ``c * w0 + delta`` for centred ``x``, ``y``: ``c`` = max(0, OLS slope of y on x @ w0), then
    ``delta`` = ridge(lam) of the residual. Returns (weights, intercept)."""
    xm, ym = x.mean(axis=0), y.mean()
    xc, yc = x - xm, y - ym
    s = xc @ w0
    denom = float(s @ s)
    c = max(0.0, float(s @ yc) / denom) if denom > 0 else 0.0
    w = c * w0
    if math.isfinite(lam):
        r = yc - xc @ w
        p = x.shape[1]
        w = w + np.linalg.solve(xc.T @ xc + lam * np.eye(p), xc.T @ r)
    return w, ym - float(xm @ w)


#: Labels whose Spearman with the zero-shot prior is at most this (over at least INVERTED_MIN_K) look inverted.
INVERTED_RHO = -0.5
INVERTED_MIN_K = 8


def label_warnings(values: np.ndarray) -> list[str]:
    """What looks wrong in labels meant as accuracies (the rule ranks them as given, so it still runs)."""
    out: list[str] = []
    if len(values) == 0:
        return out
    if values.min() < 0 or values.max() > 100:
        out.append(f"accuracies from {values.min():g} to {values.max():g}, outside 0-100: the rule ranks them as "
                   "given (higher is better); are they accuracies?")
    # Fractions (0.7) among percents (70). Chance-level percents also fall between 0.05 and 1
    # (CIFAR-100 1.0, ImageNet16-120 0.83), but rarely a third of the labels.
    fractions, percents = int(((values >= 0.05) & (values <= 1)).sum()), int((values > 1).sum())
    if fractions >= 3 and percents >= 2 and fractions >= len(values) / 3:
        out.append(f"{fractions} accuracies are between 0.05 and 1 and {percents} above 1: a mix of fractions and "
                   "percents? The rule ranks them as given")
    return out


def _opposition_warning(prior_values: np.ndarray, accuracies: np.ndarray, prior: str) -> list[str]:
    """A warning when the labels rank the labelled archs against the zero-shot prior (error rates, losses?)."""
    rho = spearman(prior_values, accuracies)
    if len(accuracies) >= INVERTED_MIN_K and math.isfinite(rho) and rho <= INVERTED_RHO:
        return [f"the labels rank the {len(accuracies)} labelled architectures against the zero-shot prior {prior} "
                f"(Spearman {rho:.2f}): if they are error rates or losses, give accuracies (higher = better); if "
                "they are accuracies, the rule departs from the prior as far as they support"]
    return []


def fewshot_ensemble(labelled_scores: Mapping[str, Sequence[float]], accuracies: Sequence[float],
                     candidate_scores: Mapping[str, Sequence[float]] | None = None, *,
                     prior: str = "recommended", members: Sequence[str] | None = None,
                     higher_is_better: Mapping[str, bool] | None = None,
                     grid: Sequence[float] = RIDGE_GRID, se_factor: float = 1.0) -> FewShotEnsemble:
    """The few-shot rule: weights for the member proxies from ``k`` labelled architectures.

    ``labelled_scores``: ``{proxy: scores of the k labelled archs}``; ``accuracies``: their trained
    accuracy (NaN = unlabelled, ignored); ``candidate_scores``: the same proxies on the unlabelled
    candidates, ranked together with the labelled ones (recommended: the features are ranks over
    the cells ranked together). ``prior``: the zero-shot default (a named ensemble, an ensemble or a
    proxy name), whose members must be among the scores; ``members``: the proxies the rule may
    weight (default: every proxy in ``labelled_scores``). With fewer than :data:`MIN_LABELS`
    labelled archs, it is the prior unchanged. See the module docstring for the fit.

    ``se_factor``: the penalty chosen is the largest whose leave-one-out error is within
    ``se_factor`` standard errors of the smallest; 1 (the default, frozen before the study) is the
    one-standard-error rule, 0 takes the minimum (``scripts/fewshot_rule_variants.py`` compares them
    by leave-one-benchmark-out).
    """
    if isinstance(se_factor, (bool, np.bool_)) or not isinstance(se_factor, numbers.Real) or not (
            math.isfinite(se_factor) and se_factor >= 0):
        raise ConfigError(f"few-shot: se_factor must be a finite number >= 0, got {se_factor!r}")
    combo = Combination.parse(prior)
    from gradsign.proxies import available_proxies

    known = {spec.name for spec in available_proxies()}
    unknown = [m for m in combo.members if m not in labelled_scores and m not in known]
    if unknown:  # else "no labelled scores for it", as if only the scores were missing
        raise ConfigError(f"few-shot: prior {prior!r} names unknown proxy {unknown[0]!r}")
    members = list(members) if members is not None else list(labelled_scores)
    for m in combo.members:
        if m not in members:
            members.append(m)
    missing = [m for m in members if m not in labelled_scores]
    if missing:
        raise ConfigError(f"few-shot: no labelled scores for {', '.join(missing)} (the prior {prior!r} needs "
                          f"{', '.join(combo.members)})")
    acc = np.asarray(accuracies, dtype=np.float64)
    if np.isinf(acc).any():  # was taken as unlabelled, as NaN is
        raise ConfigError("few-shot: accuracies must be finite (NaN marks an architecture without a label), "
                          "got an infinite one")
    found_warnings = label_warnings(acc[np.isfinite(acc)])
    n_lab = len(acc)
    if any(len(np.asarray(labelled_scores[m])) != n_lab for m in members):
        raise ConfigError("few-shot: every proxy needs one score per labelled architecture")
    if candidate_scores is not None:
        lacking = [m for m in members if m not in candidate_scores]
        if lacking:
            raise ConfigError(f"few-shot: no candidate scores for {', '.join(lacking)}")
        pool = {m: np.concatenate([np.asarray(labelled_scores[m], dtype=np.float64),
                                   np.asarray(candidate_scores[m], dtype=np.float64)]) for m in members}
    else:
        pool = {m: np.asarray(labelled_scores[m], dtype=np.float64) for m in members}
    transform = combo.aggregation
    w0 = np.array([1.0 if m in combo.members else 0.0 for m in members])
    if len(combo.members) == 1:
        transform = "logrank"
    default = FewShotEnsemble(tuple(members), w0, transform, prior, 0, math.inf, True, "", {},
                              dict(higher_is_better) if higher_is_better else None, found_warnings)
    ok = np.isfinite(acc)
    k = int(ok.sum())
    default.k = k
    if k < MIN_LABELS:
        default.reason = (f"{k} labelled architecture(s): fewer than {MIN_LABELS}, so the zero-shot default "
                          f"{prior} is used")
        return default
    x_all = _features(pool, members, transform, higher_is_better)
    x = x_all[:n_lab][ok]
    from scipy.stats import rankdata

    y = rankdata(acc[ok])
    y = (y - y.mean()) / (y.std() or 1.0)
    found_warnings += _opposition_warning(x @ w0, acc[ok], prior)
    cv: dict[str, float] = {}
    errs: dict[float, np.ndarray] = {}
    for g in grid:
        e = np.empty(k)
        for i in range(k):
            keep = np.arange(k) != i
            w, b = _ridge_towards(x[keep], y[keep], w0, g * (k - 1))
            e[i] = (y[i] - (x[i] @ w + b)) ** 2
        errs[g] = e
        cv["inf" if math.isinf(g) else f"{g:g}"] = float(e.mean())
    best = min(errs, key=lambda g: errs[g].mean())
    se = float(errs[best].std(ddof=1) / math.sqrt(k))
    # One-standard-error rule towards the largest penalty: depart from the default only as far as the
    # labelled cells clearly support.
    chosen = max(g for g in grid if errs[g].mean() <= errs[best].mean() + se_factor * se)
    rule = "one-standard-error rule" if se_factor == 1 else f"{se_factor:g}-standard-error rule"
    if math.isinf(chosen):
        default.cv = cv
        default.reason = (f"{k} labelled architectures: leave-one-out CV does not clearly favour a departure from "
                          f"the zero-shot default {prior} ({rule}), so the default is used")
        return default
    w, _ = _ridge_towards(x, y, w0, chosen * k)
    return FewShotEnsemble(tuple(members), w, transform, prior, k, float(chosen), False,
                           f"{k} labelled architectures: ridge towards {prior} with penalty {chosen:g} x k "
                           f"(leave-one-out CV, {rule})", cv,
                           dict(higher_is_better) if higher_is_better else None, found_warnings)


DEFAULT_PRIOR = "recommended"


def fewshot_prior(proxies: str | Sequence[str]) -> tuple[list[str], str]:
    """For ``score --labels``: the proxy names to score and the few-shot prior.

    The prior is the first ensemble among ``proxies`` (named ensembles included); with none,
    :data:`DEFAULT_PRIOR` (the zero-shot recommendation), which is then added to the names.
    Every single proxy named or a member of a named ensemble is a member the rule may weight.
    """
    from gradsign.proxies import get_proxy, parse_proxy_list

    names = parse_proxy_list(proxies) if isinstance(proxies, str) else list(proxies)
    for n in names:
        if getattr(get_proxy(n), "is_ensemble", False):
            return names, n
    return names + [DEFAULT_PRIOR], DEFAULT_PRIOR


def apply_fewshot(prior: str, proxies: Sequence[str], candidate_scores: Mapping[str, Sequence[float]],
                  labelled_scores: Mapping[str, Sequence[float]], accuracies: Sequence[float], *,
                  candidate_archs: Sequence[str] | None = None, labelled_archs: Sequence[str] | None = None
                  ) -> tuple[np.ndarray, FewShotEnsemble]:
    """Fit the few-shot rule on the labelled archs (ranked together with the candidates) and return its
    value for each candidate, and the fit. Members: every single proxy of ``proxies`` (ensembles' members
    included).

    With ``candidate_archs`` and ``labelled_archs`` (canonical strings), a candidate that is also
    labelled is ranked once, as a labelled arch: it would otherwise count twice in the ranks."""
    from gradsign.proxies.ensemble import split_members

    members, _ = split_members(list(proxies))
    n_cand = len(np.asarray(candidate_scores[members[0]])) if members else 0
    at_label = {a: i for i, a in enumerate(labelled_archs or ())}
    if candidate_archs is not None and len(candidate_archs) != n_cand:
        raise ValueError(f"candidate_archs has {len(candidate_archs)} archs for {n_cand} candidate scores")
    also_labelled = [at_label.get(a) for a in candidate_archs] if candidate_archs is not None else [None] * n_cand
    extra = np.array([j for j, i in enumerate(also_labelled) if i is None], dtype=np.int64)
    others = {m: np.asarray(candidate_scores[m], dtype=np.float64)[extra] for m in members}
    fit = fewshot_ensemble({m: labelled_scores[m] for m in members}, accuracies, others, prior=prior,
                           members=members)
    n_lab = len(np.asarray(accuracies))
    union = {m: np.concatenate([np.asarray(labelled_scores[m], dtype=np.float64), others[m]]) for m in members}
    pooled = fit.apply(union)
    values = np.empty(n_cand, dtype=np.float64)
    values[extra] = pooled[n_lab:]
    for j, i in enumerate(also_labelled):
        if i is not None:
            values[j] = pooled[i]
    return values, fit


def read_labels(path: str | Path) -> tuple[list[str], np.ndarray]:
    """A labels file: CSV with columns ``arch`` and ``accuracy`` (header required; other columns ignored)."""
    import pandas as pd

    p = Path(path)
    try:
        frame = pd.read_csv(p, dtype={"arch": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--labels {p}: cannot read ({exc})") from None
    if "arch" not in frame.columns or "accuracy" not in frame.columns:
        raise ConfigError(f"--labels {p}: needs a header with columns arch,accuracy (has {', '.join(frame.columns)})")
    acc = pd.to_numeric(frame["accuracy"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(acc).all():
        bad = int((~np.isfinite(acc)).sum())
        raise ConfigError(f"--labels {p}: {bad} accuracy value(s) are not numbers")
    archs = [str(a) for a in frame["arch"]]
    seen: set[str] = set()
    for a in archs:
        if a in seen:
            raise ConfigError(f"--labels {p}: arch {a!r} is listed twice")
        seen.add(a)
    return archs, acc


# --------------------------------------------------------------------------- few-shot study


def fewshot_splits(n_pool: int, sizes: Sequence[int], test_size: int, trials: int, seed: int = 0
                   ) -> list[tuple[np.ndarray, dict[int, np.ndarray]]]:
    """The splits of ``gradsign predictors evaluate`` (White et al.'s protocol), over a sorted pool:
    trial ``t`` permutes with ``default_rng([seed, t])``; the first ``test_size`` are the test cells,
    the training set of size k is the next k (nested). Returns per trial (test indices, {k: train indices})."""
    out = []
    kmax = max(sizes)
    if test_size + kmax > n_pool:
        raise ConfigError(f"pool of {n_pool} cells is too small for {test_size} test cells and {kmax} training cells")
    for t in range(trials):
        perm = np.random.default_rng([seed, t]).permutation(n_pool)
        test = perm[:test_size]
        reservoir = perm[test_size:test_size + kmax]
        out.append((test, {k: reservoir[:k] for k in sizes}))
    return out


def fewshot_study(bench: Benchmark, prior: str, sizes: Sequence[int], *, test_size: int, trials: int,
                  seed: int = 0, members: Sequence[str] | None = None,
                  se_factor: float = 1.0) -> list[dict[str, Any]]:
    """Per trial and k: Spearman on the test cells of the few-shot rule, the zero-shot prior, and the naive
    rule 'the single proxy with the best Spearman on the k labelled cells'. Cells are those of ``bench``
    sorted by arch string (the predictors' pool order); every proxy is ranked over the whole pool
    (label-free), the labels of the test cells are used only to score the result."""
    order = sorted(range(len(bench.archs)), key=lambda i: bench.archs[i])
    acc = bench.accuracy[order]
    members = sorted(bench.proxies) if members is None else list(members)
    scores = {m: bench.scores[m][order] for m in members}
    prior_combo = Combination.parse(prior)
    pool_part = make_part(bench.name, scores, acc)
    prior_values = prior_combo.values(pool_part.ranks)
    rows: list[dict[str, Any]] = []
    for t, (test, trains) in enumerate(fewshot_splits(len(order), sizes, test_size, trials, seed)):
        rho_prior = spearman(prior_values[test], acc[test])
        for k, train in trains.items():
            assert not set(train.tolist()) & set(test.tolist())
            lab = np.full(len(order), np.nan)
            lab[train] = acc[train]
            fit = fewshot_ensemble(scores, lab, prior=prior, members=members, se_factor=se_factor)
            rho_fs = spearman(fit.apply(scores)[test], acc[test])
            # naive: best single proxy on the labelled cells (ties: name)
            lab_rho = {m: spearman(scores[m][train], acc[train]) for m in members}
            finite = {m: r for m, r in lab_rho.items() if np.isfinite(r)}
            naive = max(sorted(finite), key=lambda m: finite[m]) if finite else prior_combo.members[0]
            rho_naive = spearman(pool_part.ranks[naive][test], acc[test])
            base = {"benchmark": bench.name, "trial": t, "k": int(k), "n_test": len(test)}
            rows.append({**base, "rule": "fewshot", "spearman": rho_fs, "used_default": fit.used_default,
                         "penalty": fit.penalty, "chosen": fit.name})
            rows.append({**base, "rule": "zero-shot default", "spearman": rho_prior, "used_default": True,
                         "penalty": math.inf, "chosen": prior})
            rows.append({**base, "rule": "best single on labels", "spearman": rho_naive, "used_default": False,
                         "penalty": math.nan, "chosen": naive})
    return rows


__all__ = ["CRITERIA", "DEFAULT_PRIOR", "Benchmark", "BenchmarkPart", "Choice", "Combination", "FewShotEnsemble",
           "Fold", "MIN_LABELS", "RIDGE_GRID", "SelectionStudy", "apply_fewshot", "candidate_combinations",
           "choose_combination", "fewshot_ensemble", "fewshot_prior", "fewshot_splits", "fewshot_study",
           "final_choice", "label_warnings", "leave_one_benchmark_out", "make_part", "prepare_study", "read_labels", "rho_table",
           "selection_split"]
