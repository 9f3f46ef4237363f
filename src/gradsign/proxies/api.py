"""Public scoring API: ``score(model, inputs, targets, proxies)`` for any classifier.

Guarantees, all covered by tests:

* the caller's model is never changed: weights, BatchNorm running statistics
  and counters, ``requires_grad`` flags, the train/eval mode of every submodule
  and any existing ``.grad`` are as before (every proxy works on private copies);
* proxies that need the same batch gradient (grad_norm, snip, plain, grasp's
  first gradient) share one forward+backward pass;
* NaN and infinite scores are returned as they are, never replaced by a number
  (NASLib maps them to -1e8; we leave that choice to the caller, see
  :func:`count_nonfinite`);
* a proxy that fails raises :class:`ProxyError` naming it; a
  :class:`~gradsign.errors.GradsignError` from inside a proxy propagates unchanged.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from gradsign.errors import ConfigError, GradsignError
from gradsign.proxies.context import ProxyContext
from gradsign.proxies.registry import available_proxies, get_proxy, parse_proxy_list


class ProxyError(GradsignError):
    """A proxy failed on the given model and batch; the message names the proxy."""


def _resolve_names(proxies: str | Sequence[str]) -> list[str]:
    if isinstance(proxies, str):
        return parse_proxy_list(proxies)
    names = list(proxies)
    if not all(isinstance(n, str) for n in names):
        raise ConfigError(f"proxy names must be strings, got {names!r}")
    return parse_proxy_list(",".join(names))


def _first_line(text: str, limit: int = 300) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _check_batch(names: list[str], inputs: Any, targets: Any, input_shape: Any) -> None:
    specs = [get_proxy(n) for n in names]
    need_data = [s.name for s in specs if s.needs_data]
    need_labels = [s.name for s in specs if s.needs_labels]
    if inputs is None:
        if need_data:
            raise ConfigError(f"proxies {', '.join(need_data)} need inputs (a minibatch); got inputs=None")
        if input_shape is None:
            raise ConfigError("data-free scoring needs input_shape=(C, H, W) when inputs is None")
    elif not isinstance(inputs, torch.Tensor) or inputs.dim() < 1 or inputs.shape[0] < 1:
        raise ConfigError(f"inputs must be a tensor with a batch dimension, got {_describe(inputs)}")
    if targets is None:
        if need_labels:
            raise ConfigError(f"proxies {', '.join(need_labels)} need targets (labels); got targets=None")
    elif not isinstance(targets, torch.Tensor):
        raise ConfigError(f"targets must be a tensor, got {_describe(targets)}")
    elif inputs is not None and targets.shape[:1] != inputs.shape[:1]:
        raise ConfigError(
            f"inputs and targets disagree on the batch size: {inputs.shape[0]} vs {targets.shape[0] if targets.dim() else 'scalar'}"
        )


def _check_class_targets(targets: torch.Tensor) -> None:
    """For the default cross-entropy: class indices ``(N,)`` of an integer dtype, or class probabilities ``(N, C)``.

    Anything else failed inside the first proxy that took the loss, as that proxy's ProxyError.
    """
    integer = not targets.is_floating_point() and not targets.is_complex() and targets.dtype != torch.bool
    if (targets.dim() == 1 and integer) or (targets.dim() == 2 and targets.is_floating_point()):
        return
    raise ConfigError(f"targets must be class indices of shape (N,) and an integer dtype, or class probabilities "
                      f"of shape (N, C) for the default cross-entropy loss; got {targets.dtype} of shape "
                      f"{tuple(targets.shape)} (or pass loss_fn=...)")


def _describe(x: Any) -> str:
    if isinstance(x, torch.Tensor):
        return f"tensor of shape {tuple(x.shape)}"
    return type(x).__name__


def score(
    model: nn.Module,
    inputs: torch.Tensor | None,
    targets: torch.Tensor | None,
    proxies: str | Sequence[str] = "all",
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    seed: int | None = None,
    input_shape: Sequence[int] | None = None,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    timings: dict[str, float] | None = None,
    logits: int | str | Callable[[Any], torch.Tensor] | None = None,
    failures: dict[str, str] | None = None,
) -> dict[str, float]:
    """Score ``model`` on one minibatch with each of ``proxies``; returns ``{name: score}`` in request order.

    Args:
        model: any ``torch.nn.Module`` classifier whose ``forward`` returns logits.
            Never modified (see the module docstring).
        inputs: the minibatch ``(N, ...)``; may be None when only data-free proxies
            (synflow, l2_norm, params, flops) are asked for, with ``input_shape``.
            Moved to the model's device.
        targets: class indices ``(N,)`` for ``loss_fn``; may be None when no
            requested proxy needs labels.
        proxies: names (``["snip", "synflow"]``), a comma list (``"snip,synflow"``)
            or ``"all"``; see :func:`describe_proxies`.
        loss_fn: ``loss_fn(logits, targets) -> scalar``; default cross-entropy
            (mean over the batch).
        seed: when given, every proxy runs under a forked torch RNG seeded with it
            (the caller's global RNG state is restored afterwards), so stochastic
            layers (Dropout) give reproducible scores. Without it, such layers draw
            from the global RNG as usual.
        input_shape: shape of one sample, for data-free proxies when ``inputs`` is None.
        options: per-proxy keyword options, e.g. ``{"fisher": {"broadcast": False}}``.
        timings: if given, filled with ``{proxy: seconds}`` (wall clock): what each
            proxy costs on its own. A shared pass is charged in full to every proxy
            that reads it (jacob_cov: the forward and its own input backward; the
            others: the forward and the loss backward), so a proxy's seconds do not
            depend on what else was requested (up to the small extras a pass
            records for the others), and the seconds of proxies that share a pass
            add up to more than the call took. These are the seconds a search
            charges per proxy score.
        logits: which part of the model's output is the logits, for models whose
            ``forward`` returns a tuple, list or dict: an index (``0``), a key
            (``"logits"``) or a function of the output. None (default): the output
            must be a tensor. (Guessing is unsafe: NB201's official network returns
            ``(features, logits)``, others ``(logits, aux)``.)
        failures: if given, a proxy that fails on this model (a :class:`ProxyError`: e.g. AZ-NAS on a
            model with one block) scores NaN and its one-line message is put here under its name, and
            the other proxies are still scored; None (default): the first failure raises. Bad requests
            (:class:`ConfigError`) always raise.

    Inputs whose floating dtype differs from the model's (float64 images for a
    float32 model) are cast to the model's dtype; integer inputs are refused.

    Returns:
        ``{proxy: float}``; NaN/inf results are kept (count them with
        :func:`count_nonfinite`).

    Raises:
        ConfigError: unknown proxy name or option, or data/labels missing for a proxy.
        ProxyError: a proxy failed (the message names it; the cause is chained), unless ``failures`` is given.
    """
    names, options = _validate_request(model, proxies, inputs, targets, input_shape, options, seed)
    seed = None if seed is None else int(seed)  # numpy integers too
    if loss_fn is None and isinstance(targets, torch.Tensor) and any(get_proxy(n).needs_labels for n in names):
        _check_class_targets(targets)
    inputs = _match_dtype(model, inputs)
    if logits is not None:
        model = SelectLogits(model, logits)

    try:
        ctx = ProxyContext(
            model, inputs, targets, loss_fn,
            input_shape=tuple(input_shape) if input_shape is not None else None,
            requested=names,
        )
    except Exception as exc:  # every proxy works on private copies; without one nothing is safe to run
        raise ConfigError(
            f"cannot make a private copy of the model (copy.deepcopy failed): {type(exc).__name__}: {_first_line(str(exc))}"
        ) from exc
    device = ctx.device
    cuda_devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []

    results: dict[str, float] = {}
    # Gradients are needed even when the caller sits in a torch.no_grad() block.
    with torch.enable_grad(), torch.random.fork_rng(devices=cuda_devices, enabled=seed is not None):
        for name in names:
            spec = get_proxy(name)
            if seed is not None:
                # Reseeded per proxy: a proxy's score does not depend on which
                # proxies ran before it (shared passes aside).
                torch.random.default_generator.manual_seed(seed)
                for idx in cuda_devices:
                    with torch.cuda.device(idx):
                        torch.cuda.manual_seed(seed)
            ctx.start_proxy()
            start = time.perf_counter()
            try:
                results[name] = _as_float(name, _call_proxy(spec, ctx, name, options))
            except ProxyError as exc:
                if failures is None:
                    if proxies == "all":  # the default: a model one of them cannot score (AZ-NAS on an MLP)
                        raise ProxyError(f"{exc} (pass failures={{}} to score the other {len(names) - 1} proxies "
                                         f"and get NaN for the failing ones)") from exc.__cause__
                    raise
                failures[name] = str(exc)
                results[name] = math.nan
            if timings is not None:
                timings[name] = ctx.proxy_seconds(time.perf_counter() - start)
    return results


def _validate_request(model: Any, proxies: str | Sequence[str], inputs: Any, targets: Any,
                      input_shape: Sequence[int] | None, options: Mapping[str, Mapping[str, Any]] | None,
                      seed: Any) -> tuple[list[str], dict[str, Mapping[str, Any]]]:
    """Everything :func:`score` checks before touching the model: the proxy names and the options it takes."""
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    names = _resolve_names(proxies)
    ensembles = [n for n in names if getattr(get_proxy(n), "is_ensemble", False)]
    if ensembles:
        raise ConfigError(
            f"{ensembles[0]!r} is an ensemble: it ranks candidates scored together, not one model; score its "
            "members here and combine them with gradsign.ensemble_scores(...), or use gradsign.rank_models(...)")
    _check_batch(names, inputs, targets, input_shape)
    if isinstance(inputs, torch.Tensor) and input_shape is not None and tuple(input_shape) != tuple(inputs.shape[1:]):
        # data-free proxies build their input from input_shape: a contradicting one silently changed their scores
        raise ConfigError(f"input_shape {tuple(input_shape)} contradicts the inputs' per-sample shape "
                          f"{tuple(inputs.shape[1:])}: give one of the two")
    options = check_options_mapping(options)
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise ConfigError(f"options given for proxies not requested: {', '.join(unknown)}")
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))):
        raise ConfigError(f"seed must be an int or None, got {seed!r}")
    return names, options


def check_options_mapping(options: Any) -> dict[str, Mapping[str, Any]]:
    """``options`` as ``{proxy: {key: value}}`` (None: empty), or a one-line ConfigError showing the form."""
    example = "e.g. {'fisher': {'broadcast': False}}"
    if options is not None and not isinstance(options, Mapping):
        raise ConfigError(f"options must map proxy names to their options, {example}; got {options!r}")
    bad = [p for p, kv in (options or {}).items() if not isinstance(kv, Mapping)]
    if bad:
        raise ConfigError(f"options: give each proxy a mapping of its options, {example}; "
                          f"got {bad[0]!r}: {options[bad[0]]!r}")
    return dict(options or {})


def _call_proxy(spec: Any, ctx: ProxyContext, name: str, options: Mapping[str, Mapping[str, Any]]) -> Any:
    """One proxy on the context; a bad option is the caller's ConfigError, any other failure a ProxyError."""
    try:
        return spec(ctx, **options.get(name, {}))
    except GradsignError:
        raise
    except TypeError as exc:
        if name in options and "unexpected keyword argument" in str(exc):
            raise ConfigError(f"proxy {name!r}: {_first_line(str(exc))}") from exc
        raise ProxyError(f"proxy {name!r} failed: {type(exc).__name__}: {_first_line(str(exc))}") from exc
    except Exception as exc:
        raise ProxyError(f"proxy {name!r} failed: {type(exc).__name__}: {_first_line(str(exc))}") from exc


class SelectLogits(nn.Module):
    """Wraps a model whose ``forward`` returns a tuple / list / dict, returning only its logits.

    A tensor output is passed through unchanged, so one setting serves a mix of models.

    ``select``: an index, a key, or a function of the output. The wrapped model
    is a submodule, so every proxy sees its layers, parameters and buffers.
    """

    def __init__(self, model: nn.Module, select: int | str | Callable[[Any], torch.Tensor]) -> None:
        super().__init__()
        if not (callable(select) or isinstance(select, (int, str))) or isinstance(select, bool):
            raise ConfigError(f"logits must be an index, a key or a function of the output, got {select!r}")
        self.model = model
        self.select = select

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        out = self.model(*args, **kwargs)
        if isinstance(out, torch.Tensor):  # already the logits (one setting serves a mix of models)
            return out
        sel = self.select
        try:
            value = sel(out) if callable(sel) else out[sel]
        except (KeyError, IndexError, TypeError) as exc:
            raise ConfigError(f"logits={sel!r}: cannot be taken from the model's {_describe_output(out)} "
                              f"({type(exc).__name__}: {_first_line(str(exc))})") from None
        if not isinstance(value, torch.Tensor):
            raise ConfigError(f"logits={sel!r} selects a {type(value).__name__} from the model's "
                              f"{_describe_output(out)}, not a tensor")
        return value


def _describe_output(out: Any) -> str:
    if isinstance(out, torch.Tensor):
        return f"tensor output of shape {tuple(out.shape)}"
    if isinstance(out, dict):
        return f"dict output with keys {list(out)[:8]}"
    if isinstance(out, (tuple, list)):
        return f"{type(out).__name__} output of {len(out)} elements"
    return f"{type(out).__name__} output"


def _match_dtype(model: nn.Module, inputs: Any) -> Any:
    """``inputs`` cast to the model's floating dtype when both are floating and differ."""
    if not isinstance(inputs, torch.Tensor):
        return inputs
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    if dtype is None or inputs.dtype == dtype:
        return inputs
    if not inputs.is_floating_point():
        raise ConfigError(f"inputs are {str(inputs.dtype).replace('torch.', '')}, the model computes in "
                          f"{str(dtype).replace('torch.', '')}: convert the images to floating point first")
    return inputs.to(dtype)


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ProxyError(f"proxy {name!r} returned a tensor of shape {tuple(value.shape)}, not a scalar")
        value = value.item()
    # float() would also take True (1.0) and "3.5": a proxy returning those has a bug to show, not hide.
    if isinstance(value, (bool, np.bool_, str, bytes)):
        raise ProxyError(f"proxy {name!r} returned {type(value).__name__} {value!r}, not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ProxyError(f"proxy {name!r} returned {type(value).__name__}, not a number") from None


def parse_proxy_options(assignments: Iterable[str], proxies: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``["fisher.broadcast=false", "gradsign.engine=fast"]`` -> ``{"fisher": {"broadcast": False}, ...}``.

    Each item is ``PROXY.KEY=VALUE``; PROXY must be one of ``proxies`` (an ensemble's
    members count). VALUE is read as JSON where it parses (``3``, ``0.5``, ``true``,
    ``null``, ``"x"``), else taken as a string (``engine=fast``), and converted to the type of the
    option's default: a bool option takes true/false only (``False`` too), a number option a number
    (:func:`_option_value`; a mistyped value is refused, never run as a truthy string). KEY must be one of the
    proxy's keyword options (before any data is read or model built: a typo would otherwise
    turn every score of a long run into a NaN); its value is checked when the proxy runs.
    """
    names: set[str] = set()
    for n in proxies:
        spec = get_proxy(n)
        names.update(getattr(spec, "members", ()) or (spec.name,))
    out: dict[str, dict[str, Any]] = {}
    for item in assignments:
        target, eq, raw = str(item).partition("=")
        proxy, dot, key = target.strip().partition(".")
        if not eq or not dot or not proxy or not key.strip():
            raise ConfigError(f"--option {item!r}: write PROXY.KEY=VALUE, e.g. fisher.broadcast=false")
        if proxy not in names:
            raise ConfigError(f"--option {item!r}: {proxy!r} is not among the proxies scored "
                              f"({', '.join(sorted(names))})")
        params, any_keyword = _keyword_parameters(proxy)
        if not any_keyword and key.strip() not in params:
            raise ConfigError(f"--option {item!r}: {proxy} has no option {key.strip()!r}; "
                              f"its options: {', '.join(sorted(params)) or 'none'}")
        out.setdefault(proxy, {})[key.strip()] = _option_value(item, proxy, key.strip(), raw, params.get(key.strip()))
    return out


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _option_value(item: str, proxy: str, key: str, raw: str, param: Any) -> Any:
    """VALUE of ``PROXY.KEY=VALUE`` checked against the type of the option's default (bool, int, float, str).

    A bool option takes true / false in any case (``False`` as Python writes it, too), never a
    string that would be truthy; an int or float option a number; a str option the text as
    written. An option without a typed default takes JSON where it parses, else the text.
    """
    import inspect

    text = raw.strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    default = shown = None if param is None else param.default
    if default is None and param is not None and param.annotation is not inspect.Parameter.empty:
        # ``chunk_size: int | None = None``: the annotation says what the value may be besides null
        kinds = set(re.findall(r"[A-Za-z_]+", str(param.annotation))) - {"None", "NoneType", "Optional", "typing",
                                                                          "class"}
        if parsed is None:
            return None
        if kinds == {"bool"}:
            default = False
        elif kinds == {"int"}:
            default = 0
        elif kinds <= {"int", "float"} and kinds:
            default = 0.0
    if isinstance(default, bool):
        if text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        raise ConfigError(f"--option {item!r}: {proxy}.{key} is true or false (default {str(shown).lower()})")
    if isinstance(default, int) and not isinstance(parsed, bool) and isinstance(parsed, int):
        return parsed
    if isinstance(default, float) and not isinstance(parsed, bool) and isinstance(parsed, (int, float)):
        return parsed  # as written: 400 stays an int, so store keys made before this check still match
    if isinstance(default, (int, float)):
        kind = "an integer" if isinstance(default, int) else "a number"
        raise ConfigError(f"--option {item!r}: {proxy}.{key} is {kind} (default {shown!r}), got {text!r}")
    if isinstance(default, str):
        return parsed if isinstance(parsed, str) else text
    return parsed


def _keyword_parameters(proxy: str) -> tuple[dict[str, Any], bool]:
    """Single proxy ``proxy``'s keyword options ``{name: inspect.Parameter}``, and whether it takes ``**options``."""
    import inspect

    params = list(inspect.signature(get_proxy(proxy).fn).parameters.values())[1:]  # after the context
    named = {p.name: p for p in params if p.kind in (inspect.Parameter.KEYWORD_ONLY,
                                                     inspect.Parameter.POSITIONAL_OR_KEYWORD)}
    return named, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def proxy_option_names(proxy: str) -> set[str] | None:
    """The keyword options of single proxy ``proxy`` (None if it takes any keyword: ``**options``)."""
    named, any_keyword = _keyword_parameters(proxy)
    return None if any_keyword else set(named)


def proxy_option_defaults(proxy: str) -> dict[str, Any]:
    """Single proxy ``proxy``'s keyword options that have a default, with it: ``{"batch_size": None, ...}``."""
    import inspect

    named, _ = _keyword_parameters(proxy)
    return {name: p.default for name, p in named.items() if p.default is not inspect.Parameter.empty}


def minibatch_fingerprint(inputs: Any, targets: Any, input_shape: Sequence[int] | None = None) -> str:
    """``sha256:<16 hex>`` of a minibatch (shape, dtype and values of inputs and targets; ``input_shape`` when
    there are no inputs): what store keys and search journals know a user's minibatch by."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in (("inputs", inputs), ("targets", targets)):
        if tensor is None:
            digest.update(f"{name}:none;".encode())
            continue
        arr = np.ascontiguousarray(tensor.detach().cpu().numpy() if hasattr(tensor, "detach") else np.asarray(tensor))
        digest.update(f"{name}:{arr.dtype}:{arr.shape};".encode())
        digest.update(arr.tobytes())
    if inputs is None:
        digest.update(f"input_shape:{tuple(input_shape or ())}".encode())
    return f"sha256:{digest.hexdigest()[:16]}"


def ensemble_scores(ensemble: str, member_scores: Mapping[str, Sequence[float]]) -> tuple[Any, int]:
    """The ensemble ``ensemble`` (``"gradsign+jacob_cov"``, ``"meanrank(a+b)"``) over N candidates.

    ``member_scores``: ``{member: its scores of the N candidates}``, e.g. from N
    :func:`score` calls. Returns ``(values, n_nonfinite)``: a float64 array of N
    aggregates (higher is better) and how many candidates had a non-finite member
    score (ranked last by that member). See :mod:`gradsign.proxies.ensemble`.
    """
    spec = get_proxy(ensemble)
    if not getattr(spec, "is_ensemble", False):
        raise ConfigError(f"{ensemble!r} is a single proxy, not an ensemble (join names with '+')")
    return spec.aggregate(member_scores)


def count_nonfinite(results: Mapping[str, float] | Iterable[Mapping[str, float]]) -> dict[str, int]:
    """How many NaN/inf scores each proxy has, over one ``score()`` result or many.

    >>> count_nonfinite([{"snip": 1.0, "grasp": float("nan")}, {"snip": float("inf"), "grasp": 2.0}])
    {'snip': 1, 'grasp': 1}
    """
    rows = [results] if isinstance(results, Mapping) else list(results)
    counts: dict[str, int] = {}
    for row in rows:
        for name, value in row.items():
            counts.setdefault(name, 0)
            if not math.isfinite(float(value)):
                counts[name] += 1
    return counts


def describe_proxies() -> list[dict[str, Any]]:
    """One row per registered proxy, sorted by name, for listings such as ``gradsign proxies``.

    Keys: ``name``, ``description`` (one line), ``needs_data``, ``needs_labels``,
    ``direction`` (``"higher"`` or ``"lower"`` is better), ``version``, ``reference``.
    """
    return [
        {
            "name": s.name,
            "description": s.description,
            "needs_data": s.needs_data,
            "needs_labels": s.needs_labels,
            "direction": "higher" if s.higher_is_better else "lower",
            "version": s.version,
            "reference": s.reference,
        }
        for s in available_proxies()
    ]


__all__ = ["ProxyError", "SelectLogits", "check_options_mapping", "count_nonfinite", "describe_proxies", "ensemble_scores",
           "minibatch_fingerprint", "parse_proxy_options", "proxy_option_defaults", "score"]
