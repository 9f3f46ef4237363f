"""The one dataset-name table: every module accepts the same spellings."""

from __future__ import annotations

import pytest

from gradsign.benchmarks.datasets import DATASET_NAMES, IMAGE_SETS, canonical_dataset
from gradsign.errors import ConfigError

NB201_TABLE_DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")


@pytest.mark.parametrize("alias, canonical", [
    ("c10", "cifar10"), ("CIFAR10", "cifar10"), ("cifar-10", "cifar10"),
    ("c100", "cifar100"), ("CIFAR_100", "cifar100"),
    ("in16", "ImageNet16-120"), ("imagenet16", "ImageNet16-120"), ("ImageNet16-120", "ImageNet16-120"),
])
def test_aliases_name_one_canonical_dataset(alias, canonical):
    assert canonical_dataset(alias) == canonical


def test_cifar10_valid_is_kept_where_a_benchmark_records_it_and_means_its_images_elsewhere():
    assert canonical_dataset("cifar10-valid") == "cifar10"
    assert canonical_dataset("c10-valid", among=NB201_TABLE_DATASETS) == "cifar10-valid"
    assert canonical_dataset("c10", among=NB201_TABLE_DATASETS) == "cifar10"


def test_unknown_or_unsupported_name_is_one_line_listing_the_valid_ones():
    with pytest.raises(ConfigError) as excinfo:
        canonical_dataset("mnist")
    message = str(excinfo.value)
    assert "'mnist'" in message and "\n" not in message
    assert all(name in message for name in IMAGE_SETS)
    with pytest.raises(ConfigError, match=r"unknown NB101 dataset 'c100'; valid: cifar10$"):
        canonical_dataset("c100", among=("cifar10",), label="NB101 dataset")


def test_every_module_uses_the_table():
    from gradsign.benchmarks.nb201 import DATASETS as TABLE_DATASETS
    from gradsign.benchmarks.nb201 import _canonical_dataset as table_dataset
    from gradsign.data.images import DATASETS as IMAGE_DATASETS
    from gradsign.data.images import dataset_info
    from gradsign.search.oracle import nb201_dataset

    assert IMAGE_DATASETS == IMAGE_SETS and set(TABLE_DATASETS) <= set(DATASET_NAMES)
    for alias in ("c10", "CIFAR-10", "cifar10"):
        assert dataset_info(alias).name == nb201_dataset(alias) == table_dataset(alias) == "cifar10"
    assert nb201_dataset("cifar10-valid") == "cifar10" and table_dataset("cifar10-valid") == "cifar10-valid"
    assert dataset_info("in16").name == nb201_dataset("in16") == table_dataset("in16") == "ImageNet16-120"


@pytest.mark.data
@pytest.mark.parametrize("proxy_args", [[], ["--proxy", "params", "--candidates", "2", "--no-store"]])
def test_search_accepts_an_alias_with_and_without_a_proxy(proxy_args, data_dir, tmp_path, capsys):
    """Regression (#24): ``--dataset c10`` worked without ``--proxy`` and failed with one."""
    import json

    from gradsign.cli.main import main

    argv = ["search", "--dataset", "c10", "--algo", "rs", "--runs", "1", "--budget", "5evals",
            "--data-dir", str(data_dir), "--no-progress", "--output", str(tmp_path), *proxy_args]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert (exc.value.code or 0) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["settings"]) == (3 if proxy_args else 1)
