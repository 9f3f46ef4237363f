"""``path/to/file.py:factory``: a function in a Python file returning an ``nn.Module``.

The factory is called with ``num_classes=K`` when its signature has that parameter.
The file is imported once per (path, modification time) as a private module, with its
own folder on ``sys.path`` so it may import helpers next to it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gradsign.errors import ConfigError
from gradsign.models.sources import (FILE_SOURCE, CreatedModel, ModelSource, ModelSpec, accepts_num_classes,
                                     first_line, register_model_source)

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
        raise ConfigError(f"{spec}: importing {path} failed: {type(exc).__name__}: {first_line(str(exc))}") from exc
    finally:
        try:
            sys.path.remove(str(resolved.parent))
        except ValueError:  # pragma: no cover - the file removed it itself
            pass
    _FILE_MODULES[key] = module
    return module


def file_factory(spec: ModelSpec) -> Callable[..., Any]:
    """The factory function a ``file.py:factory`` spec names (ConfigError naming the spec if absent)."""
    module = _load_file_module(spec.path, spec.text)
    factory = getattr(module, spec.name, None)
    if factory is None:
        functions = sorted(n for n, v in vars(module).items()
                           if callable(v) and not n.startswith("_") and getattr(v, "__module__", None) == module.__name__)
        listing = ", ".join(functions) if functions else "none"
        raise ConfigError(f"{spec.text}: {spec.path} has no {spec.name!r}; functions defined there: {listing}")
    if not callable(factory):
        raise ConfigError(f"{spec.text}: {spec.name!r} in {spec.path} is of type {type(factory).__name__}, not a function")
    return factory


@register_model_source(FILE_SOURCE)
class FileSource(ModelSource):
    description = "factory(num_classes=K) if the function has a num_classes parameter, else factory()"
    syntax = "path/to/file.py:factory"

    def parse(self, text: str, rest: str) -> ModelSpec:
        path, _, name = rest.rpartition(":")
        if not path.endswith(".py"):
            raise ConfigError(f"model spec {text!r}: write {FILE_SOURCE}:path/to/file.py:factory")
        if not name.isidentifier():
            raise ConfigError(f"model spec {text!r}: {name!r} is not a Python function name")
        return ModelSpec(text, FILE_SOURCE, name, Path(path))

    def check(self, spec: ModelSpec) -> None:
        file_factory(spec)

    def create(self, spec: ModelSpec, num_classes: int, input_shape: tuple[int, ...],
               seed: int | None) -> CreatedModel:
        from torch import nn

        factory = file_factory(spec)
        notes = []
        if accepts_num_classes(factory):
            model = factory(num_classes=num_classes)
            notes.append(f"factory called with num_classes={num_classes}")
        else:
            model = factory()
        if not isinstance(model, nn.Module):
            raise ConfigError(f"{spec.text}: the factory returned {type(model).__name__}, not a torch.nn.Module")
        return CreatedModel(model, notes, built_for_classes=accepts_num_classes(factory))
