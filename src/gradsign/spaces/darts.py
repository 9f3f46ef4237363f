"""The DARTS search space as NAS-Bench-301 defines it: genotypes, string forms, sampling, mutation.

An architecture is two cells, *normal* and *reduction*, of the same form: cell
nodes 0 and 1 are the outputs of the two previous cells, and each of the 4
intermediate nodes ``k + 2`` (``k = 0..3``) sums two operations applied to two
*different* earlier nodes (inputs in ``0..k+1``). The cell output concatenates
nodes 2..5. A cell is written as 8 ``(op, input)`` pairs, two per
intermediate node in node order — DARTS's ``Genotype``.

Ops (:data:`DARTS_OPS`, in NASLib's index order): ``max_pool_3x3,
avg_pool_3x3, skip_connect, sep_conv_3x3, sep_conv_5x5, dil_conv_3x3,
dil_conv_5x5``. NAS-Bench-301 excludes DARTS's ``none`` op and requires the
two inputs of a node to differ (its ConfigSpace encodes them as an unordered
pair such as ``inputs_node_normal_4 = "0_2"``), so both are rules here.

String forms
------------
* canonical: the genotype's ``repr``, ``Genotype(normal=[('sep_conv_3x3', 0),
  ...], normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])``
  (``range(2, 6)`` is accepted for the concat lists);
* NASLib's compact form, ``[[(0, 0), (1, 5), ...], [...]]``: per cell 8
  ``(input, op index)`` pairs — the keys of NASLib's ``zc_nasbench301.json``.

The order of the two pairs of a node is kept as given (it fixes the module
creation order, hence the initial weights under a seed) and is part of
equality; :meth:`DartsArch.normalized` sorts them, which identifies the
network up to that order. Strings are parsed with :mod:`ast`, never evaluated.
"""

from __future__ import annotations

import ast
from collections import namedtuple
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from gradsign.errors import ArchError, ConfigError
from gradsign.spaces.base import SearchSpace, SeedLike, as_generator, register_space

if TYPE_CHECKING:  # pragma: no cover
    from gradsign.spaces.darts_network import DartsNetwork

#: The 7 candidate ops; the position is NASLib's op index in the compact form.
DARTS_OPS: tuple[str, ...] = (
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
DARTS_NUM_NODES = 4  # intermediate nodes per cell
DARTS_CELL_PAIRS = 2 * DARTS_NUM_NODES
DARTS_CONCAT: tuple[int, ...] = (2, 3, 4, 5)
_OP_INDEX = {name: i for i, name in enumerate(DARTS_OPS)}
_CELLS = ("normal", "reduce")

Cell = tuple[tuple[str, int], ...]

#: DARTS's genotype type (same fields), so code written for DARTS genotypes accepts ours.
Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")


def _short(value: Any, limit: int = 120) -> str:
    r = repr(value)
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _check_cell(cell: Any, which: str) -> Cell:
    """Validate one cell given as 8 ``(op name, input)`` pairs; return it as plain tuples."""
    if isinstance(cell, (str, bytes)) or not isinstance(cell, Iterable):
        raise ArchError(f"DARTS {which} cell must be a list of {DARTS_CELL_PAIRS} (op, input) pairs, got {_short(cell)}")
    pairs = list(cell)
    if len(pairs) != DARTS_CELL_PAIRS:
        raise ArchError(
            f"DARTS {which} cell must have {DARTS_CELL_PAIRS} (op, input) pairs (2 per node), got {len(pairs)}"
        )
    out: list[tuple[str, int]] = []
    for p, pair in enumerate(pairs):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Iterable) or len(tuple(pair)) != 2:
            raise ArchError(f"DARTS {which} cell entry {p} must be an (op, input) pair, got {_short(pair)}")
        op, src = tuple(pair)
        node = p // 2
        if op == "none":
            raise ArchError(f"DARTS {which} cell entry {p}: op 'none' is not part of the NAS-Bench-301 space")
        if not isinstance(op, str) or op not in _OP_INDEX:
            raise ArchError(f"DARTS {which} cell entry {p}: unknown op {_short(op)}; expected one of {', '.join(DARTS_OPS)}")
        if not _is_int(src) or not 0 <= src <= node + 1:
            raise ArchError(
                f"DARTS {which} cell entry {p} (node {node + 2}): input must be a node in 0..{node + 1}, got {_short(src)}"
            )
        out.append((str(op), int(src)))  # plain str/int (numpy scalars would change the repr)
    for node in range(DARTS_NUM_NODES):
        if out[2 * node][1] == out[2 * node + 1][1]:
            raise ArchError(
                f"DARTS {which} cell node {node + 2}: both inputs are node {out[2 * node][1]}; "
                "NAS-Bench-301 requires two different inputs"
            )
    return tuple(out)


@dataclass(frozen=True, slots=True, init=False)
class DartsArch:
    """A NAS-Bench-301 / DARTS architecture: ``normal`` and ``reduce``, 8 ``(op, input)`` pairs each.

    Immutable and hashable; the concat lists are always nodes 2..5.

    >>> a = DartsArch.from_compact(([(0, 3), (1, 3)] * 4, [(0, 0), (1, 0)] * 4))
    >>> a.normal[0], a.reduce[0]
    (('sep_conv_3x3', 0), ('max_pool_3x3', 0))
    """

    normal: Cell
    reduce: Cell

    def __init__(self, normal: Sequence[Sequence[Any]], reduce: Sequence[Sequence[Any]]) -> None:
        object.__setattr__(self, "normal", _check_cell(normal, "normal"))
        object.__setattr__(self, "reduce", _check_cell(reduce, "reduction"))

    @classmethod
    def _trusted(cls, normal: Cell, reduce: Cell) -> "DartsArch":
        arch = object.__new__(cls)
        object.__setattr__(arch, "normal", normal)
        object.__setattr__(arch, "reduce", reduce)
        return arch

    # --- constructors --------------------------------------------------------
    @classmethod
    def from_string(cls, text: str) -> "DartsArch":
        """Parse a genotype string or NASLib compact string (see :func:`parse_darts`)."""
        return parse_darts(text)

    @classmethod
    def from_compact(cls, compact: Any) -> "DartsArch":
        """From NASLib's compact form: two cells of 8 ``(input, op index)`` pairs."""
        if isinstance(compact, (str, bytes)) or not isinstance(compact, Iterable):
            raise ArchError(f"DARTS compact form must be two cells of (input, op index) pairs, got {_short(compact)}")
        cells = list(compact)
        if len(cells) != 2:
            raise ArchError(f"DARTS compact form must have 2 cells (normal, reduction), got {len(cells)}")
        converted = []
        for which, cell in zip(("normal", "reduction"), cells):
            if isinstance(cell, (str, bytes)) or not isinstance(cell, Iterable):
                raise ArchError(f"DARTS compact {which} cell must be a list of (input, op index) pairs, got {_short(cell)}")
            pairs = []
            for p, pair in enumerate(cell):
                if isinstance(pair, (str, bytes)) or not isinstance(pair, Iterable) or len(tuple(pair)) != 2:
                    raise ArchError(f"DARTS compact {which} cell entry {p} must be an (input, op index) pair, got {_short(pair)}")
                src, op = tuple(pair)
                if not _is_int(op) or not 0 <= op < len(DARTS_OPS):
                    raise ArchError(
                        f"DARTS compact {which} cell entry {p}: op index must be an int in 0..{len(DARTS_OPS) - 1}, "
                        f"got {_short(op)}"
                    )
                pairs.append((DARTS_OPS[int(op)], src))
            converted.append(pairs)
        return cls(*converted)

    @classmethod
    def from_genotype(cls, genotype: Any) -> "DartsArch":
        """From any object with DARTS ``Genotype`` attributes (``normal``, ``reduce`` and the concat lists)."""
        for attr in ("normal", "reduce"):
            if not hasattr(genotype, attr):
                raise ArchError(f"DARTS genotype {_short(genotype)} has no attribute {attr!r}")
        for attr in ("normal_concat", "reduce_concat"):
            _check_concat(getattr(genotype, attr, DARTS_CONCAT), attr)
        return cls(genotype.normal, genotype.reduce)

    # --- views ---------------------------------------------------------------
    def to_string(self) -> str:
        """The genotype string (DARTS's ``repr`` of its ``Genotype`` namedtuple)."""
        return (
            f"Genotype(normal={list(self.normal)!r}, normal_concat={list(DARTS_CONCAT)!r}, "
            f"reduce={list(self.reduce)!r}, reduce_concat={list(DARTS_CONCAT)!r})"
        )

    def __str__(self) -> str:
        return self.to_string()

    def compact(self) -> tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]:
        """NASLib's compact form: per cell 8 ``(input, op index)`` pairs."""
        return tuple(  # type: ignore[return-value]
            tuple((src, _OP_INDEX[op]) for op, src in cell) for cell in (self.normal, self.reduce)
        )

    def to_compact_string(self) -> str:
        """The compact form as NASLib writes its JSON keys: ``[[(0, 0), ...], [...]]``."""
        return "[" + ", ".join(repr(list(cell)) for cell in self.compact()) + "]"

    def to_genotype(self) -> Any:
        """A DARTS-style ``Genotype`` namedtuple (lists, concat ``[2, 3, 4, 5]``)."""
        return Genotype(list(self.normal), list(DARTS_CONCAT), list(self.reduce), list(DARTS_CONCAT))

    def normalized(self) -> "DartsArch":
        """The same network with the two pairs of every node sorted by input node."""

        def norm(cell: Cell) -> Cell:
            out: list[tuple[str, int]] = []
            for k in range(DARTS_NUM_NODES):
                out.extend(sorted(cell[2 * k : 2 * k + 2], key=lambda pair: pair[1]))
            return tuple(out)

        return DartsArch._trusted(norm(self.normal), norm(self.reduce))

    # --- local moves -----------------------------------------------------------
    def _with(self, cell: int, pair: int, value: tuple[str, int]) -> "DartsArch":
        cells = [list(self.normal), list(self.reduce)]
        cells[cell][pair] = value
        return DartsArch._trusted(tuple(cells[0]), tuple(cells[1]))

    def _input_choices(self, cell: int, pair: int) -> list[int]:
        """Inputs the pair may switch to: earlier nodes except its own and its sibling's."""
        pairs = (self.normal, self.reduce)[cell]
        sibling = pairs[pair ^ 1][1]
        return [s for s in range(pair // 2 + 2) if s not in (pairs[pair][1], sibling)]

    def mutate(self, seed: SeedLike = None) -> "DartsArch":
        """Change one op or one input, as NASLib's NB301 mutation does.

        Draw a cell, a pair and whether to change its op or its input
        (uniformly); a new op is any other op, a new input any node the pair
        may use that is neither its own nor its sibling's. A draw with no
        alternative (an input change on node 2, whose inputs are always 0 and 1)
        is redrawn.
        """
        rng = as_generator(seed)
        while True:
            cell, pair, what = int(rng.integers(2)), int(rng.integers(DARTS_CELL_PAIRS)), int(rng.integers(2))
            op, src = (self.normal, self.reduce)[cell][pair]
            if what == 0:
                others = [o for o in DARTS_OPS if o != op]
                return self._with(cell, pair, (others[int(rng.integers(len(others)))], src))
            choices = self._input_choices(cell, pair)
            if choices:
                return self._with(cell, pair, (op, choices[int(rng.integers(len(choices)))]))

    def neighbours(self) -> list["DartsArch"]:
        """All archs one op change or one input change away (cell, pair, then ops before inputs)."""
        out: list[DartsArch] = []
        for cell in range(2):
            for pair in range(DARTS_CELL_PAIRS):
                op, src = (self.normal, self.reduce)[cell][pair]
                out.extend(self._with(cell, pair, (o, src)) for o in DARTS_OPS if o != op)
                out.extend(self._with(cell, pair, (op, s)) for s in self._input_choices(cell, pair))
        return out


def _check_concat(value: Any, name: str) -> None:
    try:
        concat = [int(v) for v in value]
    except (TypeError, ValueError):
        raise ArchError(f"DARTS genotype {name} must be the nodes [2, 3, 4, 5], got {_short(value)}") from None
    if concat != list(DARTS_CONCAT):
        raise ArchError(f"DARTS genotype {name} must be [2, 3, 4, 5] (NAS-Bench-301 concatenates all nodes), got {concat}")


def as_darts_arch(arch: DartsArch | str) -> DartsArch:
    """Accept a :class:`DartsArch` or a string form; anything else is an :class:`ArchError`."""
    if isinstance(arch, DartsArch):
        return arch
    return parse_darts(arch)


# --------------------------------------------------------------------------- parsing


def _literal(node: ast.AST, what: str, head: str) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise ArchError(f"{head}: {what} is not a literal list") from None


def _concat_value(node: ast.AST, name: str, head: str) -> Any:
    # DARTS's own genotypes.py writes the concat lists as range(2, 6).
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "range"
        and not node.keywords
        and 1 <= len(node.args) <= 3
    ):
        args = [_literal(a, name, head) for a in node.args]
        if not all(_is_int(a) for a in args):
            raise ArchError(f"{head}: {name} range(...) needs int arguments")
        return list(range(*args))
    return _literal(node, name, head)


def parse_darts(text: str) -> DartsArch:
    """Parse a genotype string (``Genotype(normal=[...], ...)``) or a NASLib compact string.

    Only literals are read (via :mod:`ast`); nothing in the text is executed.
    """
    if isinstance(text, DartsArch):
        return text
    if not isinstance(text, str):
        raise ArchError(f"DARTS arch must be given as a string, got {type(text).__name__} {_short(text)}")
    s = text.strip()
    if not s:
        raise ArchError("invalid DARTS arch string: it is empty")
    head = f"invalid DARTS arch string {_short(s)}"
    try:
        tree = ast.parse(s, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise ArchError(f"{head}: not a Genotype(...) expression or a compact [[(input, op), ...], [...]] list") from None
    if isinstance(tree, (ast.List, ast.Tuple)):
        return DartsArch.from_compact(_literal(tree, "the compact form", head))
    if not (isinstance(tree, ast.Call) and _call_name(tree.func) == "Genotype"):
        raise ArchError(f"{head}: expected Genotype(normal=..., normal_concat=..., reduce=..., reduce_concat=...)")
    fields = ("normal", "normal_concat", "reduce", "reduce_concat")
    if len(tree.args) > len(fields):
        raise ArchError(f"{head}: Genotype takes 4 fields, got {len(tree.args)} positional arguments")
    values: dict[str, ast.AST] = dict(zip(fields, tree.args))
    for kw in tree.keywords:
        if kw.arg not in fields:
            raise ArchError(f"{head}: unknown Genotype field {kw.arg!r}; expected {', '.join(fields)}")
        if kw.arg in values:
            raise ArchError(f"{head}: Genotype field {kw.arg!r} given twice")
        values[kw.arg] = kw.value
    missing = [f for f in ("normal", "reduce") if f not in values]
    if missing:
        raise ArchError(f"{head}: Genotype lacks {' and '.join(missing)}")
    for name in ("normal_concat", "reduce_concat"):
        if name in values:
            _check_concat(_concat_value(values[name], name, head), name)
    return DartsArch(_literal(values["normal"], "normal", head), _literal(values["reduce"], "reduce", head))


def _call_name(func: ast.AST) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):  # e.g. genotypes.Genotype(...)
        return func.attr
    return None


# --------------------------------------------------------------------------- sampling


def _random_cell(rng: np.random.Generator) -> Cell:
    cell: list[tuple[str, int]] = []
    for k in range(DARTS_NUM_NODES):
        inputs = sorted(int(i) for i in rng.choice(k + 2, size=2, replace=False))
        ops = rng.integers(0, len(DARTS_OPS), size=2)
        cell.extend((DARTS_OPS[int(o)], i) for o, i in zip(ops, inputs))
    return tuple(cell)


def sample_darts(n: int, seed: SeedLike = None, *, replace: bool = False) -> list[DartsArch]:
    """``n`` archs drawn as NAS-Bench-301 / NASLib sample them; distinct unless ``replace``.

    Per cell and node: two different inputs, uniformly among the pairs of
    earlier nodes, and an independent uniform op for each. The two pairs of a
    node are listed by input node (so samples are :meth:`DartsArch.normalized`).
    """
    if not _is_int(n) or n < 0:
        raise ConfigError(f"number of archs to sample must be a non-negative int, got {_short(n)}")
    rng = as_generator(seed)
    out: list[DartsArch] = []
    seen: set[DartsArch] = set()
    while len(out) < n:
        arch = DartsArch._trusted(_random_cell(rng), _random_cell(rng))
        if not replace:
            if arch in seen:  # ~1e-18 chance per pair; kept so "distinct" is a guarantee
                continue
            seen.add(arch)
        out.append(arch)
    return out


# --------------------------------------------------------------------------- the space


@register_space("darts", aliases=("nb301", "nasbench301", "nas-bench-301"))
class DartsSpace(SearchSpace[DartsArch]):
    """The DARTS cell space of NAS-Bench-301 (about 1e18 architectures, not enumerable)."""

    def parse(self, text: str) -> DartsArch:
        return parse_darts(text)

    def to_string(self, arch: DartsArch) -> str:
        return as_darts_arch(arch).to_string()

    @property
    def num_archs(self) -> None:
        return None

    def sample(self, n: int, seed: SeedLike = None, *, replace: bool = False) -> list[DartsArch]:
        return sample_darts(n, seed, replace=replace)

    def mutate(self, arch: DartsArch, seed: SeedLike = None) -> DartsArch:
        return as_darts_arch(arch).mutate(seed)

    def neighbours(self, arch: DartsArch) -> list[DartsArch]:
        return as_darts_arch(arch).neighbours()

    def build_network(self, arch: DartsArch | str, num_classes: int = 10, **options: Any) -> "DartsNetwork":
        """See :func:`gradsign.spaces.darts_network.build_darts_network`."""
        from gradsign.spaces.darts_network import build_darts_network  # torch only when a network is built

        return build_darts_network(arch, num_classes, **options)


__all__ = [
    "DARTS_CONCAT",
    "DARTS_OPS",
    "DartsArch",
    "DartsSpace",
    "Genotype",
    "as_darts_arch",
    "parse_darts",
    "sample_darts",
]
