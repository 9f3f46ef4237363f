"""Search spaces: arch encodings, official indexings and network builders.

``get_space(name)`` returns a :class:`SearchSpace`; NAS-Bench-201 is also
available directly (:class:`NB201Arch`, :func:`build_nb201_network`).

The network builders import torch; they are loaded on first access so that
arch-only work (parsing, indexing, sampling) does not pay torch's import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradsign.spaces.base import SearchSpace, SeedLike, as_generator, available_spaces, get_space, register_space
from gradsign.spaces.nb201 import (
    NB201_EDGES,
    NB201_NUM_ARCHS,
    NB201_OPS,
    NB201Arch,
    NB201Space,
    all_nb201_archs,
    nb201_arch_at,
    nb201_index_of,
    parse_nb201,
    sample_nb201,
)

if TYPE_CHECKING:  # pragma: no cover
    from gradsign.spaces.nb201_network import (NB201Network, build_nb201_network, count_nb201_params,
                                               count_nb201_prunable_weights)

_LAZY = {
    "NB201Network": "gradsign.spaces.nb201_network",
    "build_nb201_network": "gradsign.spaces.nb201_network",
    "count_nb201_params": "gradsign.spaces.nb201_network",
    "count_nb201_prunable_weights": "gradsign.spaces.nb201_network",
}


def __getattr__(name: str) -> Any:
    # PEP 562: import the torch-dependent builder module only when asked for.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "NB201Arch",
    "NB201Network",
    "NB201Space",
    "NB201_EDGES",
    "NB201_NUM_ARCHS",
    "NB201_OPS",
    "SearchSpace",
    "SeedLike",
    "all_nb201_archs",
    "as_generator",
    "available_spaces",
    "build_nb201_network",
    "count_nb201_params",
    "count_nb201_prunable_weights",
    "get_space",
    "nb201_arch_at",
    "nb201_index_of",
    "parse_nb201",
    "register_space",
    "sample_nb201",
]
