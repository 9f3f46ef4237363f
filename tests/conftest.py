"""Shared fixtures.

Tests that read ../shared/data use the ``data_dir`` fixture, which skips with a
clear reason when the folder is absent; every other test builds its own small
data in a temporary directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gradsign.data.paths import resolve_data_dir


@pytest.fixture(scope="session")
def data_dir() -> Path:
    try:
        ddir = resolve_data_dir()
    except Exception as exc:  # an invalid $GRADSIGN_DATA should skip, not crash collection
        pytest.skip(f"data directory unusable: {exc}")
    if ddir is None:
        pytest.skip("benchmark data not found (../shared/data or $GRADSIGN_DATA); see `gradsign data`")
    return ddir


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep every test's caches out of the user's real cache directory."""
    cache = tmp_path_factory.getbasetemp() / "gradsign-cache"
    monkeypatch.setenv("GRADSIGN_CACHE", str(cache))
