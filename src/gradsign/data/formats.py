"""Readers for the on-disk image formats: JPEG class folders in a zip, npz subsets, pickles.

Every reader returns ``(images, labels)``: ``images`` uint8 of shape
``(N, H, W, 3)`` (HWC, RGB) and ``labels`` int64 of shape ``(N,)``, already in
the dataset's 0-based label space. Anything wrong with a file becomes a
one-line :class:`~gradsign.errors.DataError` that names the file (and the
member, for archives); no exception from numpy, PIL, zipfile or pickle leaks
out, because these files come from users and downloads we do not control.

The readers know nothing about where files live or which dataset is wanted;
:mod:`gradsign.data.images` picks the reader and its arguments.
"""

from __future__ import annotations

import importlib
import io
import pickle
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from gradsign.errors import DataError

RawImages = tuple[np.ndarray, np.ndarray]
"""``(images uint8 (N, H, W, 3), labels int64 (N,))``."""

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while a slow reader works (images, or files for pickles)."""

_PROGRESS_EVERY = 1000  # images between progress calls: often enough for a bar, cheap enough to ignore

CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
"""CIFAR-10 class names in label order 0..9 (the order of the official release)."""

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_SPLITS = ("train", "test")


# --------------------------------------------------------------------------- validation


def check_arrays(images: object, labels: object, *, where: str, image_size: int, num_classes: int) -> RawImages:
    """Validate decoded arrays and return them as (uint8 NHWC, int64) arrays.

    ``where`` names the culprit in error messages (a file, or a file and member).
    """
    if not isinstance(images, np.ndarray) or not isinstance(labels, np.ndarray):
        raise DataError(f"{where}: images and labels must be numpy arrays")
    if images.dtype != np.uint8:
        raise DataError(f"{where}: images have dtype {images.dtype}, expected uint8")
    expected = f"(N, {image_size}, {image_size}, 3)"
    if images.ndim != 4 or images.shape[1:] != (image_size, image_size, 3):
        raise DataError(f"{where}: images have shape {images.shape}, expected {expected}")
    if labels.dtype.kind not in "iu":
        raise DataError(f"{where}: labels have dtype {labels.dtype}, expected integers")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(f"{where}: labels have shape {labels.shape}, expected ({images.shape[0]},) to match the images")
    if images.shape[0] == 0:
        raise DataError(f"{where}: holds no images")
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= num_classes:
        raise DataError(f"{where}: labels range over {lo}..{hi}, expected 0..{num_classes - 1}")
    return images, labels.astype(np.int64, copy=False)


# --------------------------------------------------------------------------- npz subsets


def read_npz(path: Path, *, image_size: int, num_classes: int) -> RawImages:
    """Read an ``.npz`` with arrays ``images`` (N, H, W, 3) uint8 and ``labels`` (N,) int.

    Loaded with ``allow_pickle=False``: an npz holding object arrays is refused.
    """
    # Open the file here rather than handing np.load the path: np.load leaks its
    # handle when the archive is damaged.
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot open ({exc.strerror or exc})") from None
    with f:
        try:
            npz = np.load(f, allow_pickle=False)
        # numpy raises ValueError for a file that is neither npz nor npy (it would
        # need unpickling), zipfile.BadZipFile for a truncated archive, and
        # EOFError / OSError for short reads.
        except (ValueError, zipfile.BadZipFile) as exc:
            what = _zip_problem(path) if isinstance(exc, zipfile.BadZipFile) else "not an npz file"
            raise DataError(f"{path}: {what}") from None
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable npz file ({_short(exc)})") from None
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise DataError(f"{path}: is a single .npy array, expected an npz archive with 'images' and 'labels'")
        with npz:
            missing = [name for name in ("images", "labels") if name not in npz.files]
            if missing:
                raise DataError(
                    f"{path}: npz has no array {' or '.join(repr(m) for m in missing)} "
                    f"(it has {', '.join(npz.files) or 'none'})"
                )
            try:
                images, labels = npz["images"], npz["labels"]
            # A corrupt member (CRC error), an object array refused by allow_pickle=False, ...
            except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
                raise DataError(f"{path}: unreadable array in npz ({_short(exc)})") from None
    return check_arrays(images, labels, where=str(path), image_size=image_size, num_classes=num_classes)


# --------------------------------------------------------------------------- JPEG class folders in a zip


def read_class_folder_zip(
    path: Path, split: str, *, class_names: Sequence[str], image_size: int, progress: Progress | None = None
) -> RawImages:
    """Decode ``<split>/<class>/<file>.jpg`` members of a zip (one optional top folder allowed).

    Only the members of ``split`` are decoded. Images come out ordered by label,
    then by member name, so the result does not depend on the archive's order.
    Every class of ``class_names`` must have at least one image in the split.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    label_of = {name: i for i, name in enumerate(class_names)}
    with _open_zip(path) as archive:
        members = _split_members(archive, path, split, label_of)
        images = np.empty((len(members), image_size, image_size, 3), dtype=np.uint8)
        labels = np.empty(len(members), dtype=np.int64)
        for i, (label, info) in enumerate(members):
            where = f"{path}: member {info.filename}"
            try:
                data = archive.read(info)
            except Exception as exc:  # CRC mismatch, bad compression data, short read
                raise DataError(f"{where} is unreadable ({_short(exc)})") from None
            images[i] = _decode_image(data, where, image_size)
            labels[i] = label
            if progress is not None and ((i + 1) % _PROGRESS_EVERY == 0 or i + 1 == len(members)):
                progress(i + 1, len(members))
    return images, labels


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a zip file") from None
    except zipfile.BadZipFile:
        raise DataError(f"{path}: {_zip_problem(path)}") from None
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: not a readable zip file ({_short(exc)})") from None


def _zip_problem(path: Path) -> str:
    """Why zipfile rejected ``path``: cut short (it starts like a zip) or not a zip at all."""
    try:
        with open(path, "rb") as f:
            starts_like_zip = f.read(4) == b"PK\x03\x04"
    except OSError:
        starts_like_zip = False
    if starts_like_zip:
        return "truncated or damaged zip file (its central directory is missing)"
    return "not a zip file"


def _split_members(
    archive: zipfile.ZipFile, path: Path, split: str, label_of: dict[str, int]
) -> list[tuple[int, zipfile.ZipInfo]]:
    """The image members of ``split``, as (label, info), sorted by label then name."""
    found: dict[str, list[tuple[int, zipfile.ZipInfo]]] = {}  # keyed by top folder ("" for none)
    unknown: set[str] = set()
    for info in archive.infolist():
        if info.is_dir():
            continue
        # Plain str.split: PurePosixPath costs seconds over the 60k members of CIFAR-10.
        parts = info.filename.lstrip("/").split("/")
        # Archives made on macOS carry resource forks and dot-files; they are not images.
        if parts[0] == "__MACOSX" or parts[-1].startswith("."):
            continue
        if not parts[-1].lower().endswith(_IMAGE_SUFFIXES):
            continue
        # Accept split/class/file and top/split/class/file (zips of a downloaded folder).
        if len(parts) == 3:
            top, rest = "", parts
        elif len(parts) == 4:
            top, rest = parts[0], parts[1:]
        else:
            continue
        if rest[0] != split:
            continue
        if rest[1] not in label_of:
            unknown.add(rest[1])
            continue
        found.setdefault(top, []).append((label_of[rest[1]], info))
    expected = f"{split}/<class>/*.jpg with classes {', '.join(label_of)}"
    if unknown:
        raise DataError(
            f"{path}: unexpected class folder(s) {', '.join(sorted(unknown))} in {split}/ (expected {expected})"
        )
    if not found:
        raise DataError(f"{path}: no images under {split}/ (expected {expected})")
    if len(found) > 1:
        tops = ", ".join(f"{t}/" if t else "(root)" for t in sorted(found))
        raise DataError(f"{path}: ambiguous layout, {split}/ class folders found under several top folders: {tops}")
    members = next(iter(found.values()))
    present = {label for label, _ in members}
    absent = [name for name, label in label_of.items() if label not in present]
    if absent:
        raise DataError(f"{path}: no {split} images for class(es) {', '.join(absent)}")
    members.sort(key=lambda m: (m[0], m[1].filename))
    return members


def _decode_image(data: bytes, where: str, image_size: int) -> np.ndarray:
    try:
        with Image.open(io.BytesIO(data), formats=("JPEG", "PNG")) as img:
            img.load()
            if img.size != (image_size, image_size):
                raise DataError(f"{where} is {img.size[0]}x{img.size[1]}, expected {image_size}x{image_size}")
            if img.mode != "RGB":
                img = img.convert("RGB")
            return np.asarray(img)
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(f"{where} is not a JPEG or PNG image") from None
    # PIL raises a zoo of exception types on undecodable input (UnidentifiedImageError,
    # OSError for truncation, SyntaxError, ValueError, DecompressionBombError, ...).
    except Exception as exc:
        raise DataError(f"{where} is not a decodable image ({_short(exc)})") from None


# --------------------------------------------------------------------------- pickles


class _ForbiddenGlobal(pickle.UnpicklingError):
    """A pickle names a global outside the allow-list; the message is its dotted name."""


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds plain numpy arrays, numbers, strings and containers.

    The official CIFAR and ImageNet16 releases are pickles, and unpickling runs
    whatever a file names; refusing every other global keeps a tampered download
    from executing code.
    """

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # how protocol 2 stores bytes (array buffers)
    }

    def find_class(self, module: str, name: str) -> object:
        # Pickles written by numpy < 2 (and by Python 2) name numpy.core.*; numpy 2
        # keeps those only as deprecated aliases of numpy._core.*.
        if module.startswith("numpy.core."):
            module = "numpy._core." + module[len("numpy.core."):]
        if (module, name) not in self._ALLOWED:
            raise _ForbiddenGlobal(f"{module}.{name}")
        return getattr(importlib.import_module(module), name)


def load_pickle_dict(path: Path) -> dict[str, object]:
    """Unpickle a dict the way NB201's loaders do (``encoding='latin1'``), with str keys.

    Python 2 pickles (the official releases) come back with str keys under
    latin1; bytes keys (files re-pickled with ``encoding='bytes'``) are decoded
    so both spellings work.
    """
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f, encoding="latin1").load()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, expected a pickle file") from None
    except _ForbiddenGlobal as exc:
        raise DataError(
            f"{path}: pickle refers to {exc}, refused (only numpy arrays, lists, numbers and strings are loaded)"
        ) from None
    # Unpickling arbitrary bytes can fail with nearly any exception type
    # (UnpicklingError, EOFError for truncation, ValueError, KeyError, ...).
    except Exception as exc:
        raise DataError(f"{path}: not a readable pickle ({_short(exc)})") from None
    if not isinstance(obj, dict):
        raise DataError(f"{path}: pickle holds a {type(obj).__name__}, expected a dict with 'data' and labels")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _pickle_batch(path: Path, label_key: str, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The validated ``data`` rows (N, 3*H*W) uint8 and ``label_key`` (N,) int64 of one pickle."""
    entry = load_pickle_dict(path)
    missing = [k for k in ("data", label_key) if k not in entry]
    if missing:
        keys = ", ".join(repr(k) for k in entry) or "none"
        raise DataError(f"{path}: pickle dict lacks key(s) {', '.join(repr(m) for m in missing)} (has {keys})")
    data, raw_labels = entry["data"], entry[label_key]
    row = 3 * image_size * image_size
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        what = f"dtype {data.dtype}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{path}: 'data' is {what}, expected a uint8 array")
    if data.ndim != 2 or data.shape[1] != row:
        raise DataError(
            f"{path}: 'data' has shape {data.shape}, expected (N, {row}) rows of {image_size}x{image_size} RGB"
        )
    labels = _as_int_labels(raw_labels)
    if labels is None:
        raise DataError(f"{path}: {label_key!r} must be a list of integers")
    if labels.shape[0] != data.shape[0]:
        raise DataError(f"{path}: {labels.shape[0]} {label_key!r} for {data.shape[0]} images in 'data'")
    return data, labels.astype(np.int64)


def _rows_to_hwc(rows: np.ndarray, image_size: int) -> np.ndarray:
    """Channel-planar rows (all R, then all G, then all B: CHW) as contiguous HWC images."""
    images = rows.reshape(-1, 3, image_size, image_size).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images)


def _as_int_labels(raw: object) -> np.ndarray | None:
    """``raw`` as a 1-D integer array, or None when it is anything else."""
    if isinstance(raw, (list, tuple)) and len(raw) == 0:
        return np.empty(0, dtype=np.int64)  # np.asarray([]) would be float64
    try:
        labels = np.asarray(raw)
    except (ValueError, TypeError):  # ragged nesting
        return None
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        return None
    return labels


def read_cifar_pickles(
    directory: Path, members: Sequence[str], *, label_key: str, num_classes: int, progress: Progress | None = None
) -> RawImages:
    """Read official CIFAR python batches (``data_batch_*``/``test_batch``, or ``train``/``test``).

    ``label_key`` is ``"labels"`` for CIFAR-10 and ``"fine_labels"`` for CIFAR-100.
    """
    images, labels = [], []
    for member in members:
        path = directory / member
        rows, labs = _pickle_batch(path, label_key, 32)
        if len(labs) and (labs.min() < 0 or labs.max() >= num_classes):
            raise DataError(
                f"{path}: {label_key!r} range over {labs.min()}..{labs.max()}, expected 0..{num_classes - 1}"
            )
        images.append(_rows_to_hwc(rows, 32))
        labels.append(labs)
        if progress is not None:
            progress(len(images), len(members))
    return check_arrays(
        np.concatenate(images), np.concatenate(labels),
        where=str(directory), image_size=32, num_classes=num_classes,
    )


def read_imagenet16_pickles(
    directory: Path, members: Sequence[str], *, num_classes: int = 120, progress: Progress | None = None
) -> RawImages:
    """Read official downsampled-ImageNet 16x16 pickles, keeping the first ``num_classes`` classes.

    The files hold all 1000 classes with labels 1..1000. As NAS-Bench-201's
    ``ImageNet16`` loader does for ImageNet16-120, images with label
    1..``num_classes`` are kept and labels shift down by one to 0..num_classes-1.
    Filtering happens file by file, so the full training set (about 1 GB) is
    never held in memory at once.
    """
    images, labels = [], []
    for member in members:
        path = directory / member
        rows, labs = _pickle_batch(path, "labels", 16)
        if len(labs) and (labs.min() < 1 or labs.max() > 1000):
            raise DataError(f"{path}: 'labels' range over {labs.min()}..{labs.max()}, expected 1..1000")
        keep = labs <= num_classes
        # Select before converting: about 7/8 of the rows are dropped.
        images.append(_rows_to_hwc(rows[keep], 16))
        labels.append(labs[keep] - 1)
        if progress is not None:
            progress(len(images), len(members))
    return check_arrays(
        np.concatenate(images), np.concatenate(labels),
        where=f"{directory} ({', '.join(members)}; classes 1..{num_classes})",
        image_size=16, num_classes=num_classes,
    )


def _short(exc: BaseException) -> str:
    """An exception as one short line, for embedding in a DataError message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
