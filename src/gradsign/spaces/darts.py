"""The DARTS search space: genotypes, string and file forms, the NAS-Bench-301 subset, sampling, mutation.

An architecture is two cells, *normal* and *reduction*, of the same form: cell
nodes 0 and 1 are the outputs of the two previous cells, and each of the 4
intermediate nodes ``k + 2`` (``k = 0..3``) sums two operations applied to two
earlier nodes (inputs in ``0..k+1``). The cell output concatenates nodes 2..5.
A cell is written as 8 ``(op, input)`` pairs, two per intermediate node in node
order — DARTS's ``Genotype``.

The full DARTS space
--------------------
Ops (:data:`DARTS_PRIMITIVES`, DARTS's ``PRIMITIVES`` order): ``none`` (the
zero op) and the 7 ops of :data:`DARTS_OPS`. A node's two inputs may be the
same node. This is the space DARTS's discrete network code (``model.py``)
builds and public DARTS-space data sets use (e.g. the DARTS space of
Radosavovic et al.'s "On Network Design Spaces", whose genotypes use ``none``
and repeated inputs): every such genotype parses, builds and scores.

The NAS-Bench-301 subset
------------------------
NAS-Bench-301 (and NASLib's NB301 files) excludes ``none`` and requires the two
inputs of a node to differ (its ConfigSpace encodes them as an unordered pair
such as ``inputs_node_normal_4 = "0_2"``). :func:`nb301_violation` names the
first rule a genotype breaks, :func:`is_nb301_valid` tests it and
:func:`check_nb301` refuses it in one line; they guard every place where NB301
ground truth or NASLib scores are joined. :data:`DARTS_OPS` keeps NASLib's op
index order (its compact form cannot express ``none``). Sampling, mutation and
neighbourhoods stay inside the subset (NB301/NASLib's operators).

Forms read
----------
* the genotype's ``repr``, ``Genotype(normal=[('sep_conv_3x3', 0), ...],
  normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])`` —
  canonical — also ``range(2, 6)`` for the concat lists, positional fields and
  ``genotypes.Genotype(...)``;
* NASLib's compact form, ``[[(0, 0), (1, 5), ...], [...]]``: per cell 8
  ``(input, op index)`` pairs over :data:`DARTS_OPS` — the keys of NASLib's
  ``zc_nasbench301.json``;
* a genotype as a JSON object / dict, ``{"normal": [["sep_conv_3x3", 0], ...],
  "normal_concat": [2, 3, 4, 5], "reduce": ..., "reduce_concat": ...}``, also
  wrapped as ``{"genotype": {...}}`` or ``{"net": {"genotype": {...}}}`` (a
  record of the Network Design Spaces data sets);
* NAS-Bench-301's ConfigSpace configuration (``{"NetworkSelectorDatasetInfo:
  darts:edge_normal_0": "sep_conv_3x3", ..., "...:inputs_node_normal_3": "0_2"}``);
* files (:func:`split_darts_archs`): one of the above per line, a Python file
  of ``NAME = Genotype(...)`` statements (DARTS's ``genotypes.py``; other
  statements are ignored), or a JSON list of genotypes / records (an NDS file,
  also ``{"top": [...], "mid": [...]}``).

The concat lists must be nodes 2..5 (DARTS concatenates every intermediate
node). The order of the two pairs of a node is kept as given (it fixes the
module creation order, hence the initial weights under a seed) and is part of
equality; :meth:`DartsArch.normalized` sorts them, which identifies the
network up to that order. Strings are parsed with :mod:`ast` / :mod:`json`,
never evaluated.
"""

from __future__ import annotations

import ast
import json
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
#: DARTS's ``PRIMITIVES`` (genotypes.py order): the zero op ``none`` and :data:`DARTS_OPS`.
DARTS_PRIMITIVES: tuple[str, ...] = ("none", *DARTS_OPS)
DARTS_NUM_NODES = 4  # intermediate nodes per cell
DARTS_CELL_PAIRS = 2 * DARTS_NUM_NODES
DARTS_CONCAT: tuple[int, ...] = (2, 3, 4, 5)
_OP_INDEX = {name: i for i, name in enumerate(DARTS_OPS)}
_PRIMITIVES = frozenset(DARTS_PRIMITIVES)
# Fields that hold a genotype (or an NB301 config) one level down: {"genotype": ...} (NDS's
# record["net"]["genotype"]) and NAS-Bench-301's result files ("optimized_hyperparamater_config", sic).
_WRAPPER_KEYS = ("genotype", "net", "optimized_hyperparamater_config")
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
        if not isinstance(op, str) or op not in _PRIMITIVES:
            raise ArchError(
                f"DARTS {which} cell entry {p}: unknown op {_short(op)}; expected one of {', '.join(DARTS_PRIMITIVES)}"
            )
        if not _is_int(src) or not 0 <= src <= node + 1:
            raise ArchError(
                f"DARTS {which} cell entry {p} (node {node + 2}): input must be a node in 0..{node + 1}, got {_short(src)}"
            )
        out.append((str(op), int(src)))  # plain str/int (numpy scalars would change the repr)
    return tuple(out)


@dataclass(frozen=True, slots=True, init=False)
class DartsArch:
    """A DARTS architecture: ``normal`` and ``reduce``, 8 ``(op, input)`` pairs each.

    Any genotype of the full DARTS space (``none`` ops, a node reading one
    input twice); :meth:`nb301_violation` says whether it is in the
    NAS-Bench-301 subset. Immutable and hashable; the concat lists are always
    nodes 2..5.

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
    def from_dict(cls, mapping: Any) -> "DartsArch":
        """From a genotype mapping (``normal``, ``reduce``, optional concat lists), as JSON files hold it.

        Also accepts the mapping wrapped as ``{"genotype": ...}`` or
        ``{"net": {"genotype": ...}}`` (a record of the Network Design Spaces
        data sets; its other fields are ignored) and NAS-Bench-301's ConfigSpace
        configuration (:meth:`from_nb301_config`).
        """
        if not isinstance(mapping, dict):
            raise ArchError(f"DARTS genotype mapping must be a dict, got {type(mapping).__name__} {_short(mapping)}")
        seen = mapping
        for _ in range(2):  # {"net": {"genotype": {...}}}
            if "normal" in seen or "reduce" in seen:
                break
            inner = next((seen[k] for k in _WRAPPER_KEYS if isinstance(seen.get(k), dict)), None)
            if inner is None:
                break
            seen = inner
        if "normal" not in seen and "reduce" not in seen:
            if any(isinstance(k, str) and ("edge_normal_" in k or "edge_reduce_" in k) for k in seen):
                return cls.from_nb301_config(seen)
            raise ArchError(
                f"DARTS genotype mapping needs 'normal' and 'reduce' (or a 'genotype' / 'net' field holding them), "
                f"got keys {_short(sorted(map(str, seen)))}"
            )
        missing = [k for k in ("normal", "reduce") if k not in seen]
        if missing:
            raise ArchError(f"DARTS genotype mapping lacks {' and '.join(repr(m) for m in missing)}")
        unknown = sorted(str(k) for k in seen if k not in ("normal", "normal_concat", "reduce", "reduce_concat"))
        if unknown:
            raise ArchError(f"DARTS genotype mapping has unknown fields {', '.join(map(repr, unknown))}")
        for name in ("normal_concat", "reduce_concat"):
            if name in seen:
                _check_concat(seen[name], name)
        return cls(seen["normal"], seen["reduce"])

    @classmethod
    def from_nb301_config(cls, config: Any) -> "DartsArch":
        """From NAS-Bench-301's ConfigSpace configuration (the surrogate's ``representation="configspace"``).

        Keys ``[prefix:]edge_{normal,reduce}_{e}`` (edge ``e`` in 0..13 enumerates
        (node, input) pairs node by node) name the ops, ``[prefix:]inputs_node_
        {cell}_{3,4,5}`` the two inputs of nodes 3..5 (``"0_2"``); node 2 reads
        0 and 1. Keys of other hyperparameters are ignored. A node's pairs are
        listed by input node, as NB301's ``convert_config_to_genotype`` does.
        Such a config is in the NB301 subset by construction.
        """
        if not isinstance(config, dict):
            raise ArchError(f"NAS-Bench-301 config must be a dict, got {type(config).__name__}")
        short = {}
        for key, value in config.items():
            if isinstance(key, str):
                short[key.rsplit(":", 1)[-1]] = value
        cells = []
        for cell in ("normal", "reduce"):
            pairs: list[tuple[Any, int]] = []
            start = 0
            for k in range(DARTS_NUM_NODES):
                n_inputs = k + 2
                if k == 0:
                    inputs = [0, 1]
                else:
                    key = f"inputs_node_{cell}_{k + 2}"
                    text = short.get(key)
                    try:
                        inputs = sorted(int(v) for v in str(text).split("_"))
                    except ValueError:
                        inputs = []
                    if text is None or len(inputs) != 2 or not all(0 <= i < n_inputs for i in inputs):
                        raise ArchError(f"NAS-Bench-301 config {key!r} must be two inputs such as '0_2', got {_short(text)}")
                for i in inputs:
                    key = f"edge_{cell}_{start + i}"
                    if key not in short:
                        raise ArchError(f"NAS-Bench-301 config lacks {key!r} (the op of node {k + 2}'s input {i})")
                    pairs.append((short[key], i))
                start += n_inputs
            cells.append(pairs)
        return cls(*cells)

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
        """NASLib's compact form: per cell 8 ``(input, op index)`` pairs (no form for ``none``)."""
        if any(op == "none" for op, _ in self.normal + self.reduce):
            raise ArchError("NASLib's compact DARTS form has no index for op 'none' (NAS-Bench-301 excludes it)")
        return tuple(  # type: ignore[return-value]
            tuple((src, _OP_INDEX[op]) for op, src in cell) for cell in (self.normal, self.reduce)
        )

    def to_compact_string(self) -> str:
        """The compact form as NASLib writes its JSON keys: ``[[(0, 0), ...], [...]]``."""
        return "[" + ", ".join(repr(list(cell)) for cell in self.compact()) + "]"

    def to_nb301_config(self) -> dict[str, str]:
        """NAS-Bench-301's ConfigSpace configuration (keys ``NetworkSelectorDatasetInfo:darts:...``).

        Only for archs in the NB301 subset (:func:`check_nb301`); the inverse of
        :meth:`from_nb301_config` up to the order of a node's two pairs.
        """
        check_nb301(self, "NAS-Bench-301's config form")
        base = "NetworkSelectorDatasetInfo:darts:"
        config: dict[str, str] = {}
        for name, cell in (("normal", self.normal), ("reduce", self.reduce)):
            start = 0
            for k in range(DARTS_NUM_NODES):
                pairs = cell[2 * k : 2 * k + 2]
                for op, src in pairs:
                    config[f"{base}edge_{name}_{start + src}"] = op
                if k:
                    config[f"{base}inputs_node_{name}_{k + 2}"] = "_".join(str(s) for s in sorted(s for _, s in pairs))
                start += k + 2
        return config

    def nb301_violation(self) -> str | None:
        """The first NAS-Bench-301 rule this arch breaks, in words; None when it is in the NB301 subset."""
        return nb301_violation(self)

    def to_genotype(self) -> Any:
        """A DARTS-style ``Genotype`` namedtuple (lists, concat ``[2, 3, 4, 5]``)."""
        return Genotype(list(self.normal), list(DARTS_CONCAT), list(self.reduce), list(DARTS_CONCAT))

    def normalized(self) -> "DartsArch":
        """The same network with the two pairs of every node sorted by input node (then op, for one input twice)."""

        def norm(cell: Cell) -> Cell:
            out: list[tuple[str, int]] = []
            for k in range(DARTS_NUM_NODES):
                out.extend(sorted(cell[2 * k : 2 * k + 2], key=lambda pair: (pair[1], pair[0])))
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
        (uniformly); a new op is any other op of :data:`DARTS_OPS` (never
        ``none``), a new input any node the pair may use that is neither its
        own nor its sibling's. A draw with no alternative (an input change on
        node 2 when its inputs are 0 and 1) is redrawn. The child of an NB301
        arch is an NB301 arch.
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
        """All archs one op change or one input change away (cell, pair, then ops before inputs; moves as :meth:`mutate`)."""
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


# --------------------------------------------------------------------------- the NAS-Bench-301 subset


def nb301_violation(arch: DartsArch | str) -> str | None:
    """The first NAS-Bench-301 rule ``arch`` breaks, as a short phrase; None when it is in the NB301 subset.

    NB301's rules on top of the DARTS space: no ``none`` op, and two different
    inputs per node.
    """
    a = as_darts_arch(arch)
    for which, cell in (("normal", a.normal), ("reduction", a.reduce)):
        for p, (op, _) in enumerate(cell):
            if op == "none":
                return f"{which} cell entry {p} uses op 'none', which NAS-Bench-301 excludes"
        for k in range(DARTS_NUM_NODES):
            if cell[2 * k][1] == cell[2 * k + 1][1]:
                return (f"{which} cell node {k + 2} reads node {cell[2 * k][1]} twice; "
                        "NAS-Bench-301 requires two different inputs")
    return None


def is_nb301_valid(arch: DartsArch | str) -> bool:
    """Whether ``arch`` is in NAS-Bench-301's subset of the DARTS space (no ``none``, two different inputs per node)."""
    return nb301_violation(arch) is None


def check_nb301(arch: DartsArch | str, purpose: str = "NAS-Bench-301 data") -> DartsArch:
    """``arch`` as a :class:`DartsArch` if it is in the NB301 subset, else a one-line :class:`ArchError`.

    ``purpose`` names what needs the subset (``"NAS-Bench-301 ground truth"``,
    ``"NASLib's NB301 scores"``, ...) in the message.
    """
    a = as_darts_arch(arch)
    why = nb301_violation(a)
    if why is not None:
        raise ArchError(f"DARTS arch is outside the NAS-Bench-301 space, so {purpose} cannot cover it: {why}")
    return a


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
    """Parse a genotype string (``Genotype(normal=[...], ...)``), a NASLib compact string or a genotype mapping.

    The mapping is a JSON object or dict literal (see :meth:`DartsArch.from_dict`).
    Only literals are read (via :mod:`json` / :mod:`ast`); nothing in the text is executed.
    """
    if isinstance(text, DartsArch):
        return text
    if not isinstance(text, str):
        raise ArchError(f"DARTS arch must be given as a string, got {type(text).__name__} {_short(text)}")
    s = text.strip()
    if not s:
        raise ArchError("invalid DARTS arch string: it is empty")
    head = f"invalid DARTS arch string {_short(s)}"
    if s.startswith("{"):
        try:
            doc = json.loads(s)
        except (ValueError, RecursionError):  # not JSON: maybe a Python dict literal (tuples, single quotes)
            pass
        else:
            return DartsArch.from_dict(doc)
    try:
        tree = ast.parse(s, mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise ArchError(
            f"{head}: not a Genotype(...) expression, a compact [[(input, op), ...], [...]] list or a genotype mapping"
        ) from None
    if isinstance(tree, (ast.List, ast.Tuple)):
        return DartsArch.from_compact(_literal(tree, "the compact form", head))
    if isinstance(tree, ast.Dict):
        return DartsArch.from_dict(_literal(tree, "the genotype mapping", head))
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


def split_darts_archs(text: str) -> list[tuple[int | str, str]] | None:
    """Split the text of a file of DARTS genotypes into ``(where, arch text)`` items for :func:`parse_darts`.

    ``where`` is the item's line number, or ``"record i"`` (from 1) inside a JSON
    document. Reads, in this order:

    * a JSON document: one genotype (mapping or compact list), a list of
      genotypes / genotype strings / records (``{"net": {"genotype": ...}}``),
      or an object of such lists (an NDS file's ``{"top": [...], "mid": [...]}``);
    * Python source: each top-level expression statement (one arch per line,
      or a ``Genotype(...)`` over several lines) and each assignment of a
      ``Genotype(...)`` call (DARTS's ``genotypes.py``: ``DARTS_V2 =
      Genotype(...)``); imports, ``PRIMITIVES = [...]``, functions and other
      statements are skipped, as are docstrings.

    Returns None for text that is neither (the caller reads it one arch per
    line, so a bad line is reported by its number).
    """
    stripped = text.strip()
    if not stripped:
        return []
    if stripped[0] in "[{":
        try:
            doc = json.loads(stripped)
        except (ValueError, RecursionError):
            doc = None
        else:
            return _json_items(doc)
    try:
        module = ast.parse(text, mode="exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    items: list[tuple[int | str, str]] = []
    for stmt in module.body:
        value: ast.AST | None = None
        if isinstance(stmt, ast.Expr):
            if isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                continue  # a docstring
            value = stmt.value
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
            if isinstance(stmt.value, ast.Call) and _call_name(stmt.value.func) == "Genotype":
                value = stmt.value
        if value is not None:
            segment = ast.get_source_segment(text, value)
            items.append((stmt.lineno, segment if segment is not None else ast.unparse(value)))
    return items


def _is_compact(doc: Any) -> bool:
    """Whether a JSON value is one arch in NASLib's compact form (two lists of [input, op index] pairs)."""
    return (isinstance(doc, list) and len(doc) == 2
            and all(isinstance(c, list) and c and all(isinstance(p, list) and len(p) == 2 and all(_is_int(v) for v in p)
                                                     for p in c) for c in doc))


def _json_items(doc: Any) -> list[tuple[int | str, str]]:
    single = isinstance(doc, dict) and (
        any(k in doc for k in ("normal", "reduce", *_WRAPPER_KEYS))
        or any(isinstance(k, str) and "edge_normal_" in k for k in doc)
    )
    if single or _is_compact(doc):
        return [(1, json.dumps(doc))]
    if isinstance(doc, dict) and doc and all(isinstance(v, list) for v in doc.values()):
        records = [r for v in doc.values() for r in v]  # {"top": [...], "mid": [...]}
    elif isinstance(doc, list):
        records = doc
    else:
        return [(1, json.dumps(doc))]  # parse_darts names the problem
    return [(f"record {i}", r if isinstance(r, str) else json.dumps(r)) for i, r in enumerate(records, 1)]


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
    earlier nodes, and an independent uniform op of :data:`DARTS_OPS` for each
    (so every sample is in the NB301 subset: ground truth and NASLib scores can
    cover it). The two pairs of a node are listed by input node (so samples are
    :meth:`DartsArch.normalized`).
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


def darts_space_size(subset: str = "darts") -> int:
    """Number of distinct genotypes (up to the order of a node's two pairs) of the full DARTS space or NB301's subset.

    ``subset="darts"``: per node ``k + 2`` an unordered pair of ``(op, input)``
    among ``8 (k + 2)`` choices, repeats allowed — ``n (n + 1) / 2`` — about
    3.1e20 for the two cells. ``subset="nb301"``: two different inputs and an op
    of :data:`DARTS_OPS` for each — ``C(k + 2, 2) * 49`` — about 1.1e18 (0.35%).
    """
    if subset not in ("darts", "nb301"):
        raise ConfigError(f"subset must be 'darts' or 'nb301', got {subset!r}")
    per_cell = 1
    for k in range(DARTS_NUM_NODES):
        m = k + 2
        if subset == "darts":
            n = len(DARTS_PRIMITIVES) * m
            per_cell *= n * (n + 1) // 2
        else:
            per_cell *= (m * (m - 1) // 2) * len(DARTS_OPS) ** 2
    return per_cell**2


# --------------------------------------------------------------------------- the space


@register_space("darts", aliases=("nb301", "nasbench301", "nas-bench-301"))
class DartsSpace(SearchSpace[DartsArch]):
    """The DARTS cell space (about 3e20 genotypes, not enumerable); NAS-Bench-301's 1e18 are a checked subset.

    Parsing and network building take the full space (``none``, a node
    reading one input twice); sampling, mutation and neighbourhoods stay in the
    NB301 subset; :func:`check_nb301` guards NB301 / NASLib data.
    """

    def parse(self, text: str) -> DartsArch:
        return parse_darts(text)

    def split_archs_text(self, text: str) -> list[tuple[int | str, str]] | None:
        """Items of an archs file (JSON documents, ``genotypes.py`` files); see :func:`split_darts_archs`."""
        return split_darts_archs(text)

    def to_string(self, arch: DartsArch) -> str:
        return as_darts_arch(arch).to_string()

    def identity(self, arch: DartsArch) -> str:
        # A node sums its two inputs, so the order of its pairs does not change the network.
        return as_darts_arch(arch).normalized().to_string()

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
    "DARTS_PRIMITIVES",
    "DartsArch",
    "DartsSpace",
    "Genotype",
    "as_darts_arch",
    "check_nb301",
    "darts_space_size",
    "is_nb301_valid",
    "nb301_violation",
    "parse_darts",
    "sample_darts",
    "split_darts_archs",
]
