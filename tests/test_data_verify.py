"""`gradsign data`: damaged files are listed as damaged; `--verify` failures are the exit status.

Every file here is built by the test (tiny pickles, npz, zips, CSVs); nothing comes from
../shared/data.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gradsign.cli.main import main
from gradsign.data.paths import _file_problem, get_resource, quick_problem


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


def _row(out: str, key: str) -> str:
    lines = [ln for ln in out.splitlines() if ln.strip("│ ").startswith(key + " ")]
    assert lines, f"no row for {key} in:\n{out}"
    return lines[0]


def _cifar10_dir(root: Path, *, protocol: int = 2) -> Path:
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}
        (d / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    return d


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(20):
            z.writestr(f"train/cat/{i}.jpg", b"\xff\xd8" + bytes(200))
    return buf.getvalue()


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _exact_size_csv(path: Path, size: int) -> None:
    """A well-formed CSV of exactly ``size`` bytes whose checksum is not the distributed one's."""
    header = b"index,value\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + b"0" * (size - len(header) - 1) + b"\n")


def test_listing_says_damaged_for_truncated_zip_garbage_npz_and_cut_pickle(tmp_path, capsys):
    d = tmp_path / "data"
    (d / "images").mkdir(parents=True)
    z = _zip_bytes()
    (d / "images" / "cifar10-jpeg.zip").write_bytes(z[: len(z) // 2])  # download cut short
    (d / "images" / "cifar100_test_subset.npz").write_bytes(b"garbage" * 100)
    cifar = _cifar10_dir(d)
    whole = (cifar / "data_batch_3").read_bytes()
    (cifar / "data_batch_3").write_bytes(whole[:-10])
    (d / "nb201").mkdir()
    (d / "nb201" / "ochoa_cifar10_avg.csv").write_text("index,acc\n0,1\n")  # not the distributed file
    code, out, _ = run(["data", "--data-dir", str(d)], capsys)
    assert code == 0  # the plain listing reports; --verify decides
    assert "damaged" in _row(out, "cifar10-jpeg") and "zip" in _row(out, "cifar10-jpeg")
    assert "damaged" in _row(out, "cifar100-subset")
    assert "damaged" in _row(out, "cifar10-official")
    assert "data_batch_3" in out and "cut short" in out
    assert "damaged" in _row(out, "nb201-cifar10-valid")
    assert "4 of them damaged" in out


def test_verify_exits_nonzero_on_damage_and_on_checksum_mismatch(tmp_path, capsys):
    d = tmp_path / "data"
    _exact_size_csv(d / "nb201" / "nb201_cifar10_per_seed_test.csv", get_resource("nb201-per-seed").size)
    code, out, err = run(["data", "--data-dir", str(d)], capsys)
    assert code == 0 and "found" in _row(out, "nb201-per-seed")  # cheap checks cannot tell
    assert "damaged" not in out
    code, out, err = run(["data", "--data-dir", str(d), "--verify"], capsys)
    assert code == 1
    assert "CHECKSUM MISMATCH" in _row(out, "nb201-per-seed")
    assert "verification failed: nb201-per-seed checksum mismatch" in err

    (d / "images").mkdir()
    (d / "images" / "imagenet16_120_subset.npz").write_bytes(b"")
    code, _, err = run(["data", "--data-dir", str(d), "--verify"], capsys)
    assert code == 1 and "imagenet16-subset damaged" in err


def test_verify_passes_when_nothing_found_is_wrong(tmp_path, capsys):
    d = tmp_path / "data"
    _cifar10_dir(d, protocol=4)
    code, out, err = run(["data", "--data-dir", str(d), "--verify"], capsys)
    assert code == 0, err
    assert "found" in _row(out, "cifar10-official") and "damaged" not in out
    assert err == ""


def test_incomplete_directory_fails_verify(tmp_path, capsys):
    d = tmp_path / "data"
    (_cifar10_dir(d) / "test_batch").unlink()
    code, out, err = run(["data", "--data-dir", str(d), "--verify"], capsys)
    assert code == 1 and "cifar10-official incomplete" in err


def test_cheap_file_checks(tmp_path):
    npz_res = dataclasses.replace(get_resource("cifar100-subset"), size=None)
    p = tmp_path / "x.npz"
    p.write_bytes(_npz_bytes(images=np.zeros((2, 4), np.uint8)))
    assert _file_problem(npz_res, p) is None
    p.write_bytes(_npz_bytes(images=np.zeros(3))[:-30])
    assert "not a readable npz" in _file_problem(npz_res, p)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hi")
    p.write_bytes(buf.getvalue())
    assert "no .npy" in _file_problem(npz_res, p)

    json_res = dataclasses.replace(get_resource("naslib-zc-nb201"), size=None)
    j = tmp_path / "x.json"
    j.write_text('{"a": [1, 2]}\n')
    assert _file_problem(json_res, j) is None
    j.write_text('{"a": [1, 2')
    assert "JSON" in _file_problem(json_res, j)

    csv_res = dataclasses.replace(get_resource("nb201-12epoch"), size=None)
    c = tmp_path / "x.csv"
    c.write_bytes(b"\x00\x01binary\n")
    assert "CSV" in _file_problem(csv_res, c)

    sized = get_resource("nb201-12epoch")
    c.write_text("a,b\n")
    assert "distributed file has" in _file_problem(sized, c)


def test_pickle_members_checked_by_header_and_end(tmp_path):
    d = _cifar10_dir(tmp_path)
    assert quick_problem("cifar10-official", d) is None
    (d / "data_batch_1").write_bytes(b"PK\x03\x04 not a pickle.")
    (d / "test_batch").write_bytes(b"")
    problem = quick_problem("cifar10-official", d)
    assert "data_batch_1: not a pickle" in problem and "test_batch: empty" in problem
