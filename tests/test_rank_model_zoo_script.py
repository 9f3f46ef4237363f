"""scripts/rank_model_zoo.py: the torchvision import work-around changes nothing unless needed."""

from __future__ import annotations

import sys
import uuid

import pytest

from benchmark_scripts import load_benchmark_script

FAKE_INIT = '''
import torch
try:
    torch.ops.{ns}.nms
except (AttributeError, RuntimeError):
    raise RuntimeError("operator {ns}::nms does not exist")  # what torchvision 0.28 raises
__version__ = "0.0-fake"
'''


@pytest.fixture
def fake_torchvision(tmp_path, monkeypatch):
    """Put a package named torchvision on sys.path whose import behaves as given."""

    def make(body: str) -> None:
        pkg = tmp_path / "torchvision"
        pkg.mkdir(exist_ok=True)
        (pkg / "__init__.py").write_text(body)
        monkeypatch.syspath_prepend(str(tmp_path))

    saved = {m: sys.modules.pop(m) for m in list(sys.modules) if m == "torchvision" or m.startswith("torchvision.")}
    yield make
    for m in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[m]
    sys.modules.update(saved)


def test_declares_the_schemas_only_when_the_import_fails_on_them(fake_torchvision):
    import torch

    zoo = load_benchmark_script("rank_model_zoo.py")
    ns = f"gradsign_test_{uuid.uuid4().hex[:8]}"  # a namespace of its own: op definitions are process-wide
    fake_torchvision(FAKE_INIT.format(ns=ns))
    message = zoo.import_torchvision(namespace=ns)
    assert "declared the nms/qnms schemas" in message and "0.0-fake" in message
    assert sys.modules["torchvision"].__version__ == "0.0-fake"
    ops = getattr(torch.ops, ns)
    assert "float iou_threshold" in str(ops.nms.default._schema) and "Tensor scores" in str(ops.qnms.default._schema)


def test_a_normal_import_is_left_alone(fake_torchvision):
    zoo = load_benchmark_script("rank_model_zoo.py")
    fake_torchvision("__version__ = '1.0-fine'\n")
    assert zoo.import_torchvision() == "torchvision imported normally"


def test_other_import_errors_are_not_hidden(fake_torchvision):
    zoo = load_benchmark_script("rank_model_zoo.py")
    fake_torchvision("raise RuntimeError('something else entirely')\n")
    with pytest.raises(RuntimeError, match="something else entirely"):
        zoo.import_torchvision()


def test_missing_torchvision_is_reported(monkeypatch):
    zoo = load_benchmark_script("rank_model_zoo.py")
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes the import fail as if not installed
    assert zoo.import_torchvision() == "torchvision not installed"
