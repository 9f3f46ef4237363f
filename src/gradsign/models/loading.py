"""Building the model of a spec from its source, seeded, with its head fitted and every change noted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from gradsign.errors import ConfigError
from gradsign.models.heads import adapt_head
from gradsign.models.sources import ModelSpec, hw, source_of, validate_spec


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
        spec: ``timm:NAME``, ``torchvision:NAME``, ``path/to/file.py:factory`` or
            ``SOURCE:NAME`` of any registered source (:mod:`gradsign.models.sources`).
        num_classes: classes of the dataset; the classifier head is made to output
            that many logits (by the source, else by :func:`~gradsign.models.heads.adapt_head`).
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
    created = source_of(spec).create(spec, num_classes, input_shape, seed)
    model, notes, designed = created.model, list(created.notes), created.designed_input
    if logits is not None:
        from gradsign.proxies.api import SelectLogits

        model = SelectLogits(model, logits)
    if designed is not None and tuple(designed[-2:]) != input_shape[-2:]:
        data = f" ({dataset})" if dataset else ""
        notes.append(f"input {hw(input_shape)}{data}; model designed for {hw(designed)}")
    if seed is not None:
        torch.manual_seed(seed)  # a replaced head is initialised from a known state too
    notes.extend(adapt_head(model, num_classes, input_shape, what=spec.text, replace=not created.built_for_classes))
    return LoadedModel(spec.text, model, notes)


__all__ = ["LoadedModel", "load_model"]
