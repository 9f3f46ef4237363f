"""NAS-Bench-201 as an Optuna search space: one categorical parameter per cell edge, over the 5 ops.

The parameter of edge ``NB201_EDGES[k] = (to, from)`` is named ``"<to><-<from>"``
(``"1<-0"`` ... ``"3<-2"``) and takes an op name of
:data:`~gradsign.spaces.nb201.NB201_OPS`; the 5^6 = 15,625 parameter sets are
exactly the benchmark's cells. :func:`nb201_index` maps a parameter set to the
cell's official index (what :func:`~gradsign.search.oracle.nb201_oracle` and the
stored scores are keyed by).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optuna.distributions import CategoricalDistribution

from gradsign.errors import ArchError
from gradsign.spaces.nb201 import NB201_EDGES, NB201_OPS, NB201Arch

#: the Optuna parameter of each edge, in NB201_EDGES order
NB201_PARAM_NAMES: tuple[str, ...] = tuple(f"{to}<-{src}" for to, src in NB201_EDGES)


def nb201_search_space() -> dict[str, CategoricalDistribution]:
    """``{edge parameter: CategoricalDistribution(NB201_OPS)}``, in edge order."""
    return {name: CategoricalDistribution(list(NB201_OPS)) for name in NB201_PARAM_NAMES}


def nb201_arch(params: Mapping[str, Any]) -> NB201Arch:
    """The cell of a parameter set of :func:`nb201_search_space`."""
    missing = [name for name in NB201_PARAM_NAMES if name not in params]
    if missing:
        raise ArchError(f"NB201 parameters lack edge(s) {', '.join(missing)}; expected {', '.join(NB201_PARAM_NAMES)}")
    return NB201Arch.from_op_names([params[name] for name in NB201_PARAM_NAMES])


def nb201_index(params: Mapping[str, Any]) -> int:
    """The official NAS-Bench-201 index of the cell of ``params``."""
    return nb201_arch(params).index()


def nb201_params(index: int) -> dict[str, str]:
    """The parameter set of the cell with official index ``index``."""
    return dict(zip(NB201_PARAM_NAMES, NB201Arch.from_index(index).op_names))


__all__ = ["NB201_PARAM_NAMES", "nb201_arch", "nb201_index", "nb201_params", "nb201_search_space"]
