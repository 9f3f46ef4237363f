"""`gradsign rank` / `rank_models`: model specs, head adaptation, NaN handling, CLI output.

Everything runs on tiny CNNs written into tmp_path and a synthetic minibatch;
timm and torchvision are replaced by small fakes (they are optional and not
installed in CI), which checks exactly what gradsign asks of them.
"""

from __future__ import annotations

import json
import math
import sys
import textwrap
import types

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import gradsign
from gradsign.cli.main import main
from gradsign.errors import ConfigError
from gradsign.models import LoadedModel, adapt_head, install_hint, load_model, parse_model_spec
from gradsign.workflows import rank as rank_mod
from gradsign.workflows.rank import rank_models

MODELS_PY = textwrap.dedent(
    """
    from torch import nn

    def small(num_classes=10):
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(4, num_classes))

    def big():
        # no num_classes parameter and an ImageNet-size head: gradsign must replace it
        return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(8, 1000))

    def conv_head():
        # 1000 outputs from a conv: nothing a Linear swap can fix
        return nn.Sequential(nn.Conv2d(3, 1000, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())

    def not_a_model():
        return 42

    CONSTANT = 3
    """
)


@pytest.fixture()
def models_py(tmp_path):
    path = tmp_path / "models.py"
    path.write_text(MODELS_PY)
    return path


@pytest.fixture()
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 3, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class TupleNet(nn.Module):
    """Returns (logits, features): every proxy that runs forward fails; params still works."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 8 * 8, 10)

    def forward(self, x):
        return self.fc(x.flatten(1)), x


# --------------------------------------------------------------------------- specs


@pytest.mark.parametrize(
    "text, kind, name",
    [("timm:resnet18", "timm", "resnet18"), ("torchvision:vgg11", "torchvision", "vgg11"),
     ("dir/my models.py:make", "file", "make"), ("C:/x/m.py:f", "file", "f")],
)
def test_parse_good_specs(text, kind, name):
    spec = parse_model_spec(text)
    assert (spec.kind, spec.name, spec.text) == (kind, name, text)


@pytest.mark.parametrize(
    "text, needle",
    [("keras:resnet", "unknown prefix 'keras'"), ("resnet18", "has no prefix"), ("m.py", "m.py:FUNCTION"),
     ("m.py:not-a-name", "not a Python function name"), ("timm:", "names no model")],
)
def test_parse_bad_specs(text, needle):
    with pytest.raises(ConfigError, match=needle):
        parse_model_spec(text)


def test_missing_file_and_factory_are_clear(models_py, tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_model(f"{tmp_path / 'nope.py'}:f", 10)
    with pytest.raises(ConfigError, match=r"has no 'nope'; functions defined there: big, conv_head, not_a_model, small"):
        load_model(f"{models_py}:nope", 10)
    with pytest.raises(ConfigError, match="is of type int, not a function"):
        load_model(f"{models_py}:CONSTANT", 10)
    with pytest.raises(ConfigError, match="returned int, not a torch.nn.Module"):
        load_model(f"{models_py}:not_a_model", 10)
    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_xyz\n")
    with pytest.raises(ConfigError, match="importing .*broken.py failed: ModuleNotFoundError"):
        load_model(f"{broken}:f", 10)


# --------------------------------------------------------------------------- loading and heads


def test_factory_with_num_classes_and_seeded_init(models_py):
    a = load_model(f"{models_py}:small", 7, input_shape=(3, 8, 8), seed=3)
    b = load_model(f"{models_py}:small", 7, input_shape=(3, 8, 8), seed=3)
    c = load_model(f"{models_py}:small", 7, input_shape=(3, 8, 8), seed=4)
    assert a.model[-1].out_features == 7
    assert a.notes == ["factory called with num_classes=7"]
    assert all(torch.equal(p, q) for p, q in zip(a.model.parameters(), b.model.parameters()))
    assert not torch.equal(a.model[0].weight, c.model[0].weight)


def test_factory_without_num_classes_gets_head_replaced(models_py):
    lm = load_model(f"{models_py}:big", 10, input_shape=(3, 8, 8))
    assert lm.model[-1].out_features == 10 and lm.model[-1].in_features == 8
    assert lm.notes == ["classifier head replaced: 1000 -> 10 classes (Linear '7', fresh init)"]
    assert lm.model.training  # the probe forward restored train mode
    assert lm.model(torch.zeros(2, 3, 8, 8)).shape == (2, 10)


def test_a_factory_given_num_classes_whose_output_differs_is_an_error_not_a_swapped_head(tmp_path):
    path = tmp_path / "ignores.py"
    path.write_text("from torch import nn\n\ndef ignores(num_classes=10):\n"
                    "    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 5))  # num_classes not used\n")
    with pytest.raises(ConfigError, match="built for 10 classes, yet its output has 5 logits"):
        load_model(f"{path}:ignores", 10, input_shape=(3, 8, 8))


def test_head_that_cannot_be_adapted_is_an_error(models_py):
    with pytest.raises(ConfigError, match="no nn.Linear with 1000 outputs to replace; make the factory accept num_classes"):
        load_model(f"{models_py}:conv_head", 10, input_shape=(3, 8, 8))
    with pytest.raises(ConfigError, match=r"output of shape \(1, 3, 8, 8\)"):
        adapt_head(nn.Conv2d(3, 3, 1), 10, (3, 8, 8))


def test_failed_probe_is_a_note_not_an_error():
    notes = adapt_head(TupleNet(), 10, (3, 8, 8))
    assert len(notes) == 1 and notes[0].startswith("could not check the output size") and "tuple" in notes[0]


# --------------------------------------------------------------------------- timm / torchvision


def test_timm_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # makes `import timm` raise ModuleNotFoundError
    with pytest.raises(ConfigError) as exc:
        load_model("timm:resnet18", 10)
    msg = str(exc.value)
    assert "timm:resnet18: timm is not installed" in msg and "pip install timm" in msg and "\n" not in msg
    base = torch.__version__.split("+")[0]
    assert f"'torch=={base}'" in msg


def test_broken_torchvision_install_is_explained(monkeypatch, tmp_path):
    pkg = tmp_path / "fakepkgs" / "torchvision"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('raise RuntimeError("operator torchvision::nms does not exist")\n')
    monkeypatch.syspath_prepend(str(tmp_path / "fakepkgs"))
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    with pytest.raises(ConfigError, match=r"torchvision is installed but fails to import \(RuntimeError: operator torchvision::nms"):
        load_model("torchvision:resnet18", 10)


def test_install_hint_pins_the_installed_torch(monkeypatch):
    monkeypatch.setattr(torch, "__version__", "2.13.0+cpu")
    hint = install_hint()
    assert "'torch==2.13.0'" in hint and "'torchvision==0.28.*'" in hint and "whl/cpu" in hint
    assert "[" not in hint  # printed as rich markup by the CLI


def _tiny(num_classes=1000, **kwargs):
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))


def test_fake_timm_gets_pretrained_false_and_num_classes(monkeypatch):
    calls = []

    def create_model(name, pretrained=True, num_classes=1000, **kwargs):
        calls.append((name, pretrained, num_classes, kwargs))
        m = _tiny(num_classes)
        m.pretrained_cfg = {"input_size": (3, 224, 224), "num_classes": 1000, "fixed_input_size": name == "vit"}
        return m

    fake = types.ModuleType("timm")
    fake.create_model = create_model
    fake.is_model = lambda name: name in ("cnn", "vit")
    fake.list_models = lambda: ["cnn", "vit"]
    monkeypatch.setitem(sys.modules, "timm", fake)
    lm = load_model("timm:cnn", 10, input_shape=(3, 32, 32), dataset="cifar10")
    assert calls == [("cnn", False, 10, {})]
    assert lm.notes == ["classifier head replaced: 1000 -> 10 classes (timm num_classes=10)",
                        "input 32x32 (cifar10); model designed for 224x224"]
    calls.clear()
    lm = load_model("timm:vit", 10, input_shape=(3, 32, 32))
    assert calls[-1] == ("vit", False, 10, {"img_size": (32, 32)})
    assert "created with img_size=32x32 (fixed-input-size model)" in lm.notes
    with pytest.raises(ConfigError, match="unknown timm model 'cnx'; did you mean cnn"):
        load_model("timm:cnx", 10)


def test_fake_torchvision_gets_weights_none(monkeypatch):
    calls = []
    models = types.ModuleType("torchvision.models")

    def get_model(name, **kwargs):
        calls.append((name, kwargs))
        return _tiny(kwargs["num_classes"])

    models.get_model = get_model
    models.list_models = lambda module=None: ["resnet18", "googlenet"] + ([] if module else ["fasterrcnn"])

    class _Weights:
        meta = {"categories": ["c"] * 1000}

        def transforms(self):
            return types.SimpleNamespace(crop_size=[224])

    models.get_model_weights = lambda name: types.SimpleNamespace(DEFAULT=_Weights())
    fake = types.ModuleType("torchvision")
    fake.models = models
    monkeypatch.setitem(sys.modules, "torchvision", fake)
    lm = load_model("torchvision:googlenet", 10, input_shape=(3, 32, 32))
    assert calls == [("googlenet", {"weights": None, "num_classes": 10, "aux_logits": False})]
    assert any("aux_logits=False" in n for n in lm.notes)
    assert "classifier head replaced: 1000 -> 10 classes (torchvision num_classes=10)" in lm.notes
    with pytest.raises(ConfigError, match="'fasterrcnn' is not a classification model"):
        load_model("torchvision:fasterrcnn", 10)


# --------------------------------------------------------------------------- ranking


def test_rank_by_params_and_timings(models_py, batch):
    x, y = batch
    specs = [f"{models_py}:small", f"{models_py}:big"]
    loaded = {s: (lambda s=s: load_model(s, 10, input_shape=(3, 8, 8))) for s in specs}
    result = rank_models(loaded, x, y, ["params", "synflow"])
    f = result.frame
    assert list(f["model"]) == specs  # input order kept
    assert list(f.columns[:4]) == ["model", "params", "flops", "synflow"]
    sizes = [n_params(load_model(s, 10, input_shape=(3, 8, 8)).model) for s in specs]
    assert list(f["params"]) == sizes
    assert sizes[1] > sizes[0] and list(f["rank_params"]) == [2, 1]
    assert list(result.sorted("params")["model"]) == specs[::-1]
    assert f.loc[1, "notes"].startswith("classifier head replaced: 1000 -> 10")
    assert set(result.timings.columns) == {"load", "params", "flops", "synflow"}
    assert (result.timings >= 0).all().all() and (f["seconds"] > 0).all()
    assert result.higher_is_better == {"params": True, "synflow": True}


# TupleNet's batched GradSign pass fails first; the fallback warning is expected.
@pytest.mark.filterwarnings("ignore::gradsign.proxies.engine.GradSignFallbackWarning")
def test_failing_model_gets_nan_and_error_not_a_crash(batch):
    x, y = batch
    good = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))

    def broken_factory():
        raise RuntimeError("cannot build")

    result = rank_models({"good": good, "tuple": TupleNet(), "broken": broken_factory}, x, y,
                         "params,snip,gradsign")
    f = result.frame.set_index("model")
    assert f.loc["tuple", "params"] == n_params(TupleNet())
    assert math.isnan(f.loc["tuple", "snip"]) and math.isnan(f.loc["tuple", "gradsign"])
    assert "snip" in result.errors["tuple"] and "returned tuple" in result.errors["tuple"]["snip"]
    assert "params" not in result.errors["tuple"]
    assert f.loc["broken"].isna()[["params", "snip", "gradsign"]].all()
    assert result.errors["broken"] == {"load": "RuntimeError: cannot build"}
    # failed models are unranked; the good one still ranks first on snip
    assert f.loc["good", "rank_snip"] == 1 and f["rank_snip"].isna().sum() == 2
    # equal scores share the best rank
    assert f.loc["good", "rank_params"] == f.loc["tuple", "rank_params"] == 1
    assert f.loc["broken", "rank_params"] is pd.NA
    doc = result.to_dict()
    json.dumps(doc, allow_nan=False)  # NaN became None
    assert doc["models"][1]["snip"] is None
    assert doc["models"][1]["nonfinite"] == {"flops": "nan", "snip": "nan", "gradsign": "nan"}  # which None was which
    assert "nonfinite" not in doc["models"][0]


def test_api_on_modules_never_modifies_them(batch):
    x, y = batch
    wide = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 1000))
    before = {k: v.clone() for k, v in wide.state_dict().items()}
    result = gradsign.rank_models({"wide": wide, "loaded": LoadedModel("x", _tiny(10), ["given note"])},
                                  x, y, ["params"], num_classes=10)
    assert wide[-1].out_features == 1000
    assert all(torch.equal(before[k], v) for k, v in wide.state_dict().items())
    f = result.frame.set_index("model")
    assert f.loc["wide", "params"] == 3 * 8 * 8 * 10 + 10  # scored on the adapted copy
    assert "classifier head replaced: 1000 -> 10 classes" in f.loc["wide", "notes"]
    assert f.loc["loaded", "notes"] == "given note"
    # Module.to works in place: moving to another device must happen on a copy
    result = rank_models({"wide": wide}, x, y, ["params"], device="meta")
    assert wide[-1].weight.device.type == "cpu" and result.frame.loc[0, "params"] == n_params(wide)


def test_callables_are_created_under_the_seed(batch):
    x, y = batch
    seen = []

    def make():
        seen.append(torch.randn(1).item())
        return _tiny(10)

    state = torch.get_rng_state()
    rank_models({"a": make, "b": make}, x, y, ["params"], seed=5)
    assert seen[0] == seen[1]
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG stream is untouched


def test_bad_proxy_or_options_fail_before_scoring(batch):
    x, y = batch
    with pytest.raises(ConfigError, match="unknown proxy"):
        rank_models({"m": _tiny(10)}, x, y, ["nope"])
    with pytest.raises(ConfigError, match="options given for proxies not requested: snip"):
        rank_models({"m": _tiny(10)}, x, y, ["params"], options={"snip": {}})
    with pytest.raises(ConfigError, match="no model"):
        rank_models({}, x, y, ["params"])


# --------------------------------------------------------------------------- CLI


@pytest.fixture()
def fake_cifar(monkeypatch):
    """A 40-image in-memory CIFAR-10 test split instead of decoding the real one."""
    from gradsign.data import images

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(40, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(40, dtype=np.int64) % 10
    fake = images.ImageSet("cifar10", "test", imgs, labels)
    monkeypatch.setattr(images, "load_image_set", lambda *a, **k: fake)


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, " ".join(out.err.split())  # rich wraps stderr at 80 columns


def test_cli_table_json_csv(models_py, fake_cifar, capsys, tmp_path):
    specs = [f"{models_py}:small", f"{models_py}:big"]
    code, out, err = run(["rank", *specs, "--proxies", "params,synflow", "--batch-size", "8", "--split", "test"], capsys)
    assert code == 0, err
    assert "#params" in out and "classifier head replaced: 1000 -> 10 classes" in out and "cifar10 test split" in out
    assert out.index(":big") < out.index(":small")  # sorted by the first proxy's rank
    assert "[1/2]" in err

    code, out, err = run(["rank", *specs, "--proxies", "params", "--batch-size", "8", "--format", "json",
                          "--sort-by", "none"], capsys)
    doc = json.loads(out)
    assert [m["model"] for m in doc["models"]] == specs
    assert doc["models"][1]["rank_params"] == 1 and doc["dataset"] == "cifar10" and "seconds" in doc

    dest = tmp_path / "out" / "r.csv"
    code, out, err = run(["rank", *specs, "--proxies", "params", "--batch-size", "8", "--format", "csv",
                          "--output", str(dest)], capsys)
    assert code == 0 and dest.read_text().startswith("model,params,flops,rank_params,seconds,notes,error")


def test_cli_image_size_resizes_the_batch(models_py, fake_cifar, capsys):
    code, out, err = run(["rank", f"{models_py}:small", "--proxies", "params", "--batch-size", "4",
                          "--image-size", "16", "--format", "json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["input_shape"] == [3, 16, 16] and "resized to 16x16 (bilinear)" in doc["data"]
    assert doc["models"][0]["flops"] == pytest.approx(2 * 16 * 16 * 4 * 27 + 2 * 4 * 10)


@pytest.mark.parametrize(
    "args, needle",
    [(["keras:resnet"], "unknown prefix"), (["nope.py:f"], "no such file"), (["MODELS:missing"], "has no 'missing'"),
     (["MODELS:small", "--proxies", "nope"], "unknown proxy"), (["MODELS:small", "--proxies", "params", "--sort-by", "snip"], "--sort-by"),
     (["MODELS:small", "MODELS:small"], "given twice")],
)
def test_cli_bad_specs_exit_2(args, needle, models_py, fake_cifar, capsys):
    args = [a.replace("MODELS", str(models_py)) for a in args]
    code, _, err = run(["rank", *args, "--batch-size", "8"], capsys)
    assert code == 2 and needle in err and "Traceback" not in err


def test_cli_timm_missing_exit_2(monkeypatch, fake_cifar, capsys):
    monkeypatch.setitem(sys.modules, "timm", None)
    code, _, err = run(["rank", "timm:resnet18"], capsys)
    assert code == 2 and "timm is not installed" in err and "pip install timm" in err


def test_lazy_export():
    assert gradsign.rank_models is rank_mod.rank_models and gradsign.rank is rank_mod.rank
    # model loading moved to gradsign.models; the old import path still works
    assert rank_mod.load_model is load_model and rank_mod.adapt_head is adapt_head


def test_a_list_of_modules_is_told_to_be_a_dict(fake_cifar):
    import gradsign

    with pytest.raises(ConfigError, match=r"models given as objects \(Linear\) need names: pass a dict"):
        gradsign.rank([nn.Linear(2, 2)], proxies=["params"], batch_size=8)  # was "unknown prefix 'Linear(...'"


def test_an_ensemble_ranks_only_the_models_that_were_built(batch):
    x, y = batch

    def broken():
        raise RuntimeError("cannot build")

    small = lambda: nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))  # noqa: E731
    wide = lambda: nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, 10))  # noqa: E731
    with_broken = rank_models({"small": small, "wide": wide, "broken": broken}, x, y, "synflow,params,synflow+params")
    alone = rank_models({"small": small, "wide": wide}, x, y, "synflow,params,synflow+params")
    f, g = with_broken.frame.set_index("model"), alone.frame.set_index("model")
    assert math.isnan(f.loc["broken", "synflow+params"]) and f.loc["broken", "rank_synflow+params"] is pd.NA
    for model in ("small", "wide"):  # the broken model moved nobody's value
        assert f.loc[model, "synflow+params"] == g.loc[model, "synflow+params"]


def test_an_ensemble_with_a_member_that_scored_no_model_ranks_none(batch):
    x, y = batch
    conv = lambda: nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))  # noqa: E731
    # meco needs feature maps: it fails on every one of these models
    result = rank_models({"a": conv, "b": conv}, x, y, "params,meco,params+meco")
    f = result.frame.set_index("model")
    assert f["params+meco"].isna().all() and f["rank_params+meco"].isna().all()
    assert "member meco has no finite score on any model" in result.errors["a"]["params+meco"]
    assert "params+meco: member meco" in f.loc["b", "error"]


def test_cli_refuses_to_write_over_a_model_source_file_and_records_its_threads(models_py, fake_cifar, capsys,
                                                                                tmp_path):
    before = models_py.read_text()
    code, _, err = run(["rank", f"{models_py}:small", "--proxies", "params", "--batch-size", "8", "--format", "json",
                        "--output", str(models_py)], capsys)
    assert code == 2 and "is the model" in err and "would replace it" in err
    assert models_py.read_text() == before  # was replaced by the results table
    out = tmp_path / "r.json"
    code, _, err = run(["rank", f"{models_py}:small", "--proxies", "params", "--batch-size", "8", "--threads", "2",
                        "--format", "json", "--output", str(out)], capsys)
    assert code == 0, err
    assert json.loads(out.read_text())["provenance"]["threads"] == 2  # was torch's restored setting, 1


def test_one_model_spelled_two_ways_is_refused(models_py, monkeypatch):
    import gradsign

    monkeypatch.chdir(models_py.parent)
    with pytest.raises(ConfigError, match=r"model './models.py:small' is 'models.py:small' again"):
        gradsign.rank(["models.py:small", "./models.py:small"], dataset="cifar10", proxies="params")
