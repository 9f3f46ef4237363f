"""Fixed-length architecture encodings for model-based predictors.

Three kinds, as in White et al. (2020, "A Study on Encodings for NAS") and NASLib:

``onehot``
    The adjacency-plus-operations encoding, one float32 vector per arch.

    * NB201: 6 edges x 5 ops = 30 (:meth:`NB201Arch.onehot`); the NB201 graph is
      fixed, so the ops are the whole adjacency.
    * NB101: the pruned cell padded to 7 vertices (output kept in the last slot,
      as :meth:`NB101Arch.padded` does): 21 upper-triangular adjacency bits, then
      3 op bits for each of the 5 interior slots (all zero for an empty slot) = 36.
    * DARTS: for each cell (normal, reduce) and each of its 8 ``(op, input)``
      pairs, 7 op bits and 5 input-node bits = 192. The arch is
      :meth:`~DartsArch.normalized` first, so the order of a node's two pairs
      (which does not change the network's function) does not change the code.

``path`` (BANANAS, White et al. 2021 AAAI)
    One bit per possible input-to-output path, identified by its op sequence.

    * NB201: the cell has 4 routes from input to output: edges ``3<-0``;
      ``1<-0, 3<-1``; ``2<-0, 3<-2``; ``1<-0, 2<-1, 3<-2``. A route of length
      ``L`` has ``5**L`` op sequences and routes of equal length share their
      slots (NASLib's layout), so the length is ``5 + 25 + 125 = 155`` =
      ``sum(5**L for L in 1..3)``. Paths through ``none`` are kept, as NASLib does
      (they tell the model that a route is cut).
    * NB101: all input-to-output paths of the pruned DAG; a path of ``L`` interior
      ops (``0 <= L <= 5``) has ``3**L`` sequences, so the length is
      ``sum(3**L for L in 0..5) = 364``; the index of a sequence is its bijective
      base-3 number (digits = op index + 1), BANANAS's numbering.
    * DARTS: not defined here (NASLib truncates its DARTS path encoding to the
      most common paths, which needs a sample of the space); predictors fall back
      to ``onehot``.

``graph`` (for graph networks)
    ``(adjacency, node_features)`` with a fixed node count per space: an
    ``int8 (N, N)`` directed adjacency (``a -> b``) and ``float32 (N, F)`` one-hot
    node labels; padding nodes have no edges and all-zero features.

    * NB201: :meth:`NB201Arch.to_graph` (ops on nodes), N = 8, F = 7.
    * NB101: the pruned cell padded to N = 7 at the end, F = 5 (input, the 3 ops, output).
    * DARTS: each cell as an op-on-node DAG (2 input nodes, 8 op nodes, 4 sum
      nodes, 1 output) = 15 nodes; the two cells side by side, N = 30; F = 11
      (input, 7 ops, sum, output, and a flag for the reduction cell).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from gradsign.errors import ConfigError
from gradsign.spaces.darts import DARTS_NUM_NODES, DARTS_OPS, DartsArch, check_nb301
from gradsign.spaces.nb101 import NB101_MAX_VERTICES, NB101_OPS, NB101Arch
from gradsign.spaces.nb201 import NB201_NUM_OPS, NB201Arch

ENCODINGS: tuple[str, ...] = ("onehot", "path", "graph")

# --------------------------------------------------------------------------- NB201

#: Routes from the cell input to its output, as indices into :data:`NB201_EDGES`
#: (edge 0 = 1<-0, 1 = 2<-0, 2 = 2<-1, 3 = 3<-0, 4 = 3<-1, 5 = 3<-2).
NB201_ROUTES: tuple[tuple[int, ...], ...] = ((3,), (0, 4), (1, 5), (0, 2, 5))
NB201_PATH_LENGTH = sum(NB201_NUM_OPS**L for L in (1, 2, 3))  # 155
# Slot offset of each route: routes of the same length share slots (NASLib's layout).
_NB201_ROUTE_BASE = (0, NB201_NUM_OPS, NB201_NUM_OPS, NB201_NUM_OPS + NB201_NUM_OPS**2)


def nb201_onehot(arch: NB201Arch) -> np.ndarray:
    return arch.onehot(flat=True)


def nb201_path_indices(arch: NB201Arch) -> tuple[int, ...]:
    """The path-encoding slot of each of the 4 routes."""
    out = []
    for route, base in zip(NB201_ROUTES, _NB201_ROUTE_BASE):
        index = base
        for j, edge in enumerate(route):
            index += arch.ops[edge] * NB201_NUM_OPS**j
        out.append(index)
    return tuple(out)


def nb201_path(arch: NB201Arch) -> np.ndarray:
    enc = np.zeros(NB201_PATH_LENGTH, dtype=np.float32)
    enc[list(nb201_path_indices(arch))] = 1.0
    return enc


def nb201_graph(arch: NB201Arch) -> tuple[np.ndarray, np.ndarray]:
    return arch.to_graph()


# --------------------------------------------------------------------------- NB101

_NB101_OP = {name: i for i, name in enumerate(NB101_OPS)}
NB101_ONEHOT_LENGTH = NB101_MAX_VERTICES * (NB101_MAX_VERTICES - 1) // 2 + (NB101_MAX_VERTICES - 2) * len(NB101_OPS)
NB101_PATH_LENGTH = sum(len(NB101_OPS) ** L for L in range(NB101_MAX_VERTICES - 1))  # 364
_TRIU = np.triu_indices(NB101_MAX_VERTICES, k=1)


def _nb101_padded_matrix(arch: NB101Arch) -> tuple[np.ndarray, list[str | None]]:
    """7x7 matrix with the output moved to the last slot; ops per slot (None = empty slot)."""
    n = arch.num_vertices
    pos = list(range(n - 1)) + [NB101_MAX_VERTICES - 1]
    m = np.zeros((NB101_MAX_VERTICES, NB101_MAX_VERTICES), dtype=np.float32)
    src = np.asarray(arch.matrix)
    for i in range(n):
        for j in range(n):
            if src[i, j]:
                m[pos[i], pos[j]] = 1.0
    ops: list[str | None] = [None] * NB101_MAX_VERTICES
    for v, p in enumerate(pos):
        ops[p] = arch.ops[v]
    return m, ops


def nb101_onehot(arch: NB101Arch) -> np.ndarray:
    m, ops = _nb101_padded_matrix(arch)
    op_bits = np.zeros((NB101_MAX_VERTICES - 2, len(NB101_OPS)), dtype=np.float32)
    for slot in range(1, NB101_MAX_VERTICES - 1):
        if ops[slot] is not None:
            op_bits[slot - 1, _NB101_OP[ops[slot]]] = 1.0
    return np.concatenate([m[_TRIU], op_bits.reshape(-1)])


def nb101_paths(arch: NB101Arch) -> list[tuple[str, ...]]:
    """Op sequences of all input-to-output paths (interior ops only)."""
    n = arch.num_vertices
    paths: list[list[tuple[str, ...]]] = [[] for _ in range(n)]
    paths[0] = [()]
    for j in range(1, n):  # vertex order is topological
        for i in range(j):
            if arch.matrix[i][j]:
                extra = () if i == 0 else (arch.ops[i],)
                paths[j].extend(p + extra for p in paths[i])
    return paths[n - 1]


def nb101_path_index(path: tuple[str, ...]) -> int:
    """Bijective base-3 number of an op sequence: distinct sequences get distinct slots in 0..363."""
    index = 0
    for i, op in enumerate(path):
        index += len(NB101_OPS) ** i * (_NB101_OP[op] + 1)
    return index


def nb101_path(arch: NB101Arch) -> np.ndarray:
    enc = np.zeros(NB101_PATH_LENGTH, dtype=np.float32)
    for p in nb101_paths(arch):
        enc[nb101_path_index(p)] = 1.0
    return enc


NB101_GRAPH_LABELS: tuple[str, ...] = ("input", *NB101_OPS, "output")


def nb101_graph(arch: NB101Arch) -> tuple[np.ndarray, np.ndarray]:
    n = arch.num_vertices
    adj = np.zeros((NB101_MAX_VERTICES, NB101_MAX_VERTICES), dtype=np.int8)
    adj[:n, :n] = np.asarray(arch.matrix, dtype=np.int8)
    feats = np.zeros((NB101_MAX_VERTICES, len(NB101_GRAPH_LABELS)), dtype=np.float32)
    for v, op in enumerate(arch.ops):
        feats[v, NB101_GRAPH_LABELS.index(op)] = 1.0
    return adj, feats


# --------------------------------------------------------------------------- DARTS

_DARTS_OP = {name: i for i, name in enumerate(DARTS_OPS)}
_DARTS_INPUTS = DARTS_NUM_NODES + 1  # node k+2 reads from nodes 0..k+1, at most 5 choices
DARTS_ONEHOT_LENGTH = 2 * 2 * DARTS_NUM_NODES * (len(DARTS_OPS) + _DARTS_INPUTS)  # 192
DARTS_GRAPH_LABELS: tuple[str, ...] = ("input", *DARTS_OPS, "sum", "output", "reduce_cell")
_DARTS_CELL_NODES = 2 + 2 * DARTS_NUM_NODES + DARTS_NUM_NODES + 1  # 15


def darts_onehot(arch: DartsArch) -> np.ndarray:
    arch = check_nb301(arch, "the NB301 encodings").normalized()
    parts = []
    for cell in (arch.normal, arch.reduce):
        for op, src in cell:
            block = np.zeros(len(DARTS_OPS) + _DARTS_INPUTS, dtype=np.float32)
            block[_DARTS_OP[op]] = 1.0
            block[len(DARTS_OPS) + src] = 1.0
            parts.append(block)
    return np.concatenate(parts)


def darts_graph(arch: DartsArch) -> tuple[np.ndarray, np.ndarray]:
    arch = check_nb301(arch, "the NB301 encodings").normalized()
    n = 2 * _DARTS_CELL_NODES
    adj = np.zeros((n, n), dtype=np.int8)
    feats = np.zeros((n, len(DARTS_GRAPH_LABELS)), dtype=np.float32)
    lab = {name: i for i, name in enumerate(DARTS_GRAPH_LABELS)}
    for c, cell in enumerate((arch.normal, arch.reduce)):
        off = c * _DARTS_CELL_NODES
        inputs = [off, off + 1]
        op_nodes = [off + 2 + p for p in range(2 * DARTS_NUM_NODES)]
        sums = [off + 2 + 2 * DARTS_NUM_NODES + k for k in range(DARTS_NUM_NODES)]
        out = off + _DARTS_CELL_NODES - 1
        for v in inputs:
            feats[v, lab["input"]] = 1.0
        for p, (op, src) in enumerate(cell):
            feats[op_nodes[p], lab[op]] = 1.0
            adj[inputs[src] if src < 2 else sums[src - 2], op_nodes[p]] = 1
            adj[op_nodes[p], sums[p // 2]] = 1
        for s in sums:
            feats[s, lab["sum"]] = 1.0
            adj[s, out] = 1
        feats[out, lab["output"]] = 1.0
        if c == 1:
            feats[off:off + _DARTS_CELL_NODES, lab["reduce_cell"]] = 1.0
    return adj, feats


# --------------------------------------------------------------------------- dispatch

_ENCODERS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "nb201": {"onehot": nb201_onehot, "path": nb201_path, "graph": nb201_graph},
    "nb101": {"onehot": nb101_onehot, "path": nb101_path, "graph": nb101_graph},
    "darts": {"onehot": darts_onehot, "graph": darts_graph},
}


def space_encoders(space: str) -> dict[str, Callable[[Any], Any]]:
    """The built-in encoders of ``space`` by kind (empty for a space defined elsewhere)."""
    return dict(_ENCODERS.get(space, {}))


def supported_encodings(space: str) -> tuple[str, ...]:
    """The encodings defined for ``space`` (a registered space name)."""
    return tuple(_ENCODERS.get(space, {}))


def encode(space: str, arch: Any, kind: str = "onehot") -> Any:
    """The ``kind`` encoding of one arch object of ``space`` (see the module docstring)."""
    if kind not in ENCODINGS:
        raise ConfigError(f"unknown encoding {kind!r}; valid: {', '.join(ENCODINGS)}")
    encoders = _ENCODERS.get(space)
    if encoders is None:
        raise ConfigError(f"no encodings for search space {space!r}; available for {', '.join(_ENCODERS)}")
    if kind not in encoders:
        raise ConfigError(f"encoding {kind!r} is not defined for {space}; use one of {', '.join(encoders)}")
    return encoders[kind](arch)


__all__ = [
    "DARTS_GRAPH_LABELS",
    "DARTS_ONEHOT_LENGTH",
    "ENCODINGS",
    "NB101_GRAPH_LABELS",
    "NB101_ONEHOT_LENGTH",
    "NB101_PATH_LENGTH",
    "NB201_PATH_LENGTH",
    "NB201_ROUTES",
    "darts_graph",
    "darts_onehot",
    "encode",
    "nb101_graph",
    "nb101_onehot",
    "nb101_path",
    "nb101_path_index",
    "nb101_paths",
    "nb201_graph",
    "nb201_onehot",
    "nb201_path",
    "nb201_path_indices",
    "space_encoders",
    "supported_encodings",
]
