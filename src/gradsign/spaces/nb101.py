"""NAS-Bench-101 cells: validity and pruning rules, the official graph hash, sampling, mutation.

A NAS-Bench-101 cell ("module spec") is a DAG of at most 7 vertices given by an
upper-triangular 0/1 adjacency matrix (``matrix[i][j] = 1`` for an edge
``i -> j``) and one label per vertex: vertex 0 is ``input``, the last vertex is
``output`` and every other vertex runs one of :data:`NB101_OPS`.

Rules (those of the benchmark's ``ModelSpec`` and ``NASBench.is_valid``)
------------------------------------------------------------------------
* the matrix is square and strictly upper triangular (so the graph is a DAG
  whose vertex order is a topological order);
* vertices that are not on some ``input -> output`` path are *pruned* (their
  rows, columns and ops are deleted); a spec whose input cannot reach its output
  is invalid;
* after pruning: at most 7 vertices and at most 9 edges.

:class:`NB101Arch` always stores the **pruned** spec, so two specs that differ
only in dead vertices are equal. Equality is on the (pruned) matrix and ops, not
up to isomorphism: relabelled copies of one graph are different ``NB101Arch``
values with the same :meth:`NB101Arch.spec_hash`, which is what identifies a
cell in the benchmark (NAS-Bench-101 has 423,624 distinct cells).

String form
-----------
``<matrix rows as bit strings, comma separated>|<ops, comma separated>``, e.g.::

    0100110,0010000,0001001,0000010,0000010,0000001,0000000|input,conv3x3-bn-relu,maxpool3x3,conv3x3-bn-relu,conv3x3-bn-relu,conv1x1-bn-relu,output

:func:`parse_nb101` also accepts a JSON object ``{"matrix": [[...]], "ops": [...]}``
(the benchmark's own spec layout) and prunes whatever it is given.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from gradsign.errors import ArchError, ConfigError
from gradsign.spaces.base import SearchSpace, SeedLike, as_generator, register_space

if TYPE_CHECKING:  # pragma: no cover
    from gradsign.spaces.nb101_network import NB101Network

NB101_INPUT = "input"
NB101_OUTPUT = "output"
#: Interior ops in the benchmark's canonical order (``config['available_ops']``):
#: the position is the vertex label the graph hash uses.
NB101_OPS: tuple[str, ...] = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
NB101_MAX_VERTICES = 7
NB101_MAX_EDGES = 9
#: Number of distinct (non-isomorphic) valid cells, as enumerated by the benchmark.
NB101_NUM_ARCHS = 423_624
#: NASLib's op code order for its 56-int NB101 tuples (``conversions.all_ops``).
NASLIB_NB101_OPS: tuple[str, ...] = (NB101_INPUT, NB101_OUTPUT, "maxpool3x3", "conv1x1-bn-relu", "conv3x3-bn-relu")

_OP_LABEL = {name: i for i, name in enumerate(NB101_OPS)}
_ALL_LABELS = frozenset((NB101_INPUT, NB101_OUTPUT, *NB101_OPS))


def _short(value: Any, limit: int = 120) -> str:
    """``repr`` of a user value, cut so an error message stays one readable line."""
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


# --------------------------------------------------------------------------- pruning and checks


def _as_matrix(matrix: Any) -> tuple[tuple[int, ...], ...]:
    """Validate shape and entries; return the matrix as a tuple of int tuples."""
    if isinstance(matrix, (str, bytes)):
        raise ArchError(f"NB101 adjacency matrix must be a square 0/1 matrix, got the string {_short(matrix)}")
    try:
        arr = np.asarray(matrix)
    except Exception:  # ragged nested lists
        raise ArchError(f"NB101 adjacency matrix must be a square 0/1 matrix, got {_short(matrix)}") from None
    if arr.dtype == object or arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ArchError(f"NB101 adjacency matrix must be a square 0/1 matrix, got shape {arr.shape}: {_short(matrix)}")
    n = arr.shape[0]
    if not 2 <= n <= NB101_MAX_VERTICES:
        raise ArchError(
            f"NB101 adjacency matrix must have 2..{NB101_MAX_VERTICES} vertices (input and output included), got {n}"
        )
    if arr.dtype.kind not in "biu" and not (arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0)):
        raise ArchError(f"NB101 adjacency matrix entries must be 0 or 1, got dtype {arr.dtype}: {_short(matrix)}")
    if not np.isin(arr, (0, 1)).all():
        raise ArchError(f"NB101 adjacency matrix entries must be 0 or 1: {_short(arr.tolist())}")
    bad = np.argwhere(np.tril(arr) != 0)
    if len(bad):
        i, j = (int(v) for v in bad[0])
        raise ArchError(
            f"NB101 adjacency matrix must be strictly upper triangular (edges only from lower to higher "
            f"vertex), but entry [{i}][{j}] is 1"
        )
    return tuple(tuple(int(v) for v in row) for row in arr)


def _as_ops(ops: Any, n: int) -> tuple[str, ...]:
    if isinstance(ops, (str, bytes)) or not isinstance(ops, Iterable):
        raise ArchError(f"NB101 ops must be a sequence of {n} op names, got {_short(ops)}")
    ops = tuple(ops)
    if len(ops) != n:
        raise ArchError(f"NB101 ops must have one entry per vertex ({n}), got {len(ops)}: {_short(ops)}")
    for k, op in enumerate(ops):
        if not isinstance(op, str) or op not in _ALL_LABELS:
            raise ArchError(
                f"NB101 op {_short(op)} of vertex {k} is unknown; expected one of {', '.join(NB101_OPS)} "
                f"(or {NB101_INPUT}/{NB101_OUTPUT} first/last)"
            )
    if ops[0] != NB101_INPUT:
        raise ArchError(f"NB101 ops must start with {NB101_INPUT!r}, got {ops[0]!r}")
    if ops[-1] != NB101_OUTPUT:
        raise ArchError(f"NB101 ops must end with {NB101_OUTPUT!r}, got {ops[-1]!r}")
    for k, op in enumerate(ops[1:-1], start=1):
        if op not in _OP_LABEL:
            raise ArchError(f"NB101 vertex {k} has op {op!r}; interior vertices take one of {', '.join(NB101_OPS)}")
    return tuple(str(op) for op in ops)  # plain str, also for numpy string scalars


def _live_vertices(matrix: tuple[tuple[int, ...], ...]) -> list[int]:
    """Vertices on some input -> output path, in order (the ones pruning keeps)."""
    n = len(matrix)
    # Vertex order is topological (upper triangular), so one forward and one
    # backward sweep compute reachability without a DFS stack.
    from_input = [False] * n
    from_input[0] = True
    for j in range(1, n):
        from_input[j] = any(from_input[i] and matrix[i][j] for i in range(j))
    to_output = [False] * n
    to_output[n - 1] = True
    for i in range(n - 2, -1, -1):
        to_output[i] = any(matrix[i][j] and to_output[j] for j in range(i + 1, n))
    return [v for v in range(n) if from_input[v] and to_output[v]]


def _prune(
    matrix: tuple[tuple[int, ...], ...], ops: tuple[str, ...]
) -> tuple[tuple[tuple[int, ...], ...], tuple[str, ...]] | None:
    """The pruned (matrix, ops), or None when the input does not reach the output."""
    keep = _live_vertices(matrix)
    if len(keep) < 2:  # input and output are both kept only if they are connected
        return None
    if len(keep) == len(matrix):
        return matrix, ops
    return tuple(tuple(matrix[i][j] for j in keep) for i in keep), tuple(ops[v] for v in keep)


def _num_edges(matrix: tuple[tuple[int, ...], ...]) -> int:
    return sum(sum(row) for row in matrix)


# --------------------------------------------------------------------------- the graph hash


@lru_cache(maxsize=1 << 16)
def _hash_module(matrix: tuple[tuple[int, ...], ...], labels: tuple[int, ...]) -> str:
    """NAS-Bench-101's isomorphism-invariant fingerprint of a labelled DAG.

    The same computation as the benchmark's ``graph_util.hash_module`` (so the
    results equal its dataset keys): every vertex starts from the MD5 of the
    text of ``(out_degree, in_degree, label)``; then, ``V`` times, each vertex
    is re-hashed from its sorted in-neighbour hashes, ``|``, its sorted
    out-neighbour hashes, ``|``, its own hash; the fingerprint is the MD5 of the
    text of the sorted final hash list. Text forms (``str`` of a tuple / list)
    are part of the definition, so they are reproduced exactly.
    """
    n = len(matrix)
    in_deg = [sum(matrix[i][j] for i in range(n)) for j in range(n)]
    out_deg = [sum(row) for row in matrix]
    hashes = [hashlib.md5(str((out_deg[v], in_deg[v], labels[v])).encode("utf-8")).hexdigest() for v in range(n)]
    preds = [[w for w in range(n) if matrix[w][v]] for v in range(n)]
    succs = [[w for w in range(n) if matrix[v][w]] for v in range(n)]
    for _ in range(n):
        hashes = [
            hashlib.md5(
                (
                    "".join(sorted(hashes[w] for w in preds[v]))
                    + "|"
                    + "".join(sorted(hashes[w] for w in succs[v]))
                    + "|"
                    + hashes[v]
                ).encode("utf-8")
            ).hexdigest()
            for v in range(n)
        ]
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


def nb101_hash(matrix: Any, ops: Sequence[str]) -> str:
    """The official NAS-Bench-101 hash of a spec (pruned first, as the benchmark does)."""
    return NB101Arch(matrix, ops).spec_hash()


# --------------------------------------------------------------------------- the arch


@dataclass(frozen=True, slots=True, init=False)
class NB101Arch:
    """One NAS-Bench-101 cell, stored pruned: ``matrix`` (tuple of row tuples) and ``ops`` (names).

    The constructor takes any valid spec (nested lists, a numpy array, ...) and
    prunes it; an invalid one raises :class:`ArchError` naming the broken rule.
    Immutable and hashable. ``len(arch.ops)`` is the number of live vertices (2..7).

    >>> a = NB101Arch([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "maxpool3x3", "output"])
    >>> a.to_string()
    '010,001,000|input,maxpool3x3,output'
    """

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]

    def __init__(self, matrix: Any, ops: Sequence[str]) -> None:
        m = _as_matrix(matrix)
        o = _as_ops(ops, len(m))
        pruned = _prune(m, o)
        if pruned is None:
            raise ArchError("invalid NB101 spec: no path from the input vertex to the output vertex")
        m, o = pruned
        edges = _num_edges(m)
        if edges > NB101_MAX_EDGES:
            raise ArchError(
                f"invalid NB101 spec: {edges} edges after pruning, the benchmark allows at most {NB101_MAX_EDGES}"
            )
        object.__setattr__(self, "matrix", m)
        object.__setattr__(self, "ops", o)

    @classmethod
    def _trusted(cls, matrix: tuple[tuple[int, ...], ...], ops: tuple[str, ...]) -> "NB101Arch":
        """From an already pruned and checked spec (used by the samplers)."""
        arch = object.__new__(cls)
        object.__setattr__(arch, "matrix", matrix)
        object.__setattr__(arch, "ops", ops)
        return arch

    # --- constructors --------------------------------------------------------
    @classmethod
    def from_string(cls, text: str) -> "NB101Arch":
        """Parse the string form (see :func:`parse_nb101`)."""
        return parse_nb101(text)

    @classmethod
    def from_naslib(cls, key: Any) -> "NB101Arch":
        """From NASLib's flat tuple: ``n*n`` adjacency entries then ``n`` op codes over
        :data:`NASLIB_NB101_OPS` (``n = 7`` gives the 56 ints of NASLib's files).

        The tuple may be a string such as ``"(0, 1, ...)"``. NASLib keeps the
        *unpruned* spec it sampled; it is pruned here.
        """
        if isinstance(key, str):
            text = key.strip()
            if not (text[:1] in "([" and text[-1:] in ")]"):
                raise ArchError(f"NASLib NB101 key must be a tuple of ints, got {_short(key)}")
            try:
                values = [int(v) for v in text[1:-1].split(",") if v.strip()]
            except ValueError:
                raise ArchError(f"NASLib NB101 key must be a tuple of ints, got {_short(key)}") from None
        else:
            if not isinstance(key, Iterable):
                raise ArchError(f"NASLib NB101 key must be a tuple of ints, got {_short(key)}")
            values = list(key)
            if not all(_is_int(v) for v in values):
                raise ArchError(f"NASLib NB101 key must be a tuple of ints, got {_short(key)}")
        n = next((k for k in range(2, NB101_MAX_VERTICES + 1) if k * k + k == len(values)), None)
        if n is None:
            raise ArchError(
                f"NASLib NB101 key must hold n*n + n ints (56 for 7 vertices), got {len(values)}: {_short(key)}"
            )
        codes = values[n * n :]
        if not all(0 <= c < len(NASLIB_NB101_OPS) for c in codes):
            raise ArchError(f"NASLib NB101 key has op codes outside 0..{len(NASLIB_NB101_OPS) - 1}: {codes}")
        matrix = np.array(values[: n * n]).reshape(n, n)
        return cls(matrix, [NASLIB_NB101_OPS[c] for c in codes])

    # --- views ---------------------------------------------------------------
    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        return _num_edges(self.matrix)

    def adjacency(self) -> np.ndarray:
        """The pruned adjacency matrix as a fresh ``int8`` array."""
        return np.array(self.matrix, dtype=np.int8)

    def to_string(self) -> str:
        """The canonical string form (see the module docstring)."""
        return ",".join("".join(str(v) for v in row) for row in self.matrix) + "|" + ",".join(self.ops)

    def __str__(self) -> str:
        return self.to_string()

    def to_json(self) -> str:
        """``{"matrix": [[...]], "ops": [...]}``, the layout of the benchmark's own specs."""
        return json.dumps({"matrix": [list(r) for r in self.matrix], "ops": list(self.ops)})

    def spec_hash(self) -> str:
        """The official NAS-Bench-101 hash (the benchmark's dataset key): equal for isomorphic cells."""
        labels = (-1, *(_OP_LABEL[op] for op in self.ops[1:-1]), -2)
        return _hash_module(self.matrix, labels)

    def is_isomorphic(self, other: "NB101Arch") -> bool:
        """True when both are the same benchmark cell (equal :meth:`spec_hash`)."""
        return self.spec_hash() == as_nb101_arch(other).spec_hash()

    def padded(self) -> tuple[list[list[int]], list[str]]:
        """The spec in 7-vertex form: pruned-away slots become unconnected vertices before the output.

        Used by mutation and neighbourhoods, whose moves are defined on the full
        7x7 matrix. The filler vertices get ``conv3x3-bn-relu`` (as NASLib's
        padding does); being unconnected they never reach the network.
        """
        n = self.num_vertices
        pad = NB101_MAX_VERTICES - n
        matrix = [[0] * NB101_MAX_VERTICES for _ in range(NB101_MAX_VERTICES)]
        # Vertices 0..n-2 keep their position; the output moves to the last slot.
        pos = list(range(n - 1)) + [NB101_MAX_VERTICES - 1]
        for i in range(n):
            for j in range(n):
                if self.matrix[i][j]:
                    matrix[pos[i]][pos[j]] = 1
        ops = list(self.ops[:-1]) + [NB101_OPS[0]] * pad + [NB101_OUTPUT]
        return matrix, ops

    # --- local moves -----------------------------------------------------------
    def mutate(self, seed: SeedLike = None) -> "NB101Arch":
        """A random different cell, by NAS-Bench-101's example mutation.

        On the 7-vertex form (:meth:`padded`): flip each upper-triangular edge
        with probability 1/7, resample each interior op with probability 1/5
        (to a different op); repeat until the result is valid and a different
        cell (different :meth:`spec_hash`).
        """
        rng = as_generator(seed)
        base_matrix, base_ops = self.padded()
        own = self.spec_hash()
        n = NB101_MAX_VERTICES
        iu = np.triu_indices(n, 1)
        while True:
            matrix = np.array(base_matrix)
            flips = rng.random(len(iu[0])) < 1.0 / n
            matrix[iu[0][flips], iu[1][flips]] ^= 1
            ops = list(base_ops)
            change = rng.random(n - 2) < 1.0 / (n - 2)
            for k in np.flatnonzero(change):
                others = [op for op in NB101_OPS if op != ops[k + 1]]
                ops[k + 1] = others[int(rng.integers(len(others)))]
            child = _try_arch(matrix, ops)
            if child is not None and child.spec_hash() != own:
                return child

    def neighbours(self) -> list["NB101Arch"]:
        """Every distinct cell one op change or one edge flip away (on the 7-vertex form).

        Order: op changes (vertex, then op in :data:`NB101_OPS` order), then edge
        flips (row-major). Invalid results and results isomorphic to this cell
        or to an earlier neighbour are dropped.
        """
        base_matrix, base_ops = self.padded()
        seen = {self.spec_hash()}
        out: list[NB101Arch] = []

        def consider(matrix: list[list[int]], ops: list[str]) -> None:
            child = _try_arch(matrix, ops)
            if child is not None:
                h = child.spec_hash()
                if h not in seen:
                    seen.add(h)
                    out.append(child)

        for v in range(1, NB101_MAX_VERTICES - 1):
            for op in NB101_OPS:
                if op != base_ops[v]:
                    ops = list(base_ops)
                    ops[v] = op
                    consider(base_matrix, ops)
        for i in range(NB101_MAX_VERTICES - 1):
            for j in range(i + 1, NB101_MAX_VERTICES):
                matrix = [list(r) for r in base_matrix]
                matrix[i][j] ^= 1
                consider(matrix, base_ops)
        return out


def _try_arch(matrix: Any, ops: Sequence[str]) -> NB101Arch | None:
    """The arch for a well-formed spec, or None if the benchmark would reject it."""
    m = tuple(tuple(int(v) for v in row) for row in matrix)
    pruned = _prune(m, tuple(ops))
    if pruned is None or _num_edges(pruned[0]) > NB101_MAX_EDGES:
        return None
    return NB101Arch._trusted(*pruned)


def as_nb101_arch(arch: NB101Arch | str) -> NB101Arch:
    """Accept an :class:`NB101Arch` or its string form; anything else is an :class:`ArchError`."""
    if isinstance(arch, NB101Arch):
        return arch
    return parse_nb101(arch)


# --------------------------------------------------------------------------- parsing


def parse_nb101(text: str) -> NB101Arch:
    """Parse ``rows|ops`` (see the module docstring) or a JSON ``{"matrix": ..., "ops": ...}``.

    Surrounding whitespace is ignored. The spec is validated and pruned.
    """
    if isinstance(text, NB101Arch):
        return text
    if not isinstance(text, str):
        raise ArchError(f"NB101 arch must be given as a string, got {type(text).__name__} {_short(text)}")
    s = text.strip()
    if not s:
        raise ArchError("invalid NB101 arch string: it is empty")
    head = f"invalid NB101 arch string {_short(s)}"
    if s.startswith("{"):
        try:
            spec = json.loads(s)
        except json.JSONDecodeError as exc:
            raise ArchError(f"{head}: not valid JSON ({exc.msg} at char {exc.pos})") from None
        if not isinstance(spec, dict) or set(spec) != {"matrix", "ops"}:
            raise ArchError(f"{head}: a JSON spec must be an object with exactly the keys 'matrix' and 'ops'")
        return NB101Arch(spec["matrix"], spec["ops"])
    rows_part, sep, ops_part = s.partition("|")
    if not sep or "|" in ops_part:
        raise ArchError(f"{head}: expected '<matrix rows>|<ops>' with exactly one '|'")
    rows = [r.strip() for r in rows_part.split(",")]
    n = len(rows)
    for k, row in enumerate(rows):
        if len(row) != n or set(row) - {"0", "1"}:
            raise ArchError(f"{head}: matrix row {k} is {row!r}, expected {n} characters of 0/1 ({n} rows given)")
    ops = [o.strip() for o in ops_part.split(",")]
    return NB101Arch([[int(c) for c in row] for row in rows], ops)


# --------------------------------------------------------------------------- sampling


def random_nb101_spec(rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """One unpruned 7-vertex spec as NAS-Bench-101's random search draws it (may be invalid).

    Each upper-triangular entry is 1 with probability 1/2; each interior vertex
    gets a uniform op.
    """
    n = NB101_MAX_VERTICES
    matrix = np.triu(rng.integers(0, 2, size=(n, n)), 1)
    ops = [NB101_INPUT, *(NB101_OPS[int(i)] for i in rng.integers(0, len(NB101_OPS), size=n - 2)), NB101_OUTPUT]
    return matrix, ops


def sample_nb101(n: int, seed: SeedLike = None, *, replace: bool = False) -> list[NB101Arch]:
    """``n`` cells drawn as the benchmark's random search does; distinct cells unless ``replace``.

    A random 7-vertex spec (:func:`random_nb101_spec`) is drawn until it is
    valid, then pruned. This is the distribution of NAS-Bench-101's (and
    NASLib's) random sampling, not uniform over the 423,624 distinct cells.
    Distinct means distinct :meth:`NB101Arch.spec_hash` (no two isomorphic).
    """
    if not _is_int(n) or n < 0:
        raise ConfigError(f"number of archs to sample must be a non-negative int, got {_short(n)}")
    if not replace and n > NB101_NUM_ARCHS:
        raise ConfigError(f"cannot sample {n} distinct NB101 archs: the space has only {NB101_NUM_ARCHS}")
    rng = as_generator(seed)
    out: list[NB101Arch] = []
    seen: set[str] = set()
    while len(out) < n:
        arch = _try_arch(*random_nb101_spec(rng))
        if arch is None:
            continue
        if not replace:
            h = arch.spec_hash()
            if h in seen:
                continue
            seen.add(h)
        out.append(arch)
    return out


# --------------------------------------------------------------------------- the space


@register_space("nb101", aliases=("nasbench101", "nas-bench-101"))
class NB101Space(SearchSpace[NB101Arch]):
    """NAS-Bench-101: cells of at most 7 vertices and 9 edges (423,624 distinct cells, not indexed)."""

    def parse(self, text: str) -> NB101Arch:
        return parse_nb101(text)

    def to_string(self, arch: NB101Arch) -> str:
        return as_nb101_arch(arch).to_string()

    def identity(self, arch: NB101Arch) -> str:
        # Isomorphic cells (vertices in another order) are one benchmark entry.
        return as_nb101_arch(arch).spec_hash()

    @property
    def num_archs(self) -> None:
        # The benchmark's cells have no public index order, so the space is not
        # enumerable here; NB101_NUM_ARCHS gives its size.
        return None

    def sample(self, n: int, seed: SeedLike = None, *, replace: bool = False) -> list[NB101Arch]:
        return sample_nb101(n, seed, replace=replace)

    def mutate(self, arch: NB101Arch, seed: SeedLike = None) -> NB101Arch:
        return as_nb101_arch(arch).mutate(seed)

    def neighbours(self, arch: NB101Arch) -> list[NB101Arch]:
        return as_nb101_arch(arch).neighbours()

    def build_network(self, arch: NB101Arch | str, num_classes: int = 10, **options: Any) -> "NB101Network":
        """See :func:`gradsign.spaces.nb101_network.build_nb101_network`."""
        from gradsign.spaces.nb101_network import build_nb101_network  # torch only when a network is built

        return build_nb101_network(arch, num_classes, **options)


__all__ = [
    "NASLIB_NB101_OPS",
    "NB101Arch",
    "NB101Space",
    "NB101_INPUT",
    "NB101_MAX_EDGES",
    "NB101_MAX_VERTICES",
    "NB101_NUM_ARCHS",
    "NB101_OPS",
    "NB101_OUTPUT",
    "as_nb101_arch",
    "nb101_hash",
    "parse_nb101",
    "random_nb101_spec",
    "sample_nb101",
]
