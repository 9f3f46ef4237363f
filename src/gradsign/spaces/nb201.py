"""NAS-Bench-201 cells: representation, string form, official index order, sampling.

A NAS-Bench-201 cell is a 4-node DAG (node 0 = cell input, node 3 = cell output)
with one operation on each of its 6 edges ``j <- i`` (``i < j``), so the space
has ``5 ** 6 = 15,625`` cells. Edges, in the order the arch string lists them::

    |op~0|+|op~0|op~1|+|op~0|op~1|op~2|
     1<-0   2<-0 2<-1   3<-0 3<-1 3<-2

:class:`NB201Arch` stores the cell as 6 op indices over :data:`NB201_OPS`,
one per edge in that order.

Official index order
--------------------
The benchmark numbers its cells 0..15,624. That order is reproducible: list all
cells in ``itertools.product`` order over the 6 edges (first edge outermost, ops
in :data:`NB201_OPS` order), then shuffle the list with Python's ``random``
seeded with 88, which is what NAS-Bench-201's generator did. The result matches
the row order of every NAS-Bench-201 table in the shared data folder (checked by
the tests for all 15,625 rows). A private ``random.Random`` instance is used so
the global RNG is neither read nor advanced.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from gradsign.errors import ArchError, ConfigError
from gradsign.spaces.base import SearchSpace, SeedLike, as_generator, register_space

if TYPE_CHECKING:  # pragma: no cover
    from gradsign.spaces.nb201_network import NB201Network

#: The five candidate operations; position = op index used by :class:`NB201Arch`.
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: The six edges as ``(to_node, from_node)``, in arch-string order.
NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NB201_NUM_OPS = len(NB201_OPS)
NB201_NUM_EDGES = len(NB201_EDGES)
NB201_NUM_ARCHS = NB201_NUM_OPS**NB201_NUM_EDGES  # 15,625
#: Seed of the ``random.shuffle`` that fixed the official index order.
NB201_SHUFFLE_SEED = 88
#: Node labels of the op-on-node graph returned by :meth:`NB201Arch.to_graph`.
NB201_GRAPH_LABELS: tuple[str, ...] = ("input", *NB201_OPS, "output")

_OP_INDEX = {name: i for i, name in enumerate(NB201_OPS)}


def _short(text: Any, limit: int = 120) -> str:
    """``repr`` of a user value, cut so an error message stays one readable line."""
    r = repr(text)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _is_int(x: Any) -> bool:
    # bool is an int subclass, but True as an op index is almost certainly a bug.
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


@dataclass(frozen=True, slots=True)
class NB201Arch:
    """One NAS-Bench-201 cell: ``ops[k]`` is the op index of edge ``NB201_EDGES[k]``.

    Immutable and hashable; equal archs have equal ``ops``. Any sequence of 6
    ints in ``0..4`` is accepted and stored as a tuple of plain ints.

    >>> a = NB201Arch.from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
    ...                           "+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|")
    >>> a.ops, a.index()
    ((3, 3, 4, 1, 3, 1), 1)
    """

    ops: tuple[int, ...]

    def __post_init__(self) -> None:
        ops = self.ops
        if isinstance(ops, (str, bytes)) or not isinstance(ops, Iterable):
            raise ArchError(
                f"NB201 op encoding must be a sequence of {NB201_NUM_EDGES} op indices, got {_short(ops)}"
            )
        ops = tuple(ops)
        if len(ops) != NB201_NUM_EDGES:
            raise ArchError(
                f"NB201 op encoding must have {NB201_NUM_EDGES} entries (one op index per edge), "
                f"got {len(ops)}: {_short(ops)}"
            )
        for k, op in enumerate(ops):
            if not _is_int(op) or not 0 <= op < NB201_NUM_OPS:
                raise ArchError(
                    f"NB201 op encoding {_short(ops)}: entry {k} is {op!r}, expected an int in 0..{NB201_NUM_OPS - 1}"
                )
        # Normalise numpy ints to plain ints so hashing/equality/JSON behave the same.
        object.__setattr__(self, "ops", tuple(int(o) for o in ops))

    # --- constructors --------------------------------------------------------
    @classmethod
    def _trusted(cls, ops: tuple[int, ...]) -> "NB201Arch":
        """Skip validation for ops tuples generated internally (8x faster index build)."""
        arch = object.__new__(cls)
        object.__setattr__(arch, "ops", ops)
        return arch

    @classmethod
    def from_string(cls, text: str) -> "NB201Arch":
        """Parse an arch string such as ``|nor_conv_3x3~0|+|...|+|...|``."""
        return parse_nb201(text)

    @classmethod
    def from_index(cls, index: int) -> "NB201Arch":
        """The cell with official NAS-Bench-201 index ``index`` (0..15,624)."""
        return nb201_arch_at(index)

    @classmethod
    def from_op_names(cls, names: Sequence[str]) -> "NB201Arch":
        """From 6 op names, one per edge in :data:`NB201_EDGES` order."""
        if isinstance(names, str) or len(names) != NB201_NUM_EDGES:
            raise ArchError(f"NB201 op names must be {NB201_NUM_EDGES} names (one per edge), got {_short(names)}")
        ops = []
        for k, name in enumerate(names):
            if name not in _OP_INDEX:
                raise ArchError(f"unknown NB201 op {_short(name)} on edge {k}; expected one of {', '.join(NB201_OPS)}")
            ops.append(_OP_INDEX[name])
        return cls(tuple(ops))

    @classmethod
    def from_onehot(cls, onehot: Any) -> "NB201Arch":
        """Inverse of :meth:`onehot` (accepts the (6, 5) or flat (30,) form)."""
        arr = np.asarray(onehot)
        if arr.size != NB201_NUM_EDGES * NB201_NUM_OPS or arr.ndim not in (1, 2):
            raise ArchError(
                f"NB201 one-hot encoding must have shape ({NB201_NUM_EDGES}, {NB201_NUM_OPS}) or "
                f"({NB201_NUM_EDGES * NB201_NUM_OPS},), got {arr.shape}"
            )
        arr = arr.reshape(NB201_NUM_EDGES, NB201_NUM_OPS)
        ok = np.isin(arr, (0, 1)).all(axis=1) & (arr.sum(axis=1) == 1)
        if not ok.all():
            bad = int(np.flatnonzero(~ok)[0])
            raise ArchError(f"NB201 one-hot encoding: row {bad} ({arr[bad].tolist()}) is not a one-hot vector")
        return cls(tuple(int(i) for i in arr.argmax(axis=1)))

    # --- views ---------------------------------------------------------------
    def to_string(self) -> str:
        """The official arch string."""
        groups: dict[int, list[str]] = {1: [], 2: [], 3: []}
        for (to_node, from_node), op in zip(NB201_EDGES, self.ops):
            groups[to_node].append(f"{NB201_OPS[op]}~{from_node}")
        return "+".join("|" + "|".join(groups[j]) + "|" for j in (1, 2, 3))

    def __str__(self) -> str:
        return self.to_string()

    @property
    def op_names(self) -> tuple[str, ...]:
        """The 6 op names, one per edge in :data:`NB201_EDGES` order."""
        return tuple(NB201_OPS[o] for o in self.ops)

    def input_reaches_output(self) -> bool:
        """Whether some path from the input node to the output node avoids ``none`` edges.

        When none does, the cell's output is a constant zero whatever its input (341 of the
        15,625 cells): gradients with respect to the input vanish, so input-Jacobian proxies
        such as jacob_cov are undefined (NaN) there.
        """
        reached = {0}
        for (to, frm), op in zip(NB201_EDGES, self.ops):  # edges come in topological order
            if op != _OP_INDEX["none"] and frm in reached:
                reached.add(to)
        return 3 in reached

    def index(self) -> int:
        """The official NAS-Bench-201 index of this cell."""
        return nb201_index_of(self)

    def onehot(self, flat: bool = True) -> np.ndarray:
        """One-hot float32 encoding: (30,) if ``flat`` else (6 edges, 5 ops)."""
        out = np.zeros((NB201_NUM_EDGES, NB201_NUM_OPS), dtype=np.float32)
        out[np.arange(NB201_NUM_EDGES), self.ops] = 1.0
        return out.reshape(-1) if flat else out

    def to_graph(self) -> tuple[np.ndarray, np.ndarray]:
        """The cell as an op-on-node DAG, the form graph-based predictors consume.

        Nodes: 0 = cell input, 1..6 = the 6 edges' operations (in
        :data:`NB201_EDGES` order), 7 = cell output. An op node feeds every op
        node whose edge starts where its edge ends, and the output when its
        edge ends at cell node 3; the input feeds the ops of edges leaving node 0.
        ``none`` ops are kept (not pruned) so every cell has the same 8 nodes.

        Returns ``(adjacency, features)``: adjacency ``int8 (8, 8)`` with
        ``adjacency[a, b] = 1`` for a link ``a -> b`` (upper triangular), and
        one-hot node labels ``float32 (8, 7)`` over :data:`NB201_GRAPH_LABELS`.
        """
        n = NB201_NUM_EDGES + 2
        adj = np.zeros((n, n), dtype=np.int8)
        for a, (to_a, from_a) in enumerate(NB201_EDGES, start=1):
            if from_a == 0:
                adj[0, a] = 1
            if to_a == 3:
                adj[a, n - 1] = 1
            for b, (_, from_b) in enumerate(NB201_EDGES, start=1):
                if from_b == to_a:
                    adj[a, b] = 1
        labels = [0] + [o + 1 for o in self.ops] + [len(NB201_GRAPH_LABELS) - 1]
        feats = np.zeros((n, len(NB201_GRAPH_LABELS)), dtype=np.float32)
        feats[np.arange(n), labels] = 1.0
        return adj, feats

    # --- local moves -----------------------------------------------------------
    def with_op(self, edge: int, op: int) -> "NB201Arch":
        """A copy with edge ``edge`` (0..5) set to op index ``op``."""
        if not _is_int(edge) or not 0 <= edge < NB201_NUM_EDGES:
            raise ArchError(f"NB201 edge index must be an int in 0..{NB201_NUM_EDGES - 1}, got {edge!r}")
        ops = list(self.ops)
        ops[edge] = op
        return NB201Arch(tuple(ops))

    def mutate(self, seed: SeedLike = None) -> "NB201Arch":
        """Change exactly one uniformly chosen edge to a uniformly chosen *different* op."""
        # Two uniforms per mutation (edge, then one of the 4 other ops, skipping the
        # current one): the draws the simulated searches have always made, so their
        # results are unchanged now that they mutate through the space.
        edge_u, op_u = as_generator(seed).random(2).tolist()
        edge = int(edge_u * NB201_NUM_EDGES)
        new = int(op_u * (NB201_NUM_OPS - 1))
        if new >= self.ops[edge]:
            new += 1
        ops = list(self.ops)
        ops[edge] = new
        return NB201Arch._trusted(tuple(ops))

    def neighbours(self) -> list["NB201Arch"]:
        """The 24 cells that differ from this one on exactly one edge (edge-major, op order)."""
        return [
            self.with_op(edge, op)
            for edge in range(NB201_NUM_EDGES)
            for op in range(NB201_NUM_OPS)
            if op != self.ops[edge]
        ]


# --------------------------------------------------------------------------- parsing


def parse_nb201(text: str) -> NB201Arch:
    """Parse and validate an NB201 arch string; errors name the offending part.

    Surrounding whitespace is ignored; everything else must be exact: three
    ``+``-separated node groups, each wrapped in ``|``, node ``j`` listing ``j``
    edges ``op~i`` with inputs ``i = 0..j-1`` in order.
    """
    if isinstance(text, NB201Arch):
        return text
    if not isinstance(text, str):
        raise ArchError(f"NB201 arch must be given as a string, got {type(text).__name__} {_short(text)}")
    s = text.strip()
    head = f"invalid NB201 arch string {_short(s)}"
    if not s:
        raise ArchError("invalid NB201 arch string: it is empty")
    groups = s.split("+")
    if len(groups) != 3:
        raise ArchError(f"{head}: expected 3 nodes separated by '+', found {len(groups)}")
    ops: list[int] = []
    for node, group in enumerate(groups, start=1):
        if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
            raise ArchError(f"{head}: node {node} part {_short(group)} must start and end with '|'")
        edges = group[1:-1].split("|")
        if len(edges) != node:
            raise ArchError(f"{head}: node {node} must have {node} incoming edge(s), found {len(edges)}")
        for expected_input, edge in enumerate(edges):
            name, sep, src = edge.partition("~")
            if not sep:
                raise ArchError(f"{head}: edge {_short(edge)} of node {node} lacks '~<input node>'")
            if name not in _OP_INDEX:
                raise ArchError(
                    f"{head}: unknown op {_short(name)} on node {node}; expected one of {', '.join(NB201_OPS)}"
                )
            if src != str(expected_input):
                raise ArchError(
                    f"{head}: edge {_short(edge)} of node {node} has input node {_short(src)}, "
                    f"expected {expected_input} (inputs must be listed 0..{node - 1} in order)"
                )
            ops.append(_OP_INDEX[name])
    return NB201Arch(tuple(ops))


# --------------------------------------------------------------------------- official index


@lru_cache(maxsize=1)
def _index_tables() -> tuple[tuple[NB201Arch, ...], dict[tuple[int, ...], int]]:
    """Build (index -> arch, ops -> index) once, on first use (~20 ms)."""
    cells = list(itertools.product(range(NB201_NUM_OPS), repeat=NB201_NUM_EDGES))
    # A private Random: same sequence as random.seed(88); random.shuffle(...) but
    # leaves the interpreter-wide RNG untouched.
    random.Random(NB201_SHUFFLE_SEED).shuffle(cells)
    order = tuple(NB201Arch._trusted(c) for c in cells)
    return order, {a.ops: i for i, a in enumerate(order)}


def all_nb201_archs() -> tuple[NB201Arch, ...]:
    """All 15,625 cells in official index order (position = index)."""
    return _index_tables()[0]


def nb201_arch_at(index: int) -> NB201Arch:
    """The cell with official index ``index``."""
    if not _is_int(index) or not 0 <= index < NB201_NUM_ARCHS:
        raise ArchError(f"NB201 arch index must be an int in 0..{NB201_NUM_ARCHS - 1}, got {_short(index)}")
    return _index_tables()[0][int(index)]


def nb201_index_of(arch: NB201Arch | str) -> int:
    """The official index of ``arch`` (an :class:`NB201Arch` or an arch string)."""
    return _index_tables()[1][as_nb201_arch(arch).ops]


def as_nb201_arch(arch: NB201Arch | str) -> NB201Arch:
    """Accept an :class:`NB201Arch` or an arch string; anything else is an :class:`ArchError`."""
    if isinstance(arch, NB201Arch):
        return arch
    return parse_nb201(arch)


# --------------------------------------------------------------------------- sampling


def sample_nb201(n: int, seed: SeedLike = None, *, replace: bool = False) -> list[NB201Arch]:
    """``n`` uniformly drawn cells; distinct unless ``replace``.

    Draws indices with a NumPy Generator (from ``seed``), so an int seed gives the
    same list on every platform and run; the global RNGs are never used.
    """
    if not _is_int(n) or n < 0:
        raise ConfigError(f"number of archs to sample must be a non-negative int, got {_short(n)}")
    if not replace and n > NB201_NUM_ARCHS:
        raise ConfigError(f"cannot sample {n} distinct NB201 archs: the space has only {NB201_NUM_ARCHS}")
    rng = as_generator(seed)
    if replace:
        idx = rng.integers(0, NB201_NUM_ARCHS, size=int(n))
    else:
        idx = rng.choice(NB201_NUM_ARCHS, size=int(n), replace=False)
    order = all_nb201_archs()
    return [order[int(i)] for i in idx]


# --------------------------------------------------------------------------- the space


@register_space("nb201", aliases=("nasbench201", "nas-bench-201"))
class NB201Space(SearchSpace[NB201Arch]):
    """NAS-Bench-201 (the NATS-Bench topology space): 15,625 cells, officially indexed."""

    def parse(self, text: str) -> NB201Arch:
        return parse_nb201(text)

    def to_string(self, arch: NB201Arch) -> str:
        return as_nb201_arch(arch).to_string()

    @property
    def num_archs(self) -> int:
        return NB201_NUM_ARCHS

    def arch_at(self, index: int) -> NB201Arch:
        return nb201_arch_at(index)

    def index_of(self, arch: NB201Arch | str) -> int:
        return nb201_index_of(arch)

    def __iter__(self):
        return iter(all_nb201_archs())

    def sample(self, n: int, seed: SeedLike = None, *, replace: bool = False) -> list[NB201Arch]:
        return sample_nb201(n, seed, replace=replace)

    def mutate(self, arch: NB201Arch, seed: SeedLike = None) -> NB201Arch:
        return as_nb201_arch(arch).mutate(seed)

    def neighbours(self, arch: NB201Arch) -> list[NB201Arch]:
        return as_nb201_arch(arch).neighbours()

    def choices(self) -> tuple[int, ...]:
        return (NB201_NUM_OPS,) * NB201_NUM_EDGES

    def to_choices(self, arch: NB201Arch | str) -> tuple[int, ...]:
        return as_nb201_arch(arch).ops

    def from_choices(self, choices: Sequence[int]) -> NB201Arch:
        return NB201Arch(tuple(choices))

    def build_network(self, arch: NB201Arch | str, num_classes: int = 10, **options: Any) -> "NB201Network":
        """See :func:`gradsign.spaces.nb201_network.build_nb201_network` (options ``C``, ``N``)."""
        from gradsign.spaces.nb201_network import build_nb201_network  # torch only when a network is built

        return build_nb201_network(arch, num_classes, **options)


__all__ = [
    "NB201Arch",
    "NB201Space",
    "NB201_EDGES",
    "NB201_GRAPH_LABELS",
    "NB201_NUM_ARCHS",
    "NB201_NUM_EDGES",
    "NB201_NUM_OPS",
    "NB201_OPS",
    "NB201_SHUFFLE_SEED",
    "all_nb201_archs",
    "as_nb201_arch",
    "nb201_arch_at",
    "nb201_index_of",
    "parse_nb201",
    "sample_nb201",
]
