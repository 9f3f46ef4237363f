"""Tabular objectives: a benchmark's per-arch arrays, so that one "training" is an O(1) lookup.

A :class:`TabularObjective` holds everything a simulated search may observe or
report, as arrays in the space's index order:

* ``signal[i]``  what the search observes after training arch ``i`` (NAS-Bench-201
  protocol: the validation accuracy after the 12-epoch schedule);
* ``cost[i]``    the simulated seconds that training charges to the budget;
* ``test[i]``    the number reported for the arch the search picks (200-epoch
  test accuracy); the search never sees it;
* optionally ``high_signal``/``high_cost``, a second, more expensive fidelity
  (200-epoch validation accuracy and its training time) for multi-fidelity
  algorithms (BOHB);
* ``reported``   more per-arch numbers copied into each run's result (e.g. the
  incumbent's test accuracy on the other datasets, for transfer tables).

Its space must be indexed (``num_archs``, ``arch_at``, ``index_of``): NB201's
own space for :func:`~gradsign.search.oracle.nb201_oracle`. A benchmark known
only as a table of categorical encodings (tests, a user's table) gets a
:class:`TableSpace` over its rows: :class:`SearchOracle` builds both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gradsign.errors import ArchError, ConfigError, DataError
from gradsign.search.objective import Objective
from gradsign.spaces.base import SearchSpace, SeedLike, as_generator


class TableSpace(SearchSpace[int]):
    """The rows of a table of categorical encodings, as a search space whose archs are row indices.

    ``encodings`` (N, D) ints, distinct rows, dimension ``d`` taking values in
    ``0..num_choices[d]-1``. The rows need not fill the product of the choices;
    ``off_table`` says what a move that leaves the table does:

    * ``"reject"`` (default): :meth:`from_choices` gives None for an encoding that
      is no row and :meth:`mutate` redraws until it reaches a row. Right for a
      table that is most of its product (NB101-like tables with a few invalid
      encodings).
    * ``"nearest"``: a move lands on the nearest row (fewest dimensions
      different). For a *sample* of a larger space (e.g. 500 trained NB201 cells,
      3% of the product), where most one-edit mutations leave the table and many
      rows have no one-edit neighbour at all. :meth:`mutate` draws the mutation
      as ``"reject"`` does; if it is no row, it returns one of the rows nearest
      to the mutated encoding other than the current row, uniformly at random
      among ties; :meth:`from_choices` returns the nearest row, ties broken by a
      hash of the encoding (deterministic, and no row is favoured over the
      others); :meth:`neighbours` are the rows at the smallest distance >= 1.
    """

    def __init__(self, encodings: Any, num_choices: int | Sequence[int], *, name: str = "table",
                 arch_name: Callable[[int], str] | None = None, off_table: str = "reject") -> None:
        if off_table not in ("reject", "nearest"):
            raise ConfigError(f"off_table must be 'reject' or 'nearest', got {off_table!r}")
        self.off_table = off_table
        enc = np.asarray(encodings)
        if enc.ndim != 2 or enc.shape[0] == 0 or enc.shape[1] == 0:
            raise DataError(f"oracle encodings must be a non-empty (cells, dims) array, got shape {enc.shape}")
        if not np.issubdtype(enc.dtype, np.integer):
            raise DataError(f"oracle encodings must be integers, got dtype {enc.dtype}")
        n, d = enc.shape
        if isinstance(num_choices, (int, np.integer)):
            choices = np.full(d, int(num_choices), dtype=np.int64)
        else:
            choices = np.asarray(num_choices, dtype=np.int64)
        if choices.shape != (d,) or (choices < 2).any():
            raise DataError(f"num_choices must give >= 2 choices for each of the {d} dimensions, got {num_choices!r}")
        if (enc < 0).any() or (enc >= choices).any():
            raise DataError("oracle encodings hold a choice outside 0..num_choices-1")
        self.name = str(name)  # an instance name: table spaces are not registered
        self.encodings = enc.astype(np.int64)
        self.num_choices = tuple(int(c) for c in choices)
        # Mixed-radix code of each row, and the inverse table code -> row (-1 where
        # the code is no row), so encoding -> row is one lookup.
        radix = np.ones(d, dtype=np.int64)
        for k in range(d - 2, -1, -1):
            radix[k] = radix[k + 1] * choices[k + 1]
        total = int(radix[0] * choices[0])
        if total > 50_000_000:
            raise DataError(f"encoding space too large for a lookup table ({total:,} codes)")
        codes = self.encodings @ radix
        table = np.full(total, -1, dtype=np.int64)
        table[codes] = np.arange(n)
        if (table >= 0).sum() != n:
            raise DataError("oracle encodings are not distinct: two cells share an encoding")
        self._radix = radix
        self._codes = codes.tolist()
        self._code_to_index = table
        self.full_product = n == total
        self._arch_name = arch_name
        self._by_name: dict[str, int] | None = None
        # Python lists: indexing them is several times faster than indexing NumPy
        # arrays element by element, and the search loops do exactly that.
        self._enc_lists = self.encodings.tolist()
        self._nch_list = list(self.num_choices)
        self._radix_list = radix.tolist()

    # --- text form and numbering -------------------------------------------------
    def to_string(self, arch: int) -> str:
        return str(int(arch)) if self._arch_name is None else self._arch_name(int(arch))

    def parse(self, text: str) -> int:
        if self._arch_name is None:
            try:
                return self.index_of(int(str(text).strip()))
            except ValueError:
                raise ArchError(f"{self.name}: an arch is a row number, got {text!r}") from None
        if self._by_name is None:
            self._by_name = {self._arch_name(i): i for i in range(self.num_archs)}
        if text not in self._by_name:
            raise ArchError(f"{self.name}: no arch named {text!r}")
        return self._by_name[text]

    @property
    def num_archs(self) -> int:
        return int(self.encodings.shape[0])

    def arch_at(self, index: int) -> int:
        return self.index_of(index)

    def index_of(self, arch: int) -> int:
        if not 0 <= arch < self.encodings.shape[0]:
            raise ArchError(f"{self.name}: no row {arch!r} (rows 0..{self.num_archs - 1})")
        return int(arch)

    def __iter__(self):
        return iter(range(self.num_archs))

    # --- sampling and moves ----------------------------------------------------------
    def sample(self, n: int, seed: SeedLike = None, *, replace: bool = False) -> list[int]:
        rng = as_generator(seed)
        if replace:
            return rng.integers(0, self.num_archs, size=n).tolist()
        if n > self.num_archs:
            raise ConfigError(f"cannot sample {n} distinct archs: {self.name} has only {self.num_archs}")
        return rng.choice(self.num_archs, size=n, replace=False).tolist()

    def mutate(self, arch: int, seed: SeedLike = None) -> int:
        """A uniformly random dimension set to a uniformly random *different* choice (NB201 ``mutate_arch``).

        Two uniforms per try; outside a full product, tries again until the
        result is a row.
        """
        rng = as_generator(seed)
        code0, cur = self._codes[arch], self._enc_lists[arch]
        d, nch, radix, table = len(cur), self._nch_list, self._radix_list, self._code_to_index
        for _ in range(100):
            dim_u, choice_u = rng.random(2).tolist()
            dim = int(dim_u * d)
            old = cur[dim]
            new = int(choice_u * (nch[dim] - 1))
            if new >= old:  # skip over the current choice: uniform over the others
                new += 1
            index = int(table[code0 + (new - old) * radix[dim]])
            if index >= 0:
                return index
            if self.off_table == "nearest":
                moved = list(cur)
                moved[dim] = new
                tied = self._nearest_rows(moved, exclude=arch)
                return int(tied[int(rng.integers(len(tied)))]) if len(tied) > 1 else int(tied[0])
        raise DataError(f"cell {arch} has no mutation that is a cell of this benchmark")

    def _nearest_rows(self, encoding: Sequence[int], exclude: int | None = None) -> np.ndarray:
        """Rows at the smallest Hamming distance from ``encoding`` (``exclude`` left out), in row order."""
        dist = (self.encodings != np.asarray(encoding, dtype=np.int64)).sum(axis=1)
        if exclude is not None:
            dist[exclude] = dist.max() + 1 if self.num_archs > 1 else 0
        return np.flatnonzero(dist == dist.min())

    def neighbours(self, arch: int) -> list[int]:
        if self.off_table == "nearest":
            return [int(i) for i in self._nearest_rows(self._enc_lists[arch], exclude=arch) if i != arch]
        code0, cur = self._codes[arch], self._enc_lists[arch]
        out = []
        for dim, old in enumerate(cur):
            for new in range(self._nch_list[dim]):
                index = int(self._code_to_index[code0 + (new - old) * self._radix_list[dim]])
                if new != old and index >= 0:
                    out.append(index)
        return out

    # --- categorical parametrisation -------------------------------------------------
    def choices(self) -> tuple[int, ...]:
        return self.num_choices

    def to_choices(self, arch: int) -> tuple[int, ...]:
        return tuple(self._enc_lists[arch])

    def from_choices(self, choices: Sequence[int]) -> int | None:
        enc = np.asarray(choices, dtype=np.int64)
        code = int(enc @ self._radix)
        in_range = enc.shape == (len(self.num_choices),) and bool((enc >= 0).all()) and bool(
            (enc < np.asarray(self.num_choices)).all())
        index = int(self._code_to_index[code]) if in_range else -1
        if index >= 0 or self.off_table == "reject" or not in_range:
            return index if index >= 0 else None
        tied = self._nearest_rows(enc)
        # Knuth's multiplicative hash of the code: the same encoding always lands on the same
        # row, and ties are spread over the tied rows instead of favouring the lowest one.
        return int(tied[(code * 2654435761 % 2**32) % len(tied)])

    def build_network(self, arch: int, num_classes: int = 10, **options: Any):
        raise ConfigError(f"{self.name} is a table of encodings; it builds no networks")

    def __repr__(self) -> str:
        return f"<TableSpace {self.name!r}: {self.num_archs} archs, {len(self.num_choices)} dims>"


class TabularObjective(Objective):
    """Per-arch arrays of an indexed space; see the module docstring for the fields.

    Parameters
    ----------
    space : an indexed :class:`~gradsign.spaces.base.SearchSpace` (``num_archs``, ``index_of``)
    signal, cost, test : (N,) arrays in the space's index order
        Observed accuracy, simulated seconds per training, reported accuracy.
    high_signal, high_cost : (N,) arrays, optional
        The expensive fidelity (both or neither).
    reported : mapping name -> (N,) array, optional
        Extra per-arch numbers stored with each run's incumbent.
    dataset : str
        Label written into results.
    default_budget : float, optional
        Simulated seconds used when a run gives no budget.
    notes : sequence of str
        Caveats about how the arrays were obtained; copied into every result.
    arch_name : callable index -> str, optional
        Readable name of an arch (default: the space's string form).
    training_epochs : int, optional
        Epochs of the training whose result ``signal`` is (NB201: 12), said in BOHB's notes.
    """

    def __init__(
        self,
        space: SearchSpace,
        signal: Any,
        cost: Any,
        test: Any,
        *,
        high_signal: Any = None,
        high_cost: Any = None,
        reported: Mapping[str, Any] | None = None,
        dataset: str = "",
        default_budget: float | None = None,
        notes: Sequence[str] = (),
        arch_name: Callable[[int], str] | None = None,
        training_epochs: int | None = None,
    ) -> None:
        n = space.num_archs
        if n is None:
            raise ConfigError(f"a tabular objective needs an indexed space; {space.name!r} has no index")
        self.space = space
        self.training_epochs = training_epochs
        self.signal = self._column("signal", signal, n)
        self.cost = self._column("cost", cost, n)
        self.test = self._column("test", test, n, allow_nan=True)
        if (self.cost < 0).any():
            raise DataError("oracle costs must be non-negative seconds")
        self.min_cost = float(self.cost.min())
        if (high_signal is None) != (high_cost is None):
            raise DataError("give both high_signal and high_cost for a second fidelity, or neither")
        self.high_signal = None if high_signal is None else self._column("high_signal", high_signal, n)
        self.high_cost = None if high_cost is None else self._column("high_cost", high_cost, n)
        self.has_high_fidelity = self.high_signal is not None
        self.reported = {str(k): self._column(f"reported[{k!r}]", v, n, allow_nan=True)
                         for k, v in (reported or {}).items()}
        self.dataset = str(dataset)
        self.default_budget = None if default_budget is None else float(default_budget)
        self.notes = tuple(str(s) for s in notes)
        self._arch_name = arch_name
        self._signal_list = self.signal.tolist()
        self._cost_list = self.cost.tolist()
        self._test_list = self.test.tolist()
        self._high_signal_list = None if self.high_signal is None else self.high_signal.tolist()
        self._high_cost_list = None if self.high_cost is None else self.high_cost.tolist()

    @staticmethod
    def _column(name: str, values: Any, n: int, *, allow_nan: bool = False) -> np.ndarray:
        arr = np.asarray(values, dtype=np.float64)
        if arr.ndim == 0:
            arr = np.full(n, float(arr))
        if arr.shape != (n,):
            raise DataError(f"oracle column {name} must have one value per cell ({n}), got shape {arr.shape}")
        if not allow_nan and not np.isfinite(arr).all():
            bad = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise DataError(f"oracle column {name} is not finite for cell {bad}")
        return arr

    @property
    def num_archs(self) -> int:
        return int(self.signal.shape[0])

    # --- the Objective interface ----------------------------------------------------
    def key(self, arch: Any) -> int:
        return self.space.index_of(arch)

    def record(self, arch: Any) -> int:
        return self.space.index_of(arch)

    def name_of(self, arch: Any) -> str:
        if self._arch_name is None:
            return self.space.to_string(arch)
        return self._arch_name(self.space.index_of(arch))

    def evaluate(self, arch: Any, *, high: bool = False) -> tuple[float, float]:
        index = self.space.index_of(arch)
        if high:
            if self._high_signal_list is None:
                raise ConfigError("this oracle has no high fidelity (200-epoch) data")
            return self._high_signal_list[index], self._high_cost_list[index]  # type: ignore[index]
        return self._signal_list[index], self._cost_list[index]

    def test_of(self, arch: Any) -> float:
        return self._test_list[self.space.index_of(arch)]

    def reported_of(self, arch: Any) -> dict[str, float]:
        index = self.space.index_of(arch)
        return {k: float(v[index]) for k, v in self.reported.items()}

    # --- index-based access (reports, scripts) ----------------------------------------
    def arch_name(self, index: int) -> str:
        """Readable name of the arch with index ``index``."""
        return self.name_of(self.space.arch_at(int(index)))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.space.name or 'space'}/{self.dataset or 'dataset'}: {self.num_archs} archs>"


class SearchOracle(TabularObjective):
    """A tabular objective over a table of categorical encodings (a :class:`TableSpace`; archs are row indices).

    ``SearchOracle(encodings, num_choices, signal, cost, test, ..., space="toy")``:
    ``space`` names the table space in results. The encodings' lookups stay
    available for scripts and tests (``encodings``, ``index_of``, ``mutate``).
    """

    def __init__(self, encodings: Any, num_choices: int | Sequence[int], signal: Any, cost: Any, test: Any, *,
                 space: str = "", arch_name: Callable[[int], str] | None = None, off_table: str = "reject",
                 **kwargs: Any) -> None:
        table = TableSpace(encodings, num_choices, name=space, arch_name=arch_name, off_table=off_table)
        super().__init__(table, signal, cost, test, **kwargs)
        self.encodings = table.encodings
        self.num_choices = table.num_choices

    @property
    def num_dims(self) -> int:
        return len(self.num_choices)

    def index_of(self, choices: Any) -> int:
        """Row of the encoding ``choices`` (-1 if none)."""
        index = self.space.from_choices(choices)
        return -1 if index is None else index

    def mutate(self, index: int, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """``n`` independent one-dimension mutations of row ``index``."""
        return np.array([self.space.mutate(int(index), rng) for _ in range(n)], dtype=np.int64)

    def random(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        """``n`` rows drawn uniformly, with replacement."""
        return np.asarray(self.space.sample(n, rng, replace=True), dtype=np.int64)


__all__ = ["SearchOracle", "TableSpace", "TabularObjective"]
