"""scripts/crosscheck_naslib.py: NASLib's NB201 keys decode to the right cells.

A wrong edge or op order would silently pair our scores with other cells'. The
parameter count pins it down: NASLib's stored ``params`` (millions) must equal
the count of the cell we decode, for every cell of its file.
"""

from __future__ import annotations

import json

import pytest
from benchmark_scripts import load_benchmark_script

from gradsign.spaces.nb201_network import count_nb201_params


@pytest.fixture(scope="module")
def xcheck():
    return load_benchmark_script("crosscheck_naslib.py")


def test_key_decoding_by_hand(xcheck):
    # NASLib ops [skip, none, conv3, conv1, pool] on edges (0->1, 0->2, 0->3, 1->2, 1->3, 2->3).
    arch = xcheck.naslib_key_to_arch("(0, 2, 3, 2, 3, 1)")
    assert arch.to_string() == "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"


@pytest.fixture(scope="module")
def naslib_nb201(data_dir):
    path = data_dir / "naslib_zc" / "zc_nasbench201.json"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return json.loads(path.read_text())


@pytest.mark.data
@pytest.mark.parametrize("dataset,classes", [("cifar10", 10), ("cifar100", 100), ("ImageNet16-120", 120)])
def test_decoded_cells_have_naslib_param_counts(xcheck, naslib_nb201, dataset, classes):
    table = naslib_nb201[dataset]
    for key, rec in table.items():
        ours = count_nb201_params(xcheck.naslib_key_to_arch(key), classes)
        assert ours == round(rec["params"]["score"] * 1e6), (key, ours, rec["params"]["score"])
