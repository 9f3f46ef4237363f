"""The stored outcome of searches: one run (:class:`SearchRun`), all runs of a setting (:class:`SearchResults`).

Both round-trip through JSON (``to_dict`` / ``from_dict``; NaN as null).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradsign.errors import DataError

RESULTS_FORMAT = "gradsign.search.results/1"


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
    incumbent: int | str
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
            run=int(d["run"]), seed=list(d["seed"]), incumbent=_arch_id(d["incumbent"]), arch=str(d["arch"]),
            test=_float(d["test"]), signal=_float(d["signal"]),
            reported={k: _float(v) for k, v in d.get("reported", {}).items()},
            evaluations=int(d["evaluations"]), proxy_scored=int(d["proxy_scored"]),
            proxy_queries=int(d.get("proxy_queries", 0)), train_seconds=float(d["train_seconds"]),
            proxy_seconds=float(d["proxy_seconds"]), charged_seconds=float(d["charged_seconds"]),
            trajectory={k: [(_float(x) if k != "incumbent" else _arch_id(x)) for x in v]
                        for k, v in d.get("trajectory", {}).items()},
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


def _arch_id(x: Any) -> int | str:
    # tabular objectives record benchmark indices, others the arch's string form
    return x if isinstance(x, str) else int(x)


@dataclass
class SearchResults:
    """All runs of one setting, plus the setting itself; see :func:`run_searches`."""

    algo: str
    params: dict[str, Any]
    dataset: str
    space: str
    budget: dict[str, Any]
    proxy: str | None
    candidates: int
    charge_proxy: bool
    warmup_pool: int
    seed: int
    runs: list[SearchRun]
    notes: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    # --- views ---------------------------------------------------------------------
    @property
    def label(self) -> str:
        """Short description, e.g. ``rea`` or ``rea+jacob_cov(K=10, charged)``."""
        algo = self.algo
        if "predictor" in self.params:  # predictor-guided search: name the predictor
            algo = f"{algo}[{self.params['predictor']}]"
        if self.proxy is None:
            if self.params.get("uses_zerocost"):
                return f"{algo}({'charged' if self.charge_proxy else 'free'})"
            return algo
        bits = [f"K={self.candidates}"] if self.candidates > 1 else []
        if self.warmup_pool:
            bits.append(f"warmup={self.warmup_pool}")
        bits.append("charged" if self.charge_proxy else "free")
        return f"{algo}+{self.proxy}({', '.join(bits)})"

    def tests(self) -> np.ndarray:
        """Final reported accuracy of each run (NaN for a run that trained nothing)."""
        return np.array([r.test for r in self.runs], dtype=np.float64)

    def summary(self, confidence: float = 0.95) -> dict[str, float]:
        """Mean, std, confidence interval (Student t) ... of the final accuracies; see :func:`summarize`."""
        from gradsign.search.report import summarize

        out = summarize(self.tests(), confidence)
        out["evaluations_mean"] = float(np.mean([r.evaluations for r in self.runs])) if self.runs else float("nan")
        out["charged_seconds_mean"] = float(np.mean([r.charged_seconds for r in self.runs])) if self.runs else float("nan")
        out["proxy_seconds_mean"] = float(np.mean([r.proxy_seconds for r in self.runs])) if self.runs else float("nan")
        return out

    def reported_summary(self, confidence: float = 0.95) -> dict[str, dict[str, float]]:
        """:func:`summarize` of each number the oracle reports for every run's pick.

        For NB201 these are the picked cell's 200-epoch test accuracy on every
        dataset, whatever dataset was searched: the NB201 and GradSign papers
        search on CIFAR-10 and report the pick on CIFAR-10, CIFAR-100 and
        ImageNet16-120. Runs that trained nothing count as missing.
        """
        from gradsign.search.report import summarize

        names = sorted({k for r in self.runs for k in r.reported})
        return {k: summarize([r.reported.get(k, float("nan")) for r in self.runs], confidence) for k in names}

    def trajectory(self, **kwargs: Any) -> dict[str, Any]:
        """Mean incumbent accuracy on a budget grid; see :func:`~gradsign.search.report.aggregate_trajectories`."""
        from gradsign.search.report import aggregate_trajectories

        return aggregate_trajectories(self, **kwargs)

    # --- (de)serialisation ------------------------------------------------------------
    def to_dict(self, *, trajectories: bool = True) -> dict[str, Any]:
        runs = [r.to_dict() for r in self.runs]
        if not trajectories:
            for r in runs:
                r.pop("trajectory", None)
        return {
            "format": RESULTS_FORMAT, "algo": self.algo, "label": self.label, "params": self.params,
            "dataset": self.dataset, "space": self.space, "budget": self.budget, "proxy": self.proxy,
            "candidates": self.candidates, "charge_proxy": self.charge_proxy, "warmup_pool": self.warmup_pool,
            "seed": self.seed, "notes": list(self.notes), "wall_seconds": self.wall_seconds,
            "summary": _jsonable(self.summary()),
            "reported_summary": {k: _jsonable(v) for k, v in self.reported_summary().items()}, "runs": runs,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "SearchResults":
        if d.get("format") != RESULTS_FORMAT:
            raise DataError(f"not a search results document (format {d.get('format')!r}, expected {RESULTS_FORMAT!r})")
        return cls(
            algo=d["algo"], params=dict(d["params"]), dataset=d["dataset"], space=d["space"], budget=dict(d["budget"]),
            proxy=d["proxy"], candidates=int(d["candidates"]), charge_proxy=bool(d["charge_proxy"]),
            warmup_pool=int(d["warmup_pool"]), seed=int(d["seed"]),
            runs=[SearchRun.from_dict(r) for r in d["runs"]], notes=list(d.get("notes", [])),
            wall_seconds=float(d.get("wall_seconds", 0.0)),
        )

    def to_json(self, path: str | Path, *, trajectories: bool = True) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(trajectories=trajectories), separators=(",", ":")))
        return p

    @classmethod
    def load(cls, path: str | Path) -> "SearchResults":
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read search results {p}: {exc}") from None
        return cls.from_dict(d)


def shared_notes(note_lists: "list[list[str]] | list[tuple[str, ...]]") -> list[str]:
    """The notes every one of ``note_lists`` (one per setting) has, sorted; the rest are a setting's own."""
    return sorted(set.intersection(*map(set, note_lists))) if note_lists else []


def _jsonable(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in d.items()}


__all__ = ["RESULTS_FORMAT", "SearchResults", "SearchRun", "shared_notes"]
