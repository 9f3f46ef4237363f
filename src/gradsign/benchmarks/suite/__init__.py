"""The built-in benchmarks, one module each; every module here is imported by the registry on first use.

* :mod:`.nb201` — NAS-Bench-201: all 15,625 cells on three datasets, low-fidelity
  (12-epoch) accuracies, reference scores, simulated training for search;
* :mod:`.nb101` — NAS-Bench-101 as NASLib's zero-cost sample holds it;
* :mod:`.nb301` — NAS-Bench-301 (the DARTS space) as NASLib's zero-cost sample holds it.

See :mod:`gradsign.benchmarks.registry` and docs/extending.md for adding one.
"""
