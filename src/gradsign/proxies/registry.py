"""Proxy registry: a proxy is one module with one decorated function.

    @register_proxy("snip", description="...", needs_data=True, needs_labels=True)
    def snip(ctx: ProxyContext) -> float: ...

Every module in :mod:`gradsign.proxies` is imported on first use of the registry
(:class:`gradsign.registry.Registry`), so adding a proxy means adding a file; nothing else is edited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from gradsign.errors import ConfigError
from gradsign.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from gradsign.proxies.context import ProxyContext


@dataclass(frozen=True)
class ProxySpec:
    """What the registry knows about one proxy."""

    name: str
    fn: Callable[..., float]
    description: str
    needs_data: bool
    needs_labels: bool
    higher_is_better: bool
    # Bumped whenever the implementation changes the numbers it produces; it is
    # part of the results-store key, so stale stored scores are never reused. A plug-in's
    # carries the digest of its source as well (source_digest).
    version: str
    reference: str  # paper / code whose definition is followed
    #: shared computations the proxy reads (see SHARED_PASSES); the context records exactly
    #: what the requested proxies declare, so proxies that need the same pass share it
    uses: frozenset[str] = frozenset()

    def __call__(self, ctx: "ProxyContext", **options) -> float:
        return self.fn(ctx, **options)


#: What a proxy may declare in ``uses`` (:class:`~gradsign.proxies.context.ProxyContext` acts on them):
SHARED_PASSES = {
    "batch_pass": "reads the weight gradients of the shared forward+backward of the loss on the batch",
    "fisher_taps": "needs each layer's activation x gradient recorded during that pass (fisher)",
    "graph_grads": "needs that pass's first-order weight gradients with their graph (a Hessian product)",
    "input_jacobian": "reads d sum(logits) / d inputs on the batch (train mode); taken from the batch pass "
                      "when one runs anyway, else from one shared label-free pass",
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")

#: Every registered proxy; its package's modules are imported on first look-up (they register themselves).
_REGISTRY: Registry[ProxySpec] = Registry("proxy", package="gradsign.proxies",
                                          skip=("registry", "context", "api", "ensemble"),
                                          same=lambda spec: spec.fn)


def register_proxy(
    name: str,
    *,
    description: str,
    needs_data: bool = True,
    needs_labels: bool = True,
    higher_is_better: bool = True,
    version: str = "1",
    reference: str = "",
    uses: tuple[str, ...] | frozenset[str] = (),
) -> Callable[[Callable[..., float]], Callable[..., float]]:
    """Class the decorated function as proxy ``name``.

    ``uses``: the shared computations it reads (keys of :data:`SHARED_PASSES`).
    """
    if not isinstance(name, str) or not _NAME.match(name) or name == "all":
        # ',' and '+' would split in --proxies lists and ensembles; 'all' means every proxy there
        raise RuntimeError(f"proxy name {name!r}: use letters, digits, '_' and '-', starting with a letter or '_' "
                           "(and not 'all')")
    unknown = sorted(set(uses) - set(SHARED_PASSES))
    if unknown:
        raise RuntimeError(f"proxy {name!r}: unknown shared pass(es) {unknown}; known: {sorted(SHARED_PASSES)}")

    def decorator(fn: Callable[..., float]) -> Callable[..., float]:
        _REGISTRY.add(name, ProxySpec(
            name=name, fn=fn, description=description, needs_data=needs_data, needs_labels=needs_labels,
            higher_is_better=higher_is_better, version=version + source_digest(fn), reference=reference,
            uses=frozenset(uses),
        ))
        return fn

    return decorator


def source_digest(fn: Callable[..., float]) -> str:
    """``""`` for the library's own proxies; for anyone else's, ``"+src.<12 hex>"`` of its module's source.

    The version is part of the results-store key. The library bumps its proxies' versions by hand
    when their numbers change; a plug-in's author, editing it between runs, would otherwise get
    the scores of the old code back from the store, silently. With the digest of the source
    text of the module that defines the function, any edit of that file gives new keys (code it
    imports from elsewhere is not covered: bump ``version=`` for that). Where no source can be
    read (a function built at run time) nothing is added.
    """
    import hashlib
    import inspect
    import sys

    module = getattr(fn, "__module__", None) or ""
    if module == "gradsign" or module.startswith("gradsign."):
        return ""
    try:
        source = inspect.getsource(sys.modules[module]) if module in sys.modules else inspect.getsource(fn)
    except (OSError, TypeError):
        try:
            source = inspect.getsource(fn)
        except (OSError, TypeError):
            return ""
    return "+src." + hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]


def get_proxy(name: str) -> ProxySpec:
    """The registered proxy ``name``; an ensemble name (``a+b``, ``meanrank(a+b)``) gives its
    :class:`~gradsign.proxies.ensemble.EnsembleSpec`, which has the same descriptive attributes."""
    spec = _REGISTRY.find(name)
    if spec is not None:
        return spec
    from gradsign.proxies.ensemble import is_ensemble_name, parse_ensemble

    if isinstance(name, str) and is_ensemble_name(name):
        return parse_ensemble(name)  # type: ignore[return-value]
    import difflib

    close = difflib.get_close_matches(str(name), _REGISTRY.names(), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ConfigError(f"unknown proxy {name!r}; {hint}available: {', '.join(_REGISTRY.names())} "
                      "(or an ensemble such as gradsign+jacob_cov; a plug-in's proxies need `gradsign --plugin "
                      "FILE.py` before the command)")


def available_proxies() -> list[ProxySpec]:
    return [spec for _, spec in _REGISTRY.items()]


def parse_proxy_list(text: str) -> list[str]:
    """``"a,b"`` or ``"all"`` -> validated list of names (order kept, duplicates dropped).

    An item may be an ensemble, ``a+b`` or ``meanrank(a+b)`` (see :mod:`gradsign.proxies.ensemble`).
    """
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError("no proxy given; see `gradsign proxies` for the list")
    if names == ["all"]:
        return [p.name for p in available_proxies()]
    seen: dict[str, None] = {}
    for n in names:
        seen.setdefault(get_proxy(n).name, None)  # ensembles by their canonical name
    return list(seen)
