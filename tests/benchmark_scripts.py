"""Import the scripts under scripts/ (not a package) as modules, for their tests."""

from __future__ import annotations

import sys
from pathlib import Path


def load_benchmark_script(filename: str):
    """Import ``scripts/<filename>`` (scripts, not a package) as a module for testing."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / filename
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there while the class is built
    spec.loader.exec_module(module)
    return module
