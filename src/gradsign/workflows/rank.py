"""Rank any PyTorch classifiers at initialization with zero-cost proxies.

Two calls, one result type (:class:`RankResult`):

* :func:`rank` -- models named by specs (``timm:NAME``, ``torchvision:NAME``,
  ``path/to/file.py:factory`` or any registered source, see :mod:`gradsign.models`),
  one minibatch drawn from a dataset; every setting is validated before any model is
  built. What ``gradsign rank`` runs::

      result = gradsign.rank(["examples/cifar_models.py:resnet20", "timm:resnet18"],
                             dataset="cifar10", proxies=["gradsign", "synflow", "snip"])
      result.to_frame()     # sorted by the first proxy's rank
      result.to_json()      # the document of `gradsign rank --format json`

* :func:`rank_models` -- your own modules (or callables building them) on your own
  minibatch::

      result = rank_models({"resnet20": net_a, "vgg11": lambda: make_vgg(num_classes=10)},
                           inputs, targets, proxies=["gradsign", "synflow", "snip"], num_classes=10)

Loading models (sources, head surgery) lives in :mod:`gradsign.models`; its names are
re-exported here for existing imports.

Fairness between models: every model is created right after
``torch.manual_seed(seed)``, every proxy runs under the same seed (see
:func:`gradsign.score`), and all models see the same minibatch. Whatever had to
be changed to fit the dataset (the classifier head, the input size) is stated
in the ``notes`` of each row, never done silently. A model that fails on a
proxy gets NaN for it and the error in its ``error`` column; the ranking of
the other models goes on.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import pandas as pd
import torch
from torch import nn

from gradsign.errors import ConfigError, GradsignError
from gradsign.models._optional import install_hint
from gradsign.models.heads import adapt_head
from gradsign.models.loading import LoadedModel, load_model
from gradsign.models.sources import ModelSpec, first_line, parse_model_spec, validate_spec

__all__ = [
    "LoadedModel",
    "ModelSpec",
    "RankInterrupted",
    "RankResult",
    "RankSetup",
    "adapt_head",
    "install_hint",
    "load_model",
    "parse_model_spec",
    "rank",
    "rank_models",
    "validate_spec",
]

INFO_PROXIES = ("params", "flops")
"""Always computed for every model: the table shows them whether or not they are ranked by."""

SAMPLINGS = ("random", "grasp")
IMAGE_SIZES = (8, 1024)
"""Smallest and largest ``image_size`` accepted (bilinear resizing of the minibatch)."""

# --------------------------------------------------------------------------- ranking


ModelLike = Union[nn.Module, LoadedModel, Callable[[], Union[nn.Module, LoadedModel]]]


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
        rows = [{k: _jsonable(v) for k, v in row.items()} for row in self.frame.to_dict(orient="records")]
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
        return self.to_frame(sort_by).to_csv(index=False, float_format="%.10g")


def _jsonable(v: Any) -> Any:
    if v is None or v is pd.NA:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):  # numpy scalars
        v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
    return v


def rank_models(
    models: Mapping[str, ModelLike],
    inputs: torch.Tensor,
    targets: torch.Tensor,
    proxies: str | Sequence[str] = ("gradsign", "synflow", "snip"),
    *,
    num_classes: int | None = None,
    seed: int = 0,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    device: str | torch.device | None = None,
    on_model: Callable[[int, int, str, float], None] | None = None,
    logits: int | str | Callable[[Any], torch.Tensor] | None = None,
    threads: int | None = None,
) -> RankResult:
    """Score every model on the same minibatch with ``proxies`` and rank them by each proxy.

    Args:
        models: ``{name: model}``; a value may be an ``nn.Module`` (used as is,
            never modified), a :class:`LoadedModel` (its notes are kept), or a
            zero-argument callable returning either -- called right after
            ``torch.manual_seed(seed)``, one at a time, so only one model is in
            memory at once and every model starts from the same RNG state.
        inputs, targets: the minibatch every model sees.
        proxies: names or a comma list (see :func:`gradsign.describe_proxies`);
            ``params`` and ``flops`` are always computed, and ranked only if named.
        num_classes: if given, a model whose output size differs gets its last
            Linear replaced (on a copy; see :func:`adapt_head`), with a note.
        seed: the model-creation seed and the seed of every proxy (``score(seed=...)``);
            the caller's CPU RNG state is restored afterwards.
        loss_fn, options: as for :func:`gradsign.score`.
        device: move each model there before scoring (default: where it is).
        on_model: called as ``on_model(i, n, name, seconds)`` after each model, for progress.
        logits: for models returning a tuple / list / dict, which element is the
            logits (index, key or function); see :func:`gradsign.score`.
        threads: torch intra-op threads while scoring (default 1; see :mod:`gradsign.runtime`).

    Returns:
        a :class:`RankResult`. A model that fails on a proxy has NaN there and the
        message in ``error``; one whose creation fails has NaN everywhere.

    Raises:
        ConfigError: unknown proxy or option, no model, or a bad minibatch.
        RankInterrupted: on KeyboardInterrupt; its ``partial`` holds the models finished before it.
    """
    from gradsign.proxies.api import score
    from gradsign.runtime import check_threads, resolve_device, torch_threads

    names, singles, options = _check_rank_inputs(models, inputs, targets, proxies, options)
    all_names = list(dict.fromkeys([*INFO_PROXIES, *singles]))
    input_shape = tuple(inputs.shape[1:])
    threads = check_threads(threads)
    if device is not None:
        device = resolve_device(device)
    _warm_up_flop_counter()

    rows: list[dict[str, Any]] = []
    timing_rows: dict[str, dict[str, float]] = {}
    all_notes: dict[str, list[str]] = {}
    all_errors: dict[str, dict[str, str]] = {}
    n = len(models)
    # The seeding below must not leak into the caller's global RNG stream.
    try:
        with torch.random.fork_rng(devices=[]), torch_threads(threads):
            for i, (name, item) in enumerate(models.items(), 1):
                name = str(name)
                row, timings, notes, errors = _rank_one(score, name, item, inputs, targets, all_names, seed,
                                                        num_classes, input_shape, device, loss_fn, options, logits)
                rows.append(row)
                timing_rows[name] = timings
                all_notes[name] = notes
                if errors:
                    all_errors[name] = errors
                if on_model is not None:
                    on_model(i, n, name, row["seconds"])
    except KeyboardInterrupt:
        partial = _assemble(rows, names, all_names, timing_rows, all_notes, all_errors) if rows else None
        raise RankInterrupted(partial, len(rows), n) from None
    return _assemble(rows, names, all_names, timing_rows, all_notes, all_errors)


def _proxy_names(proxies: str | Sequence[str]) -> list[str]:
    from gradsign.proxies.registry import parse_proxy_list

    return parse_proxy_list(proxies) if isinstance(proxies, str) else parse_proxy_list(",".join(proxies))


def _check_rank_inputs(models, inputs, targets, proxies, options) -> tuple[list[str], list[str], dict[str, dict]]:
    """Validated proxy names, the single proxies to score (ensembles' members) and per-proxy options."""
    from gradsign.proxies.ensemble import split_members

    names = _proxy_names(proxies)
    if not models:
        raise ConfigError("no model to rank")
    if not isinstance(inputs, torch.Tensor) or inputs.dim() < 2:
        raise ConfigError(f"inputs must be a batch tensor (N, ...), got {type(inputs).__name__}")
    if not isinstance(targets, torch.Tensor) or targets.shape[:1] != inputs.shape[:1]:
        raise ConfigError("targets must be a tensor with one label per input")
    singles, _ = split_members(names)  # an ensemble's members are scored; it is aggregated over the models
    options = {k: dict(v) for k, v in (options or {}).items()}
    unknown = sorted(set(options) - set(singles))
    if unknown:
        raise ConfigError(f"options given for proxies not requested: {', '.join(unknown)}")
    return names, singles, options


def _rank_one(score, name, item, inputs, targets, all_names, seed, num_classes, input_shape, device, loss_fn,
              options, logits) -> tuple[dict[str, Any], dict[str, float], list[str], dict[str, str]]:
    """Build (or take) one model and score it: its table row, per-proxy seconds, notes and errors."""
    errors: dict[str, str] = {}
    notes: list[str] = []
    timings: dict[str, float] = {}
    scores: dict[str, float] = {}
    start = time.perf_counter()
    model = None
    try:
        model, notes = _materialize(item, seed, num_classes, input_shape, name, device, logits)
    except Exception as exc:
        errors["load"] = _message(exc)
    timings["load"] = time.perf_counter() - start
    score_start = time.perf_counter()
    if model is not None:
        from gradsign.proxies.gradsign import engine_notes, recording_engines

        with recording_engines() as engines:  # which GradSign engine ran, and why, goes into the notes
            scores = _score_each(score, model, inputs, targets, all_names, seed, loss_fn, options,
                                 timings, errors)
        notes = [*notes, *engine_notes(engines)]
    seconds = time.perf_counter() - score_start
    row: dict[str, Any] = {"model": name}
    for p in all_names:
        row[p] = scores.get(p, float("nan"))
    row["seconds"] = seconds
    row["notes"] = "; ".join(notes)
    # "gradsign: gradsign: ..." when the message already names its proxy: say it once
    row["error"] = "; ".join(v if v.startswith(f"{k}:") or v.startswith(f"proxy {k!r}") else f"{k}: {v}"
                             for k, v in errors.items())
    # Free the model before the next one is built: big timm models add up.
    del model
    gc.collect()
    return row, timings, notes, errors


class RankInterrupted(KeyboardInterrupt):
    """:func:`rank_models` was interrupted; ``partial`` ranks the ``done`` of ``total`` models finished (or is None)."""

    def __init__(self, partial: "RankResult | None", done: int, total: int) -> None:
        super().__init__(f"interrupted after {done} of {total} models")
        self.partial, self.done, self.total = partial, done, total


def _assemble(rows, names, all_names, timing_rows, all_notes, all_errors) -> RankResult:
    """The :class:`RankResult` of the rows scored so far."""
    from gradsign.proxies.registry import get_proxy

    frame = pd.DataFrame(rows)
    member_nonfinite: dict[str, int] = {}
    for p in names:
        spec = get_proxy(p)
        if getattr(spec, "is_ensemble", False):  # over the models ranked together (see proxies.ensemble)
            frame[p], member_nonfinite[p] = spec.aggregate({m: frame[m].to_numpy(dtype=float) for m in spec.members})
    directions = {p: get_proxy(p).higher_is_better for p in names}
    for p in names:
        # method="min": tied scores share the best rank; NaN (failed) gets no rank.
        frame[f"rank_{p}"] = frame[p].rank(ascending=not directions[p], method="min").astype("Int64")
    shown = [p for p in dict.fromkeys([*all_names, *names]) if p not in INFO_PROXIES]
    columns = ["model", *INFO_PROXIES, *shown, *[f"rank_{p}" for p in names], "seconds", "notes", "error"]
    frame = frame[columns]
    timing_frame = pd.DataFrame.from_dict(timing_rows, orient="index").reindex(columns=["load", *all_names])
    timing_frame.index.name = "model"
    return RankResult(frame, names, timing_frame, all_notes, all_errors, directions, member_nonfinite)


def _warm_up_flop_counter() -> None:
    """Pay torch's one-time cost of the first FlopCounterMode (it imports torch._dynamo: seconds) up front.

    Otherwise the first model's ``seconds`` would include it and look slower than the rest.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False):
        torch.ones(1, 1) @ torch.ones(1, 1)


def _materialize(item: ModelLike, seed: int, num_classes: int | None, input_shape: tuple[int, ...],
                 name: str, device: str | torch.device | None,
                 logits: Any = None) -> tuple[nn.Module, list[str]]:
    """The module and notes of one ``models`` value: built if callable, head adapted and moved to ``device``.

    With ``logits`` (index, key or function), the module is wrapped so that it
    returns only the logits (:class:`gradsign.proxies.api.SelectLogits`), before the head is checked.

    A module the caller passed in is copied before anything changes it (``Module.to``
    and a head swap work in place); one built here is changed directly.
    """
    owned = False
    if not isinstance(item, (nn.Module, LoadedModel)) and callable(item):
        torch.manual_seed(seed)
        item, owned = item(), True
    if isinstance(item, LoadedModel):
        model, notes = item.model, list(item.notes)
    elif isinstance(item, nn.Module):
        model, notes = item, []
    else:
        raise ConfigError(f"model {name!r} is a {type(item).__name__}, not a torch.nn.Module")
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model {name!r} is a {type(model).__name__}, not a torch.nn.Module")
    if device is not None and any(t.device != torch.device(device) for t in model.parameters()):
        model = (model if owned else copy.deepcopy(model)).to(device)
        owned = True
    if logits is not None:
        from gradsign.proxies.api import SelectLogits

        # The wrapper holds the module itself: a head swap below still works on a copy.
        model = SelectLogits(model if owned else copy.deepcopy(model), logits)
        owned = True
    if num_classes is not None:
        candidate = model if owned else copy.deepcopy(model)
        torch.manual_seed(seed)
        extra = adapt_head(candidate, num_classes, input_shape, what=name)
        if any(e.startswith("classifier head replaced") for e in extra):
            model = candidate
        notes.extend(e for e in extra if e not in notes)
    return model, notes


def _score_each(score, model, inputs, targets, names, seed, loss_fn, options, timings, errors) -> dict[str, float]:
    """One ``score`` call per proxy, so a failing proxy costs only its own NaN.

    One call for all would share the batch gradient of grad_norm/snip/plain, but a
    failure would throw away the others' finished work (minutes of GradSign on a
    big model), and per-proxy seconds would include passes charged to another proxy.
    """
    results: dict[str, float] = {}
    for p in names:
        t: dict[str, float] = {}
        start = time.perf_counter()
        try:
            results.update(score(model, inputs, targets, [p], seed=seed, loss_fn=loss_fn,
                                 options={p: options[p]} if p in options else None, timings=t))
        except Exception as exc:
            results[p] = float("nan")
            errors[p] = _message(exc)
        timings[p] = t.get(p, time.perf_counter() - start)
    return results


def _message(exc: BaseException) -> str:
    if isinstance(exc, GradsignError):
        return first_line(str(exc))
    return f"{type(exc).__name__}: {first_line(str(exc))}"


# --------------------------------------------------------------------------- models named by specs, on a dataset


def rank(
    models: Sequence[str | ModelSpec] | Mapping[str, Any],
    *,
    dataset: str = "cifar10",
    split: str = "train",
    proxies: str | Sequence[str] = ("gradsign", "synflow", "snip"),
    batch_size: int = 64,
    image_size: int | None = None,
    seed: int = 0,
    sampling: str = "random",
    engine: str = "auto",
    chunk_size: int | None = None,
    options: Mapping[str, Mapping[str, Any]] | Sequence[str] | None = None,
    logits: int | str | Callable[[Any], torch.Tensor] | None = None,
    sort_by: str | None = None,
    device: str | torch.device = "cpu",
    threads: int | None = None,
    data_dir: str | Path | None = None,
    on_model: Callable[[int, int, str, float], None] | None = None,
) -> RankResult:
    """Rank models at initialization on one minibatch of ``dataset``: what ``gradsign rank`` runs.

    Every argument is checked, and every spec resolved (file, factory, package, model
    name), before the data is read or any model is built.

    Args:
        models: specs (``timm:NAME``, ``torchvision:NAME``, ``path/to/file.py:factory``,
            ``SOURCE:NAME`` of a registered source), or ``{name: spec | module | callable}``
            (modules and callables as for :func:`rank_models`, their head fitted to the dataset).
        dataset, split: where the minibatch is drawn from (:mod:`gradsign.data.images`).
        proxies: names or a comma list; ``params`` and ``flops`` are always computed.
        batch_size, seed, sampling: the minibatch (``random`` or ``grasp``: k images per class);
            ``seed`` also seeds every model's creation and every proxy.
        image_size: resize the minibatch to NxN (bilinear), for models built for larger images.
        engine, chunk_size: GradSign's engine and batched-pass chunk, for every GradSign proxy scored.
        options: ``{proxy: {key: value}}`` or ``["PROXY.KEY=VALUE", ...]``.
        logits: for models returning a tuple / list / dict, which element is the logits.
        sort_by: default order of :meth:`RankResult.to_frame`: a proxy among ``proxies``,
            ``"none"`` (as given) or None (the first proxy).
        device, threads: where and with how many intra-op threads the proxies run.
        data_dir: the benchmark data folder (default: found as for every command).
        on_model: ``on_model(i, n, name, seconds)`` after each model, for progress.

    Returns:
        a :class:`RankResult` with its :class:`RankSetup`.

    Raises:
        ConfigError: any invalid setting or spec (one line, naming it).
        RankInterrupted: on KeyboardInterrupt; ``partial`` ranks the models finished before it.
    """
    from gradsign.runtime import check_threads, resolve_device

    threads = check_threads(threads)
    names = _proxy_names(proxies)
    options = _rank_options(names, options, engine, chunk_size)
    _check_rank_settings(names, batch_size, image_size, sampling, sort_by)
    dev = resolve_device(device)
    # Every spec is checked before anything slow starts: a typo in the last model fails now.
    entries = _model_entries(models)
    inputs, targets, setup, num_classes, data_label = _minibatch(dataset, split, batch_size, image_size, seed,
                                                                 sampling, data_dir, dev)

    def build(spec: ModelSpec) -> Callable[[], LoadedModel]:
        return lambda: load_model(spec, num_classes, input_shape=setup.input_shape, seed=seed, dataset=data_label,
                                  logits=logits)

    built = {name: build(v) if isinstance(v, ModelSpec) else v for name, v in entries.items()}
    given_as_objects = any(not isinstance(v, ModelSpec) for v in entries.values())
    try:
        result = rank_models(built, inputs, targets, names, num_classes=num_classes if given_as_objects else None,
                             seed=seed, options=options, device=dev, on_model=on_model,
                             logits=logits, threads=threads)
    except RankInterrupted as stop:
        if stop.partial is not None:
            stop.partial = dataclasses.replace(stop.partial, setup=setup, sort_by=sort_by,
                                               partial=(stop.done, stop.total), provenance=_provenance(setup))
        raise
    return dataclasses.replace(result, setup=setup, sort_by=sort_by, provenance=_provenance(setup))


def _provenance(setup: RankSetup) -> dict[str, Any]:
    from gradsign.reports.provenance import collect, process_started

    return collect(seeds=[setup.seed], started=process_started(), device=setup.device)


def _rank_options(names: list[str], options: Any, engine: str, chunk_size: int | None) -> dict[str, dict[str, Any]]:
    """Per-proxy options from ``options`` plus the GradSign shorthands ``engine`` and ``chunk_size``."""
    from gradsign.proxies.api import parse_proxy_options
    from gradsign.proxies.engine import ENGINES
    from gradsign.proxies.ensemble import split_members

    if options is None or isinstance(options, Mapping):
        options = {k: dict(v) for k, v in (options or {}).items()}
    else:
        options = parse_proxy_options([options] if isinstance(options, str) else options, names)
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ConfigError(f"--chunk-size must be at least 1, got {chunk_size}")
    shorthand = {**({"engine": engine} if engine != "auto" else {}),
                 **({"chunk_size": chunk_size} if chunk_size is not None else {})}
    for n in split_members(names)[0]:  # --engine / --chunk-size: shorthands for every GradSign proxy scored
        if n.startswith("gradsign") and shorthand:
            options[n] = {**shorthand, **options.get(n, {})}
    return options


def _check_rank_settings(names: list[str], batch_size: int, image_size: int | None, sampling: str,
                         sort_by: str | None) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    low, high = IMAGE_SIZES
    if image_size is not None and (not isinstance(image_size, int) or not low <= image_size <= high):
        raise ConfigError(f"--image-size must be between {low} and {high}, got {image_size}")
    if sampling not in SAMPLINGS:
        raise ConfigError(f"unknown sampling {sampling!r}; valid: {', '.join(SAMPLINGS)}")
    if sort_by not in (None, "none") and sort_by not in names:
        raise ConfigError(f"--sort-by {sort_by!r}: not among --proxies ({', '.join(names)})")


def _model_entries(models: Sequence[str | ModelSpec] | Mapping[str, Any]) -> dict[str, Any]:
    """``{name: ModelSpec (validated) | module | callable}`` in the order given; duplicates refused."""
    if isinstance(models, (str, ModelSpec)):
        models = [models]
    if isinstance(models, Mapping):
        items = [(str(k), validate_spec(v) if isinstance(v, (str, ModelSpec)) else v) for k, v in models.items()]
    else:
        specs = [validate_spec(m) for m in models]
        items = [(s.text, s) for s in specs]
    if not items:
        raise ConfigError("no model to rank")
    entries: dict[str, Any] = {}
    for name, value in items:
        if name in entries:
            raise ConfigError(f"model {name!r} is given twice")
        entries[name] = value
    return entries


def _minibatch(dataset: str, split: str, batch_size: int, image_size: int | None, seed: int, sampling: str,
               data_dir: str | Path | None, device: torch.device
               ) -> tuple[torch.Tensor, torch.Tensor, RankSetup, int, str]:
    """The minibatch every model sees, its setup, the dataset's classes and its label for the notes."""
    from gradsign.data.images import dataset_info, load_image_set

    info = dataset_info(dataset)
    images = load_image_set(info.name, split, data_dir=data_dir)
    per_class: dict[str, int] = {}
    if sampling == "grasp":
        from gradsign.workflows.scoring import grasp_samples_per_class

        per_class["samples_per_class"] = grasp_samples_per_class(info.name, batch_size)
    inputs, targets = images.sample_batch(batch_size, seed=seed, sampling=sampling, **per_class)
    input_shape, data_label = tuple(info.input_size), info.name
    data = images.describe() + f"; batch {batch_size}, seed {seed}, sampling {sampling}"
    if image_size is not None and image_size != info.image_size:
        # ImageNet models shrink 32x32 to 1x1 before their last blocks, where GradSign's
        # per-sample BatchNorm is undefined; upsampling keeps their later stages meaningful.
        inputs = torch.nn.functional.interpolate(inputs, size=(image_size, image_size), mode="bilinear",
                                                 align_corners=False)
        input_shape = (info.input_size[0], image_size, image_size)
        data_label = f"{info.name} upsampled from {info.image_size}x{info.image_size}"
        data += f"; resized to {image_size}x{image_size} (bilinear)"
    setup = RankSetup(info.name, data, input_shape, batch_size, seed, sampling, str(device), torch.__version__)
    return inputs, targets, setup, info.num_classes, data_label
