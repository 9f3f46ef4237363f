"""The registry of search algorithms (the *samplers* of a :class:`~gradsign.search.study.Study`).

One module per algorithm, each a :class:`SearchAlgorithm` subclass decorated
with :func:`register_search`; a user's algorithm registers the same way from
their own code.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from gradsign.errors import ConfigError
from gradsign.registry import Registry
from gradsign.search.study import Study


class SearchAlgorithm(ABC):
    """A NAS algorithm: its settings in ``__init__``, one run in :meth:`run`.

    ``run`` proposes archs through ``study.space`` and trains them with
    ``study.evaluate`` until the study raises :class:`BudgetExhausted`; it keeps
    no state on ``self`` between runs, so one instance can serve many runs.
    Register a subclass with :func:`register_search` (see docs/search.md).
    """

    #: registry name, set by :func:`register_search`
    name: ClassVar[str] = ""
    #: whether a proxy provider may assist it (candidates / warm-up)
    accepts_proxy: ClassVar[bool] = True

    @abstractmethod
    def run(self, study: Study) -> None:
        """Search until the budget is spent (the study raises BudgetExhausted)."""

    def params(self) -> dict[str, Any]:
        """The algorithm's settings (JSON-serialisable), written into results."""
        return {}

    def notes(self, study: Study) -> list[str]:
        """Caveats about this algorithm's setting for the results."""
        return []

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def _normalise(name: str) -> str:
    return str(name).strip().lower().replace("-", "").replace("_", "")


#: The modules of this package are imported when the registry first looks a name up, and the
#: algorithm modules among them register themselves: adding an algorithm is adding a file.
_ALGORITHMS: Registry[type[SearchAlgorithm]] = Registry(
    "search algorithm", package="gradsign.search", normalise=_normalise,
    same=lambda cls: (cls.__module__, cls.__qualname__))


def register_search(name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[type], type]:
    """Class decorator registering a :class:`SearchAlgorithm` under ``name``."""

    def deco(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, SearchAlgorithm)):
            raise TypeError(f"register_search({name!r}) expects a SearchAlgorithm subclass")
        cls.name = name
        _ALGORITHMS.add(name, cls, aliases=aliases)
        return cls

    return deco


def available_searches() -> list[str]:
    return _ALGORITHMS.names()


def search_name(name: str) -> str:
    """The registry name of an algorithm name or alias (``"bananas"`` -> ``"predictor"``)."""
    key = _ALGORITHMS.resolve(name)
    if key is None:
        raise ConfigError(f"unknown search algorithm {name!r}; available: {', '.join(available_searches())}")
    return key


def get_search(name: "str | SearchAlgorithm", **params: Any) -> SearchAlgorithm:
    """An algorithm instance from its name (or alias) and settings; instances pass through."""
    if isinstance(name, SearchAlgorithm):
        if params:
            raise ConfigError("settings can only be given with an algorithm name, not an instance")
        return name
    if not isinstance(name, str):
        raise ConfigError(f"search algorithm must be a name or a SearchAlgorithm, got {name!r}")
    key = search_name(name)
    try:
        return _ALGORITHMS.get(key)(**params)
    except TypeError as exc:
        raise ConfigError(f"invalid settings for search algorithm {key!r}: {exc}") from None


def unregister_search(name: str) -> None:
    """Remove a registered algorithm and its aliases (for tests and plug-ins that replace one)."""
    if _ALGORITHMS.pop(name) is None:
        raise ConfigError(f"no search algorithm {name!r} is registered")


__all__ = ["SearchAlgorithm", "available_searches", "get_search", "register_search", "search_name",
           "unregister_search"]
