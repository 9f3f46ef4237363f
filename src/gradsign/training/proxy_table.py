"""Proxy scores of trained architectures, as a small deterministic CSV (arch, proxy, score, seconds).

The file ``results/real_benchmark/proxy_scores_seed<S>.csv.gz`` holds every proxy
of the small real benchmark's archs scored as the recipe trains them
(:func:`gradsign.training.scoring.score_as_trained`). Rows are sorted and floats
written with ``repr`` and gzip without a time stamp, so an unchanged table is
byte-for-byte the same file (committed; no spurious diffs).
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gradsign.errors import DataError
from gradsign.training.store import read_text

HEADER = ("arch", "proxy", "score", "seconds")


@dataclass
class ProxyScoreTable:
    """``rows[(arch, proxy)] = (score, seconds)``; scores as the proxy defines them (not oriented)."""

    rows: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> "ProxyScoreTable":
        path = Path(path)
        try:
            text = read_text(path)
        except FileNotFoundError:
            raise DataError(f"{path}: no such proxy score table") from None
        except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
            raise DataError(f"{path}: cannot read a proxy score table ({exc})") from None
        reader = csv.reader(io.StringIO(text))
        header = tuple(next(reader, ()))
        if header != HEADER:
            raise DataError(f"{path}: not a proxy score table (header {','.join(header)[:80]!r}, "
                            f"expected {','.join(HEADER)})")
        rows: dict[tuple[str, str], tuple[float, float]] = {}
        for n, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != 4:
                raise DataError(f"{path}: line {n} has {len(row)} fields, expected 4")
            try:
                score, seconds = float(row[2]), float(row[3])
            except ValueError:
                raise DataError(f"{path}: line {n} ({row[0]!r}, {row[1]!r}): score and seconds must be numbers") from None
            if math.isfinite(seconds) and seconds < 0:
                raise DataError(f"{path}: line {n}: negative seconds")
            if (row[0], row[1]) in rows:
                raise DataError(f"{path}: line {n}: ({row[0]!r}, {row[1]!r}) appears twice")
            rows[(row[0], row[1])] = (score, seconds)
        return cls(rows, str(path))

    def save(self, path: str | Path) -> None:
        """Write atomically (a temporary file renamed over the old one): an interrupted save loses nothing."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(HEADER)
        for (arch, proxy), (score, seconds) in sorted(self.rows.items()):
            writer.writerow([arch, proxy, repr(float(score)), repr(float(seconds))])
        out = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
            gz.write(buf.getvalue().encode())
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(out.getvalue())
        os.replace(tmp, path)

    @property
    def proxies(self) -> list[str]:
        return sorted({p for _, p in self.rows})

    def column(self, proxy: str, archs: list[str] | tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(scores, seconds) of ``proxy`` over ``archs``; NaN where the table lacks a pair."""
        pairs = [self.rows.get((a, proxy), (math.nan, math.nan)) for a in archs]
        return (np.array([p[0] for p in pairs], dtype=np.float64), np.array([p[1] for p in pairs], dtype=np.float64))

    def missing(self, proxy: str, archs: list[str] | tuple[str, ...]) -> int:
        return sum((a, proxy) not in self.rows for a in archs)


__all__ = ["HEADER", "ProxyScoreTable"]
