"""Benchmark registry: one object per benchmark, one module per benchmark.

A benchmark is what the project knows about trained architectures of one
search space: its datasets, the ground truth an evaluation correlates against,
and, where the data has them, a cheap low-fidelity accuracy, reference
zero-cost scores, the arch encodings predictors use and a simulated-training
objective for search. The workflows ask the benchmark instead of branching on
the space::

    from gradsign.benchmarks.registry import Benchmark, register_benchmark

    @register_benchmark("nb201")
    class NB201Benchmark(Benchmark):
        space = "nb201"
        datasets = ("cifar10", "cifar100", "ImageNet16-120")

        def ground_truth(self, dataset, target="test", data_dir=None): ...

Every module of :mod:`gradsign.benchmarks.suite` is imported on first use of
the registry, so adding a benchmark there means adding a file. A benchmark
defined in the user's own module registers with the same decorator; importing
the module is enough for the Python API, and ``gradsign --plugin my_module``
(:mod:`gradsign.plugins`) for the command line.

What a benchmark lacks data for, it refuses in one line
(:meth:`Benchmark.refuse`): e.g. NB101 has ground truth for NASLib's 292
sampled cells only, so it has no simulated-training objective for search.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from gradsign.benchmarks.datasets import DATASET_NAMES, canonical_dataset
from gradsign.errors import ConfigError
from gradsign.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from gradsign.benchmarks.tables import GroundTruth, LowFidelityTable, ZeroCostTable
    from gradsign.spaces.base import SearchSpace

PathLike = str | Path | None

#: What a benchmark may provide beyond ground truth (the keys of :attr:`Benchmark.provides`).
CAPABILITIES: dict[str, str] = {
    "lowfidelity": "a cheap accuracy of every cell (e.g. NB201's 12-epoch validation accuracy)",
    "zerocost": "reference zero-cost scores (named sources, e.g. NASLib's files)",
    "objective": "simulated training (accuracy and training time of every cell) for search",
}
_CAPABILITY_NAMES = {"lowfidelity": "low-fidelity accuracy", "zerocost": "reference zero-cost scores",
                     "objective": "simulated training"}


class Benchmark(ABC):
    """What the project knows about trained archs of one search space; subclass and register.

    Class attributes a subclass sets: ``space`` (a registered space name),
    ``datasets`` (canonical names of :mod:`gradsign.benchmarks.datasets`),
    ``description`` and ``provides`` (keys of :data:`CAPABILITIES`). It
    implements :meth:`ground_truth`, and the methods of what it provides.
    """

    name: ClassVar[str] = ""  # set by register_benchmark
    space: ClassVar[str] = ""
    datasets: ClassVar[tuple[str, ...]] = ()
    description: ClassVar[str] = ""
    provides: ClassVar[frozenset[str]] = frozenset()
    #: why a capability is missing, for the refusal (default: "its data has none")
    lacking: ClassVar[Mapping[str, str]] = {}

    # --- names -----------------------------------------------------------------------
    def dataset(self, name: str) -> str:
        """The canonical name of dataset ``name`` if this benchmark has it, else a one-line ConfigError."""
        return canonical_dataset(name, among=self.datasets, label=f"{self.name} dataset")

    @property
    def search_space(self) -> "SearchSpace":
        from gradsign.spaces.base import get_space

        return get_space(self.space)

    def supports(self, capability: str) -> bool:
        """Whether the benchmark has ``capability`` (a key of :data:`CAPABILITIES`)."""
        if capability not in CAPABILITIES:
            raise ConfigError(f"unknown benchmark capability {capability!r}; valid: {', '.join(CAPABILITIES)}")
        return capability in self.provides

    def refuse(self, capability: str, need: str = "") -> NoReturn:
        """Raise the one-line ConfigError saying the benchmark lacks ``capability`` (and what ``need`` needs it)."""
        raise ConfigError(self.lack_message(capability) + (f"; {need}" if need else ""))

    def lack_message(self, capability: str) -> str:
        """``"<name>: no <capability> (<why>)"``: what :meth:`refuse` says."""
        why = self.lacking.get(capability, "its data has none")
        return f"{self.name}: no {_CAPABILITY_NAMES[capability]} ({why})"

    # --- ground truth (every benchmark) ----------------------------------------------------
    @abstractmethod
    def ground_truth(self, dataset: str, target: str = "test", data_dir: PathLike = None) -> "GroundTruth":
        """The accuracies an evaluation correlates against (``target``: ``test`` or ``valid``)."""

    # --- optional ----------------------------------------------------------------------------
    def lowfidelity(self, dataset: str, data_dir: PathLike = None) -> "LowFidelityTable":
        """A cheap accuracy of the cells (never the target's own split)."""
        self.refuse("lowfidelity")

    def zerocost_sources(self) -> tuple[str, ...]:
        """Names of the reference zero-cost score tables :meth:`zerocost` serves (``naslib``, ...)."""
        return ()

    def zerocost(self, source: str, dataset: str, data_dir: PathLike = None) -> "ZeroCostTable":
        """Reference zero-cost scores from ``source`` (one of :meth:`zerocost_sources`), higher = better."""
        if not self.zerocost_sources():
            self.refuse("zerocost")
        raise ConfigError(f"{self.name} has no zero-cost source {source!r}; valid: "
                          f"{', '.join(self.zerocost_sources())}")

    def encoders(self) -> Mapping[str, Callable[[Any], Any]]:
        """Arch encodings for predictors, by kind (``onehot``, ``path``, ``graph``): the space's built-in ones."""
        from gradsign.spaces.encodings import space_encoders

        return space_encoders(self.space)

    #: where :meth:`published_spearman`'s figures come from (None: the benchmark has none)
    published_source: ClassVar[str | None] = None

    def published_spearman(self, proxy: str, dataset: str) -> float | None:
        """The published |Spearman rho| of ``proxy`` on the whole benchmark for ``dataset``, or None."""
        return None

    def objective(self, dataset: str, data_dir: PathLike = None) -> Any:
        """The simulated-training objective a search optimises (for NB201: its :class:`SearchOracle`)."""
        self.refuse("objective", "search needs the accuracy and training time of every cell it may propose")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} space={self.space!r} datasets={list(self.datasets)}>"


# --------------------------------------------------------------------------- registry

def _normalise(name: str) -> str:
    return str(name).strip().lower().replace("-", "").replace("_", "")


#: One module per benchmark in gradsign.benchmarks.suite, imported on the first look-up.
_CLASSES: Registry[type[Benchmark]] = Registry(
    "benchmark", package="gradsign.benchmarks.suite", normalise=_normalise,
    same=lambda cls: (cls.__module__, cls.__qualname__))
_INSTANCES: dict[str, Benchmark] = {}


def register_benchmark(name: str, *, aliases: tuple[str, ...] = ()) -> Callable[[type], type]:
    """Class decorator: register a :class:`Benchmark` subclass under ``name`` (and ``aliases``)."""

    def decorator(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, Benchmark)):
            raise TypeError(f"register_benchmark({name!r}) expects a Benchmark subclass, got {cls!r}")
        unknown = sorted(set(cls.provides) - set(CAPABILITIES))
        if unknown or not cls.space or not cls.datasets:
            raise RuntimeError(f"benchmark {name!r}: needs a space and datasets, and capabilities among "
                               f"{sorted(CAPABILITIES)} (got space={cls.space!r}, datasets={cls.datasets!r}, "
                               f"unknown capabilities {unknown})")
        for dataset in cls.datasets:
            if dataset not in DATASET_NAMES:
                raise RuntimeError(f"benchmark {name!r}: dataset {dataset!r} is not a canonical name "
                                   f"({', '.join(DATASET_NAMES)}; add it to gradsign.benchmarks.datasets)")
        _CLASSES.add(name, cls, aliases=aliases)
        cls.name = name
        _INSTANCES.pop(name, None)
        return cls

    return decorator


def available_benchmarks() -> list[str]:
    """Registered benchmark names, sorted."""
    return _CLASSES.names()


def get_benchmark(name: str) -> Benchmark:
    """The benchmark registered as ``name`` (or an alias), else the one registered for search space ``name``.

    ``get_benchmark("darts")`` is NAS-Bench-301, the benchmark of the DARTS space.
    """
    if not isinstance(name, str):
        raise ConfigError(f"benchmark name must be a string, got {name!r}")
    key = _CLASSES.resolve(name)
    if key is None:
        key = _benchmark_of_space(name)
    if key not in _INSTANCES:
        _INSTANCES[key] = _CLASSES.get(key)()
    return _INSTANCES[key]


def _benchmark_of_space(name: str) -> str:
    from gradsign.spaces.base import get_space

    try:
        space = get_space(name).name
    except ConfigError:
        raise ConfigError(f"unknown benchmark {name!r}; available: {', '.join(available_benchmarks())}") from None
    found = [key for key, cls in _CLASSES.items() if cls.space == space]
    if not found:
        raise ConfigError(f"no benchmark for search space {space!r}; available: "
                          + ", ".join(f"{k} ({cls.space})" for k, cls in _CLASSES.items()))
    if len(found) > 1:
        raise ConfigError(f"search space {space!r} has several benchmarks ({', '.join(sorted(found))}); name one")
    return found[0]


def describe_benchmarks() -> list[dict[str, Any]]:
    """One row per registered benchmark: name, space, datasets, what it provides, why not the rest."""
    rows = []
    for name in available_benchmarks():
        bench = get_benchmark(name)
        rows.append({
            "name": name, "space": bench.space, "datasets": list(bench.datasets),
            # a user's class may have neither a description nor a docstring
            "description": bench.description or next(iter((type(bench).__doc__ or "").strip().splitlines()), ""),
            "provides": [c for c in CAPABILITIES if bench.supports(c)],
            "zerocost_sources": list(bench.zerocost_sources()),
            "lacking": [bench.lack_message(c) for c in CAPABILITIES if not bench.supports(c)],
        })
    return rows


__all__ = [
    "CAPABILITIES",
    "Benchmark",
    "available_benchmarks",
    "describe_benchmarks",
    "get_benchmark",
    "register_benchmark",
]
