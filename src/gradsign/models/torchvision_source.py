"""``torchvision:NAME``: ``torchvision.models.get_model(NAME, weights=None, num_classes=K)`` (classification only)."""

from __future__ import annotations

from typing import Any

from gradsign.errors import ConfigError
from gradsign.models._optional import import_optional
from gradsign.models.sources import CreatedModel, ModelSource, ModelSpec, register_model_source, suggest

# torchvision models whose auxiliary classifiers make forward() return a namedtuple in train mode.
_AUX_LOGITS = {"inception_v3", "googlenet"}


@register_model_source("torchvision")
class TorchvisionSource(ModelSource):
    description = "torchvision.models.get_model(NAME, weights=None, num_classes=K)"

    def check(self, spec: ModelSpec) -> None:
        tv = import_optional("torchvision", spec.text)
        names = tv.models.list_models(module=tv.models)  # classification models only
        if spec.name not in names:
            other = spec.name in tv.models.list_models()
            why = "is not a classification model" if other else "is not a torchvision model"
            raise ConfigError(f"{spec.text}: {spec.name!r} {why}{suggest(spec.name, names)}")

    def create(self, spec: ModelSpec, num_classes: int, input_shape: tuple[int, ...],
               seed: int | None) -> CreatedModel:
        tv = import_optional("torchvision", spec.text)
        k, notes = num_classes, []
        kwargs: dict[str, Any] = {"weights": None, "num_classes": k}
        if spec.name in _AUX_LOGITS:
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
        return CreatedModel(model, notes, designed)
