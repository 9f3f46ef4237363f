"""Loader of NASLib's zero-cost JSON files: key conversion, table layout, validation errors."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from gradsign.benchmarks.naslib_zc import (
    NASLIB_NB201_OPS,
    load_naslib_zc,
    naslib_zc_datasets,
    nb201_from_naslib,
)
from gradsign.errors import ArchError, ConfigError, DataError
from gradsign.spaces.darts import parse_darts
from gradsign.spaces.nb101 import NB101Arch
from gradsign.spaces.nb201 import parse_nb201

NB101_KEY = (
    "(0, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, "
    "0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 4, 2, 4, 4, 3, 1)"
)
NB301_KEY = "[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], [(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]"


def scored(value: float, seconds: float = 0.5) -> dict:
    return {"score": value, "time": seconds}


def nb201_record(key: str, acc: float = 90.0, **overrides) -> dict:
    rec = {"idx": "1", "arch": key, "val_accuracy": acc, "synflow": scored(1.5), "snip": scored(2.0, 0.25)}
    rec.update(overrides)
    return rec


def write(tmp_path, doc, name="zc.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


# --------------------------------------------------------------------------- key conversion


def test_nb201_key_conversion_follows_naslib_edge_order():
    # NASLib edges: 0->1, 0->2, 0->3, 1->2, 1->3, 2->3; ops [skip, none, conv3, conv1, pool].
    arch = nb201_from_naslib("(0, 2, 3, 2, 3, 1)")
    assert arch.to_string() == (
        "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"
    )
    assert nb201_from_naslib((0, 2, 3, 2, 3, 1)) == arch
    # Each position lands on its own edge.
    for pos, expected in enumerate(["|{}~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                                    "|none~0|+|{}~0|none~1|+|none~0|none~1|none~2|",
                                    "|none~0|+|none~0|none~1|+|{}~0|none~1|none~2|",
                                    "|none~0|+|none~0|{}~1|+|none~0|none~1|none~2|",
                                    "|none~0|+|none~0|none~1|+|none~0|{}~1|none~2|",
                                    "|none~0|+|none~0|none~1|+|none~0|none~1|{}~2|"]):
        key = [1] * 6
        key[pos] = 4
        assert nb201_from_naslib(key) == parse_nb201(expected.format("avg_pool_3x3"))
    assert NASLIB_NB201_OPS[1] == "none"


@pytest.mark.parametrize("key", ["(0, 1, 2)", "(0, 1, 2, 3, 4, 5)", "0, 1, 2, 3, 4, 0", "(a, b)", 7])
def test_bad_nb201_keys(key):
    with pytest.raises(ArchError):
        nb201_from_naslib(key)


# --------------------------------------------------------------------------- table layout (synthetic files)


def test_nb201_table_layout(tmp_path):
    k1, k2 = "(0, 2, 3, 2, 3, 1)", "(1, 1, 1, 1, 1, 1)"
    doc = {"cifar10": {k1: nb201_record(k1, 91.0), k2: nb201_record(k2, 10.0, synflow=scored(-math.inf))},
           "ImageNet16-120": {k1: nb201_record(k1, 30.0)}}
    path = write(tmp_path, doc)
    df = load_naslib_zc("nb201", "cifar10", path=path)
    assert list(df.columns) == ["arch", "val_accuracy", "snip", "synflow", "snip_time", "synflow_time", "naslib_key"]
    assert df["arch"].tolist() == [nb201_from_naslib(k1).to_string(), nb201_from_naslib(k2).to_string()]
    assert df["val_accuracy"].tolist() == [91.0, 10.0]
    assert df["snip_time"].tolist() == [0.25, 0.25]
    assert df["synflow"].iloc[1] == -math.inf  # kept as NASLib wrote it
    assert df.attrs == {"space": "nb201", "dataset": "cifar10", "source": str(path)}
    assert load_naslib_zc("NAS-Bench-201", "imagenet16-120", path=path).attrs["dataset"] == "ImageNet16-120"
    assert naslib_zc_datasets("nb201", path=path) == ["cifar10", "ImageNet16-120"]


def test_missing_proxy_in_one_record_is_nan(tmp_path):
    k1, k2 = "(0, 2, 3, 2, 3, 1)", "(1, 1, 1, 1, 1, 1)"
    rec2 = nb201_record(k2)
    del rec2["synflow"]
    df = load_naslib_zc("nb201", path=write(tmp_path, {"cifar10": {k1: nb201_record(k1), k2: rec2}}))
    assert math.isnan(df["synflow"].iloc[1]) and math.isnan(df["synflow_time"].iloc[1])
    assert df["synflow"].iloc[0] == 1.5


def test_nb101_file_layout_with_wrapper_and_bare_scores(tmp_path):
    doc = {"nasbench101": {"cifar10": {NB101_KEY: {"val_accuracy": 92.5, "params": 8.55553, "snip": 3.0}}}}
    df = load_naslib_zc("nb101", path=write(tmp_path, doc))
    assert df["arch"].iloc[0] == NB101Arch.from_naslib(NB101_KEY).to_string()
    assert NB101Arch.from_string(df["arch"].iloc[0]).spec_hash() == "00005c142e6f48ac74fdcf73e3439874"
    assert df["params"].iloc[0] == 8.55553 and math.isnan(df["params_time"].iloc[0])
    assert df["naslib_key"].iloc[0] == NB101_KEY


def test_nb301_file_layout(tmp_path):
    doc = {"cifar10": {NB301_KEY: {"idx": "534", "arch": NB301_KEY, "val_accuracy": 93.3, "params": scored(0.856298)}}}
    for name in ("darts", "nb301"):
        df = load_naslib_zc(name, path=write(tmp_path, doc))
        assert df["arch"].iloc[0] == parse_darts(NB301_KEY).to_string()
        assert df.attrs["space"] == "darts"


# --------------------------------------------------------------------------- validation errors


def _one_line(exc: BaseException, *fragments: str) -> None:
    msg = str(exc)
    assert "\n" not in msg
    for f in fragments:
        assert f in msg, (f, msg)


@pytest.mark.parametrize(
    "doc, fragments",
    [
        ([1, 2], ["expected a JSON object"]),
        ({}, ["expected a JSON object"]),
        ({"cifar10": []}, ["dataset 'cifar10' must map"]),
        ({"cifar100": {"(0, 0, 0, 0, 0, 0)": {}}}, ["no dataset 'cifar10'", "cifar100"]),
        ({"cifar10": {"(0, 0, 0, 0, 0, 9)": {"val_accuracy": 1, "a": 1}}}, ["(0, 0, 0, 0, 0, 9)", "not a valid nb201"]),
        ({"cifar10": {"(0, 0, 0, 0, 0, 0)": []}}, ["is a list"]),
        ({"cifar10": {"(0, 0, 0, 0, 0, 0)": {"val_accuracy": "high", "a": 1}}}, ["val_accuracy"]),
        ({"cifar10": {"(0, 0, 0, 0, 0, 0)": {"a": 1}}}, ["val_accuracy"]),
        ({"cifar10": {"(0, 0, 0, 0, 0, 0)": {"val_accuracy": 1}}}, ["no proxy scores"]),
        ({"cifar10": {"(0, 0, 0, 0, 0, 0)": {"val_accuracy": 1, "snip": "x"}}}, ["'snip' score"]),
        ({"cifar10": {"(0, 0, 0, 0, 0, 0)": {"val_accuracy": 1, "snip": True}}}, ["'snip' score"]),
        ({"cifar10": {"(0, 0, 0, 0, 0, 0)": {"val_accuracy": 1, "snip": {"score": 1}}}}, ["'snip' must be"]),
        ({"cifar10": {"(0, 0, 0, 0, 0, 0)": {"val_accuracy": 1, "snip": scored(1, -2)}}}, ["time"]),
        ({"cifar10": {"(0, 0, 0, 0, 0, 0)": {"val_accuracy": 1, "arch": "(1, 1, 1, 1, 1, 1)", "snip": 1}}},
         ["differs from its key"]),
    ],
)
def test_structural_problems_raise_data_error_naming_the_file(tmp_path, doc, fragments):
    path = write(tmp_path, doc)
    with pytest.raises(DataError) as info:
        load_naslib_zc("nb201", "cifar10", path=path)
    _one_line(info.value, str(path), *fragments)


def test_unreadable_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"cifar10": {')
    with pytest.raises(DataError) as info:
        load_naslib_zc("nb201", path=bad)
    _one_line(info.value, str(bad), "not valid JSON")
    with pytest.raises(DataError) as info:
        load_naslib_zc("nb201", path=tmp_path / "missing.json")
    _one_line(info.value, "missing.json", "not found")
    # A valid DARTS key is not a valid NB101 key.
    path = write(tmp_path, {"nasbench101": {"cifar10": {NB301_KEY: {"val_accuracy": 1, "snip": 1}}}})
    with pytest.raises(DataError, match="not a valid nb101"):
        load_naslib_zc("nb101", path=path)


def test_missing_data_dir_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError) as info:
        load_naslib_zc("nb101", data_dir=tmp_path)
    _one_line(info.value, "zc_nasbench101.json")


@pytest.mark.parametrize("space", ["nb999", "transbench101"])
def test_unknown_spaces(space):
    with pytest.raises(ConfigError):
        load_naslib_zc(space, path="unused.json")


def test_dataset_must_be_a_string(tmp_path):
    with pytest.raises(ConfigError):
        load_naslib_zc("nb201", 10, path=tmp_path / "x.json")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the real files


@pytest.mark.data
def test_real_files(data_dir):
    proxies = {"epe_nas", "fisher", "flops", "grad_norm", "grasp", "jacov", "l2_norm", "params", "plain", "snip", "synflow"}
    try:
        tables = {
            ("nb201", ds): load_naslib_zc("nb201", ds, data_dir=data_dir)
            for ds in ("cifar10", "cifar100", "ImageNet16-120")
        }
        tables[("nb101", "cifar10")] = load_naslib_zc("nb101", data_dir=data_dir)
        tables[("darts", "cifar10")] = load_naslib_zc("nb301", data_dir=data_dir)
    except DataError as exc:
        pytest.skip(f"NASLib files unavailable: {exc}")
    sizes = {k: len(v) for k, v in tables.items()}
    assert sizes == {("nb201", "cifar10"): 725, ("nb201", "cifar100"): 725, ("nb201", "ImageNet16-120"): 724,
                     ("nb101", "cifar10"): 500, ("darts", "cifar10"): 725}
    for (space, _), df in tables.items():
        assert proxies <= set(df.columns) and df["val_accuracy"].notna().all()
        assert df["naslib_key"].is_unique
        assert (space == "nb101") == ("nwot" not in df.columns)
    # NB101 keys are unpruned specs: 500 rows, 292 distinct cells.
    nb101 = tables[("nb101", "cifar10")]
    assert nb101["arch"].map(lambda s: NB101Arch.from_string(s).spec_hash()).nunique() == 292
    # NB201 table agrees with the arch strings of the benchmark (all distinct, parseable).
    c10 = tables[("nb201", "cifar10")]
    assert c10["arch"].is_unique and c10["arch"].map(parse_nb201).notna().all()
    assert c10["synflow"].isna().sum() == 1  # one record of NASLib's file lacks synflow
    assert isinstance(c10, pd.DataFrame)


# --------------------------------------------------------------------------- ground truth of sampled spaces


def test_nb101_ground_truth_merges_isomorphic_and_repeated_specs(tmp_path, monkeypatch):
    """Two NASLib keys that are isomorphic graphs (same benchmark hash) and a repeated
    key are one cell: one representative, mean accuracy, any of its strings accepted."""
    import gradsign.benchmarks.naslib_zc as zc
    from gradsign.workflows.ground_truth import ground_truth

    a = "01100,00001,00011,00001,00000|input,conv3x3-bn-relu,conv1x1-bn-relu,conv1x1-bn-relu,output"
    b = "01100,00011,00001,00001,00000|input,conv1x1-bn-relu,conv3x3-bn-relu,conv1x1-bn-relu,output"
    other = NB101Arch.from_naslib(NB101_KEY).to_string()
    assert a != b and NB101Arch.from_string(a).spec_hash() == NB101Arch.from_string(b).spec_hash()
    frame = pd.DataFrame({"arch": [a, other, b, other], "val_accuracy": [90.0, 80.0, 92.0, 82.0], "snip": [1.0] * 4})
    frame.attrs.update(space="nb101", dataset="cifar10", source=str(tmp_path / "zc_nasbench101.json"))
    monkeypatch.setattr(zc, "load_naslib_zc", lambda *args, **kwargs: frame.copy())

    truth = ground_truth("nb101", "cifar10")
    assert truth.archs == [a, other]
    assert "4 records, 2 distinct cells" in truth.description
    assert truth.target == "valid"  # the file's only accuracy, whatever --target asked for
    with pytest.raises(ConfigError, match="unknown target"):
        ground_truth("nb101", "cifar10", target="train")
    assert truth.accuracy([a, b, other]).tolist() == [91.0, 91.0, 81.0]
    with pytest.raises(ConfigError, match="no ground truth"):
        truth.accuracy(["0001,0001,0001,0000|input,conv1x1-bn-relu,conv3x3-bn-relu,output"])


def test_score_ratios_skip_failures_zeros_and_non_finite():
    from gradsign.benchmarks.naslib_zc import NASLIB_FAIL, score_ratios

    ours = [2.0, 4.0, 9.0, float("nan"), 5.0, 1.0]
    theirs = [1.0, 1.0, 3.0, 1.0, NASLIB_FAIL, 0.0]
    assert score_ratios(ours, theirs) == (3.0, 2.0, 4.0)  # 2/1, 4/1, 9/3
    assert score_ratios([1.0], [float("-inf")]) is None
