"""Elementwise exp / log by the C library, so that searches decide the same way on every CPU.

NumPy picks its float64 ``exp`` / ``log`` kernels by the CPU's SIMD level: with AVX-512 it uses its
own vectorised ones, elsewhere the C library's, and the two differ in the last bits. Where a search
then compares values that tie mathematically (two proposals with the same kernel density, say), the
last bits decide, and the same seed trained other cells on another machine (seen: BOHB's model
proposals, tests/test_search_golden.py). ``math``'s functions are the C library's on every CPU.
The arrays here are small (a search step's candidates), so the Python loop costs microseconds.
"""

from __future__ import annotations

import math

import numpy as np


def _by_libm(fn, values: np.ndarray) -> np.ndarray:
    """``fn`` (a ``math`` function) on every element of ``values``: same shape, float64."""
    values = np.asarray(values, dtype=np.float64)
    return np.array([fn(v) for v in values.ravel().tolist()], dtype=np.float64).reshape(values.shape)


def exp(values: np.ndarray) -> np.ndarray:
    """``np.exp`` computed by ``math.exp``."""
    return _by_libm(math.exp, values)


def log(values: np.ndarray) -> np.ndarray:
    """``np.log`` computed by ``math.log`` (positive values)."""
    return _by_libm(math.log, values)


def log1p(values: np.ndarray) -> np.ndarray:
    """``np.log1p`` computed by ``math.log1p`` (values above -1)."""
    return _by_libm(math.log1p, values)
