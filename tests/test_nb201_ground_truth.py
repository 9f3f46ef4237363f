"""NB201 ground truth table: the real shared CSVs (skipped without them) and tiny fakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from gradsign.benchmarks import DATASETS, NUM_ARCHS, NB201Table, acc_column
from gradsign.benchmarks.nb201 import COLUMNS
from gradsign.errors import ArchError, ConfigError, DataError

ARCH0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
ARCH1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


# =========================================================================== real data


@pytest.fixture(scope="module")
def nb201_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("nb201-cache")


@pytest.fixture(scope="module")
def table(data_dir, nb201_cache) -> NB201Table:
    t = NB201Table.load(data_dir, cache=nb201_cache)
    assert not t.from_cache  # a fresh cache dir: built from the CSVs
    return t


@pytest.mark.data
def test_full_load(table):
    assert len(table) == NUM_ARCHS
    assert table.arch(0) == ARCH0 and table.arch(1) == ARCH1
    assert [c.name for c in COLUMNS] == list(table.columns)
    for spec in COLUMNS:
        assert table.column(spec.name).dtype == np.dtype(spec.dtype)
    # What the CSVs provide is complete; per-seed runs and NASWOT scores have documented gaps.
    complete = [acc_column("cifar10-valid", s, 200) for s in ("train", "valid", "test")] + [
        acc_column(d, "test", 200) for d in ("cifar10", "cifar100", "ImageNet16-120")
    ] + ["params_m", "cifar10-valid/train_time_epoch", "cifar10/test_acc@200/seed_a"]
    for name in complete:
        assert np.isfinite(table.column(name)).all(), name
    assert np.isfinite(table.column("cifar10/test_acc@200/seed_b")).sum() == 13_400
    assert np.isfinite(table.column("cifar10/test_acc@200/seed_c")).sum() == 7_961
    assert np.isnan(table.column("naswot_score")).sum() == 341
    assert not table.notes


@pytest.mark.data
def test_known_rows(table):
    r0 = table.row(0)
    assert r0["arch"] == ARCH0 and r0["index"] == 0
    assert r0["cifar10-valid/test_acc@200"] == 81.52
    assert r0["cifar10-valid/valid_acc@200"] == 81.98266666
    assert r0["cifar10-valid/train_acc@200"] == 88.91866666
    assert r0["cifar10/test_acc@200"] == 85.86333333333334
    assert r0["cifar100/test_acc@200"] == 52.913333294677734
    assert r0["ImageNet16-120/test_acc@200"] == 26.6333332739936
    assert r0["cifar10/test_acc@12"] == 69.55
    assert r0["cifar10-valid/valid_acc@12"] == 63.36399998046875
    assert r0["ImageNet16-120/valid_acc@12"] == 18.466666661580405
    assert [r0[f"cifar10/test_acc@200/seed_{s}"] for s in "abc"] == [85.62, 86.18, 85.79]
    assert r0["params_m"] == 0.129306
    assert r0["naswot_score"] == -776.4428597251838
    assert r0["cifar10-valid/train_time_epoch"] == pytest.approx(7.221092999, rel=1e-7)
    assert table.train_time(archs=0, total=True) == pytest.approx(1444.2186, rel=1e-7)
    assert table.train_time(archs=0, epochs=12, total=True) == pytest.approx(12 * 7.221092999, rel=1e-7)
    r1 = table.row(ARCH1)
    assert r1["index"] == 1
    assert r1["cifar10/test_acc@200"] == 93.66000000000001
    assert r1["cifar100/test_acc@200"] == 70.29333326822916
    assert r1["cifar10-valid/test_acc@200"] == 90.51333333
    assert r1["naswot_score"] == -279.34189317886865


@pytest.mark.data
def test_maxima_match_readme(table):
    c10v_test = table.accuracy("cifar10-valid")
    c10v_valid = table.accuracy("cifar10-valid", "valid")
    assert round(c10v_test.max(), 2) == 91.52 and int(np.argmax(c10v_test)) == 1459
    assert round(c10v_valid.max(), 2) == 91.61 and int(np.argmax(c10v_valid)) == 6111
    assert round(table.accuracy("cifar10").max(), 2) == 94.37
    assert round(table.accuracy("cifar100").max(), 2) == 73.51
    assert round(table.accuracy("ImageNet16-120").max(), 2) == 47.31
    for ds in DATASETS:
        acc = table.accuracy(ds)
        assert acc.min() >= 0 and acc.max() <= 100


@pytest.mark.data
def test_query_by_arch_and_index_agree(table):
    rng = np.random.default_rng(0)
    idx = rng.choice(NUM_ARCHS, size=64, replace=False)
    archs = [table.arch(int(i)) for i in idx]
    assert [table.index_of(a) for a in archs] == idx.tolist()
    assert np.array_equal(table.indices(archs), idx)
    for ds in DATASETS:
        by_idx = table.accuracy(ds, archs=idx)
        by_arch = table.accuracy(ds, archs=archs)
        assert by_idx.dtype == np.float64 and np.array_equal(by_idx, by_arch)
        assert np.array_equal(by_idx, table.accuracy(ds)[idx])
        assert table.accuracy(ds, archs=archs[0]) == by_idx[0]
    assert table.accuracy("cifar100", "valid", 12, archs=idx.tolist()).shape == (64,)
    r_i, r_a = table.row(int(idx[3])), table.row(archs[3])
    assert r_i.keys() == r_a.keys()
    assert all(r_i[k] == r_a[k] or (np.isnan(r_i[k]) and np.isnan(r_a[k])) for k in r_i)

    class Duck:  # anything with to_string(), e.g. gradsign.spaces.nb201.NB201Arch
        def to_string(self):
            return ARCH1

    assert table.index_of(Duck()) == 1
    assert table.accuracy("cifar10", archs=[Duck(), 0]).tolist() == [93.66000000000001, 85.86333333333334]


@pytest.mark.data
def test_noise_ceiling(table):
    nc = table.noise_ceiling()
    assert nc.n_archs == 13_400
    assert round(nc.spearman, 3) == 0.986
    assert round(nc.kendall, 3) == 0.905
    assert set(nc.pairs) == {("seed_a", "seed_b"), ("seed_a", "seed_c"), ("seed_b", "seed_c")}
    assert nc.pairs[("seed_a", "seed_c")][2] == 7_961


@pytest.mark.data
def test_per_seed_quirk(table):
    # Documented: per-seed runs (NB201 v1.1) match the NATS-Bench means only where all three runs exist.
    runs = table.per_seed()
    n_runs = np.isfinite(runs).sum(axis=1)
    differs = np.abs(np.nanmean(runs, axis=1) - table.accuracy("cifar10")) > 1e-6
    assert not differs[n_runs == 3].any()
    assert differs.sum() == 2_416


@pytest.mark.data
def test_warm_load_uses_cache(table, data_dir, nb201_cache):
    warm = NB201Table.load(data_dir, cache=nb201_cache)
    assert warm.from_cache and warm.cache_path.parent == nb201_cache
    assert warm.archs == table.archs
    for name in table.columns:
        np.testing.assert_array_equal(warm.column(name), table.column(name))


@pytest.mark.data
def test_corrupted_cache_is_rebuilt(table, data_dir, nb201_cache):
    NB201Table.load(data_dir, cache=nb201_cache)
    (cache_file,) = nb201_cache.glob("nb201-csv-*.npz")
    cache_file.write_bytes(b"not a zip file at all")
    rebuilt = NB201Table.load(data_dir, cache=nb201_cache)
    assert not rebuilt.from_cache
    np.testing.assert_array_equal(rebuilt.accuracy("cifar100"), table.accuracy("cifar100"))
    assert NB201Table.load(data_dir, cache=nb201_cache).from_cache


@pytest.mark.data
def test_frame(table):
    frame = table.frame
    assert frame.shape == (NUM_ARCHS, 1 + len(COLUMNS))
    assert frame.index.name == "index" and frame["arch"].iloc[1] == ARCH1
    assert frame["cifar100/test_acc@200"].iloc[0] == 52.913333294677734


@pytest.mark.data
def test_name_errors(table):
    with pytest.raises(ConfigError, match="valid: cifar10-valid, cifar10, cifar100, ImageNet16-120"):
        table.accuracy("imagenet")
    with pytest.raises(ConfigError, match="cifar10-valid"):
        table.accuracy("cifar10", "valid")
    with pytest.raises(ConfigError, match="epochs"):
        table.accuracy("cifar10", epochs=100)
    with pytest.raises(ConfigError, match="unknown target"):
        table.accuracy("cifar10", "holdout")
    # Exists in NB201 but not in the CSVs: a DataError pointing to the official file.
    with pytest.raises(DataError, match="official"):
        table.accuracy("cifar100", "valid", 200)
    assert table.accuracy("ImageNet16-120", "val", 12, archs=0) == 18.466666661580405
    assert table.accuracy("CIFAR100", archs=0) == 52.913333294677734


# =========================================================================== fake data

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def arch_string(ops: tuple[int, ...]) -> str:
    o = [OPS[k] for k in ops]
    return f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"


FAKE_ARCHS = [arch_string(ops) for ops in ((3, 3, 4, 1, 3, 1), (0, 1, 2, 3, 4, 0), (2, 2, 2, 2, 2, 2))]

OCHOA_HEADER = ("index,sol,name,C,N,arch_str,num_classes,index2,train-loss,train-accuracy,train-per-time,"
                "train-all-time,valid-loss,valid-accuracy,valid-per-time,valid-all-time,test-loss,test-accuracy,"
                "test-per-time,test-all-time").split(",")


class FakeData:
    """The five CSVs in their real formats, as editable rows of strings."""

    def __init__(self, n: int = 3):
        archs = FAKE_ARCHS[:n]
        self.files: dict[str, tuple[list[str], list[list[str]]]] = {}
        self.files["ochoa_cifar10_avg.csv"] = (list(OCHOA_HEADER), [
            [str(i), "123", "infer.tiny", "16", "5", a, "10", str(i), "0.3", f"{90 + i}.5", f"{7 + i}.25",
             f"{200 * (7 + i) + 50}", "0.5", f"{80 + i}.25", "2.5", "500", "0.55", f"{81 + i}.75", "1.0", "200"]
            for i, a in enumerate(archs)])
        self.files["vtao_nats_bench.csv"] = (
            "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,"
            "ArchitectureString,UniqueString".split(","),
            [[f"{85 + i}.5", f"{50 + i}.25", f"{25 + i}.125", a, f"(0)@op{i}"] for i, a in enumerate(archs)])
        self.files["nb201_12epoch_accuracies.csv"] = (
            "index,arch_str,cifar10-test,cifar10-val,cifar100-test,cifar100-val,imagenet-test,imagenet-val".split(","),
            [[str(i), a, f"{70 + i}", f"{60 + i}", f"{30 + i}", f"{31 + i}", f"{15 + i}", f"{16 + i}"]
             for i, a in enumerate(archs)])
        self.files["nb201_cifar10_per_seed_test.csv"] = (
            "index,arch_str,seed_a,seed_b,seed_c".split(","),
            [[str(i), a, f"{85 + i}.5", f"{85 + i}.25" if i != 2 else "", f"{85 + i}.75" if i == 0 else ""]
             for i, a in enumerate(archs)])
        self.files["nb201_naswot_reference.csv"] = (
            "index,arch_str,params,naswot_score,test_top1,valid_top1,valid_test_top1".split(","),
            [[str(i), a, f"0.{i + 1}5", "" if i == 1 else f"-{300 + i}.5", "85", "80", "81"]
             for i, a in enumerate(archs)])

    def cell(self, file: str, row: int, column: str, value: str) -> None:
        header, rows = self.files[file]
        rows[row][header.index(column)] = value

    def drop_column(self, file: str, column: str) -> None:
        header, rows = self.files[file]
        k = header.index(column)
        del header[k]
        for r in rows:
            del r[k]

    def write(self, root: Path) -> Path:
        d = root / "nb201"
        d.mkdir(parents=True, exist_ok=True)
        for name, (header, rows) in self.files.items():
            text = "\n".join(",".join(r) for r in [header, *rows])
            # Like the real ochoa file: no newline after its last row.
            (d / name).write_text(text if name.startswith("ochoa") else text + "\n")
        return root


def load_fake(root: Path, **kw) -> NB201Table:
    return NB201Table.load(root, cache=False, expected_rows=kw.pop("expected_rows", 3), **kw)


def test_fake_load_values(tmp_path):
    root = FakeData().write(tmp_path)
    t = load_fake(root)
    assert len(t) == 3 and t.archs == FAKE_ARCHS
    assert t.accuracy("cifar10-valid").tolist() == [81.75, 82.75, 83.75]
    assert t.accuracy("cifar10-valid", "valid").tolist() == [80.25, 81.25, 82.25]
    assert t.accuracy("cifar10-valid", "train").tolist() == [90.5, 91.5, 92.5]
    assert t.accuracy("cifar10").tolist() == [85.5, 86.5, 87.5]
    assert t.accuracy("ImageNet16-120", archs=FAKE_ARCHS[2]) == 27.125
    assert t.accuracy("cifar10", "test", 12).tolist() == [70, 71, 72]
    assert t.accuracy("cifar10-valid", "valid", 12).tolist() == [60, 61, 62]
    assert t.accuracy("cifar100", "valid", 12).tolist() == [31, 32, 33]
    assert t.train_time().tolist() == [7.25, 8.25, 9.25]
    seeds = t.per_seed()
    assert seeds[0].tolist() == [85.5, 85.25, 85.75]
    assert np.isnan(seeds[2, 1:]).all() and np.isnan(seeds[1, 2])
    assert np.isnan(t.row(1)["naswot_score"]) and t.row(2)["naswot_score"] == -302.5
    assert t.row(0)["params_m"] == 0.15
    assert t.source.startswith("csv: ")


def test_fake_cache_roundtrip_and_staleness(tmp_path):
    fake = FakeData()
    root = fake.write(tmp_path / "data")
    cache = tmp_path / "cache"
    first = NB201Table.load(root, cache=cache, expected_rows=3)
    again = NB201Table.load(root, cache=cache, expected_rows=3)
    assert not first.from_cache and again.from_cache
    assert again.archs == first.archs
    assert np.array_equal(again.accuracy("cifar100"), first.accuracy("cifar100"))
    # Editing a source file invalidates the cache.
    fake.cell("vtao_nats_bench.csv", 0, "CIFAR100TestAccuracy200Epochs", "12.5")
    fake.write(root)
    vtao = root / "nb201" / "vtao_nats_bench.csv"
    st = vtao.stat()
    os.utime(vtao, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    fresh = NB201Table.load(root, cache=cache, expected_rows=3)
    assert not fresh.from_cache and fresh.accuracy("cifar100", archs=0) == 12.5


def test_fake_corrupt_or_old_cache_is_rebuilt(tmp_path):
    root = FakeData().write(tmp_path / "data")
    cache = tmp_path / "cache"
    NB201Table.load(root, cache=cache, expected_rows=3)
    (path,) = cache.glob("*.npz")
    # Truncated file.
    path.write_bytes(path.read_bytes()[:100])
    t = NB201Table.load(root, cache=cache, expected_rows=3)
    assert not t.from_cache and t.accuracy("cifar10", archs=1) == 86.5
    assert NB201Table.load(root, cache=cache, expected_rows=3).from_cache
    # A readable cache in an older layout.
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"][()]))
    meta["format"] = 0
    arrays["meta"] = np.array(json.dumps(meta))
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    assert not NB201Table.load(root, cache=cache, expected_rows=3).from_cache


def test_default_cache_dir_is_used(tmp_path):
    root = FakeData().write(tmp_path / "data")
    NB201Table.load(root, expected_rows=3)
    t = NB201Table.load(root, expected_rows=3)
    assert t.from_cache
    assert t.cache_path.parent == Path(os.environ["GRADSIGN_CACHE"]) / "benchmarks"


def _error(fake: FakeData, tmp_path: Path, **kw) -> str:
    root = fake.write(tmp_path)
    with pytest.raises(DataError) as info:
        load_fake(root, **kw)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_error_missing_column(tmp_path):
    fake = FakeData()
    fake.drop_column("ochoa_cifar10_avg.csv", "test-accuracy")
    assert _error(fake, tmp_path) == "nb201/ochoa_cifar10_avg.csv: missing column test-accuracy"


def test_error_non_numeric(tmp_path):
    fake = FakeData()
    fake.cell("vtao_nats_bench.csv", 1, "CIFAR100TestAccuracy200Epochs", "abc")
    msg = _error(fake, tmp_path)
    assert msg == ("nb201/vtao_nats_bench.csv: row 1 (line 3) column CIFAR100TestAccuracy200Epochs: "
                   "'abc' is not a number")


def test_error_non_integer_index(tmp_path):
    fake = FakeData()
    fake.cell("nb201_12epoch_accuracies.csv", 2, "index", "2.5")
    assert "nb201_12epoch_accuracies.csv: row 2 (line 4) column index: '2.5' is not an integer" in _error(fake, tmp_path)


def test_error_arch_mismatch_unindexed_file(tmp_path):
    fake = FakeData()
    _, rows = fake.files["vtao_nats_bench.csv"]
    rows[1], rows[2] = rows[2], rows[1]
    msg = _error(fake, tmp_path)
    assert msg.startswith("nb201/vtao_nats_bench.csv: row 1 arch string differs from nb201_naswot_reference.csv")


def test_error_arch_mismatch_indexed_file(tmp_path):
    fake = FakeData()
    fake.cell("nb201_12epoch_accuracies.csv", 2, "arch_str", arch_string((1, 1, 1, 1, 1, 1)))
    msg = _error(fake, tmp_path)
    assert msg.startswith("nb201/nb201_12epoch_accuracies.csv: row 2 (line 4) arch string differs from "
                          "nb201_naswot_reference.csv")


def test_error_unknown_arch_in_unindexed_file(tmp_path):
    fake = FakeData()
    fake.cell("vtao_nats_bench.csv", 0, "ArchitectureString", "|bogus~0|")
    assert _error(fake, tmp_path).startswith("nb201/vtao_nats_bench.csv: row 0 arch string differs")


def test_error_malformed_arch_everywhere(tmp_path):
    fake = FakeData()
    for name, (header, rows) in fake.files.items():
        col = "ArchitectureString" if "ArchitectureString" in header else "arch_str"
        fake.cell(name, 1, col, "|conv~0|")
    assert "index 1: '|conv~0|' is not an NB201 arch string" in _error(fake, tmp_path)


def test_error_truncated_last_line(tmp_path):
    root = FakeData().write(tmp_path)
    path = root / "nb201" / "nb201_12epoch_accuracies.csv"
    text = path.read_text()
    path.write_text(text[: text.rstrip("\n").rfind(",") - 2])  # cut inside the last row
    with pytest.raises(DataError, match=r"nb201_12epoch_accuracies.csv: row 2 \(line 4\) has 7 fields, "
                                        r"expected 8 \(truncated file\?\)"):
        load_fake(root)


def test_error_missing_trailing_rows(tmp_path):
    fake = FakeData()
    del fake.files["nb201_cifar10_per_seed_test.csv"][1][-1]
    msg = _error(fake, tmp_path)
    assert msg == ("nb201/nb201_cifar10_per_seed_test.csv: ends at NB201 index 1 (2 rows, expected 3); "
                   "the file looks truncated")
    fake = FakeData()
    del fake.files["vtao_nats_bench.csv"][1][-1]
    assert "vtao_nats_bench.csv: ends at NB201 index 1" in _error(fake, tmp_path / "b")


def test_error_too_many_rows(tmp_path):
    root = FakeData().write(tmp_path)
    with pytest.raises(DataError, match="has 3 rows, expected 2"):
        load_fake(root, expected_rows=2)


def test_error_out_of_range_and_empty(tmp_path):
    fake = FakeData()
    fake.cell("nb201_12epoch_accuracies.csv", 0, "imagenet-val", "101")
    assert "row 0 (line 2) column imagenet-val: value 101.0 is outside [0, 100]" in _error(fake, tmp_path / "a")
    fake = FakeData()
    fake.cell("ochoa_cifar10_avg.csv", 1, "valid-accuracy", "")
    assert "ochoa_cifar10_avg.csv: row 1 (line 3) column valid-accuracy is empty" in _error(fake, tmp_path / "b")
    fake = FakeData()
    fake.cell("nb201_cifar10_per_seed_test.csv", 2, "seed_a", "-3")
    assert "column seed_a: value -3.0 is outside [0, 100]" in _error(fake, tmp_path / "c")


def test_error_duplicate_and_out_of_range_index(tmp_path):
    fake = FakeData()
    fake.cell("nb201_naswot_reference.csv", 2, "index", "1")
    assert "nb201_naswot_reference.csv: row 2 (line 4) index 1 appears twice" in _error(fake, tmp_path / "a")
    fake = FakeData()
    fake.cell("nb201_naswot_reference.csv", 2, "index", "7")
    assert "index 7 out of range 0..2" in _error(fake, tmp_path / "b")


def test_error_inconsistent_total_time(tmp_path):
    fake = FakeData()
    fake.cell("ochoa_cifar10_avg.csv", 0, "train-all-time", "99")
    assert "train-all-time 99.0 is not 200 x train-per-time" in _error(fake, tmp_path)


def test_error_empty_and_missing_file(tmp_path):
    root = FakeData().write(tmp_path)
    (root / "nb201" / "nb201_naswot_reference.csv").write_text("")
    with pytest.raises(DataError, match="nb201_naswot_reference.csv: file is empty"):
        load_fake(root)
    (root / "nb201" / "nb201_naswot_reference.csv").unlink()
    with pytest.raises(DataError, match="nb201_naswot_reference.csv"):
        load_fake(root)


def test_middle_row_missing_gives_nan_and_warning(tmp_path):
    fake = FakeData()
    del fake.files["nb201_cifar10_per_seed_test.csv"][1][1]  # index 1 absent, file otherwise complete
    del fake.files["vtao_nats_bench.csv"][1][1]
    root = fake.write(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = load_fake(root)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert messages[0].startswith("nb201/nb201_cifar10_per_seed_test.csv: 1 of 3 architecture rows missing "
                                  "(first: index 1)")
    assert messages[1].startswith("nb201/vtao_nats_bench.csv: 1 of 3 architecture rows missing")
    assert np.isnan(t.per_seed()[1]).all() and t.per_seed()[2, 0] == 87.5
    assert t.accuracy("cifar100").tolist()[::2] == [50.25, 52.25] and np.isnan(t.accuracy("cifar100")[1])
    assert len(t.notes) == 2
    # The warning comes back on a cached load too.
    cache = tmp_path / "cache"
    with pytest.warns(UserWarning):
        NB201Table.load(root, cache=cache, expected_rows=3)
    with pytest.warns(UserWarning, match="missing"):
        assert NB201Table.load(root, cache=cache, expected_rows=3).from_cache


def test_arch_and_index_errors(tmp_path):
    t = load_fake(FakeData().write(tmp_path))
    with pytest.raises(ArchError, match="not an NB201 arch string"):
        t.index_of("|conv~0|")
    with pytest.raises(ArchError, match="not in this table"):
        t.index_of(arch_string((4, 4, 4, 4, 4, 4)))
    with pytest.raises(ArchError, match="out of range 0..2"):
        t.arch(3)
    with pytest.raises(ArchError, match="out of range"):
        t.accuracy("cifar10", archs=np.array([0, 5]))
    with pytest.raises(ArchError, match="must be an int"):
        t.arch(True)
    with pytest.raises(ArchError):
        t.row([0, 1])
    assert t.index_of("  " + FAKE_ARCHS[2] + "\n") == 2
    with pytest.raises(ConfigError, match="unknown NB201 column"):
        t.column("accuracy")
    col = t.accuracy("cifar10")
    with pytest.raises(ValueError):
        col[0] = 1.0  # the table's own arrays are read-only


def test_import_is_light():
    code = ("import sys, gradsign.benchmarks; "
            "print(sorted(m for m in ('torch', 'pandas', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
