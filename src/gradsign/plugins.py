"""Finding what registers itself: the one discovery helper behind every registry.

Proxies, spaces and predictors are registered by decorators in their own
modules; a registry imports its package's modules once, on first use, so that
adding one means adding a file. :func:`import_submodules` is that import, shared
by every registry (it was four copies).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable, Iterable


def import_submodules(package: str, *, skip: Iterable[str] = (), skip_if: Callable[[str], bool] | None = None) -> None:
    """Import every non-package module of ``package`` except private ones (``_x``), ``skip`` and ``skip_if``."""
    pkg = importlib.import_module(package)
    excluded = set(skip)
    for info in pkgutil.iter_modules(pkg.__path__):
        name = info.name
        if info.ispkg or name.startswith("_") or name in excluded or (skip_if is not None and skip_if(name)):
            continue
        importlib.import_module(f"{package}.{name}")


__all__ = ["import_submodules"]
