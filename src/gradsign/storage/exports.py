"""Reading ``gradsign store export`` files into pandas, for analysis scripts.

:meth:`ResultsStore.import_csv` loads an export back into a store; this reads one into a
DataFrame with the same acceptance rule (the exact export header), so every script that
analyses exports refuses the same files with the same one-line message.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gradsign.errors import StoreError
from gradsign.storage.store import ResultsStore


def read_score_export(path: str | Path) -> pd.DataFrame:
    """One export (plain or ``.gz``) as a frame with the export's columns.

    Text key columns stay text (an options string such as ``{}`` or a version ``1`` is not
    parsed); ``value`` and ``seconds`` are float64 with NaN where the store had none. Raises
    :class:`StoreError` with a one-line reason when the file cannot be read or is not an export.
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"arch": str, "options": str, "proxy_version": str, "error": str},
                            keep_default_na=False, na_values={"value": [""], "seconds": [""]})
    except (OSError, EOFError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path}: cannot read ({exc})") from None
    if tuple(frame.columns) != ResultsStore.EXPORT_COLUMNS:
        raise StoreError(f"{path}: not a gradsign score export (expected columns "
                         f"{', '.join(ResultsStore.EXPORT_COLUMNS)})")
    return frame
