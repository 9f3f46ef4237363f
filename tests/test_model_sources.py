"""Model sources (gradsign.models) and the typed rank API (gradsign.rank -> RankResult).

The toy source below is the worked example of docs/rank.md (the test checks the docs
show exactly this code): one user module registers a source, the Python API uses it
after an import, the command line through ``gradsign --plugin``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import gradsign
from gradsign.cli.main import main
from gradsign.errors import ConfigError
from gradsign.models import CreatedModel, ModelSource, available_model_sources, register_model_source
from gradsign.models.sources import MODEL_SOURCES, parse_model_spec, validate_spec
from gradsign.registry import Registry
from gradsign.workflows.rank import RankInterrupted, RankResult

DOCS = Path(__file__).resolve().parents[1] / "docs" / "rank.md"

TOY_SOURCE = '''\
"""toy_sources.py: tiny CNNs of a given width, as the model source `toy` (toy:w4, toy:w8, toy:w16)."""
from torch import nn

from gradsign.models import register_model_source

WIDTHS = (4, 8, 16)


@register_model_source("toy", names=[f"w{w}" for w in WIDTHS])
def toy(name: str, num_classes: int) -> nn.Module:
    """Conv-ReLU-pool-linear, `name` = w<channels>."""
    width = int(name[1:])
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(width, num_classes))
'''


def toy_params(width: int, classes: int = 10) -> int:
    return (3 * 9 * width + width) + (width * classes + classes)


@pytest.fixture()
def fake_cifar(monkeypatch):
    """A 40-image in-memory CIFAR-10 test split instead of decoding the real one."""
    from gradsign.data import images

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(40, 32, 32, 3), dtype=np.uint8)
    fake = images.ImageSet("cifar10", "test", imgs, np.arange(40, dtype=np.int64) % 10)
    monkeypatch.setattr(images, "load_image_set", lambda *a, **k: fake)


@pytest.fixture()
def toy_file(tmp_path, monkeypatch):
    """The docs' toy source as a user's file; its registration is removed afterwards."""
    monkeypatch.delenv("GRADSIGN_PLUGINS", raising=False)
    path = tmp_path / "toy_sources.py"
    path.write_text(TOY_SOURCE)
    yield path
    MODEL_SOURCES.pop("toy")


@pytest.fixture()
def temporary_sources():
    names: list[str] = []
    yield names
    for name in names:
        MODEL_SOURCES.pop(name)


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, " ".join(out.err.split())


# --------------------------------------------------------------------------- the worked example


def test_docs_show_the_toy_source_the_tests_run():
    assert TOY_SOURCE in DOCS.read_text()


def test_toy_source_through_the_cli_plugin(toy_file, fake_cifar, capsys):
    code, out, err = run(["--plugin", str(toy_file), "rank", "toy:w4", "toy:w16", "toy:w8", "--proxies", "params",
                          "--batch-size", "8", "--format", "csv"], capsys)
    assert code == 0, err
    rows = [line.split(",") for line in out.strip().splitlines()[1:]]
    assert [r[0] for r in rows] == ["toy:w16", "toy:w8", "toy:w4"]  # sorted by #params
    assert [int(float(r[1])) for r in rows] == [toy_params(16), toy_params(8), toy_params(4)]
    code, _, err = run(["--plugin", str(toy_file), "rank", "toy:w5"], capsys)
    assert code == 2 and "toy:w5: unknown toy model 'w5'" in err


def test_toy_source_through_the_api(toy_file, fake_cifar, monkeypatch):
    monkeypatch.syspath_prepend(str(toy_file.parent))
    import toy_sources  # noqa: F401  (registers `toy`)

    assert "toy" in available_model_sources()
    result = gradsign.rank(["toy:w4", "toy:w8"], proxies=["params", "synflow"], batch_size=8, split="test")
    assert isinstance(result, RankResult)
    assert result.notes["toy:w4"] == ["toy source called with num_classes=10"]
    assert list(result.to_frame()["model"]) == ["toy:w8", "toy:w4"]  # by the first proxy, params
    assert list(result.to_frame("none")["model"]) == ["toy:w4", "toy:w8"]
    doc = json.loads(result.to_json())
    assert doc["dataset"] == "cifar10" and doc["input_shape"] == [3, 32, 32] and doc["batch_size"] == 8
    assert [m["model"] for m in doc["models"]] == ["toy:w8", "toy:w4"] and "partial" not in doc
    assert result.to_csv().startswith("model,params,flops,synflow,rank_params,rank_synflow,seconds")


# --------------------------------------------------------------------------- registering sources


def test_class_source_checks_early_and_states_its_design_size(temporary_sources, fake_cifar):
    built = []

    @register_model_source("widths")
    class Widths(ModelSource):
        syntax = "widths:N"

        def check(self, spec):
            if not spec.name.isdigit():
                raise ConfigError(f"{spec.text}: the width must be an integer")

        def create(self, spec, num_classes, input_shape, seed):
            built.append(spec.name)
            width = int(spec.name)
            model = nn.Sequential(nn.Conv2d(3, width, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, 1000))
            return CreatedModel(model, ["built by widths"], designed_input=(3, 224, 224))

    temporary_sources.append("widths")
    with pytest.raises(ConfigError, match="widths:x: the width must be an integer"):
        gradsign.rank(["widths:2", "widths:x"], proxies="params")
    assert built == []  # nothing built before every spec was checked
    result = gradsign.rank(["widths:2"], proxies="params", batch_size=4, seed=1)
    notes = result.notes["widths:2"]
    assert notes[0] == "built by widths" and notes[1] == "input 32x32 (cifar10); model designed for 224x224"
    assert notes[2] == "classifier head replaced: 1000 -> 10 classes (Linear '3', fresh init)"
    with pytest.raises(ConfigError, match=r"unknown prefix 'keras'; use .*timm:NAME.*widths:N.*path/to/file.py:factory"):
        parse_model_spec("keras:resnet")


def test_registration_errors(temporary_sources):
    with pytest.raises(ValueError, match="identifier"):
        register_model_source("my-source")
    with pytest.raises(TypeError, match="ModelSource subclass or a function"):
        register_model_source("bad")(42)

    def one(name):
        return nn.Linear(2, 2)

    def other(name):
        return nn.Linear(2, 2)

    register_model_source("twice")(one)
    temporary_sources.append("twice")
    register_model_source("twice")(one)  # the same function again (a re-import) is fine
    assert MODEL_SOURCES.get("twice").fn is one
    with pytest.raises(RuntimeError, match="model source 'twice' registered twice"):
        register_model_source("twice")(other)


def test_function_source_returning_no_module(temporary_sources):
    register_model_source("junk")(lambda name: "not a model")
    temporary_sources.append("junk")
    spec = validate_spec("junk:x")  # no names= given: any name passes the early check
    with pytest.raises(ConfigError, match="junk:x: the junk source returned str, not a torch.nn.Module"):
        gradsign.models.load_model(spec, 10)


def test_explicit_file_prefix(tmp_path):
    path = tmp_path / "m.py"
    path.write_text("from torch import nn\ndef f(num_classes=10):\n    return nn.Linear(3 * 8 * 8, num_classes)\n")
    spec = parse_model_spec(f"file:{path}:f")
    assert (spec.kind, spec.name, spec.path) == ("file", "f", path)
    with pytest.raises(ConfigError, match="write file:path/to/file.py:factory"):
        parse_model_spec("file:resnet")


# --------------------------------------------------------------------------- gradsign.rank validation


@pytest.mark.parametrize(
    "kwargs, needle",
    [({"batch_size": 0}, "--batch-size must be at least 1"), ({"image_size": 4}, "--image-size must be between 8"),
     ({"sampling": "stratified"}, "unknown sampling 'stratified'"), ({"engine": "turbo"}, "unknown engine 'turbo'"),
     ({"chunk_size": 0}, "--chunk-size must be at least 1"), ({"sort_by": "snip"}, "--sort-by 'snip'"),
     ({"options": ["snip.x=1"]}, "'snip' is not among the proxies"), ({"proxies": "nope"}, "unknown proxy"),
     ({"threads": 0}, "--threads must be a positive integer")],
)
def test_rank_validates_before_reading_data(kwargs, needle, monkeypatch, tmp_path):
    from gradsign.data import images

    def no_data(*a, **k):  # pragma: no cover - reaching it is the failure
        raise AssertionError("data read before the settings were checked")

    monkeypatch.setattr(images, "load_image_set", no_data)
    path = tmp_path / "m.py"
    path.write_text("from torch import nn\ndef f():\n    return nn.Linear(2, 2)\n")
    with pytest.raises(ConfigError, match=needle):
        gradsign.rank([f"{path}:f"], **{"proxies": "params", **kwargs})
    with pytest.raises(ConfigError, match="is given twice"):
        gradsign.rank([f"{path}:f", f"{path}:f"], proxies="params")
    with pytest.raises(ConfigError, match="no model to rank"):
        gradsign.rank([], proxies="params")


def test_rank_mixes_specs_and_modules(fake_cifar, tmp_path):
    path = tmp_path / "m.py"
    path.write_text("from torch import nn\ndef f(num_classes=10):\n    return nn.Sequential(nn.Flatten(), "
                    "nn.Linear(3 * 32 * 32, num_classes))\n")
    wide = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 1000))
    result = gradsign.rank({"spec": f"{path}:f", "mine": wide}, proxies="params", batch_size=4, sort_by="none")
    f = result.to_frame().set_index("model")
    assert list(f.index) == ["spec", "mine"] and f.loc["mine", "params"] == f.loc["spec", "params"]
    assert wide[-1].out_features == 1000  # adapted on a copy
    assert "classifier head replaced: 1000 -> 10 classes" in f.loc["mine", "notes"]


def test_interrupted_rank_keeps_its_setup(fake_cifar):
    def stop():
        raise KeyboardInterrupt

    tiny = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))
    with pytest.raises(RankInterrupted) as info:
        gradsign.rank({"a": tiny, "b": stop}, proxies="params", batch_size=4)
    partial = info.value.partial
    assert partial.partial == (1, 2) and partial.setup.dataset == "cifar10"
    assert json.loads(partial.to_json())["partial"] == {"finished": 1, "of": 2}


# --------------------------------------------------------------------------- the registry helper


def test_registry_helper_aliases_and_messages():
    reg: Registry[str] = Registry("widget", normalise=lambda s: s.lower().replace("-", ""))
    reg.add("alpha", "A", aliases=("first",))
    reg.add("beta", "B")
    assert reg.get("ALPHA") == "A" and reg.get("First") == "A" and reg.resolve("al-pha") == "alpha"
    assert reg.names() == ["alpha", "beta"] and "beta" in reg and len(reg) == 2
    with pytest.raises(ConfigError, match="unknown widget 'gamma'; available: alpha, beta"):
        reg.get("gamma")
    assert reg.pop("alpha") == "A" and reg.find("first") is None


# --------------------------------------------------------------------------- real timm / torchvision


def _importable(package: str) -> bool:
    try:
        __import__(package)
    except Exception:  # a missing package, or a torchvision built for another torch
        return False
    return True


@pytest.mark.skipif(not (_importable("timm") and _importable("torchvision")),
                    reason="timm/torchvision not importable here (optional 'models' extra); the fakes in "
                           "test_rank.py cover what gradsign asks of them")
def test_real_timm_and_torchvision_models_load():
    for spec in ("timm:resnet18", "torchvision:resnet18"):
        lm = gradsign.models.load_model(spec, 10, input_shape=(3, 32, 32))
        assert lm.model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
        assert any(n.startswith("classifier head replaced: 1000 -> 10") for n in lm.notes)


def test_an_unknown_name_gets_close_names_or_the_short_list():
    from gradsign.models.sources import suggest

    assert suggest("resnet2O", ["resnet20", "resnet56", "vgg11"]) == "; did you mean resnet20, resnet56?"
    assert suggest("w9", ["w4", "w8", "w16"]) == "; known: w4, w8, w16"  # nothing close: all three
    assert suggest("zz", [f"model{i}" for i in range(100)]) == ""  # too many to list
