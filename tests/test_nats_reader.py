"""Reader of the official NAS-Bench-201 (.pth) and NATS-Bench (bz2 pickle) files, on tiny files made here.

The files below have the structure of the official ones (see the docstring of
gradsign.benchmarks.nats_reader): dicts of ArchResults state dicts, each holding
ResultsCount state dicts keyed by (dataset, seed), with per-epoch records.
"""

from __future__ import annotations

import bz2
import collections
import decimal
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gradsign.benchmarks import NB201Table, acc_column
from gradsign.benchmarks.nats_reader import detect_format, load_official, read_official
from gradsign.errors import DataError



@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")

ARCHS = [
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|none~0|+|skip_connect~0|nor_conv_1x1~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
]
EVAL_SETS = {
    "cifar10-valid": ("x-valid", "ori-test"),
    "cifar10": ("ori-test",),
    "cifar100": ("ori-test", "x-valid", "x-test"),
    "ImageNet16-120": ("ori-test", "x-valid", "x-test"),
}
DS_CODE = {"cifar10-valid": 0, "cifar10": 1, "cifar100": 2, "ImageNet16-120": 3}
SET_CODE = {"x-valid": 0.1, "ori-test": 0.2, "x-test": 0.3, "train": 0.4}
SEED_OFFSET = {111: -0.5, 777: -0.25, 888: 0.0, 999: 0.25}


def final_acc(i: int, ds: str, setname: str, epochs: int, seed: int) -> float:
    """Accuracy after the last epoch; the seed offsets of a cell's runs average to known values."""
    return 40.0 + 10 * i + 5 * DS_CODE[ds] + SET_CODE[setname] + (0.0 if epochs == 200 else -20.0) + SEED_OFFSET[seed]


def results_count(i: int, ds: str, seed: int, epochs: int) -> dict:
    last = epochs - 1

    def per_epoch(final: float) -> dict:
        # Earlier epochs differ from the last one, so reading the wrong epoch shows. The official
        # records hold every epoch; three keep these files small (the reader reads only the last).
        return {e: (final if e == last else final * e / epochs) for e in (0, last // 2, last)}

    eval_acc, eval_loss, eval_time = {}, {}, {}
    for name in EVAL_SETS[ds]:
        for e, v in per_epoch(final_acc(i, ds, name, epochs, seed)).items():
            eval_acc[f"{name}@{e}"] = v
            eval_loss[f"{name}@{e}"] = 1.0 + SET_CODE[name] + (0 if e == last else 5)
            eval_time[f"{name}@{e}"] = 1.5
    epoch_time = 7.0 + i + DS_CODE[ds]
    return {
        "name": ds,
        "train_acc1es": per_epoch(final_acc(i, ds, "train", epochs, seed)),
        "train_acc5es": None,
        "train_losses": {e: (0.25 + i if e == last else 9.0) for e in (0, last // 2, last)},
        "train_times": collections.OrderedDict((e, epoch_time) for e in (0, last // 2, last)),
        "arch_config": {"channel": 16, "num_cells": 5, "arch_str": ARCHS[i], "class_num": 10},
        "params": np.float64(0.1 + i / 10),  # numpy scalars, as in the official files
        "flop": 15.5 + i,
        "seed": f"{seed:04d}",
        "epochs": epochs,
        "latency": [np.float64(0.0125)],
        "eval_names": list(EVAL_SETS[ds]),
        "eval_acc1es": eval_acc,
        "eval_times": eval_time,
        "eval_losses": eval_loss,
        "net_state_dict": None,
    }


def seeds_for(i: int, epochs: int) -> dict[str, list[int]]:
    if epochs == 12:
        return {"cifar10-valid": [111, 777], "cifar10": [111], "cifar100": [111], "ImageNet16-120": [111]}
    if i == 1:  # a cell trained once on cifar10, like 2,225 cells of NB201 v1.1
        return {"cifar10-valid": [777, 888, 999], "cifar10": [888], "cifar100": [777, 888, 999],
                "ImageNet16-120": [777, 888, 999]}
    return {ds: [777, 888, 999] for ds in EVAL_SETS}


def arch_results(i: int, epochs: int) -> dict:
    seeds = seeds_for(i, epochs)
    return {
        "arch_index": i,
        "arch_str": ARCHS[i],
        "all_results": {(ds, s): results_count(i, ds, s, epochs) for ds, ss in seeds.items() for s in ss},
        "dataset_seed": seeds,
        "clear_net_done": True,
    }


def expected(i: int) -> dict[str, float]:
    """The table values of cell i, computed from the scheme above."""
    out = {}
    for epochs in (200, 12):
        seeds = seeds_for(i, epochs)
        for ds, sets in (("cifar10-valid", {"valid": "x-valid", "test": "ori-test", "train": "train"}),
                         ("cifar10", {"test": "ori-test", "train": "train"}),
                         ("cifar100", {"valid": "x-valid", "test": "x-test", "train": "train"}),
                         ("ImageNet16-120", {"valid": "x-valid", "test": "x-test", "train": "train"})):
            for split, setname in sets.items():
                out[acc_column(ds, split, epochs)] = float(np.mean(
                    [final_acc(i, ds, setname, epochs, s) for s in seeds[ds]]))
    for ds in DS_CODE:
        out[f"{ds}/train_time_epoch"] = 7.0 + i + DS_CODE[ds]
    out["cifar10-valid/train_loss@200"] = 0.25 + i
    out["cifar10-valid/valid_loss@200"] = 1.1
    out["cifar10-valid/test_loss@200"] = 1.2
    for name, s in zip("abc", seeds_for(i, 200)["cifar10"]):
        out[f"cifar10/test_acc@200/seed_{name}"] = final_acc(i, "cifar10", "ori-test", 200, s)
    out["params_m"] = 0.1 + i / 10
    out["flops_m"] = 15.5 + i
    return out


def check_table(t: NB201Table, cells=(0, 1, 2)) -> None:
    assert t.archs == ARCHS
    for i in cells:
        row = t.row(i)
        for name, value in expected(i).items():
            assert row[name] == pytest.approx(value, rel=1e-6), (i, name)
        assert np.isnan(row["naswot_score"])
    # Cell 1 has one cifar10 run: the other per-seed columns are NaN.
    if 1 in cells:
        assert np.isnan(t.row(1)["cifar10/test_acc@200/seed_b"])
    assert t.index_of(ARCHS[2]) == 2


def pth_dict(cells=(0, 1, 2)) -> dict:
    return {
        "meta_archs": list(ARCHS),
        "total_archs": len(ARCHS),
        "arch2infos": {i: {"full": arch_results(i, 200), "less": arch_results(i, 12)} for i in cells},
        "evaluated_indexes": list(cells),
    }


def nats_record(i: int) -> dict:
    return collections.OrderedDict([("12", arch_results(i, 12)), ("200", arch_results(i, 200))])


def write_bz2_pickle(obj, path: Path) -> Path:
    with bz2.BZ2File(path, "wb", compresslevel=1) as f:
        pickle.dump(obj, f, protocol=4)
    return path


def write_simple_dir(root: Path, cells=(0, 1, 2), name="NATS-tss-v1_0-3ffb9-simple") -> Path:
    d = root / name
    d.mkdir(parents=True)
    meta = {"meta_archs": list(ARCHS), "total_archs": len(ARCHS), "arch2infos": None, "evaluated_indexes": set()}
    write_bz2_pickle(meta, d / "meta.pickle.pbz2")
    for i in cells:
        write_bz2_pickle(nats_record(i), d / f"{i:06d}.pickle.pbz2")
    return d


# ------------------------------------------------------------------------------ .pth


def test_pth_v1_1(tmp_path, torch):
    path = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    torch.save(pth_dict(), path)
    assert detect_format(path) == "nb201-pth"
    t = read_official(path)
    check_table(t)
    assert t.source == "official: NAS-Bench-201-v1_1-096897.pth"
    assert t.accuracy("cifar100", "valid", 200, archs=0) == pytest.approx(40 + 10 + 0.1)


def test_pth_written_under_numpy_1(tmp_path, torch):
    """The official files were saved with numpy 1.x, which names the scalar reconstructor differently."""
    path = tmp_path / "new.pth"
    torch.save(pth_dict(cells=(0,)), path)
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    pkl = next(n for n in members if n.endswith("data.pkl"))
    members[pkl] = members[pkl].replace(b"numpy._core.multiarray\nscalar\n", b"numpy.core.multiarray\nscalar\n")
    assert b"numpy.core.multiarray\nscalar\n" in members[pkl]
    old = tmp_path / "NAS-Bench-201-v1_0-e61699.pth"
    with zipfile.ZipFile(old, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)
    with pytest.warns(UserWarning, match="2 of 3 architectures have no results"):
        t = read_official(old)
    check_table(t, cells=(0,))
    assert np.isnan(t.accuracy("cifar10")[1:]).all()


def test_pth_with_foreign_global_needs_trust(tmp_path, torch):
    obj = pth_dict(cells=(0,))
    obj["extra"] = decimal.Decimal("1.5")  # harmless, but not in the allowed set
    path = tmp_path / "odd.pth"
    torch.save(obj, path)
    with pytest.raises(DataError, match=r"refused to unpickle it \(global decimal.Decimal is not allowed\).*"
                                        r"trusted=True") as info:
        read_official(path)
    assert "\n" not in str(info.value) and "odd.pth" in str(info.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t = read_official(path, trusted=True)
    assert any("full pickle" in str(w.message) for w in caught)
    assert any("2 of 3 architectures have no results" in str(w.message) for w in caught)
    check_table(t, cells=(0,))


# ------------------------------------------------------------------------------ NATS-Bench


def test_nats_simple_dir(tmp_path):
    d = write_simple_dir(tmp_path)
    assert detect_format(d) == "nats-simple"
    t = read_official(d)
    check_table(t)
    assert t.source == "official: NATS-tss-v1_0-3ffb9-simple"
    # The 12-epoch cifar10-valid test accuracy exists only in the official files.
    assert t.accuracy("cifar10-valid", "test", 12, archs=0) == pytest.approx(40 + 0.2 - 20 - 0.375)


def test_nats_simple_dir_missing_cell_and_workers(tmp_path):
    d = write_simple_dir(tmp_path, cells=(0, 2))
    (d / "000002.pickle.pbz2").rename(d / "2.pickle.pbz2")  # the unpadded name is accepted too
    with pytest.warns(UserWarning, match=r"1 of 3 architectures have no results \(first: index 1\)"):
        t = read_official(d, workers=2)
    check_table(t, cells=(0, 2))
    assert np.isnan(t.accuracy("cifar100")[1])


def test_nats_single_pickle(tmp_path):
    obj = {"meta_archs": list(ARCHS), "total_archs": 3, "evaluated_indexes": {0, 1, 2},
           "arch2infos": {i: nats_record(i) for i in range(3)}}
    path = write_bz2_pickle(obj, tmp_path / "NATS-tss-v1_0-3ffb9.pickle.pbz2")
    assert detect_format(path) == "nats-pickle"
    check_table(read_official(path))


class Payload:
    """Unpickling this would call os.getcwd: a stand-in for code a hostile pickle could run."""

    def __reduce__(self):
        import os

        return (os.getcwd, ())


def test_nats_refuses_code(tmp_path):
    d = write_simple_dir(tmp_path, cells=(0,))
    rec = nats_record(0)
    rec["200"]["arch_str"] = Payload()
    write_bz2_pickle(rec, d / "000000.pickle.pbz2")
    with pytest.raises(DataError, match=r"000000.pickle.pbz2: refused to unpickle it \(global posix.getcwd"):
        read_official(d)


# ------------------------------------------------------------------------------ errors, caching


def test_structure_errors(tmp_path, torch):
    path = tmp_path / "a.pth"
    torch.save({"archs": ARCHS}, path)
    with pytest.raises(DataError, match="no 'meta_archs' key"):
        read_official(path)
    bad = pth_dict(cells=(0,))
    bad["arch2infos"][0]["full"]["arch_str"] = ARCHS[1]
    torch.save(bad, path)
    with pytest.raises(DataError, match="arch 0: its record is for"):
        read_official(path)
    bad = pth_dict(cells=(0,))
    del bad["arch2infos"][0]["full"]["dataset_seed"]
    torch.save(bad, path)
    with pytest.raises(DataError, match="arch 0: unexpected record structure"):
        read_official(path)
    bad = pth_dict(cells=(0,))
    bad["meta_archs"][1] = "|conv~0|"
    torch.save(bad, path)
    with pytest.raises(DataError, match="is not an NB201 arch string"):
        read_official(path)
    bad = pth_dict(cells=(0,))
    bad["total_archs"] = 15625
    torch.save(bad, path)
    with pytest.raises(DataError, match="total_archs is 15625 but meta_archs lists 3"):
        read_official(path)
    (tmp_path / "x.pth").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"x.pth: cannot read as a torch file \(Unsupported operand"):
        read_official(tmp_path / "x.pth")
    (tmp_path / "y.pickle.pbz2").write_bytes(b"garbage")
    with pytest.raises(DataError, match="cannot read as a bz2-compressed pickle"):
        read_official(tmp_path / "y.pickle.pbz2")
    with pytest.raises(DataError, match="no such file"):
        detect_format(tmp_path / "absent.pth")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="without meta.pickle.pbz2"):
        detect_format(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="not a NAS-Bench-201 .pth"):
        detect_format(tmp_path / "notes.txt")


def test_load_official_from_data_dir_is_cached(tmp_path):
    data = tmp_path / "data"
    write_simple_dir(data)
    cache = tmp_path / "cache"
    first = load_official(data_dir=data, cache=cache)
    second = NB201Table.from_official(data_dir=data, cache=cache)
    assert not first.from_cache and second.from_cache
    check_table(second)
    np.testing.assert_array_equal(first.accuracy("ImageNet16-120", "valid"),
                                  second.accuracy("ImageNet16-120", "valid"))
    with pytest.raises(DataError, match="official NAS-Bench-201 / NATS-Bench topology file"):
        load_official(data_dir=tmp_path / "cache", cache=False)
