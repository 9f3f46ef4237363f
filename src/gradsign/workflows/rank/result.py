"""What a ranking returns: :class:`RankResult` (with its :class:`RankSetup`), and :class:`RankInterrupted`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from gradsign.errors import ConfigError

INFO_PROXIES = ("params", "flops")
"""Always computed for every model: the table shows them whether or not they are ranked by."""


@dataclass(frozen=True)
class RankSetup:
    """The minibatch every model of a :func:`rank` call saw, and where it ran."""

    dataset: str
    data: str  # one line: the image set, batch, seed, sampling and any resizing
    input_shape: tuple[int, ...]
    batch_size: int
    seed: int
    sampling: str
    device: str
    torch: str  # torch.__version__

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "data": self.data, "input_shape": list(self.input_shape),
                "batch_size": self.batch_size, "seed": self.seed, "device": self.device, "torch": self.torch}


@dataclass
class RankResult:
    """The outcome of :func:`rank` or :func:`rank_models`.

    Attributes:
        frame: one row per model, in the order given: ``model``, ``params``,
            ``flops`` (always), one column per requested proxy (params/flops not
            repeated), ``rank_<proxy>`` (1 = best by the proxy's direction; NaN
            scores get no rank), ``seconds`` (wall time of scoring the model),
            ``notes`` and ``error`` (``"; "``-joined, empty when none).
        proxies: the proxies ranked by, in request order.
        timings: seconds per model (rows) and proxy (columns), plus ``load``.
            Each proxy is scored by its own ``score`` call, so these are its own costs.
        notes: ``{model: [note, ...]}``; errors: ``{model: {proxy or "load": message}}``.
        higher_is_better: ``{proxy: bool}``, the direction each rank uses.
        member_nonfinite: ensemble -> models with a non-finite member score (ranked last by
            that member, never dropped).
        setup: the data the models saw (:func:`rank` only; None from :func:`rank_models`).
        sort_by: the default order of :meth:`to_frame`: a proxy, ``"none"`` (as given) or
            None (the first proxy).
        partial: ``(finished, of)`` when the run was interrupted and this ranks the models
            finished before it; None for a complete run.
        provenance: how the numbers were made (:func:`gradsign.reports.provenance.collect`:
            command line, versions, data files, seeds, device; :func:`rank` only).
    """

    frame: pd.DataFrame
    proxies: list[str]
    timings: pd.DataFrame
    notes: dict[str, list[str]]
    errors: dict[str, dict[str, str]]
    higher_is_better: dict[str, bool]
    member_nonfinite: dict[str, int] = field(default_factory=dict)
    setup: RankSetup | None = None
    sort_by: str | None = None
    partial: tuple[int, int] | None = None
    provenance: dict[str, Any] | None = None

    def sorted(self, by: str | None = None) -> pd.DataFrame:
        """The frame ordered by ``rank_<by>`` (default: the first proxy), unranked (NaN) rows last."""
        by = by or self.proxies[0]
        if by not in self.proxies:
            raise ConfigError(f"cannot sort by {by!r}: not among the ranked proxies ({', '.join(self.proxies)})")
        return self.frame.sort_values(f"rank_{by}", na_position="last", kind="stable").reset_index(drop=True)

    def to_frame(self, sort_by: str | None = None) -> pd.DataFrame:
        """The table: ordered by ``sort_by``'s rank (default :attr:`sort_by`); ``"none"`` keeps the given order."""
        by = sort_by or self.sort_by
        return self.frame.copy() if by == "none" else self.sorted(by)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: rows in the given order (NaN as None), per-proxy timings, directions, notes and errors."""
        from gradsign.outputs import mark_nonfinite

        # A NaN or infinite score is None; the row's "nonfinite" says which it was ({"zen": "-inf"}).
        score_columns = list(INFO_PROXIES) + self.proxies
        rows = [mark_nonfinite({k: None if v is pd.NA else v for k, v in row.items()}, score_columns)
                for row in self.frame.to_dict(orient="records")]
        timings = {m: {k: _jsonable(v) for k, v in r.items()} for m, r in self.timings.to_dict(orient="index").items()}
        return {"proxies": self.proxies, "higher_is_better": self.higher_is_better, "models": rows,
                "seconds": timings, "notes": self.notes, "errors": self.errors,
                "ensemble_member_nonfinite": self.member_nonfinite}

    def to_json(self, sort_by: str | None = None) -> str:
        """One JSON document: the setup (for :func:`rank`), ``partial`` if interrupted, then :meth:`to_dict`
        with the models in :meth:`to_frame`'s order."""
        from gradsign.outputs import dumps_json

        doc: dict[str, Any] = self.setup.to_dict() if self.setup is not None else {}
        if self.partial is not None:
            doc["partial"] = {"finished": self.partial[0], "of": self.partial[1]}
        doc.update(self.to_dict())
        if self.setup is not None:  # what produced it; the wall time is the process's (one command)
            from gradsign.reports.provenance import collect, process_started

            doc["provenance"] = collect(seeds=[self.setup.seed], started=process_started(), device=self.setup.device)
        order = list(self.to_frame(sort_by)["model"])
        doc["models"] = sorted(doc["models"], key=lambda r: order.index(r["model"]))
        if self.provenance is not None:
            doc["provenance"] = self.provenance
        return dumps_json(doc)

    def to_csv(self, sort_by: str | None = None) -> str:
        """:meth:`to_frame` as CSV text."""
        return self.to_frame(sort_by).to_csv(index=False)  # full precision (shortest round-trip text)


def _jsonable(v: Any) -> Any:
    """``v`` as JSON takes it: pd.NA, NaN and inf as None, numpy scalars as Python numbers."""
    from gradsign.outputs import json_safe

    return None if v is pd.NA else json_safe(v)


class RankInterrupted(KeyboardInterrupt):
    """:func:`rank_models` was interrupted; ``partial`` ranks the ``done`` of ``total`` models finished (or is None)."""

    def __init__(self, partial: "RankResult | None", done: int, total: int) -> None:
        super().__init__(f"interrupted after {done} of {total} models")
        self.partial, self.done, self.total = partial, done, total
