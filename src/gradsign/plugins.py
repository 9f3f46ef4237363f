"""Finding what registers itself: the discovery helper behind every registry, and user plug-ins.

Proxies, spaces, predictors and model sources are registered by decorators in
their own modules; a registry (:class:`gradsign.registry.Registry`) imports its
package's modules once, on first use, so that adding one means adding a file.
:func:`import_submodules` is that import.

A user's own proxies, spaces, predictors or model sources live in their own module,
registered with the same decorators (``@register_proxy``, ``@register_model_source``
...). Importing that module is all the Python API needs. The command line imports it
when asked (:func:`load_plugins`):

* ``gradsign --plugin my_proxies score ...`` (a module name on ``sys.path``, or a
  path to a ``.py`` file; repeatable);
* ``$GRADSIGN_PLUGINS`` (the same, separated by ``os.pathsep``);
* installed packages that declare an entry point in the group ``gradsign.plugins``
  (``[project.entry-points."gradsign.plugins"] mine = "my_package.proxies"``).
"""

from __future__ import annotations

import importlib
import importlib.util
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


ENTRY_POINT_GROUP = "gradsign.plugins"
_LOADED: set[str] = set()


def load_plugins(specs: Iterable[str] = (), *, environment: bool = True, entry_points: bool = True) -> list[str]:
    """Import user plug-in modules (names or ``.py`` paths), ``$GRADSIGN_PLUGINS`` and entry points.

    Returns the names imported. A plug-in that cannot be imported is a one-line
    :class:`~gradsign.errors.ConfigError` naming it.
    """
    import os
    import sys
    from pathlib import Path

    from gradsign.errors import ConfigError

    wanted = [str(s).strip() for s in specs if str(s).strip()]
    if environment and os.environ.get("GRADSIGN_PLUGINS"):
        wanted += [s for s in os.environ["GRADSIGN_PLUGINS"].split(os.pathsep) if s.strip()]
    # .py paths made absolute, duplicates dropped: the list is handed to worker processes below
    wanted = list(dict.fromkeys(str(Path(w).expanduser().resolve()) if w.endswith(".py") else w for w in wanted))
    loaded: list[str] = []
    for spec in wanted:
        if spec in _LOADED:
            loaded.append(spec)
            continue
        try:
            if spec.endswith(".py"):
                path = Path(spec).expanduser()
                if not path.is_file():
                    raise ConfigError(f"plug-in {spec}: no such file")
                name = f"gradsign_plugin_{path.stem}"
                module_spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[name] = module
                module_spec.loader.exec_module(module)
            else:
                importlib.import_module(spec)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of user code is reported in one line
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ConfigError(f"plug-in {spec}: cannot be imported ({type(exc).__name__}: {first})") from None
        _LOADED.add(spec)
        loaded.append(spec)
    if wanted:
        # Worker processes (--backend process) inherit the environment and load the same plug-ins.
        os.environ["GRADSIGN_PLUGINS"] = os.pathsep.join(wanted)
    if entry_points:
        from importlib.metadata import entry_points as _entry_points

        for ep in _entry_points(group=ENTRY_POINT_GROUP):
            try:
                ep.load()
            except Exception as exc:  # noqa: BLE001
                raise ConfigError(f"plug-in entry point {ep.name} ({ep.value}): cannot be loaded "
                                  f"({type(exc).__name__}: {exc})") from None
            loaded.append(ep.value)
    return loaded


def loaded_plugin_files() -> list[str]:
    """The source files of the plug-ins this process loaded (``.py`` paths, and the files of module names)."""
    import sys

    files = []
    for spec in sorted(_LOADED):
        if spec.endswith(".py"):
            files.append(spec)
        else:
            path = getattr(sys.modules.get(spec), "__file__", None)
            if path:
                files.append(str(path))
    return files


__all__ = ["ENTRY_POINT_GROUP", "import_submodules", "load_plugins", "loaded_plugin_files"]
