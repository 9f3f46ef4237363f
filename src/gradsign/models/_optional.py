"""timm and torchvision are optional (the ``models`` extra): importing them, and saying how to install them."""

from __future__ import annotations

import importlib
from typing import Any

from gradsign.errors import ConfigError
from gradsign.models.sources import first_line


def _matching_torchvision() -> str | None:
    """The torchvision release series built for the installed torch (torch 2.N pairs with 0.(N+15))."""
    import torch

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
    import torch

    base = torch.__version__.split("+")[0]
    tv = _matching_torchvision()
    hint = f"pip install timm 'torch=={base}'" + (f" 'torchvision=={tv}'" if tv else " torchvision")
    if "+cpu" in torch.__version__:
        hint += " --extra-index-url https://download.pytorch.org/whl/cpu (a CPU-only torch needs the CPU torchvision build)"
    return hint


def import_optional(package: str, spec: str) -> Any:
    """Import timm or torchvision, turning a missing or broken install into a one-line ConfigError."""
    try:
        return importlib.import_module(package)
    except ModuleNotFoundError as exc:
        missing = exc.name or package
        what = f"{package} is not installed" if missing == package else f"{package} needs {missing}, which is not installed"
        raise ConfigError(f"{spec}: {what}; install it with: {install_hint()}") from None
    except Exception as exc:  # a torchvision built for another torch fails here, e.g. RuntimeError on its C++ ops
        import torch

        raise ConfigError(
            f"{spec}: {package} is installed but fails to import ({type(exc).__name__}: {first_line(str(exc))}); "
            f"usually a torchvision built for another torch ({torch.__version__}); reinstall with: {install_hint()}"
        ) from None
