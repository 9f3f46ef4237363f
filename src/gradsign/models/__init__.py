"""Where ranked models come from: a registry of model sources, head surgery and loading.

* :mod:`gradsign.models.sources` -- specs (``SOURCE:NAME``, ``file.py:factory``), the
  :class:`ModelSource` interface and :func:`register_model_source`;
* one module per built-in source: ``timm_source``, ``torchvision_source``, ``file_source``;
* :mod:`gradsign.models.heads` -- :func:`adapt_head` (classifier head surgery);
* :mod:`gradsign.models.loading` -- :func:`load_model` (seeded creation + notes).

Importing this package does not import torch; the names below are served lazily.
"""

from __future__ import annotations

from typing import Any

from gradsign.models.sources import (CreatedModel, ModelSource, ModelSpec, available_model_sources,
                                     parse_model_spec, register_model_source, validate_spec)

_LAZY = {
    "LoadedModel": "gradsign.models.loading",
    "load_model": "gradsign.models.loading",
    "adapt_head": "gradsign.models.heads",
    "install_hint": "gradsign.models._optional",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gradsign.models' has no attribute {name!r}")


__all__ = [
    "CreatedModel",
    "ModelSource",
    "ModelSpec",
    "available_model_sources",
    "parse_model_spec",
    "register_model_source",
    "validate_spec",
    *_LAZY,
]
