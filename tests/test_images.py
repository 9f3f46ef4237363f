"""Image sets: readers of every supported format, source choice, caching, sampling, errors.

Every test here writes its own small files in exactly the official formats (Python 2
style pickles for CIFAR-10/100 and ImageNet16, a zip of JPEG class folders), so it
runs without ../shared/data; tests against the real files are in test_images_real.py.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import random
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gradsign.data import formats, image_cache
from gradsign.data.images import (
    DATASETS,
    ImageSet,
    SplitFallbackWarning,
    canonical_dataset,
    dataset_info,
    find_image_source,
    input_size,
    load_image_set,
    num_classes,
)
from gradsign.data.sampling import random_crop_flip
from gradsign.errors import ConfigError, DataError

CLASSES = formats.CIFAR10_CLASSES


# =========================================================================== writers
# Small files in the official on-disk formats.


def _py2_str(data: bytes) -> bytes:
    """A Python 2 ``str`` as pickled by Python 2 (SHORT_BINSTRING / BINSTRING)."""
    if len(data) < 256:
        return b"U" + bytes([len(data)]) + data
    return b"T" + struct.pack("<i", len(data)) + data


def _py2_int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def _py2_obj(obj: object) -> bytes:
    if isinstance(obj, str):
        return _py2_str(obj.encode("latin1"))
    if isinstance(obj, int):
        return _py2_int(obj)
    if isinstance(obj, list):
        return b"](" + b"".join(_py2_obj(x) for x in obj) + b"e"
    if isinstance(obj, np.ndarray):
        assert obj.dtype == np.uint8 and obj.flags.c_contiguous
        shape = b"(" + b"".join(_py2_int(d) for d in obj.shape) + b"t"
        # dtype('u1', 0, 1) with the state tuple numpy 1.x on Python 2 writes.
        dtype = (b"cnumpy\ndtype\n" + _py2_str(b"u1") + _py2_int(0) + _py2_int(1) + b"\x87R"
                 + b"(" + _py2_int(3) + _py2_str(b"|") + b"NNN" + _py2_int(-1) + _py2_int(-1) + _py2_int(0)
                 + b"tb")
        return (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + b"(" + _py2_int(0) + b"t"
                + _py2_str(b"b") + b"\x87R"
                + b"(" + _py2_int(1) + shape + dtype + b"\x89" + _py2_str(obj.tobytes()) + b"tb")
    raise TypeError(type(obj))


def py2_pickle(entry: dict[str, object]) -> bytes:
    """``entry`` serialised as Python 2's cPickle (protocol 2) wrote the official releases.

    Python 3 cannot produce this byte-for-byte (its str keys become unicode and
    arrays' buffers go through _codecs.encode), so the opcodes are written here.
    """
    body = b"".join(_py2_obj(k) + _py2_obj(v) for k, v in entry.items())
    return b"\x80\x02}(" + body + b"u."


def planar_rows(images: np.ndarray) -> np.ndarray:
    """NHWC images as the (N, 3*H*W) channel-planar rows of the official pickles."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))


def random_images(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)


def write_cifar_official(root: Path, dataset: str, n: int = 20, seed: int = 0) -> dict[str, tuple]:
    """An official CIFAR-10 or CIFAR-100 folder under ``root``; returns split -> (images, labels)."""
    rng = np.random.default_rng(seed)
    if dataset == "cifar10":
        folder, label_key, classes = "cifar-10-batches-py", "labels", 10
        files = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    else:
        folder, label_key, classes = "cifar-100-python", "fine_labels", 100
        files = {"train": ["train"], "test": ["test"]}
    directory = root / folder
    directory.mkdir(parents=True)
    expected = {}
    for split, names in files.items():
        all_images, all_labels = [], []
        for name in names:
            images = random_images(rng, n, 32)
            labels = rng.integers(0, classes, size=n)
            entry = {"batch_label": f"{name} of 5", "data": planar_rows(images), label_key: labels.tolist(),
                     "filenames": [f"img_{i}.png" for i in range(n)]}
            if dataset == "cifar100":
                entry["coarse_labels"] = (labels // 5).tolist()
            (directory / name).write_bytes(py2_pickle(entry))
            all_images.append(images)
            all_labels.append(labels)
        expected[split] = (np.concatenate(all_images), np.concatenate(all_labels))
    return expected


def write_imagenet16_official(root: Path, n: int = 60, seed: int = 0) -> dict[str, tuple]:
    """An official ImageNet16 folder (labels 1..1000); returns split -> (images, labels 0..119) kept."""
    rng = np.random.default_rng(seed)
    directory = root / "ImageNet16"
    directory.mkdir(parents=True)
    files = {"train": [f"train_data_batch_{i}" for i in range(1, 11)], "test": ["val_data"]}
    expected = {}
    for split, names in files.items():
        kept_images, kept_labels = [], []
        for name in names:
            images = random_images(rng, n, 16)
            # Half within the first 120 classes, half beyond, both edges included.
            labels = np.concatenate([rng.integers(1, 121, size=n // 2 - 2), [1, 120],
                                     rng.integers(121, 1001, size=n - n // 2 - 1), [1000]])
            (directory / name).write_bytes(py2_pickle({"data": planar_rows(images), "labels": labels.tolist()}))
            keep = labels <= 120
            kept_images.append(images[keep])
            kept_labels.append(labels[keep] - 1)
        expected[split] = (np.concatenate(kept_images), np.concatenate(kept_labels))
    return expected


def color_of(label: int, i: int) -> tuple[int, int, int]:
    return (20 * label + 10, 100 + 40 * i, 240 - 20 * label)


def jpeg_bytes(color: tuple[int, int, int], size: int = 32) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def write_cifar10_zip(path: Path, per_class: dict[str, int] | None = None, top: str = "",
                      override: dict[str, bytes] | None = None) -> Path:
    """A CIFAR-10 zip of uniformly coloured JPEGs (colour encodes label and index)."""
    per_class = per_class or {"train": 3, "test": 2}
    override = override or {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for split, k in per_class.items():
            archive.mkdir(f"{top}{split}/")
            for label, cls in enumerate(CLASSES):
                for i in range(k):
                    name = f"{top}{split}/{cls}/{i:04d}.jpg"
                    archive.writestr(name, override.get(name, jpeg_bytes(color_of(label, i))))
    return path


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def cifar100_subset_arrays(n_per_class: int = 2, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(100), n_per_class).astype(np.int64)
    return {"images": random_images(rng, len(labels), 32), "labels": labels}


def data_error(excinfo: pytest.ExceptionInfo, *fragments: str) -> str:
    """Check a DataError is one line containing every fragment; return its message."""
    message = str(excinfo.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


def make_set(dataset: str = "cifar10", per_class: int = 5, seed: int = 0) -> ImageSet:
    info = dataset_info(dataset)
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(info.num_classes), per_class)
    return ImageSet(dataset, "test", random_images(rng, len(labels), info.image_size), labels)


# =========================================================================== names and constants


@pytest.mark.parametrize("alias, canonical", [
    ("cifar10", "cifar10"), ("CIFAR-10", "cifar10"), ("Cifar_10", "cifar10"),
    ("cifar100", "cifar100"), ("CIFAR-100", "cifar100"),
    ("ImageNet16-120", "ImageNet16-120"), ("imagenet16-120", "ImageNet16-120"),
    ("ImageNet16", "ImageNet16-120"), ("imagenet16_120", "ImageNet16-120"),
])
def test_dataset_aliases(alias, canonical):
    assert canonical_dataset(alias) == canonical


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(ConfigError) as excinfo:
        canonical_dataset("mnist")
    assert "'mnist'" in str(excinfo.value)
    for name in DATASETS:
        assert name in str(excinfo.value)
    with pytest.raises(ConfigError):
        load_image_set("imagenet")


def test_dataset_facts():
    assert DATASETS == ("cifar10", "cifar100", "ImageNet16-120")
    assert [num_classes(d) for d in DATASETS] == [10, 100, 120]
    assert input_size("cifar10") == input_size("CIFAR-100") == (3, 32, 32)
    assert input_size("imagenet16") == (3, 16, 16)


def test_normalization_constants_are_nb201s():
    np.testing.assert_allclose(dataset_info("cifar10").mean, np.array([125.3, 123.0, 113.9]) / 255)
    np.testing.assert_allclose(dataset_info("cifar10").std, np.array([63.0, 62.1, 66.7]) / 255)
    np.testing.assert_allclose(dataset_info("cifar100").mean, np.array([129.3, 124.1, 112.4]) / 255)
    np.testing.assert_allclose(dataset_info("cifar100").std, np.array([68.2, 65.4, 70.4]) / 255)
    np.testing.assert_allclose(dataset_info("ImageNet16-120").mean, np.array([122.68, 116.66, 104.01]) / 255)
    np.testing.assert_allclose(dataset_info("ImageNet16-120").std, np.array([63.22, 61.26, 65.09]) / 255)
    assert [dataset_info(d).crop_padding for d in DATASETS] == [4, 4, 2]


# =========================================================================== official formats


def test_py2_pickle_writer_matches_the_official_format():
    """The hand-written pickles load as the official ones do with plain pickle."""
    images = random_images(np.random.default_rng(0), 3, 32)
    blob = py2_pickle({"data": planar_rows(images), "labels": [1, 2, 3]})
    as_latin1 = pickle.loads(blob, encoding="latin1")  # torchvision's / NB201's way
    assert set(as_latin1) == {"data", "labels"}
    np.testing.assert_array_equal(as_latin1["data"], planar_rows(images))
    as_bytes = pickle.loads(blob, encoding="bytes")  # the CIFAR web page's way
    assert set(as_bytes) == {b"data", b"labels"}


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar10_official_pickles(tmp_path, split):
    expected = write_cifar_official(tmp_path, "cifar10")
    ims = load_image_set("cifar10", split, data_dir=tmp_path)
    assert (ims.source, ims.split, ims.requested_split, ims.fell_back) == ("cifar10-official", split, split, False)
    assert ims.path == tmp_path / "cifar-10-batches-py"
    assert ims.images.dtype == np.uint8 and ims.images.shape == (len(expected[split][0]), 32, 32, 3)
    assert ims.labels.dtype == np.int64
    np.testing.assert_array_equal(ims.images, expected[split][0])  # planar CHW rows -> HWC
    np.testing.assert_array_equal(ims.labels, expected[split][1])
    assert len(ims) == (100 if split == "train" else 20)


def test_cifar100_official_pickles_use_fine_labels(tmp_path):
    expected = write_cifar_official(tmp_path, "cifar100")
    for split in ("train", "test"):
        ims = load_image_set("CIFAR-100", split, data_dir=tmp_path)
        assert (ims.dataset, ims.source, ims.num_classes) == ("cifar100", "cifar100-official", 100)
        np.testing.assert_array_equal(ims.images, expected[split][0])
        np.testing.assert_array_equal(ims.labels, expected[split][1])


def test_imagenet16_official_pickles_keep_first_120_classes(tmp_path):
    expected = write_imagenet16_official(tmp_path)
    for split in ("train", "test"):
        ims = load_image_set("imagenet16-120", split, data_dir=tmp_path)
        assert (ims.dataset, ims.source, ims.input_size) == ("ImageNet16-120", "imagenet16-official", (3, 16, 16))
        np.testing.assert_array_equal(ims.images, expected[split][0])
        np.testing.assert_array_equal(ims.labels, expected[split][1])
        assert ims.labels.min() == 0 and ims.labels.max() == 119
    assert len(load_image_set("ImageNet16", "test", data_dir=tmp_path)) == 30


@pytest.mark.parametrize("key_type", [str, bytes])
def test_pickles_with_str_or_bytes_keys(tmp_path, key_type):
    """Python 3 re-pickles (str or bytes keys, numpy 2 globals) are read too."""
    images = random_images(np.random.default_rng(1), 4, 16)
    entry = {key_type("data", "ascii") if key_type is bytes else "data": planar_rows(images),
             key_type("labels", "ascii") if key_type is bytes else "labels": np.array([1, 2, 500, 120])}
    (tmp_path / "val_data").write_bytes(pickle.dumps(entry, protocol=4))
    got_images, got_labels = formats.read_imagenet16_pickles(tmp_path, ["val_data"])
    np.testing.assert_array_equal(got_images, images[[0, 1, 3]])
    np.testing.assert_array_equal(got_labels, [0, 1, 119])


@pytest.mark.parametrize("top", ["", "CIFAR-10-images/"])
def test_cifar10_jpeg_zip(tmp_path, top):
    write_cifar10_zip(tmp_path / "images" / "cifar10-jpeg.zip", top=top)
    for split, k in (("train", 3), ("test", 2)):
        ims = load_image_set("cifar10", split, data_dir=tmp_path)
        assert (ims.source, ims.split, len(ims)) == ("cifar10-jpeg", split, 10 * k)
        assert ims.images.shape == (10 * k, 32, 32, 3) and ims.images.dtype == np.uint8
        # Sorted by label, then file name; each JPEG is one colour, so pixels say
        # which member (and that channels are RGB, not BGR) landed where.
        np.testing.assert_array_equal(ims.labels, np.repeat(np.arange(10), k))
        for j, label in enumerate(ims.labels):
            expected = np.array(color_of(int(label), j % k))
            assert np.abs(ims.images[j].astype(int) - expected).max() <= 3


def test_progress_is_reported_while_decoding(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "_PROGRESS_EVERY", 8)
    write_cifar10_zip(tmp_path / "images" / "cifar10-jpeg.zip", per_class={"test": 2})
    write_imagenet16_official(tmp_path, n=8)
    calls = []
    load_image_set("cifar10", "test", data_dir=tmp_path, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(8, 20), (16, 20), (20, 20)]
    calls.clear()
    load_image_set("ImageNet16", "train", data_dir=tmp_path, progress=lambda *a: calls.append(a))
    assert calls == [(i, 10) for i in range(1, 11)]
    calls.clear()
    load_image_set("cifar10", "test", data_dir=tmp_path, progress=lambda *a: calls.append(a))
    assert calls == []  # from the cache


def test_jpeg_zip_decodes_only_the_requested_split(tmp_path):
    bad = "train/cat/0000.jpg"
    write_cifar10_zip(tmp_path / "images" / "cifar10-jpeg.zip", override={bad: b"not a jpeg"})
    assert len(load_image_set("cifar10", "test", data_dir=tmp_path)) == 20
    with pytest.raises(DataError) as excinfo:
        load_image_set("cifar10", "train", data_dir=tmp_path)
    data_error(excinfo, "cifar10-jpeg.zip", bad, "not a JPEG or PNG image")


def test_jpeg_zip_converts_grayscale_to_rgb(tmp_path):
    buf = io.BytesIO()
    Image.new("L", (32, 32), 77).save(buf, "JPEG", quality=95)
    name = "test/dog/0001.jpg"
    path = write_cifar10_zip(tmp_path / "c.zip", per_class={"test": 2}, override={name: buf.getvalue()})
    images, labels = formats.read_class_folder_zip(path, "test", class_names=CLASSES, image_size=32)
    assert images.shape == (20, 32, 32, 3)
    assert np.abs(images[11].astype(int) - 77).max() <= 2 and labels[11] == 5


# =========================================================================== source choice and split fallback


def test_auto_prefers_official_files_and_explicit_source_wins(tmp_path):
    write_cifar_official(tmp_path, "cifar10")
    write_cifar10_zip(tmp_path / "images" / "cifar10-jpeg.zip")
    assert load_image_set("cifar10", "test", data_dir=tmp_path).source == "cifar10-official"
    assert load_image_set("cifar10", "test", data_dir=tmp_path, source="shared").source == "cifar10-jpeg"
    assert find_image_source("cifar10", data_dir=tmp_path) == ("cifar10-official", tmp_path / "cifar-10-batches-py")


def test_missing_sources_name_the_expected_paths(tmp_path):
    with pytest.raises(DataError) as excinfo:
        load_image_set("cifar10", "test", data_dir=tmp_path)
    data_error(excinfo, "cifar-10-batches-py", "images/cifar10-jpeg.zip")
    write_cifar10_zip(tmp_path / "images" / "cifar10-jpeg.zip")
    with pytest.raises(DataError) as excinfo:
        load_image_set("cifar10", "test", data_dir=tmp_path, source="official")
    data_error(excinfo, "cifar-10-batches-py", "cifar.html")
    with pytest.raises(DataError) as excinfo:
        load_image_set("cifar10", data_dir=tmp_path / "nope")
    data_error(excinfo, "nope", "does not exist")


def test_bad_split_and_source_names(tmp_path):
    with pytest.raises(ConfigError, match="valid: train, test"):
        load_image_set("cifar10", "valid", data_dir=tmp_path)
    with pytest.raises(ConfigError, match="valid: auto, official, shared"):
        load_image_set("cifar10", "test", data_dir=tmp_path, source="web")


def test_official_folder_missing_a_member_of_the_split(tmp_path):
    write_cifar_official(tmp_path, "cifar10")
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    assert len(load_image_set("cifar10", "test", data_dir=tmp_path)) == 20  # test needs only test_batch
    with pytest.raises(DataError) as excinfo:
        load_image_set("cifar10", "train", data_dir=tmp_path)
    data_error(excinfo, "cifar-10-batches-py", "data_batch_3", "train split")


def test_test_only_subset_falls_back_with_a_warning(tmp_path):
    arrays = cifar100_subset_arrays()
    write_npz(tmp_path / "images" / "cifar100_test_subset.npz", **arrays)
    with pytest.warns(SplitFallbackWarning, match="no train split"):
        ims = load_image_set("cifar100", "train", data_dir=tmp_path)
    assert (ims.split, ims.requested_split, ims.fell_back, ims.source) == ("test", "train", True, "cifar100-subset")
    assert "train was requested" in ims.describe()
    np.testing.assert_array_equal(ims.images, arrays["images"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the test split itself loads without a warning
        assert not load_image_set("cifar100", "test", data_dir=tmp_path).fell_back
    with pytest.raises(DataError) as excinfo:
        load_image_set("cifar100", "train", data_dir=tmp_path, allow_fallback=False)
    data_error(excinfo, "cifar100_test_subset.npz", "only the test split")


def test_imagenet16_subset(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(120).repeat(2)
    write_npz(tmp_path / "imagenet16_120_subset.npz", images=random_images(rng, 240, 16), labels=labels)
    ims = load_image_set("ImageNet16", "test", data_dir=tmp_path)
    assert (len(ims), ims.num_classes, ims.source, ims.cached) == (240, 120, "imagenet16-subset", False)


# =========================================================================== malformed files


def test_missing_files():
    for call in (
        lambda: formats.read_npz(Path("/no/such.npz"), image_size=32, num_classes=10),
        lambda: formats.read_class_folder_zip(Path("/no/such.zip"), "test", class_names=CLASSES, image_size=32),
        lambda: formats.load_pickle_dict(Path("/no/such_batch")),
    ):
        with pytest.raises(DataError) as excinfo:
            call()
        data_error(excinfo, "/no/such", "file not found")


def test_truncated_and_non_zip_archives(tmp_path):
    good = write_cifar10_zip(tmp_path / "good.zip").read_bytes()
    truncated = tmp_path / "images" / "cifar10-jpeg.zip"
    truncated.parent.mkdir()
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError) as excinfo:
        load_image_set("cifar10", "test", data_dir=tmp_path)
    data_error(excinfo, str(truncated), "truncated or damaged zip file")
    (tmp_path / "text.zip").write_text("hello, not a zip\n")
    with pytest.raises(DataError) as excinfo:
        formats.read_class_folder_zip(tmp_path / "text.zip", "test", class_names=CLASSES, image_size=32)
    data_error(excinfo, "text.zip", "not a zip file")


def test_corrupt_member_inside_zip(tmp_path):
    name = "test/frog/0001.jpg"
    good = jpeg_bytes((1, 2, 3))
    path = write_cifar10_zip(tmp_path / "c.zip", override={name: good[: len(good) // 2]})  # truncated JPEG
    with pytest.raises(DataError) as excinfo:
        formats.read_class_folder_zip(path, "test", class_names=CLASSES, image_size=32)
    data_error(excinfo, "c.zip", name, "not a decodable image")


def test_zip_member_crc_error(tmp_path):
    path = write_cifar10_zip(tmp_path / "c.zip", per_class={"test": 1})
    blob = bytearray(path.read_bytes())
    marker = jpeg_bytes(color_of(3, 0))
    at = bytes(blob).index(marker)  # stored uncompressed: flip a byte of the cat's data
    blob[at + len(marker) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError) as excinfo:
        formats.read_class_folder_zip(path, "test", class_names=CLASSES, image_size=32)
    data_error(excinfo, "test/cat/0000.jpg")


@pytest.mark.parametrize("layout, fragment", [
    ({"test/zebra/0000.jpg": jpeg_bytes((0, 0, 0))}, "unexpected class folder(s) zebra"),
    ({"test/dog/big.jpg": jpeg_bytes((0, 0, 0), size=64)}, "is 64x64, expected 32x32"),
])
def test_zip_with_wrong_content(tmp_path, layout, fragment):
    path = write_cifar10_zip(tmp_path / "c.zip", per_class={"test": 1})
    with zipfile.ZipFile(path, "a") as archive:
        for name, data in layout.items():
            archive.writestr(name, data)
    with pytest.raises(DataError) as excinfo:
        formats.read_class_folder_zip(path, "test", class_names=CLASSES, image_size=32)
    data_error(excinfo, "c.zip", fragment)


def test_zip_missing_split_or_class(tmp_path):
    path = write_cifar10_zip(tmp_path / "c.zip", per_class={"test": 1})
    with pytest.raises(DataError) as excinfo:
        formats.read_class_folder_zip(path, "train", class_names=CLASSES, image_size=32)
    data_error(excinfo, "c.zip", "no images under train/")
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as archive:
        archive.writestr("test/cat/0.jpg", jpeg_bytes((0, 0, 0)))
    with pytest.raises(DataError) as excinfo:
        formats.read_class_folder_zip(tmp_path / "d.zip", "test", class_names=CLASSES, image_size=32)
    data_error(excinfo, "d.zip", "no test images for class(es) airplane, automobile")


@pytest.mark.parametrize("arrays, fragment", [
    ({"images": np.zeros((4, 32, 32, 3), np.uint8)}, "no array 'labels'"),
    ({"pixels": np.zeros(1), "labels": np.zeros(4, np.int64)}, "no array 'images'"),
    ({"images": np.zeros((4, 32, 32, 3), np.float32), "labels": np.zeros(4, np.int64)},
     "dtype float32, expected uint8"),
    ({"images": np.zeros((4, 28, 28, 3), np.uint8), "labels": np.zeros(4, np.int64)}, "shape (4, 28, 28, 3)"),
    ({"images": np.zeros((4, 3, 32, 32), np.uint8), "labels": np.zeros(4, np.int64)}, "expected (N, 32, 32, 3)"),
    ({"images": np.zeros((4, 32, 32, 3), np.uint8), "labels": np.zeros(3, np.int64)}, "expected (4,)"),
    ({"images": np.zeros((4, 32, 32, 3), np.uint8), "labels": np.zeros(4)}, "labels have dtype float64"),
    ({"images": np.zeros((4, 32, 32, 3), np.uint8), "labels": np.array([0, 1, 2, 100])}, "labels range over 0..100"),
    ({"images": np.zeros((2, 32, 32, 3), np.uint8), "labels": np.array([-1, 3])}, "labels range over -1..3"),
    ({"images": np.zeros((0, 32, 32, 3), np.uint8), "labels": np.zeros(0, np.int64)}, "holds no images"),
])
def test_malformed_npz(tmp_path, arrays, fragment):
    path = write_npz(tmp_path / "images" / "cifar100_test_subset.npz", **arrays)
    with pytest.raises(DataError) as excinfo:
        load_image_set("cifar100", "test", data_dir=tmp_path)
    data_error(excinfo, str(path), fragment)


def test_unreadable_npz_files(tmp_path):
    cases = {
        "text.npz": b"just some text",
        "truncated.npz": write_npz(tmp_path / "full.npz", **cifar100_subset_arrays()).read_bytes()[:5000],
        "pickled.npz": pickle.dumps({"images": 1}),
    }
    object_npz = tmp_path / "object.npz"
    np.savez(object_npz, images=np.array([None, 1], dtype=object), labels=np.zeros(2, np.int64))
    single = tmp_path / "single.npz"
    with open(single, "wb") as f:
        np.save(f, np.zeros(3))
    for name, blob in cases.items():
        (tmp_path / name).write_bytes(blob)
    expected = {"text.npz": "not an npz file", "pickled.npz": "not an npz file",
                "truncated.npz": "truncated or damaged zip file"}
    for path, fragment in [(tmp_path / name, expected[name]) for name in cases] + [
        (object_npz, "unreadable array"), (single, "single .npy array")
    ]:
        with pytest.raises(DataError) as excinfo:
            formats.read_npz(path, image_size=32, num_classes=100)
        data_error(excinfo, str(path), fragment)


def _cifar10_batch(n: int = 4, **overrides: object) -> dict[str, object]:
    entry = {"data": np.zeros((n, 3072), np.uint8), "labels": list(range(n))}
    entry.update(overrides)
    return {k: v for k, v in entry.items() if v is not None}


@pytest.mark.parametrize("blob, fragment", [
    (pickle.dumps([1, 2, 3]), "pickle holds a list, expected a dict"),
    (py2_pickle({"data": np.zeros((2, 3072), np.uint8)}), "lacks key(s) 'labels'"),
    (py2_pickle({"labels": [1, 2]}), "lacks key(s) 'data'"),
    (pickle.dumps(_cifar10_batch(data=np.zeros((4, 3000), np.uint8))), "shape (4, 3000), expected (N, 3072)"),
    (pickle.dumps(_cifar10_batch(data=np.zeros(3072 * 4, np.uint8))), "expected (N, 3072)"),
    (pickle.dumps(_cifar10_batch(data=np.zeros((4, 3072), np.float32))), "'data' is dtype float32"),
    (pickle.dumps(_cifar10_batch(data=[[0] * 3072] * 4)), "'data' is list"),
    (pickle.dumps(_cifar10_batch(labels=[0, 1, 2])), "3 'labels' for 4 images"),
    (pickle.dumps(_cifar10_batch(labels=[0, 1, 2, 10])), "range over 0..10, expected 0..9"),
    (pickle.dumps(_cifar10_batch(labels=["a", "b", "c", "d"])), "must be a list of integers"),
    (pickle.dumps(_cifar10_batch(labels=[[0], [1, 2], [3], [4]])), "must be a list of integers"),
    (py2_pickle(_cifar10_batch())[:-200], "not a readable pickle"),
    (b"\x00\x01garbage", "not a readable pickle"),
    (b"", "not a readable pickle"),
])
def test_malformed_cifar_pickles(tmp_path, blob, fragment):
    write_cifar_official(tmp_path, "cifar10", n=4)
    target = tmp_path / "cifar-10-batches-py" / "test_batch"
    target.write_bytes(blob)
    with pytest.raises(DataError) as excinfo:
        load_image_set("cifar10", "test", data_dir=tmp_path)
    data_error(excinfo, "test_batch", fragment)


def test_imagenet16_labels_outside_1_to_1000(tmp_path):
    write_imagenet16_official(tmp_path, n=8)
    rows = np.zeros((2, 768), np.uint8)
    (tmp_path / "ImageNet16" / "val_data").write_bytes(py2_pickle({"data": rows, "labels": [0, 5]}))
    with pytest.raises(DataError) as excinfo:
        load_image_set("ImageNet16-120", "test", data_dir=tmp_path)
    data_error(excinfo, "val_data", "range over 0..5, expected 1..1000")


class _Sneaky:
    def __reduce__(self):
        return (os.getcwd, ())


def test_pickles_naming_other_globals_are_refused(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({"data": _Sneaky(), "labels": []}))
    with pytest.raises(DataError) as excinfo:
        formats.load_pickle_dict(path)
    data_error(excinfo, "test_batch", "refers to posix.getcwd, refused")


# =========================================================================== cache


def _cache_files() -> list[Path]:
    return sorted(image_cache.cache_dir("images").glob("cifar10-*.npz"))


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADSIGN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "images"


def test_second_load_comes_from_cache(tmp_path, fresh_cache):
    write_cifar10_zip(tmp_path / "images" / "cifar10-jpeg.zip")
    first = load_image_set("cifar10", "test", data_dir=tmp_path)
    second = load_image_set("cifar10", "test", data_dir=tmp_path)
    assert (first.cached, second.cached) == (False, True)
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.labels, second.labels)
    assert [p.name.startswith("cifar10-test-cifar10-jpeg-") for p in _cache_files()] == [True]
    load_image_set("cifar10", "train", data_dir=tmp_path)  # splits are cached separately
    assert len(_cache_files()) == 2


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong-arrays", "other-key"])
def test_damaged_cache_is_rebuilt(tmp_path, fresh_cache, damage, caplog):
    write_cifar10_zip(tmp_path / "images" / "cifar10-jpeg.zip")
    first = load_image_set("cifar10", "test", data_dir=tmp_path)
    (entry,) = _cache_files()
    if damage == "garbage":
        entry.write_bytes(b"\x00" * 100)
    elif damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:-1000])
    else:
        with np.load(entry) as npz:
            key = str(npz["key"]) if damage == "wrong-arrays" else "another source"
            labels = npz["labels"] + (50 if damage == "wrong-arrays" else 0)
            images = npz["images"]
        with open(entry, "wb") as f:
            np.savez(f, images=images, labels=labels, key=np.array(key))
    with caplog.at_level(logging.WARNING, logger="gradsign.data.image_cache"):
        rebuilt = load_image_set("cifar10", "test", data_dir=tmp_path)
    assert not rebuilt.cached
    assert "rebuilding image cache entry" in caplog.text
    np.testing.assert_array_equal(rebuilt.images, first.images)
    np.testing.assert_array_equal(rebuilt.labels, first.labels)
    assert load_image_set("cifar10", "test", data_dir=tmp_path).cached


def test_changed_source_replaces_the_cache_entry(tmp_path, fresh_cache):
    path = write_cifar10_zip(tmp_path / "images" / "cifar10-jpeg.zip", per_class={"test": 1})
    load_image_set("cifar10", "test", data_dir=tmp_path)
    (old,) = _cache_files()
    write_cifar10_zip(path, per_class={"test": 2})
    os.utime(path, ns=(1, 1))  # a distinct mtime even on coarse-grained file systems
    ims = load_image_set("cifar10", "test", data_dir=tmp_path)
    assert (ims.cached, len(ims)) == (False, 20)
    (new,) = _cache_files()
    assert new != old


def test_unwritable_cache_only_costs_speed(tmp_path, fresh_cache, monkeypatch, caplog):
    write_cifar10_zip(tmp_path / "images" / "cifar10-jpeg.zip", per_class={"test": 1})

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(image_cache.tempfile, "mkstemp", refuse)
    with caplog.at_level(logging.WARNING, logger="gradsign.data.image_cache"):
        assert len(load_image_set("cifar10", "test", data_dir=tmp_path)) == 10
    assert "could not write image cache" in caplog.text
    assert not load_image_set("cifar10", "test", data_dir=tmp_path).cached


def test_use_cache_false_writes_nothing(tmp_path, fresh_cache):
    write_cifar_official(tmp_path, "cifar10", n=4)
    assert not load_image_set("cifar10", "test", data_dir=tmp_path, use_cache=False).cached
    assert _cache_files() == []


# =========================================================================== the ImageSet object


def test_image_set_is_read_only_and_validated():
    ims = make_set()
    with pytest.raises(ValueError):
        ims.images[0, 0, 0, 0] = 1
    with pytest.raises(ValueError):
        ims.labels[0] = 1
    assert (ims.source, ims.path, ims.requested_split, ims.fell_back) == ("memory", None, "test", False)
    assert ims.class_counts().tolist() == [5] * 10
    with pytest.raises(DataError, match="labels range over 0..10"):
        ImageSet("cifar10", "test", np.zeros((2, 32, 32, 3), np.uint8), np.array([0, 10]))
    with pytest.raises(ConfigError):
        ImageSet("cifar10", "val", np.zeros((2, 32, 32, 3), np.uint8), np.array([0, 1]))


def test_tensors_are_normalized_per_channel():
    info = dataset_info("cifar100")
    images = np.zeros((3, 32, 32, 3), np.uint8)
    images[0] = np.round(np.array(info.mean) * 255)  # about the mean: about 0
    images[1, ..., 0] = 255  # pure red: only channel 0 at its maximum
    images[2] = 255
    ims = ImageSet("cifar100", "test", images, np.array([0, 1, 2]))
    x, y = ims.tensors()
    assert x.dtype == torch.float32 and x.shape == (3, 3, 32, 32) and x.is_contiguous()
    assert y.dtype == torch.int64 and y.tolist() == [0, 1, 2]
    mean, std = np.array(info.mean), np.array(info.std)
    assert np.abs(x[0].numpy()).max() < 0.5 / 255 / std.min()
    np.testing.assert_allclose(x[1, :, 5, 5].numpy(), (np.array([1.0, 0, 0]) - mean) / std, rtol=1e-6)
    np.testing.assert_allclose(x[2, :, 0, 0].numpy(), (1 - mean) / std, rtol=1e-6)
    xs, ys = ims.tensors(np.array([2, 0]))
    assert torch.equal(xs, x[[2, 0]]) and ys.tolist() == [2, 0]


# =========================================================================== sampling


@pytest.mark.parametrize("sampling", ["random", "grasp"])
@pytest.mark.parametrize("augment", [False, True])
def test_same_seed_same_batch(sampling, augment):
    ims = make_set()
    a = ims.sample_batch(16, seed=3, sampling=sampling, samples_per_class=2, augment=augment)
    b = ims.sample_batch(16, seed=3, sampling=sampling, samples_per_class=2, augment=augment)
    c = ims.sample_batch(16, seed=4, sampling=sampling, samples_per_class=2, augment=augment)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_sampling_leaves_global_rng_alone():
    ims = make_set()
    np_state, torch_state, py_state = np.random.get_state(), torch.get_rng_state(), random.getstate()
    ims.sample_batch(8, seed=0, augment=True)
    ims.sample_batch(seed=1, sampling="grasp", samples_per_class=3, augment=True)
    after = np.random.get_state()
    assert all(np.array_equal(x, y) for x, y in zip(np_state, after))
    assert torch.equal(torch_state, torch.get_rng_state()) and py_state == random.getstate()


def test_random_sampling():
    ims = make_set(per_class=3)
    x, y = ims.sample_batch(12, seed=0)
    assert x.shape == (12, 3, 32, 32) and y.shape == (12,) and y.dtype == torch.int64
    idx = ims.sample_indices(12, seed=0)
    assert len(set(idx.tolist())) == 12 and idx.min() >= 0 and idx.max() < 30
    assert torch.equal(y, torch.from_numpy(ims.labels[idx]))
    assert torch.equal(x, ims.tensors(idx)[0])
    assert len(ims.sample_batch(30, seed=0)[1]) == 30  # the whole set, permuted
    with pytest.raises(ConfigError, match="batch_size 31 exceeds the 30 images"):
        ims.sample_batch(31, seed=0)


@pytest.mark.parametrize("dataset, k", [("cifar10", 1), ("cifar10", 4), ("cifar100", 2), ("ImageNet16-120", 3)])
def test_grasp_sampling_takes_k_per_class(dataset, k):
    ims = make_set(dataset, per_class=4)
    x, y = ims.sample_batch(seed=0, sampling="grasp", samples_per_class=k)
    c = ims.num_classes
    assert x.shape == (c * k, *ims.input_size)
    assert y.tolist() == np.repeat(np.arange(c), k).tolist()  # class by class, as get_some_data_grasp
    idx = ims.sample_indices(seed=0, sampling="grasp", samples_per_class=k)
    assert len(set(idx.tolist())) == c * k


def test_grasp_sampling_needs_enough_images_per_class():
    labels = np.repeat(np.arange(10), 3)
    labels[0] = 1  # class 0 now has 2 images
    ims = ImageSet("cifar10", "test", np.zeros((30, 32, 32, 3), np.uint8), labels)
    assert len(ims.sample_batch(seed=0, sampling="grasp", samples_per_class=2)[1]) == 20
    with pytest.raises(ConfigError, match="class 0: 2.*at most 2"):
        ims.sample_batch(seed=0, sampling="grasp", samples_per_class=3)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"sampling": "stratified"}, "unknown sampling 'stratified'; valid: random, grasp"),
    ({"batch_size": 0}, "batch_size must be a positive integer"),
    ({"batch_size": 2.5}, "batch_size must be a positive integer"),
    ({"sampling": "grasp", "samples_per_class": 0}, "samples_per_class must be a positive integer"),
    ({"seed": -1}, "seed must be a non-negative integer"),
    ({"seed": "0"}, "seed must be a non-negative integer"),
])
def test_bad_sampling_arguments(kwargs, fragment):
    with pytest.raises(ConfigError) as excinfo:
        make_set().sample_batch(**kwargs)
    assert fragment in str(excinfo.value)


@pytest.mark.parametrize("dataset", ["cifar10", "ImageNet16-120"])
def test_augmented_batch_keeps_images_labels_and_shape(dataset):
    ims = make_set(dataset, per_class=2)
    plain_x, plain_y = ims.sample_batch(20, seed=5)
    aug_x, aug_y = ims.sample_batch(20, seed=5, augment=True)
    assert aug_x.shape == plain_x.shape == (20, *ims.input_size) and aug_x.dtype == torch.float32
    assert torch.equal(aug_y, plain_y)
    assert not torch.equal(aug_x, plain_x)


def _crops_and_flips(image: np.ndarray, padding: int) -> list[np.ndarray]:
    h, w = image.shape[:2]
    padded = np.pad(image, ((padding, padding), (padding, padding), (0, 0)))
    crops = [padded[t:t + h, l:l + w] for t in range(2 * padding + 1) for l in range(2 * padding + 1)]
    return crops + [c[:, ::-1] for c in crops]


@pytest.mark.parametrize("size, padding", [(32, 4), (16, 2)])
def test_random_crop_flip_is_a_padded_crop_maybe_flipped(size, padding):
    rng = np.random.default_rng(0)
    images = random_images(rng, 100, size)
    out = random_crop_flip(images, padding, np.random.default_rng(1))
    assert out.shape == images.shape and out.dtype == np.uint8
    flipped = unchanged = 0
    for image, result in zip(images, out):
        options = _crops_and_flips(image, padding)
        hits = [i for i, option in enumerate(options) if np.array_equal(option, result)]
        assert hits, "not a crop of the zero-padded image"
        flipped += hits[0] >= len(options) // 2
        unchanged += np.array_equal(result, image)
    assert 25 < flipped < 75  # flip probability 1/2
    assert unchanged < 12  # offsets vary (centre crop, unflipped: 1 in 2 * (2p+1)^2)
    # Zero padding on the raw pixels: some results show black borders.
    assert (out.reshape(len(out), -1, 3) == 0).all(axis=2).any()
