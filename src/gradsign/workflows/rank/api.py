"""``gradsign.rank``: models named by specs, ranked on one minibatch of a dataset (what ``gradsign rank`` runs).

Every setting is validated and every spec resolved here, before the data is read
or a model built; the command line only parses its options and displays the result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from gradsign.data.paths import note_used
from gradsign.errors import ConfigError
from gradsign.models.loading import LoadedModel, load_model
from gradsign.models.sources import ModelSpec, validate_spec
from gradsign.workflows.rank.result import RankInterrupted, RankResult, RankSetup
from gradsign.workflows.rank.scoring import _proxy_names, rank_models

SAMPLINGS = ("random", "grasp")
IMAGE_SIZES = (8, 1024)
"""Smallest and largest ``image_size`` accepted (bilinear resizing of the minibatch)."""


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
    for spec in entries.values():  # a model file is an input like the data: hashed in the provenance
        if isinstance(spec, ModelSpec) and spec.path is not None:
            note_used(spec.path)
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
                                               partial=(stop.done, stop.total), provenance=_provenance(setup, threads))
        raise
    return dataclasses.replace(result, setup=setup, sort_by=sort_by, provenance=_provenance(setup, threads))


def _provenance(setup: RankSetup, threads: int) -> dict[str, Any]:
    from gradsign.reports.provenance import collect, process_started

    # the threads the proxies ran with (torch's own setting is restored by then: it said 1 for --threads 2)
    return collect(seeds=[setup.seed], started=process_started(), device=setup.device, threads=threads)


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
        raise ConfigError(f"--sort-by {sort_by!r}: not among --proxies ({', '.join(names)}); add it there to sort by it")


def _model_entries(models: Sequence[str | ModelSpec] | Mapping[str, Any]) -> dict[str, Any]:
    """``{name: ModelSpec (validated) | module | callable}`` in the order given; duplicates refused."""
    if isinstance(models, (str, ModelSpec)):
        models = [models]
    if isinstance(models, Mapping):
        items = [(str(k), validate_spec(v) if isinstance(v, (str, ModelSpec)) else v) for k, v in models.items()]
    else:
        objects = [m for m in models if not isinstance(m, (str, ModelSpec))]
        if objects:  # a module or a factory has no name to show: the mapping gives it one
            raise ConfigError(f"models given as objects ({type(objects[0]).__name__}) need names: pass a dict "
                              "{name: module_or_factory}, or spec strings (timm:NAME, file.py:factory)")
        specs = [validate_spec(m) for m in models]
        items = [(s.text, s) for s in specs]
    if not items:
        raise ConfigError("no model to rank")
    entries: dict[str, Any] = {}
    same: dict[tuple, str] = {}  # one model spelled two ways (m.py:f, ./m.py:f) would be ranked twice
    for name, value in items:
        if name in entries:
            raise ConfigError(f"model {name!r} is given twice")
        if isinstance(value, ModelSpec):
            where = (value.kind, value.name, value.path.resolve() if value.path is not None else None)
            if where in same:
                raise ConfigError(f"model {name!r} is {same[where]!r} again (the same factory of the same file)")
            same[where] = name
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
