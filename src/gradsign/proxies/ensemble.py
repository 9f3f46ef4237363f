"""Ensembles of proxies: ``a+b+c`` is the rank aggregate of those proxies over the candidates scored together.

A proxy scores one network; an ensemble scores a *set* of candidates: each
member ranks the candidates (best = N, worst = 1, by the member's own
direction), and the ranks are combined. Two aggregations:

* ``logrank`` (default, written ``a+b`` or ``logrank(a+b)``): the sum over members of
  ``log(rank / N)`` -- the log of the product of normalised ranks, as AZ-NAS
  (Lee & Ham, CVPR 2024) combines its four scores;
* ``meanrank`` (``meanrank(a+b)``): the mean over members of ``rank / N``.

Ties share their average rank, and candidates whose rank products (sums) are
equal share one value, on every CPU (:func:`aggregate_doubled_ranks`). A non-finite member score (NaN, +-inf: e.g. a
cell whose input cannot reach its output) ranks below every finite one (the
non-finite ones tie among themselves); how many candidates had one is reported
with the result, never hidden. Higher is better for every ensemble.

So an ensemble's value depends on the candidates scored together (like a rank);
it is never stored: its members are, and the aggregate is recomputed from them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from gradsign.errors import ConfigError

AGGREGATIONS = ("logrank", "meanrank")

#: Ensembles known by a name of their own (``gradsign proxies`` lists them).
NAMED_ENSEMBLES: dict[str, tuple[str, str]] = {
    # AZ-NAS's training-free score: the log-rank product of its four scores (Lee & Ham, CVPR 2024,
    # cvlab-yonsei/AZ-NAS: the sum of log(rankdata(score) / N) over expressivity, progressivity,
    # trainability and complexity).
    "az_nas": ("az_expressivity+az_progressivity+az_trainability+az_complexity", "AZ-NAS (Lee & Ham, CVPR 2024)"),
    # The zero-shot recommendation (#22 item 3), re-derived 2026-12-06 when the small real benchmark (#25)
    # joined the leave-one-benchmark-out set, from `OMP_NUM_THREADS=1 .venv/bin/python scripts/select_ensemble.py`
    # (results/ensemble_selection/, docs/ensembles.md): chosen by maximin gap to the best single proxy over
    # NB201 CIFAR-10 (selection half), NB101, DARTS and nb201_small (500 NB201 cells trained on CPU), from the
    # 20 proxies all four had then (EPE-NAS was not scored on DARTS, SWAP only on nb201_small). Before: az_expressivity+
    # meco_opt+zen, chosen on the first three. Re-derived on 2026-12-07 with SWAP, SWAP-reg and EPE-NAS scored on
    # all four (23 proxies): the same choice. Re-derive it with that command when a benchmark or a proxy's scores
    # are added.
    "recommended": ("az_expressivity+meco+zen", "zero-shot recommendation: leave-one-benchmark-out selection "
                    "over NB201 / NB101 / DARTS / the small real benchmark (docs/ensembles.md)"),
}

_WRAPPED = re.compile(r"^(?P<agg>[a-z_]+)\((?P<body>[^()]*)\)$")


@dataclass(frozen=True)
class EnsembleSpec:
    """An ensemble proxy name, parsed: its members and aggregation.

    Carries the attributes the rest of the library reads from a
    :class:`~gradsign.proxies.registry.ProxySpec` (``name``, ``description``,
    ``needs_data``, ``needs_labels``, ``higher_is_better``, ``version``,
    ``reference``), so an ensemble name works wherever a proxy name does; what
    differs is that it is computed by :meth:`aggregate` over candidates, not on one network.
    """

    name: str
    members: tuple[str, ...]
    aggregation: str
    needs_data: bool
    needs_labels: bool
    version: str
    higher_is_better: bool = True
    is_ensemble: bool = True

    @property
    def description(self) -> str:
        how = "sum of log(rank/N)" if self.aggregation == "logrank" else "mean of rank/N"
        return f"ensemble of {', '.join(self.members)}: {how} over the candidates scored together"

    @property
    def reference(self) -> str:
        named = NAMED_ENSEMBLES.get(self.name)
        return named[1] if named else "rank aggregation of AZ-NAS (Lee & Ham, CVPR 2024)"

    def aggregate(self, member_scores: Mapping[str, Sequence[float]]) -> tuple[np.ndarray, int]:
        """The ensemble's value for each candidate, and how many had a non-finite member score.

        ``member_scores``: ``{member: scores of the N candidates}`` (same order).
        """
        from gradsign.proxies.registry import get_proxy

        missing = [m for m in self.members if m not in member_scores]
        if missing:
            raise ConfigError(f"ensemble {self.name!r}: no scores for member(s) {', '.join(missing)}")
        columns = [np.asarray(member_scores[m], dtype=np.float64) for m in self.members]
        n = len(columns[0])
        if any(c.shape != (n,) for c in columns):
            raise ConfigError(f"ensemble {self.name!r}: members scored different numbers of candidates")
        directions = [get_proxy(m).higher_is_better for m in self.members]
        return rank_aggregate(np.column_stack(columns) if n else np.empty((0, len(columns))), directions,
                              self.aggregation)


def average_ranks(values: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """The rank of each value among ``values`` (best = N, worst = 1); ties share the average rank.

    Non-finite values rank below every finite value and tie among themselves.
    """
    from scipy.stats import rankdata

    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return np.empty(0)
    finite = np.isfinite(v)
    key = np.where(finite, v if higher_is_better else -v, -np.inf)
    # rankdata ranks -inf lowest; every non-finite value becomes the same -inf, so they tie.
    return rankdata(key, method="average")


def normalised_ranks(values: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """``rank / N`` of each value among ``values`` (best = 1, worst = 1/N): :func:`average_ranks` / N."""
    ranks = average_ranks(values, higher_is_better)
    return ranks / len(ranks) if len(ranks) else ranks


def aggregate_doubled_ranks(doubled: np.ndarray, n: int, aggregation: str = "logrank") -> np.ndarray:
    """The aggregate per row of ``doubled`` (rows = candidates, columns = members: 2 x average rank among ``n``).

    Computed from exact integers -- average ranks are whole or half, so twice a rank is an
    integer -- and one rounding per distinct value: ``logrank`` = log of the product of the
    doubled ranks minus ``m log(2n)`` (= the sum over members of ``log(rank / n)``), ``meanrank``
    = their sum / ``2nm``. So candidates whose rank products (or sums) are equal get the very
    same value, the C library's ``log`` of one integer, where summing numpy's per-member logs
    ordered such ties by rounding noise, and differently between CPUs (numpy's SIMD ``log``
    differs in the last bits between instruction sets).
    """
    d = np.asarray(doubled)
    m = d.shape[1]
    if aggregation == "meanrank":
        return d.sum(axis=1, dtype=np.int64) / float(2 * n * m)
    # int64 holds the product when (2n)^m does (4 members of 15,625 cells do); beyond, Python integers.
    exact = d.astype(np.int64) if (2 * n) ** m < 2 ** 63 else d.astype(object)
    products, where = np.unique(np.prod(exact, axis=1), return_inverse=True)
    offset = m * math.log(2 * n)
    return np.array([math.log(int(p)) - offset for p in products], dtype=np.float64)[where.reshape(-1)]


def rank_aggregate(matrix: np.ndarray, higher_is_better: Sequence[bool], aggregation: str = "logrank"
                   ) -> tuple[np.ndarray, int]:
    """Rows = candidates, columns = members: the aggregate per row, and the rows with a non-finite member."""
    if aggregation not in AGGREGATIONS:
        raise ConfigError(f"unknown aggregation {aggregation!r}; valid: {', '.join(AGGREGATIONS)}")
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] != len(higher_is_better):
        raise ConfigError(f"rank_aggregate needs one column per member, got shape {m.shape}")
    if m.shape[0] == 0:
        return np.empty(0), 0
    doubled = np.column_stack([np.rint(2 * average_ranks(m[:, j], h)).astype(np.int64)
                               for j, h in enumerate(higher_is_better)])
    return aggregate_doubled_ranks(doubled, m.shape[0], aggregation), int((~np.isfinite(m)).any(axis=1).sum())


def is_ensemble_name(text: str) -> bool:
    t = text.strip()
    return "+" in t or t in NAMED_ENSEMBLES or bool(_WRAPPED.match(t))


def parse_ensemble(text: str) -> EnsembleSpec:
    """``"a+b"``, ``"logrank(a+b)"`` or ``"meanrank(a+b)"`` -> :class:`EnsembleSpec` (members validated).

    The canonical name is ``a+b`` for the log-rank product and ``meanrank(a+b)`` otherwise.
    """
    from gradsign.proxies.registry import get_proxy

    raw = text.strip()
    if raw in NAMED_ENSEMBLES:
        spec = parse_ensemble(NAMED_ENSEMBLES[raw][0])
        return EnsembleSpec(name=raw, members=spec.members, aggregation=spec.aggregation,
                            needs_data=spec.needs_data, needs_labels=spec.needs_labels, version=spec.version)
    agg, body = "logrank", raw
    wrapped = _WRAPPED.match(raw)
    if not wrapped and ("(" in raw or ")" in raw):
        raise ConfigError(f"ensemble {raw!r}: write AGGREGATION(a+b), e.g. meanrank(synflow+params), with one pair "
                          f"of parentheses (aggregations: {', '.join(AGGREGATIONS)})")
    if wrapped:
        agg, body = wrapped.group("agg"), wrapped.group("body")
        if agg not in AGGREGATIONS:
            raise ConfigError(f"ensemble {raw!r}: unknown aggregation {agg!r}; valid: {', '.join(AGGREGATIONS)}")
    members = tuple(m.strip() for m in body.split("+"))
    if len(members) < 2 or any(not m for m in members):
        raise ConfigError(f"ensemble {raw!r}: write two or more proxy names joined by '+', e.g. gradsign+jacob_cov")
    if len(set(members)) != len(members):
        raise ConfigError(f"ensemble {raw!r}: a member is named twice")
    specs = []
    for m in members:
        spec = get_proxy(m)
        if getattr(spec, "is_ensemble", False):
            raise ConfigError(f"ensemble {raw!r}: members must be proxies, not ensembles")
        specs.append(spec)
    canonical = "+".join(members)
    if agg != "logrank":
        canonical = f"{agg}({canonical})"
    return EnsembleSpec(
        name=canonical, members=members, aggregation=agg,
        needs_data=any(s.needs_data for s in specs), needs_labels=any(s.needs_labels for s in specs),
        version="+".join(f"{s.name}:{s.version}" for s in specs),
    )


def split_members(names: Sequence[str]) -> tuple[list[str], list[EnsembleSpec]]:
    """The single proxies to compute for ``names`` (members included, order kept) and the ensembles."""
    from gradsign.proxies.registry import get_proxy

    singles: dict[str, None] = {}
    ensembles: list[EnsembleSpec] = []
    for n in names:
        spec = get_proxy(n)
        if getattr(spec, "is_ensemble", False):
            ensembles.append(spec)
            for m in spec.members:
                singles.setdefault(m, None)
        else:
            singles.setdefault(spec.name, None)
    return list(singles), ensembles


__all__ = ["AGGREGATIONS", "NAMED_ENSEMBLES", "EnsembleSpec", "aggregate_doubled_ranks", "average_ranks",
           "is_ensemble_name", "normalised_ranks", "parse_ensemble", "rank_aggregate", "split_members"]
