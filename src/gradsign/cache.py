"""The user cache directory (decoded images, compact benchmark tables).

``$GRADSIGN_CACHE`` overrides the platform default (platformdirs' user cache
dir), which tests use to stay isolated.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def cache_dir(*parts: str) -> Path:
    root = os.environ.get("GRADSIGN_CACHE") or platformdirs.user_cache_dir("gradsign")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
