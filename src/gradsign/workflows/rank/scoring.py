"""Scoring and ranking models on one minibatch (:func:`rank_models`): one model in memory at a time,
every model created under the same seed, one ``score`` call per proxy so a failure costs only its NaN."""

from __future__ import annotations

import copy
import gc
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

import numpy as np
import pandas as pd
import torch
from torch import nn

from gradsign.errors import ConfigError, GradsignError
from gradsign.models.heads import adapt_head
from gradsign.models.loading import LoadedModel
from gradsign.models.sources import first_line
from gradsign.workflows.rank.result import INFO_PROXIES, RankInterrupted, RankResult

ModelLike = Union[nn.Module, LoadedModel, Callable[[], Union[nn.Module, LoadedModel]]]
"""A value of :func:`rank_models`' ``models``: a module, a loaded model, or a zero-argument callable building one."""


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


def _assemble(rows, names, all_names, timing_rows, all_notes, all_errors) -> RankResult:
    """The :class:`RankResult` of the rows scored so far."""
    from gradsign.proxies.registry import get_proxy

    frame = pd.DataFrame(rows)
    member_nonfinite: dict[str, int] = {}
    # An ensemble ranks the models that were built: one whose creation failed has no score to rank
    # (ranked with them, it got a finite value and a rank, and moved every other model's value).
    built = np.array(["load" not in all_errors.get(m, {}) for m in frame["model"]], dtype=bool)
    for p in names:
        spec = get_proxy(p)
        if getattr(spec, "is_ensemble", False):  # over the models ranked together (see proxies.ensemble)
            members = {m: frame[m].to_numpy(dtype=float)[built] for m in spec.members}
            values = np.full(len(frame), np.nan)
            member_nonfinite[p] = 0
            dead = [m for m, v in members.items() if not np.isfinite(v).any()]
            if dead and built.any():  # a member that scored no model: the ensemble would be the others alone
                why = f"member {dead[0]} has no finite score on any model, so the ensemble ranks none"
                for i in np.flatnonzero(built):
                    all_errors.setdefault(frame.at[i, "model"], {})[p] = why
                    frame.at[i, "error"] = "; ".join(filter(None, [frame.at[i, "error"], f"{p}: {why}"]))
            elif built.any():
                values[built], member_nonfinite[p] = spec.aggregate(members)
            frame[p] = values
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
        raise ConfigError(f"model {name!r} is of type {type(item).__name__}, not a torch.nn.Module")
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model {name!r} is of type {type(model).__name__}, not a torch.nn.Module")
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
