"""The search-space interface and the registry of search spaces.

A search space is one module of :mod:`gradsign.spaces` holding a
:class:`SearchSpace` subclass decorated with :func:`register_space`::

    @register_space("nb201", aliases=("nasbench201", "nas-bench-201"))
    class NB201Space(SearchSpace[NB201Arch]):
        ...

Everything above this layer (proxies, search algorithms, workflows) talks to a
space only through this interface, so adding a space means adding a file.

Arch objects are space-specific, but every space promises that they are
immutable and hashable (they are dictionary keys in caches and result stores)
and that ``parse(to_string(a)) == a``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Generic, Hashable, Iterator, Sequence, TypeVar, Union

import numpy as np

from gradsign.errors import ConfigError
from gradsign.registry import Registry

if TYPE_CHECKING:  # pragma: no cover - torch is only needed to build networks
    import torch.nn as nn

A = TypeVar("A", bound=Hashable)

#: What the ``seed``/``rng`` arguments of the sampling methods accept: an int
#: seed (reproducible), an existing Generator (to continue a stream), or None
#: (fresh OS entropy). The global NumPy / ``random`` state is never touched.
SeedLike = Union[int, np.random.Generator, None]


def as_generator(seed: SeedLike) -> np.random.Generator:
    """A NumPy Generator for ``seed``; the same int always gives the same stream."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ConfigError(f"seed must be an int, a numpy Generator or None, got {seed!r}")
    if seed is not None and seed < 0:
        raise ConfigError(f"seed must be non-negative, got {seed}")
    return np.random.default_rng(seed)


class SearchSpace(ABC, Generic[A]):
    """A family of architectures with a text form, a sampler and a network builder.

    Subclasses set :attr:`name` (done by :func:`register_space`) and implement
    the abstract methods. Spaces whose archs have a fixed official numbering
    (NAS-Bench-201) also override :meth:`arch_at` and :meth:`index_of`.
    """

    #: Registry name, e.g. ``"nb201"``.
    name: ClassVar[str] = ""

    # --- text form ---------------------------------------------------------
    @abstractmethod
    def parse(self, text: str) -> A:
        """Arch from its string form; raise :class:`ArchError` (one line) if invalid."""

    @abstractmethod
    def to_string(self, arch: A) -> str:
        """The canonical string form of ``arch`` (inverse of :meth:`parse`)."""

    def identity(self, arch: A) -> str:
        """A key equal for two archs exactly when they are the same benchmark cell.

        The canonical string, unless the space has several strings for one cell
        (NAS-Bench-101: isomorphic graphs share the benchmark's hash).
        """
        return self.to_string(arch)

    # --- size and numbering --------------------------------------------------
    @property
    @abstractmethod
    def num_archs(self) -> int | None:
        """Number of architectures in the space, or None when it is too large to enumerate."""

    def arch_at(self, index: int) -> A:
        """The arch with benchmark index ``index`` (only for indexed spaces)."""
        raise ConfigError(f"search space {self.name!r} has no architecture index")

    def index_of(self, arch: A) -> int:
        """The benchmark index of ``arch`` (only for indexed spaces)."""
        raise ConfigError(f"search space {self.name!r} has no architecture index")

    def __iter__(self) -> Iterator[A]:
        """All archs in index order (only for enumerable spaces)."""
        n = self.num_archs
        if n is None:
            raise ConfigError(f"search space {self.name!r} is too large to enumerate")
        return (self.arch_at(i) for i in range(n))

    def __len__(self) -> int:
        n = self.num_archs
        if n is None:
            raise TypeError(f"search space {self.name!r} has no finite length")
        return n

    # --- random access -------------------------------------------------------
    @abstractmethod
    def sample(self, n: int, seed: SeedLike = None, *, replace: bool = False) -> list[A]:
        """``n`` uniformly drawn archs; distinct unless ``replace``. Reproducible for an int seed."""

    @abstractmethod
    def mutate(self, arch: A, seed: SeedLike = None) -> A:
        """A random arch that differs from ``arch`` by one elementary change."""

    def neighbours(self, arch: A) -> list[A]:
        """Every arch one elementary change away, in a deterministic order."""
        raise ConfigError(f"search space {self.name!r} does not enumerate neighbourhoods")

    # --- categorical parametrisation (optional) ------------------------------------
    # Policy- and model-based searches (REINFORCE's per-variable softmax, BOHB's
    # kernel density) need an arch described as one choice per decision variable.
    def choices(self) -> tuple[int, ...]:
        """Number of options of each categorical decision variable (NB201: ``(5,) * 6``, an op per edge)."""
        raise ConfigError(f"search space {self.name!r} has no categorical parametrisation (choices())")

    def to_choices(self, arch: A) -> tuple[int, ...]:
        """``arch`` as one choice per decision variable, ``0 <= c[d] < choices()[d]``."""
        raise ConfigError(f"search space {self.name!r} has no categorical parametrisation (to_choices())")

    def from_choices(self, choices: Sequence[int]) -> A | None:
        """The arch these choices describe, or None where they describe none (spaces that are not a full product)."""
        raise ConfigError(f"search space {self.name!r} has no categorical parametrisation (from_choices())")

    # --- networks --------------------------------------------------------------
    @abstractmethod
    def build_network(self, arch: A, num_classes: int = 10, **options: Any) -> "nn.Module":
        """A freshly initialised PyTorch module for ``arch``; ``forward`` returns logits."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


# --------------------------------------------------------------------------- registry

def _normalise(name: str) -> str:
    # "NAS-Bench-201", "nas_bench_201" and "nasbench201" should all resolve.
    return name.strip().lower().replace("-", "").replace("_", "")


#: Network-builder modules (``*_network``) are not imported by discovery: they import torch and
#: register nothing, and arch-only work (parsing, sampling) should stay light.
_SPACES: Registry[type] = Registry("search space", package="gradsign.spaces", skip=("base", "pooling"),
                                   skip_if=lambda name: name.endswith("_network"), normalise=_normalise)
_INSTANCES: dict[str, SearchSpace] = {}


def register_space(name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[type], type]:
    """Class decorator: register a :class:`SearchSpace` subclass under ``name``."""

    def decorator(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, SearchSpace)):
            raise TypeError(f"register_space({name!r}) expects a SearchSpace subclass, got {cls!r}")
        _SPACES.add(name, cls, aliases=aliases)
        cls.name = name
        return cls

    return decorator


def available_spaces() -> list[str]:
    """Registered space names, sorted."""
    return _SPACES.names()


def get_space(name: str) -> SearchSpace:
    """The (shared, stateless) space registered as ``name`` or one of its aliases."""
    if not isinstance(name, str):
        raise ConfigError(f"search space name must be a string, got {name!r}")
    key = _SPACES.resolve(name)
    if key is None:
        raise ConfigError(f"unknown search space {name!r}; available: {', '.join(available_spaces())}")
    if key not in _INSTANCES:
        _INSTANCES[key] = _SPACES.get(key)()
    return _INSTANCES[key]


__all__ = [
    "SearchSpace",
    "SeedLike",
    "as_generator",
    "available_spaces",
    "get_space",
    "register_space",
]
