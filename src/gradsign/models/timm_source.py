"""``timm:NAME``: ``timm.create_model(NAME, pretrained=False, num_classes=K)``; nothing is downloaded."""

from __future__ import annotations

from gradsign.errors import ConfigError
from gradsign.models._optional import import_optional
from gradsign.models.sources import (CreatedModel, ModelSource, ModelSpec, first_line, hw, register_model_source,
                                     suggest)


@register_model_source("timm")
class TimmSource(ModelSource):
    description = "timm.create_model(NAME, pretrained=False, num_classes=K)"

    def check(self, spec: ModelSpec) -> None:
        timm = import_optional("timm", spec.text)
        if not timm.is_model(spec.name):
            raise ConfigError(f"{spec.text}: unknown timm model {spec.name!r}{suggest(spec.name, timm.list_models())}")

    def create(self, spec: ModelSpec, num_classes: int, input_shape: tuple[int, ...],
               seed: int | None) -> CreatedModel:
        import torch

        timm = import_optional("timm", spec.text)
        k, notes = num_classes, []
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
                notes.append(f"created with img_size={hw(input_shape)} (fixed-input-size model)")
            except Exception as exc:
                notes.append(f"fixed input size {hw(designed)}; img_size={hw(input_shape)} not accepted "
                             f"({type(exc).__name__}: {first_line(str(exc), 120)})")
        return CreatedModel(model, notes, designed)
