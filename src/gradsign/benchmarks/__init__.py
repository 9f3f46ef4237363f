"""Benchmark ground truth: what each architecture actually achieves after training.

:class:`NB201Table` holds NAS-Bench-201's numbers for all 15,625 cells (row i =
NB201 index i), from the shared CSVs (:meth:`NB201Table.load`, cached as a
compact ``.npz``) or from the official NAS-Bench-201 / NATS-Bench file
(:meth:`NB201Table.from_official`, :mod:`gradsign.benchmarks.nats_reader`).

Importing this package needs only numpy; pandas (the CSV parser, ``.frame``),
scipy (``noise_ceiling``) and torch (``.pth`` files) are imported when used.
"""

from __future__ import annotations

from gradsign.benchmarks.nb201 import (
    COLUMNS,
    DATASETS,
    EPOCHS,
    NUM_ARCHS,
    SPLITS,
    ColumnSpec,
    NB201Table,
    NoiseCeiling,
    acc_column,
    is_nb201_arch_string,
)


_LAZY = {  # pandas-backed, imported on first use so `import gradsign.benchmarks` stays light
    "load_naslib_zc": "gradsign.benchmarks.naslib_zc",
    "naslib_zc_datasets": "gradsign.benchmarks.naslib_zc",
    "nb201_from_naslib": "gradsign.benchmarks.naslib_zc",
    "NASLIB_ZC_RESOURCES": "gradsign.benchmarks.naslib_zc",
    "NASLIB_NB201_OPS": "gradsign.benchmarks.naslib_zc",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "COLUMNS",
    "DATASETS",
    "EPOCHS",
    "NUM_ARCHS",
    "SPLITS",
    "ColumnSpec",
    "NB201Table",
    "NoiseCeiling",
    "acc_column",
    "is_nb201_arch_string",
    *_LAZY,
]
