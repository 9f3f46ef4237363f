"""Rank any PyTorch classifiers at initialization with zero-cost proxies.

Typical use::

    from gradsign.workflows.rank import load_model, rank_models

    result = rank_models(
        {"resnet20": net_a, "vgg11": lambda: make_vgg(num_classes=10)},
        inputs, targets, proxies=["gradsign", "synflow", "snip"], num_classes=10,
    )
    print(result.frame)          # model, params, flops, proxies, rank_<proxy>, seconds, notes, error

Models are named by *specs* on the command line (:func:`load_model`):

* ``timm:NAME`` -- ``timm.create_model(NAME, pretrained=False, num_classes=K)``;
* ``torchvision:NAME`` -- ``torchvision.models.get_model(NAME, weights=None, num_classes=K)``;
* ``path/to/file.py:factory`` -- a function returning an ``nn.Module``; called with
  ``num_classes=K`` when its signature has that parameter.

Nothing is downloaded: no pretrained weights are ever requested. timm and
torchvision are optional (the ``models`` extra); a missing or broken install
is a one-line :class:`~gradsign.errors.ConfigError` giving the pip command that
installs builds matching the installed torch (:func:`install_hint`).

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
import difflib
import gc
import hashlib
import importlib.util
import inspect
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import pandas as pd
import torch
from torch import nn

from gradsign.errors import ConfigError, GradsignError

__all__ = [
    "LoadedModel",
    "ModelSpec",
    "RankInterrupted",
    "RankResult",
    "adapt_head",
    "install_hint",
    "load_model",
    "parse_model_spec",
    "rank_models",
    "validate_spec",
]

INFO_PROXIES = ("params", "flops")
"""Always computed for every model: the table shows them whether or not they are ranked by."""

PREFIXES = ("timm", "torchvision")


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec: ``kind`` is ``timm``, ``torchvision`` or ``file``."""

    text: str  # as the user wrote it; also the model's name in the results
    kind: str
    name: str  # timm/torchvision model name, or the factory function's name
    path: Path | None = None  # the .py file, for kind == "file"


def parse_model_spec(text: str) -> ModelSpec:
    """``"timm:resnet18"``, ``"torchvision:vgg11"`` or ``"models.py:make_net"`` -> :class:`ModelSpec`.

    Only the syntax is checked here (see :func:`validate_spec` for files,
    factories and packages). Raises ConfigError naming the spec.
    """
    text = str(text).strip()
    usage = "use timm:NAME, torchvision:NAME or path/to/file.py:factory"
    if ":" not in text:
        if text.endswith(".py"):
            raise ConfigError(f"model spec {text!r} names no factory function; write {text}:FUNCTION")
        raise ConfigError(f"model spec {text!r} has no prefix; {usage}")
    head, _, name = text.rpartition(":")
    if head in PREFIXES:
        if not name:
            raise ConfigError(f"model spec {text!r} names no model; write {head}:NAME")
        return ModelSpec(text, head, name)
    if head.endswith(".py"):
        if not name.isidentifier():
            raise ConfigError(f"model spec {text!r}: {name!r} is not a Python function name")
        return ModelSpec(text, "file", name, Path(head))
    prefix = text.split(":", 1)[0]
    raise ConfigError(f"model spec {text!r}: unknown prefix {prefix!r}; {usage}")


# --------------------------------------------------------------------------- optional packages


def _matching_torchvision() -> str | None:
    """The torchvision release series built for the installed torch (torch 2.N pairs with 0.(N+15))."""
    try:
        major, minor = (int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    except ValueError:  # pragma: no cover - unusual torch version strings
        return None
    return f"0.{minor + 15}.*" if major == 2 else None


def install_hint() -> str:
    """The pip command that installs timm and torchvision without replacing the installed torch (one line).

    ``pip install timm`` alone resolves to the newest torchvision, whose exact
    torch pin makes pip replace the installed torch (a CPU build by a multi-GB
    CUDA one); pinning torch to the installed version makes pip pick the
    matching torchvision instead. PyPI's torchvision wheels for Linux are CUDA
    builds that do not load into a CPU-only torch, hence the CPU index then.
    No square brackets (``gradsign[models]``): the CLI prints messages as rich markup.
    """
    base = torch.__version__.split("+")[0]
    tv = _matching_torchvision()
    hint = f"pip install timm 'torch=={base}'" + (f" 'torchvision=={tv}'" if tv else " torchvision")
    if "+cpu" in torch.__version__:
        hint += " --extra-index-url https://download.pytorch.org/whl/cpu (a CPU-only torch needs the CPU torchvision build)"
    return hint


def _import_optional(package: str, spec: str) -> Any:
    """Import timm or torchvision, turning a missing or broken install into a one-line ConfigError."""
    try:
        return importlib.import_module(package)
    except ModuleNotFoundError as exc:
        missing = exc.name or package
        what = f"{package} is not installed" if missing == package else f"{package} needs {missing}, which is not installed"
        raise ConfigError(f"{spec}: {what}; install it with: {install_hint()}") from None
    except Exception as exc:  # a torchvision built for another torch fails here, e.g. RuntimeError on its C++ ops
        raise ConfigError(
            f"{spec}: {package} is installed but fails to import ({type(exc).__name__}: {_first_line(str(exc))}); "
            f"usually a torchvision built for another torch ({torch.__version__}); reinstall with: {install_hint()}"
        ) from None


# --------------------------------------------------------------------------- factory files

_FILE_MODULES: dict[tuple[str, int], Any] = {}


def _load_file_module(path: Path, spec: str) -> Any:
    """Execute a factory file once per (path, modification time) and return it as a module."""
    if not path.is_file():
        raise ConfigError(f"{spec}: model file {path}: no such file")
    resolved = path.resolve()
    key = (str(resolved), resolved.stat().st_mtime_ns)
    if key in _FILE_MODULES:
        return _FILE_MODULES[key]
    # A private module name per file, so two files with the same name do not collide.
    mod_name = "gradsign_user_models_" + hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    mod_spec = importlib.util.spec_from_file_location(mod_name, resolved)
    if mod_spec is None or mod_spec.loader is None:  # pragma: no cover - .py files always have a loader
        raise ConfigError(f"{spec}: cannot import {path}")
    module = importlib.util.module_from_spec(mod_spec)
    # The file may import helpers next to it, as it would when run as a script.
    sys.path.insert(0, str(resolved.parent))
    sys.modules[mod_name] = module  # dataclasses and pickling look the module up here
    try:
        mod_spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(mod_name, None)
        raise ConfigError(f"{spec}: importing {path} failed: {type(exc).__name__}: {_first_line(str(exc))}") from exc
    finally:
        try:
            sys.path.remove(str(resolved.parent))
        except ValueError:  # pragma: no cover - the file removed it itself
            pass
    _FILE_MODULES[key] = module
    return module


def _file_factory(spec: ModelSpec) -> Callable[..., Any]:
    module = _load_file_module(spec.path, spec.text)
    factory = getattr(module, spec.name, None)
    if factory is None:
        functions = sorted(n for n, v in vars(module).items()
                           if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == module.__name__)
        listing = ", ".join(functions) if functions else "none"
        raise ConfigError(f"{spec.text}: {spec.path} has no {spec.name!r}; functions defined there: {listing}")
    if not callable(factory):
        raise ConfigError(f"{spec.text}: {spec.name!r} in {spec.path} is a {type(factory).__name__}, not a function")
    return factory


def _accepts_num_classes(factory: Callable[..., Any]) -> bool:
    """True when ``num_classes`` can be passed by keyword (a ``**kwargs`` alone does not count: it may drop it)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    p = params.get("num_classes")
    return p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)


# --------------------------------------------------------------------------- validation


def validate_spec(spec: str | ModelSpec) -> ModelSpec:
    """Check that a spec can be loaded, without building the model.

    Files exist and define the factory; timm/torchvision are importable and know
    the name. Meant to run for every spec before any (slow) scoring starts, so a
    typo in the last spec does not surface after minutes. Raises ConfigError.
    """
    spec = parse_model_spec(spec) if isinstance(spec, str) else spec
    if spec.kind == "file":
        _file_factory(spec)
    elif spec.kind == "timm":
        timm = _import_optional("timm", spec.text)
        if not timm.is_model(spec.name):
            raise ConfigError(f"{spec.text}: unknown timm model {spec.name!r}{_suggest(spec.name, timm.list_models())}")
    else:
        tv = _import_optional("torchvision", spec.text)
        names = tv.models.list_models(module=tv.models)  # classification models only
        if spec.name not in names:
            other = spec.name in tv.models.list_models()
            why = "is not a classification model" if other else "is not a torchvision model"
            raise ConfigError(f"{spec.text}: {spec.name!r} {why}{_suggest(spec.name, names)}")
    return spec


def _suggest(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else ""


# --------------------------------------------------------------------------- loading


@dataclass
class LoadedModel:
    """A model ready to score, with what was done to make it fit the dataset.

    Attributes:
        name: the name in the results (the spec as written, for loaded specs).
        model: the ``nn.Module``.
        notes: human-readable lines, e.g. ``"classifier head replaced: 1000 -> 10 classes"``.
    """

    name: str
    model: nn.Module
    notes: list[str] = field(default_factory=list)


def load_model(
    spec: str | ModelSpec,
    num_classes: int,
    *,
    input_shape: Sequence[int] = (3, 32, 32),
    seed: int | None = 0,
    dataset: str | None = None,
    logits: int | str | Callable[[Any], torch.Tensor] | None = None,
) -> LoadedModel:
    """Build the model of ``spec`` for ``num_classes`` classes and inputs of ``input_shape``.

    Args:
        spec: ``timm:NAME``, ``torchvision:NAME`` or ``path/to/file.py:factory``.
        num_classes: classes of the dataset; the classifier head is made to output
            that many logits (see the module docstring for how, per kind).
        input_shape: ``(C, H, W)`` of one input, used to check the output and to
            state a mismatch with the size the model was designed for.
        seed: ``torch.manual_seed(seed)`` right before the model is created (and
            again before a head is replaced), so the same spec and seed give the
            same weights; None leaves the global RNG as it is.
        dataset: dataset name, only for the wording of the notes.
        logits: for a model whose forward returns a tuple / list / dict, which element
            is the logits; the model is wrapped (:class:`~gradsign.proxies.api.SelectLogits`)
            before its output size is checked.

    Raises:
        ConfigError: bad spec, missing file or factory, timm/torchvision missing,
            unknown model name, a factory that does not return an ``nn.Module``,
            or a head that cannot be adapted (one line naming the spec).
    """
    spec = validate_spec(spec)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes must be a positive integer, got {num_classes!r}")
    input_shape = tuple(int(s) for s in input_shape)
    if seed is not None:
        torch.manual_seed(seed)
    notes: list[str] = []
    designed: tuple[int, ...] | None = None
    if spec.kind == "timm":
        model, designed = _create_timm(spec, num_classes, input_shape, seed, notes)
    elif spec.kind == "torchvision":
        model, designed = _create_torchvision(spec, num_classes, input_shape, notes)
    else:
        model = _create_from_file(spec, num_classes, notes)
    if logits is not None:
        from gradsign.proxies.api import SelectLogits

        model = SelectLogits(model, logits)
    if designed is not None and tuple(designed[-2:]) != input_shape[-2:]:
        data = f" ({dataset})" if dataset else ""
        notes.append(f"input {_hw(input_shape)}{data}; model designed for {_hw(designed)}")
    if seed is not None:
        torch.manual_seed(seed)  # a replaced head is initialised from a known state too
    notes.extend(adapt_head(model, num_classes, input_shape, what=spec.text))
    return LoadedModel(spec.text, model, notes)


def _hw(shape: Sequence[int]) -> str:
    return f"{shape[-2]}x{shape[-1]}"


def _create_timm(spec: ModelSpec, k: int, input_shape: tuple[int, ...], seed: int | None,
                 notes: list[str]) -> tuple[nn.Module, tuple[int, ...] | None]:
    timm = _import_optional("timm", spec.text)
    model = timm.create_model(spec.name, pretrained=False, num_classes=k)
    cfg = dict(getattr(model, "pretrained_cfg", None) or {})
    designed = tuple(cfg["input_size"]) if cfg.get("input_size") else None
    default_k = cfg.get("num_classes", 1000)
    if default_k != k:
        notes.append(f"classifier head replaced: {default_k} -> {k} classes (timm num_classes={k})")
    if cfg.get("fixed_input_size") and designed is not None and tuple(designed[-2:]) != input_shape[-2:]:
        # Fixed-size models (ViT, ...) reject other sizes at forward time; most take img_size.
        if seed is not None:
            torch.manual_seed(seed)
        try:
            model = timm.create_model(spec.name, pretrained=False, num_classes=k, img_size=input_shape[-2:])
            notes.append(f"created with img_size={_hw(input_shape)} (fixed-input-size model)")
        except Exception as exc:
            notes.append(f"fixed input size {_hw(designed)}; img_size={_hw(input_shape)} not accepted "
                         f"({type(exc).__name__}: {_first_line(str(exc), 120)})")
    return model, designed


# torchvision models whose auxiliary classifiers make forward() return a namedtuple in train mode.
_TV_AUX = {"inception_v3", "googlenet"}


def _create_torchvision(spec: ModelSpec, k: int, input_shape: tuple[int, ...],
                        notes: list[str]) -> tuple[nn.Module, tuple[int, ...] | None]:
    tv = _import_optional("torchvision", spec.text)
    kwargs: dict[str, Any] = {"weights": None, "num_classes": k}
    if spec.name in _TV_AUX:
        kwargs["aux_logits"] = False
        notes.append("auxiliary classifiers off (aux_logits=False): forward returns the logits only")
    if spec.name.startswith("vit_"):
        kwargs["image_size"] = input_shape[-1]  # ViT checks the input size against its position embeddings
    model = tv.models.get_model(spec.name, **kwargs)
    if "image_size" in kwargs:
        notes.append(f"created with image_size={input_shape[-1]} (fixed-input-size model)")
    designed, default_k = None, 1000
    try:
        weights = tv.models.get_model_weights(spec.name).DEFAULT
        crop = weights.transforms().crop_size  # the evaluation crop of the published weights; nothing downloaded
        designed = (3, crop[0], crop[-1])
        default_k = len(weights.meta.get("categories") or ()) or 1000
    except Exception:  # no published weights for this model: size unknown, nothing to state
        pass
    if default_k != k:
        notes.append(f"classifier head replaced: {default_k} -> {k} classes (torchvision num_classes={k})")
    return model, designed


def _create_from_file(spec: ModelSpec, k: int, notes: list[str]) -> nn.Module:
    factory = _file_factory(spec)
    if _accepts_num_classes(factory):
        model = factory(num_classes=k)
        notes.append(f"factory called with num_classes={k}")
    else:
        model = factory()
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{spec.text}: the factory returned {type(model).__name__}, not a torch.nn.Module")
    return model


# --------------------------------------------------------------------------- head adaptation


def _probe(model: nn.Module, input_shape: Sequence[int]) -> tuple[torch.Size | None, str | None]:
    """Output shape of one all-zero input in eval mode, or (None, why not); the model's modes are restored."""
    modes = [(m, m.training) for m in model.modules()]
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
    model.eval()  # eval: BatchNorm statistics are not touched and a batch of one is fine
    try:
        with torch.no_grad():
            out = model(torch.zeros((1, *input_shape), device=device, dtype=dtype))
    except Exception as exc:
        return None, f"{type(exc).__name__}: {_first_line(str(exc), 160)}"
    finally:
        for m, mode in modes:
            m.training = mode
    if not isinstance(out, torch.Tensor):
        return None, f"forward returned {type(out).__name__}, not a logits tensor"
    return out.shape, None


def adapt_head(model: nn.Module, num_classes: int, input_shape: Sequence[int], *, what: str = "model") -> list[str]:
    """Make ``model`` output ``num_classes`` logits, in place; returns notes saying what was done.

    One forward of a zero input (eval mode, no grad; the train/eval mode of every
    module is restored) reads the output size. If it differs, the last
    ``nn.Linear`` whose ``out_features`` equals it is replaced by a fresh
    ``nn.Linear(in_features, num_classes)`` (drawn from the global RNG: seed
    first for reproducibility). A forward that fails leaves the model as it is,
    with a note: the proxies then report the error per proxy.

    Raises:
        ConfigError: the output is not ``(1, n)`` logits, or there is no Linear
            to replace, or replacing it did not give ``num_classes`` outputs.
    """
    shape, why = _probe(model, input_shape)
    if shape is None:
        return [f"could not check the output size: forward of one {'x'.join(map(str, input_shape))} input failed ({why})"]
    if len(shape) != 2:
        raise ConfigError(f"{what}: output of shape {tuple(shape)} for one input; expected (1, classes) logits")
    out = int(shape[-1])
    if out == num_classes:
        return []
    target = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and module.out_features == out:
            target = name  # the last one in registration order: the classifier in every common layout
    if target is None:
        raise ConfigError(
            f"{what}: outputs {out} logits, the dataset has {num_classes} classes, and there is no nn.Linear "
            f"with {out} outputs to replace; make the factory accept num_classes"
        )
    old = model.get_submodule(target)
    parent_name, _, attr = target.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None,
                    device=old.weight.device, dtype=old.weight.dtype)
    setattr(parent, attr, new)
    shape, why = _probe(model, input_shape)
    if shape is None or tuple(shape) != (1, num_classes):
        got = f"output {tuple(shape)}" if shape is not None else why
        raise ConfigError(f"{what}: replacing Linear {target!r} did not give {num_classes} outputs ({got}); "
                          "make the factory accept num_classes")
    return [f"classifier head replaced: {out} -> {num_classes} classes (Linear {target!r}, fresh init)"]


# --------------------------------------------------------------------------- ranking


ModelLike = Union[nn.Module, LoadedModel, Callable[[], Union[nn.Module, LoadedModel]]]


@dataclass
class RankResult:
    """The outcome of :func:`rank_models`.

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
    """

    frame: pd.DataFrame
    proxies: list[str]
    timings: pd.DataFrame
    notes: dict[str, list[str]]
    errors: dict[str, dict[str, str]]
    higher_is_better: dict[str, bool]
    #: ensemble -> models with a non-finite member score (ranked last by that member, never dropped)
    member_nonfinite: dict[str, int] = field(default_factory=dict)

    def sorted(self, by: str | None = None) -> pd.DataFrame:
        """The frame ordered by ``rank_<by>`` (default: the first proxy), unranked (NaN) rows last."""
        by = by or self.proxies[0]
        if by not in self.proxies:
            raise ConfigError(f"cannot sort by {by!r}: not among the ranked proxies ({', '.join(self.proxies)})")
        return self.frame.sort_values(f"rank_{by}", na_position="last", kind="stable").reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: rows (NaN as None), per-proxy timings, directions, notes and errors."""
        rows = [{k: _jsonable(v) for k, v in row.items()} for row in self.frame.to_dict(orient="records")]
        timings = {m: {k: _jsonable(v) for k, v in r.items()} for m, r in self.timings.to_dict(orient="index").items()}
        return {"proxies": self.proxies, "higher_is_better": self.higher_is_better, "models": rows,
                "seconds": timings, "notes": self.notes, "errors": self.errors,
                "ensemble_member_nonfinite": self.member_nonfinite}


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
    from gradsign.proxies.registry import get_proxy, parse_proxy_list

    names = parse_proxy_list(proxies) if isinstance(proxies, str) else parse_proxy_list(",".join(proxies))
    if not models:
        raise ConfigError("no model to rank")
    if not isinstance(inputs, torch.Tensor) or inputs.dim() < 2:
        raise ConfigError(f"inputs must be a batch tensor (N, ...), got {type(inputs).__name__}")
    if not isinstance(targets, torch.Tensor) or targets.shape[:1] != inputs.shape[:1]:
        raise ConfigError("targets must be a tensor with one label per input")
    from gradsign.proxies.ensemble import split_members

    singles, _ = split_members(names)  # an ensemble's members are scored; it is aggregated over the models
    options = {k: dict(v) for k, v in (options or {}).items()}
    unknown = sorted(set(options) - set(singles))
    if unknown:
        raise ConfigError(f"options given for proxies not requested: {', '.join(unknown)}")
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
        return _first_line(str(exc))
    return f"{type(exc).__name__}: {_first_line(str(exc))}"


def _first_line(text: str, limit: int = 600) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."
