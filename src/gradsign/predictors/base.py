"""The performance-predictor interface and the registry of predictors.

A predictor maps architectures to a number that should rank them like their
trained accuracy. Every family of White et al. (NeurIPS 2021, "How Powerful are
Performance Predictors in Neural Architecture Search?") has the same
scikit-learn-style interface here::

    pred = make_predictor("forest", features, seed=0)
    pred.fit(train_archs, train_accuracies)     # a no-op for zero-cost / low-fidelity
    scores = pred.predict(test_archs)           # float64, one per arch, higher = better
    pred.fit_seconds, pred.query_seconds        # wall time of the last fit / predict

Architectures are given as canonical strings of their space (or arch objects,
which are converted); all features come from a
:class:`~gradsign.predictors.features.FeatureProvider` handed to the
constructor, so a predictor never reads a benchmark itself and cannot see
anything about an architecture that the provider would not give for an unseen
one. Labels reach a predictor only through :meth:`Predictor.fit`.

What a predictor needs is declared, not discovered: ``needs`` is a subset of
:data:`NEEDS` (``labels``: trained accuracies of some architectures; ``data``:
a minibatch of the task's images, the input of data-dependent zero-cost
proxies; ``lowfidelity``: a short training run of every queried architecture;
``zerocost``: zero-cost proxy scores of every queried architecture), and
``optional`` lists what it uses when the provider has it. The evaluation
protocol uses these to decide which predictors can run at a given training-set
size (0 labels: only those without ``labels``) and which features define the
pool of architectures.

Registering a predictor is one decorator on its class, in its own module of
this package (modules are imported on first registry use)::

    @register_predictor
    class Forest(Predictor):
        name = "forest"; family = "model-based"; needs = frozenset({"labels"})
        ...

A *parametrised* predictor (one per zero-cost proxy) registers with
``param="proxy"`` and is asked for as ``"zc:synflow"``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Sequence

import numpy as np

from gradsign.errors import ConfigError
from gradsign.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from gradsign.predictors.features import FeatureProvider

#: Everything a predictor may need; see the module docstring.
NEEDS: tuple[str, ...] = ("labels", "data", "lowfidelity", "zerocost")
#: Families, as White et al. group them (``combined`` = model-based with zero-cost / low-fidelity features).
FAMILIES: tuple[str, ...] = ("model-based", "zero-cost", "low-fidelity", "combined")


class Predictor(ABC):
    """Base class: subclasses set the class attributes and implement :meth:`_fit` / :meth:`_predict`.

    ``seed`` makes every random choice of the predictor (initialisation, bagging,
    shuffling) reproducible: the same features, training set and seed give the
    same predictions. Global RNG state (NumPy, torch, ``random``) is neither read
    nor changed.
    """

    #: Registry name (``"forest"``); parametrised predictors get ``"zc:<proxy>"`` per instance.
    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    needs: ClassVar[frozenset[str]] = frozenset()
    optional: ClassVar[frozenset[str]] = frozenset()
    description: ClassVar[str] = ""
    #: Name of the constructor argument a parametrised predictor takes from ``"name:arg"``.
    param: ClassVar[str | None] = None
    #: Fewest training archs :meth:`fit` accepts (predictors needing labels).
    min_train: ClassVar[int] = 2

    def __init__(self, features: "FeatureProvider", *, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"predictor seed must be a non-negative int, got {seed!r}")
        missing = [n for n in self.needs if n not in ("labels",) and not features.has(n)]
        if missing:
            raise ConfigError(
                f"predictor {self.label!r} needs {', '.join(missing)}, which the feature provider "
                f"({features.describe()}) does not have"
            )
        self.features = features
        self.seed = int(seed)
        self.fit_seconds: float = 0.0
        self.query_seconds: float = 0.0
        self._fitted = False

    # --- identity --------------------------------------------------------------
    @property
    def label(self) -> str:
        """The name this instance is reported under (``zc:synflow`` for a parametrised one)."""
        return type(self).name

    @property
    def uses(self) -> tuple[str, ...]:
        """What this instance actually uses: its needs plus the optional features the provider has."""
        got = set(self.needs) | {o for o in self.optional if self.features.has(o)}
        return tuple(n for n in NEEDS if n in got)

    @property
    def needs_labels(self) -> bool:
        return "labels" in self.needs

    def info(self) -> dict[str, Any]:
        """Name, family, needs and what is used, for reports."""
        return {"name": self.label, "family": self.family, "needs": sorted(self.needs), "uses": list(self.uses),
                "description": self.description}

    # --- the interface ---------------------------------------------------------
    def fit(self, archs: Sequence[Any], accuracies: Sequence[float]) -> "Predictor":
        """Learn from ``archs`` and their trained ``accuracies`` (percent). Returns ``self``.

        Predictors that need no labels accept any input (also empty) and learn
        nothing; their :attr:`fit_seconds` is 0.
        """
        keys = self.features.keys(archs)
        y = np.asarray(accuracies, dtype=np.float64).reshape(-1)
        if len(y) != len(keys):
            raise ConfigError(f"fit: {len(keys)} archs but {len(y)} accuracies")
        start = time.perf_counter()
        if self.needs_labels:
            if len(keys) < self.min_train:
                raise ConfigError(f"predictor {self.label!r} needs at least {self.min_train} training archs, "
                                  f"got {len(keys)}")
            if not np.isfinite(y).all():
                raise ConfigError(f"fit: accuracies must be finite ({int((~np.isfinite(y)).sum())} are not)")
            self._fit(keys, y)
        self.fit_seconds = time.perf_counter() - start if self.needs_labels else 0.0
        self._fitted = True
        return self

    def predict(self, archs: Sequence[Any]) -> np.ndarray:
        """One float64 score per arch (higher = predicted more accurate). Only the order is meaningful
        for predictors that return ranks (the zero-cost ensemble)."""
        if self.needs_labels and not self._fitted:
            raise ConfigError(f"predictor {self.label!r} must be fitted before predict")
        keys = self.features.keys(archs)
        start = time.perf_counter()
        out = np.asarray(self._predict(keys), dtype=np.float64).reshape(-1) if keys else np.zeros(0)
        self.query_seconds = time.perf_counter() - start
        if out.shape != (len(keys),):
            raise RuntimeError(f"predictor {self.label!r} returned {out.shape[0]} values for {len(keys)} archs")
        return out

    def _fit(self, archs: list[str], y: np.ndarray) -> None:
        """Learn from canonical arch strings and accuracies (only called when ``labels`` is needed)."""

    @abstractmethod
    def _predict(self, archs: list[str]) -> np.ndarray:
        """Scores for canonical arch strings."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label!r} seed={self.seed}>"


# --------------------------------------------------------------------------- shared helpers


class TargetScaler:
    """Standardise accuracies with the training set's mean and std (so one set of NN / GP defaults
    fits every dataset's accuracy range); statistics come from ``fit`` data only."""

    def __init__(self, y: np.ndarray) -> None:
        self.mean = float(np.mean(y))
        std = float(np.std(y))
        self.std = std if std > 1e-12 else 1.0

    def forward(self, y: np.ndarray) -> np.ndarray:
        return (np.asarray(y, dtype=np.float64) - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype=np.float64) * self.std + self.mean


# --------------------------------------------------------------------------- registry

#: Every registered predictor class; the package's modules are imported on first look-up.
_REGISTRY: Registry[type[Predictor]] = Registry("predictor", package="gradsign.predictors",
                                                skip=("base", "features", "encodings"))


def register_predictor(cls: type[Predictor]) -> type[Predictor]:
    """Class decorator: register a :class:`Predictor` subclass under its ``name``."""
    if not (isinstance(cls, type) and issubclass(cls, Predictor)):
        raise TypeError(f"register_predictor expects a Predictor subclass, got {cls!r}")
    if not cls.name or cls.family not in FAMILIES:
        raise TypeError(f"{cls.__name__}: set name and a family in {FAMILIES}")
    unknown = (set(cls.needs) | set(cls.optional)) - set(NEEDS)
    if unknown:
        raise TypeError(f"{cls.__name__}: unknown needs {sorted(unknown)}; valid: {NEEDS}")
    return _REGISTRY.add(cls.name, cls)


def unregister_predictor(name: str) -> None:
    """Remove a registration (for tests that register throw-away predictors)."""
    _REGISTRY.pop(name)


def predictor_classes() -> dict[str, type[Predictor]]:
    """Registered predictor classes by name (parametrised ones under their bare name, e.g. ``zc``)."""
    return dict(_REGISTRY.items())


def predictor_class(name: str) -> tuple[type[Predictor], str | None]:
    """The class of ``name`` (``"forest"`` or ``"zc:synflow"``) and its parameter, if any."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"predictor name must be a non-empty string, got {name!r}")
    base, sep, arg = name.strip().partition(":")
    cls = _REGISTRY.find(base)
    if cls is None:
        raise ConfigError(f"unknown predictor {name!r}; available: {', '.join(predictor_names())}")
    if cls.param is None and sep:
        raise ConfigError(f"predictor {base!r} takes no ':' argument, got {name!r}")
    if cls.param is not None and not arg:
        raise ConfigError(f"predictor {base!r} needs an argument: {base}:<{cls.param}>")
    return cls, (arg or None)


def make_predictor(name: str, features: "FeatureProvider", *, seed: int = 0, **params: Any) -> Predictor:
    """A fresh predictor ``name`` on ``features`` (``params`` override its defaults)."""
    cls, arg = predictor_class(name)
    if arg is not None:
        params[cls.param] = arg  # type: ignore[index]
    try:
        return cls(features, seed=seed, **params)
    except TypeError as exc:  # an unknown keyword: a user-facing mistake, not a crash
        raise ConfigError(f"predictor {name!r}: {exc}") from None


def predictor_names() -> list[str]:
    """Registered names, parametrised ones written ``zc:<proxy>``."""
    return [n if c.param is None else f"{n}:<{c.param}>" for n, c in predictor_classes().items()]


def default_predictor_names(features: "FeatureProvider") -> list[str]:
    """Every predictor that can run on ``features``, parametrised ones expanded (one per proxy).

    Order: model-based, combined, low-fidelity, zero-cost (the order of tables and legends).
    """
    out: list[str] = []
    for name, cls in predictor_classes().items():
        if not all(n == "labels" or features.has(n) for n in cls.needs):
            continue
        if cls.param is not None:
            out.extend(f"{name}:{arg}" for arg in cls.expand(features))  # type: ignore[attr-defined]
        else:
            out.append(name)
    order = {f: i for i, f in enumerate(("model-based", "combined", "low-fidelity", "zero-cost"))}
    return sorted(out, key=lambda n: (order[predictor_class(n)[0].family], n))


def parse_predictor_list(text: str | Iterable[str] | None, features: "FeatureProvider") -> list[str]:
    """``"forest,gp,zc:*"`` -> names; ``None``/``"all"`` -> :func:`default_predictor_names`.

    ``zc:*`` expands to one single-proxy predictor per proxy the provider has.
    Duplicates are removed, order kept; every name is validated.
    """
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "all")):
        return default_predictor_names(features)
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    out: list[str] = []
    for item in items:
        if item.endswith(":*"):
            cls, _ = predictor_class(item[:-2] + ":x")
            out.extend(f"{cls.name}:{a}" for a in cls.expand(features))  # type: ignore[attr-defined]
        else:
            predictor_class(item)
            out.append(item)
    return list(dict.fromkeys(out))


__all__ = [
    "FAMILIES",
    "NEEDS",
    "Predictor",
    "TargetScaler",
    "default_predictor_names",
    "make_predictor",
    "parse_predictor_list",
    "predictor_class",
    "predictor_classes",
    "predictor_names",
    "register_predictor",
    "unregister_predictor",
]
