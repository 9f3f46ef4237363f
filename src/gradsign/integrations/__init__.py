"""Integrations of gradsign with other tools, each behind an optional extra.

* :mod:`gradsign.integrations.optuna` (extra ``optuna``): proxy screening inside
  an Optuna study (:class:`~gradsign.integrations.optuna.ProxyScreeningSampler`).

Importing :mod:`gradsign` never imports these; importing one without its extra
installed raises a one-line :class:`MissingExtraError` (a
:class:`~gradsign.errors.GradsignError` and an ImportError) naming the extra.
"""

from __future__ import annotations

import importlib

from gradsign.errors import GradsignError


class MissingExtraError(GradsignError, ImportError):
    """An integration's optional dependency is not installed (names the extra to install)."""


def require(module: str, extra: str, what: str) -> object:
    """Import ``module`` or raise a one-line :class:`MissingExtraError` naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtraError(
            f"{what} needs {module}, which is not installed: pip install 'gradsign[{extra}]'") from None


__all__ = ["MissingExtraError", "require"]
