"""Model sources: where ``gradsign rank`` gets a model from, named by the prefix of a spec.

A spec is ``SOURCE:NAME`` (``timm:resnet18``, ``torchvision:vgg11``, ``toy:w8``) or a
factory file, ``path/to/file.py:factory`` (short for ``file:path/to/file.py:factory``).
Each source is one module registered with :func:`register_model_source`; a user's own
source is registered the same way from their code and used on the command line with
``gradsign --plugin my_sources.py rank toy:w8`` (see docs/rank.md).

A source either subclasses :class:`ModelSource` (``check`` a spec early, ``create`` the
model with notes and the input size it was designed for) or is a plain function
``fn(name, num_classes=K)`` returning an ``nn.Module`` (``num_classes`` is passed only
when the function takes it; otherwise :func:`gradsign.models.heads.adapt_head` fits the head).
"""

from __future__ import annotations

import difflib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradsign.errors import ConfigError
from gradsign.registry import Registry

if TYPE_CHECKING:  # torch is imported only when a model is built
    from torch import nn

FILE_SOURCE = "file"
"""The source of ``path/to/file.py:factory`` specs, which are written without a prefix."""


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec: ``kind`` is the source's name (``timm``, ``torchvision``, ``file``, ...)."""

    text: str  # as the user wrote it; also the model's name in the results
    kind: str
    name: str  # the model's name in its source, or the factory function's name
    path: Path | None = None  # the .py file, for kind == "file"


@dataclass
class CreatedModel:
    """What a source built: the module, what it changed to fit the request, and its design input size.

    ``designed_input``: ``(C, H, W)`` the model was designed for (e.g. 224x224 for an
    ImageNet model), or None when unknown; a mismatch with the data is stated in the notes.
    """

    model: "nn.Module"
    notes: list[str] = field(default_factory=list)
    designed_input: tuple[int, ...] | None = None
    #: built for the requested classes (a factory given num_classes=K): a head with another size is then
    #: the user's mistake (another --logits element, a factory ignoring K), refused instead of replaced
    built_for_classes: bool = False


class ModelSource(ABC):
    """A place models come from. Subclass it and register it with :func:`register_model_source`.

    ``name`` is set by the decorator. Override :meth:`create`; override :meth:`check`
    to reject a spec before any model is built (a typo in the last of ten models then
    fails at once), and :meth:`parse` for a syntax other than ``SOURCE:NAME``.
    """

    name: str = ""
    description: str = ""
    syntax: str = ""  # how a spec of this source is written, for messages; default "<name>:NAME"

    def usage(self) -> str:
        return self.syntax or f"{self.name}:NAME"

    def parse(self, text: str, rest: str) -> ModelSpec:
        """The spec ``text`` whose part after the prefix is ``rest``."""
        if not rest:
            raise ConfigError(f"model spec {text!r} names no model; write {self.name}:NAME")
        return ModelSpec(text, self.name, rest)

    def check(self, spec: ModelSpec) -> None:
        """Raise ConfigError (one line naming ``spec.text``) if ``spec`` cannot be loaded; build nothing."""

    @abstractmethod
    def create(self, spec: ModelSpec, num_classes: int, input_shape: tuple[int, ...],
               seed: int | None) -> CreatedModel:
        """Build the model of ``spec`` for ``num_classes`` classes; the RNG is already seeded with ``seed``."""


class FunctionSource(ModelSource):
    """A source that is a function ``fn(name[, num_classes=K]) -> nn.Module`` (see :func:`register_model_source`)."""

    def __init__(self, fn: Callable[..., Any], names: Callable[[], Iterable[str]] | Iterable[str] | None) -> None:
        self.fn = fn
        self._names = names
        self.description = _first_doc_line(fn)

    def known_names(self) -> list[str] | None:
        if self._names is None:
            return None
        return list(self._names() if callable(self._names) else self._names)

    def check(self, spec: ModelSpec) -> None:
        names = self.known_names()
        if names is not None and spec.name not in names:
            raise ConfigError(f"{spec.text}: unknown {self.name} model {spec.name!r}{suggest(spec.name, names)}")

    def create(self, spec: ModelSpec, num_classes: int, input_shape: tuple[int, ...],
               seed: int | None) -> CreatedModel:
        from torch import nn

        if accepts_num_classes(self.fn):
            model = self.fn(spec.name, num_classes=num_classes)
            notes = [f"{self.name} source called with num_classes={num_classes}"]
        else:
            model, notes = self.fn(spec.name), []
        if isinstance(model, CreatedModel):
            return model
        if not isinstance(model, nn.Module):
            raise ConfigError(f"{spec.text}: the {self.name} source returned {type(model).__name__}, "
                              "not a torch.nn.Module")
        return CreatedModel(model, notes)


def _defined_by(source: ModelSource) -> object:
    """What a registration stands for: the function, or the class (a module imported twice is no clash)."""
    return source.fn if isinstance(source, FunctionSource) else type(source)


MODEL_SOURCES: Registry[ModelSource] = Registry(
    "model source", package="gradsign.models", skip=("sources", "heads", "loading"), same=_defined_by)


def register_model_source(name: str, *, names: Callable[[], Iterable[str]] | Iterable[str] | None = None,
                          ) -> Callable[[Any], Any]:
    """Decorator: register a :class:`ModelSource` subclass, or a function, as the source ``name``.

    A function is called as ``fn(model_name, num_classes=K)`` when it has a
    ``num_classes`` parameter, else ``fn(model_name)``, and returns an ``nn.Module``
    (or a :class:`CreatedModel` with notes). ``names``: the model names it knows (or a
    function listing them), so an unknown name fails before any model is built, with
    close names suggested; without it only the syntax is checked early.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"model source name must be an identifier, got {name!r}")

    def decorator(obj: Any) -> Any:
        if isinstance(obj, type) and issubclass(obj, ModelSource):
            if names is not None:
                raise TypeError(f"register_model_source({name!r}): names= is for functions; "
                                "override check() in a ModelSource")
            source = obj()
        elif callable(obj) and not isinstance(obj, type):
            source = FunctionSource(obj, names)
        else:
            raise TypeError(f"register_model_source({name!r}) expects a ModelSource subclass or a function, "
                            f"got {obj!r}")
        source.name = name
        MODEL_SOURCES.add(name, source)
        return obj

    return decorator


def available_model_sources() -> list[str]:
    """Registered source names (the prefixes a spec may have), sorted."""
    return MODEL_SOURCES.names()


def _usage() -> str:
    prefixed = [s.usage() for n, s in MODEL_SOURCES.items() if n != FILE_SOURCE]
    return f"use {', '.join(prefixed)} or path/to/file.py:factory"


def parse_model_spec(text: str | ModelSpec) -> ModelSpec:
    """``"timm:resnet18"``, ``"torchvision:vgg11"``, ``"models.py:make_net"``, ... -> :class:`ModelSpec`.

    Only the syntax is checked here (see :func:`validate_spec`). Raises ConfigError naming the spec.
    """
    if isinstance(text, ModelSpec):
        return text
    text = str(text).strip()
    if ":" not in text:
        if text.endswith(".py"):
            raise ConfigError(f"model spec {text!r} names no factory function; write {text}:FUNCTION")
        raise ConfigError(f"model spec {text!r} has no prefix; {_usage()}")
    prefix, _, rest = text.partition(":")
    source = MODEL_SOURCES.find(prefix)
    if source is not None:
        return source.parse(text, rest)
    if text.rpartition(":")[0].endswith(".py"):  # a factory file; its path may hold a ':' (C:/...)
        return MODEL_SOURCES.get(FILE_SOURCE).parse(text, text)
    raise ConfigError(f"model spec {text!r}: unknown prefix {prefix!r}; {_usage()}")


def source_of(spec: ModelSpec) -> ModelSource:
    return MODEL_SOURCES.get(spec.kind)


def validate_spec(spec: str | ModelSpec) -> ModelSpec:
    """Check that a spec can be loaded, without building the model; returns it parsed.

    Files exist and define the factory; timm/torchvision are importable and know the
    name; a source registered with ``names=`` knows it. Meant to run for every spec
    before any (slow) scoring starts. Raises ConfigError.
    """
    spec = parse_model_spec(spec)
    source_of(spec).check(spec)
    return spec


# --------------------------------------------------------------------------- helpers for sources


def accepts_num_classes(factory: Callable[..., Any]) -> bool:
    """True when ``num_classes`` can be passed by keyword (a ``**kwargs`` alone does not count: it may drop it)."""
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    p = params.get("num_classes")
    return p is not None and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)


def suggest(name: str, names: Sequence[str], listed: int = 20) -> str:
    """``"; did you mean a, b?"`` for close names; else, when there are at most ``listed`` names, all of
    them (``"; known: a, b, c"``); else empty (timm's thousand names are not a message)."""
    names = list(names)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if close:
        return f"; did you mean {', '.join(close)}?"
    return f"; known: {', '.join(names)}" if 0 < len(names) <= listed else ""


def first_line(text: str, limit: int = 600) -> str:
    """The first line of a message, cut to ``limit`` characters."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def hw(shape: Sequence[int]) -> str:
    """``"32x32"`` for a ``(C, H, W)`` shape."""
    return f"{shape[-2]}x{shape[-1]}"


def _first_doc_line(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.splitlines()[0] if doc else ""


__all__ = [
    "FILE_SOURCE",
    "MODEL_SOURCES",
    "CreatedModel",
    "FunctionSource",
    "ModelSource",
    "ModelSpec",
    "available_model_sources",
    "parse_model_spec",
    "register_model_source",
    "validate_spec",
]
