"""The full DARTS space (op 'none', a node reading one input twice) and the genotype file formats users have.

The tests write their own genotypes in the public formats: DARTS's ``Genotype(...)``
repr (one per line, and a ``genotypes.py``-style file), a JSON file shaped like the
Network Design Spaces (NDS) DARTS data set (records ``{"net": {"genotype": ...}}``
under ``"top"`` / ``"mid"``), and NAS-Bench-301's ConfigSpace configuration.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

import gradsign
from gradsign.cli.main import main
from gradsign.errors import ArchError, ConfigError
from gradsign.spaces import get_space
from gradsign.spaces.darts import (
    DARTS_OPS,
    DARTS_PRIMITIVES,
    DartsArch,
    check_nb301,
    darts_space_size,
    is_nb301_valid,
    nb301_violation,
    parse_darts,
    sample_darts,
    split_darts_archs,
)
from gradsign.spaces.darts_network import Zero, build_darts_network, count_darts_params, param_count

# From DARTS's genotypes.py (both in the NB301 subset), verbatim apart from line breaks.
DARTS_V1 = (
    "Genotype(normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1), "
    "('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)], reduce_concat=[2, 3, 4, 5])"
)
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=range(2, 6), "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))"
)
N_GENOTYPES = 20
N_NB301 = 3  # DARTS_V1, DARTS_V2 and one of the 18 NDS-style draws below (genotype 11) are in the NB301 subset


def nds_style_cells(n: int, seed: int) -> list[tuple[list, list]]:
    """``n`` genotypes drawn as the NDS DARTS space allows: any of the 8 primitives, inputs with replacement."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        cells = []
        for _cell in range(2):
            pairs = []
            for k in range(4):
                for _ in range(2):
                    pairs.append((DARTS_PRIMITIVES[int(rng.integers(8))], int(rng.integers(k + 2))))
            cells.append(pairs)
        out.append((cells[0], cells[1]))
    return out


def genotype_repr(normal, reduce) -> str:
    """DARTS's repr of its Genotype namedtuple, with the concat lists as genotypes.py writes them."""
    return (f"Genotype(normal={[tuple(p) for p in normal]!r}, normal_concat=range(2, 6), "
            f"reduce={[tuple(p) for p in reduce]!r}, reduce_concat=range(2, 6))")


def genotype_strings() -> list[str]:
    return [DARTS_V1, DARTS_V2] + [genotype_repr(n, r) for n, r in nds_style_cells(N_GENOTYPES - 2, seed=23)]


def write_genotype_lines(path) -> list[str]:
    lines = genotype_strings()
    path.write_text("# DARTS-space genotypes, one Genotype(...) per line\n" + "\n".join(lines) + "\n")
    return lines


def write_nds_json(path) -> list[DartsArch]:
    """An NDS-shaped file: {"top": [...], "mid": [...]}, records {"net": {"genotype": {...}, ...}, ...}."""
    archs = [parse_darts(s) for s in genotype_strings()]
    records = []
    for i, a in enumerate(archs):
        genotype = {"normal": [list(p) for p in a.normal], "normal_concat": [2, 3, 4, 5],
                    "reduce": [list(p) for p in a.reduce], "reduce_concat": [2, 3, 4, 5]}
        records.append({"net": {"genotype": genotype, "width": 16, "depth": 8, "aux": False, "drop_prob": 0.0},
                        "test_ep_top1": [90.0 - i, 20.0 + i / 10]})
    path.write_text(json.dumps({"top": records[:10], "mid": records[10:]}))
    return archs


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


# --------------------------------------------------------------------------- what is accepted now


def test_the_written_genotypes_use_none_and_repeated_inputs_and_few_are_nb301():
    archs = [parse_darts(s) for s in genotype_strings()]
    assert len(archs) == len(set(archs)) == N_GENOTYPES
    with_none = [a for a in archs if any(op == "none" for op, _ in a.normal + a.reduce)]
    with_repeat = [a for a in archs if any(c[2 * k][1] == c[2 * k + 1][1] for c in (a.normal, a.reduce) for k in range(4))]
    assert len(with_none) >= 10 and len(with_repeat) >= 10
    # Before, DartsArch refused every genotype outside NB301's subset: 3 of the 20 parsed.
    assert sum(is_nb301_valid(a) for a in archs) == N_NB301
    assert [i for i, a in enumerate(archs) if is_nb301_valid(a)] == [0, 1, 10]


def test_space_sizes_full_darts_vs_nb301_subset():
    # Count per node by enumeration (unordered pairs of (op, input)), then multiply.
    full = nb301 = 1
    for k in range(4):
        choices = [(op, i) for op in DARTS_PRIMITIVES for i in range(k + 2)]
        pairs = {tuple(sorted(p)) for p in itertools.product(choices, repeat=2)}
        full *= len(pairs)
        nb301 *= sum(1 for (o1, i1), (o2, i2) in pairs if "none" not in (o1, o2) and i1 != i2)
    assert darts_space_size("darts") == full**2 == 312_044_028_493_824_000_000  # ~3.1e20
    assert darts_space_size("nb301") == nb301**2 == 1_076_746_950_455_072_400  # ~1.1e18, 0.35% of it
    with pytest.raises(ConfigError):
        darts_space_size("nds")


def test_full_space_genotypes_round_trip_and_normalize():
    for s in genotype_strings():
        a = parse_darts(s)
        assert parse_darts(a.to_string()) == a and DartsArch.from_genotype(a.to_genotype()) == a
        assert get_space("darts").parse(s) == a
    a = DartsArch([("none", 0), ("skip_connect", 0)] + [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 3,
                  [("max_pool_3x3", 1), ("none", 1)] * 4)
    b = DartsArch([("skip_connect", 0), ("none", 0)] + [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 3,
                  [("none", 1), ("max_pool_3x3", 1)] * 4)
    assert a != b and a.normalized() == b.normalized()  # one input twice: ties ordered by op
    # NASLib's compact form has no 'none'; repeated inputs it can write.
    with pytest.raises(ArchError, match="no index for op 'none'"):
        a.compact()
    rep = DartsArch([("skip_connect", 1), ("sep_conv_3x3", 1)] * 4, [("max_pool_3x3", 0)] * 8)
    assert parse_darts(rep.to_compact_string()) == rep and not is_nb301_valid(rep)


def test_genotype_mapping_and_nb301_config_forms():
    a = parse_darts(genotype_strings()[5])
    genotype = {"normal": [list(p) for p in a.normal], "normal_concat": [2, 3, 4, 5],
                "reduce": [list(p) for p in a.reduce], "reduce_concat": [2, 3, 4, 5]}
    for doc in (genotype, {"genotype": genotype}, {"net": {"genotype": genotype, "width": 16}}):
        assert parse_darts(json.dumps(doc)) == a == DartsArch.from_dict(doc)
    assert parse_darts(repr(genotype)) == a  # a Python dict literal too
    with pytest.raises(ArchError, match="must be \\[2, 3, 4, 5\\]"):
        DartsArch.from_dict({**genotype, "normal_concat": [3, 4, 5]})
    with pytest.raises(ArchError, match="unknown fields 'colour'"):
        DartsArch.from_dict({**genotype, "colour": 1})
    # NAS-Bench-301's ConfigSpace form: NB301 archs only, pairs listed by input.
    b = parse_darts(DARTS_V2)
    config = b.to_nb301_config()
    assert config["NetworkSelectorDatasetInfo:darts:inputs_node_normal_5"] == "0_2"
    assert config["NetworkSelectorDatasetInfo:darts:edge_normal_9"] == "skip_connect"
    assert DartsArch.from_nb301_config(config) == b.normalized() == parse_darts(json.dumps(config)).normalized()
    assert DartsArch.from_dict({"optimized_hyperparamater_config": {**config, "OptimizerSelector:sgd:lr": 0.1}}) \
        == b.normalized()
    with pytest.raises(ArchError, match="outside the NAS-Bench-301 space"):
        a.to_nb301_config()
    del config["NetworkSelectorDatasetInfo:darts:inputs_node_reduce_4"]
    with pytest.raises(ArchError, match="inputs_node_reduce_4"):
        DartsArch.from_nb301_config(config)


def test_split_files_in_each_format(tmp_path):
    lines = write_genotype_lines(tmp_path / "g.txt")
    items = split_darts_archs((tmp_path / "g.txt").read_text())
    assert [w for w, _ in items] == list(range(2, 22)) and [parse_darts(t) for _, t in items] == [parse_darts(s) for s in lines]
    # DARTS's genotypes.py layout: imports, the namedtuple, PRIMITIVES, multi-line assignments.
    source = ("from collections import namedtuple\n\nGenotype = namedtuple('Genotype', 'normal normal_concat reduce "
              "reduce_concat')\n\nPRIMITIVES = " + repr(list(DARTS_PRIMITIVES)) + "\n\n"
              + "\n".join(f"G{i} = " + s.replace("), (", "),\n    (") + "\n" for i, s in enumerate(lines[:5]))
              + "DARTS = G1\n")
    items = split_darts_archs(source)
    assert len(items) == 5 and [parse_darts(t) for _, t in items] == [parse_darts(s) for s in lines[:5]]
    archs = write_nds_json(tmp_path / "nds.json")
    items = split_darts_archs((tmp_path / "nds.json").read_text())
    assert [w for w, _ in items][:2] == ["record 1", "record 2"] and [parse_darts(t) for _, t in items] == archs
    assert len(split_darts_archs(json.dumps([json.loads(t) for _, t in items]))) == 20  # a plain list of records
    assert split_darts_archs("Genotype(normal=[\n") is None  # not Python: read line by line


# --------------------------------------------------------------------------- networks


def test_none_is_darts_zero_op_with_stride_and_no_parameters():
    z = Zero(2)
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(Zero(1)(x), torch.zeros_like(x)) and z(x).shape == (2, 3, 4, 4) and not list(z.parameters())
    # A reduction cell whose nodes read 'none' from nodes 0/1 (stride 2) and from each other.
    arch = DartsArch([("none", 0), ("none", 0)] + [("sep_conv_3x3", 0), ("none", 2)] * 3,
                     [("none", 0), ("none", 1), ("none", 2), ("max_pool_3x3", 1), ("none", 3), ("none", 3),
                      ("skip_connect", 0), ("none", 4)])
    torch.manual_seed(0)
    net = build_darts_network(arch, C=4, layers=3, drop_path_prob=0.2)
    assert param_count(net) == count_darts_params(arch, C=4, layers=3)
    states = {}
    assert net.cells[1].reduction  # C=4, layers=3: cells 1 and 2 reduce, cell 1 at width 8
    hook = net.cells[1].register_forward_hook(lambda m, i, o: states.setdefault("out", o))
    out = net(torch.randn(2, 3, 32, 32))
    hook.remove()
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    node2 = states["out"][:, :8]  # node 2 = none(node 0) + none(node 1), both at stride 2
    assert states["out"].shape[-2:] == (16, 16) and torch.count_nonzero(node2) == 0
    assert torch.count_nonzero(states["out"][:, 8:16]) > 0  # node 3 = none(2) + max_pool(1)
    # 'none' has no parameters: all-'none' cells count like parameter-free skip / pool cells.
    base = DartsArch([("skip_connect", 0)] * 8, [("max_pool_3x3", 0), ("max_pool_3x3", 1)] * 4)
    with_none = DartsArch([("none", 0)] * 8, [("none", 0), ("none", 1)] * 4)
    assert count_darts_params(base) == count_darts_params(with_none)


def test_python_api_scores_full_space_genotypes():
    inputs, targets = torch.randn(4, 3, 32, 32), torch.arange(4)
    for s in genotype_strings()[2:6]:
        arch = parse_darts(s)
        assert not is_nb301_valid(arch)
        torch.manual_seed(0)
        net = build_darts_network(arch, 10, C=4, layers=3)
        scores = gradsign.score(net, inputs, targets, proxies=["params", "flops", "synflow", "gradsign"], seed=0)
        assert scores["params"] == count_darts_params(arch, C=4, layers=3)
        assert all(np.isfinite(v) for v in scores.values()), scores


# --------------------------------------------------------------------------- the command line


def test_cli_scores_every_written_genotype(tmp_path, capsys):
    # Before: `gradsign score --space darts --archs-file g.txt --proxies params` stopped at line 4 with
    # "DARTS normal cell entry 0: op 'none' is not part of the NAS-Bench-301 space": none of the 20 scored.
    lines = write_genotype_lines(tmp_path / "g.txt")
    code, out, err = run_cli(["score", "--space", "darts", "--archs-file", str(tmp_path / "g.txt"),
                              "--proxies", "params", "--no-store", "--format", "json", "--no-progress"], capsys)
    assert code == 0, err
    scores = json.loads(out)["scores"]
    assert len(scores) == N_GENOTYPES
    assert [r["arch"] for r in scores] == [parse_darts(s).to_string() for s in lines]
    assert [r["params"] for r in scores] == [count_darts_params(parse_darts(s)) for s in lines]
    assert scores[1]["params"] == count_darts_params(parse_darts(DARTS_V2))


def test_cli_reads_nds_json_and_genotypes_py(tmp_path, capsys):
    archs = write_nds_json(tmp_path / "nds.json")
    code, out, err = run_cli(["score", "--space", "darts", "--archs-file", str(tmp_path / "nds.json"),
                              "--proxies", "params", "--no-store", "--format", "json", "--no-progress"], capsys)
    assert code == 0, err
    assert [r["arch"] for r in json.loads(out)["scores"]] == [a.to_string() for a in archs]
    src = tmp_path / "genotypes.py"
    src.write_text("from collections import namedtuple\nGenotype = namedtuple('Genotype', 'normal normal_concat "
                   "reduce reduce_concat')\nPRIMITIVES = ['none', 'max_pool_3x3']\n"
                   f"DARTS_V1 = {DARTS_V1}\nDARTS_V2 = Genotype(\n  normal={list(parse_darts(DARTS_V2).normal)!r},\n"
                   "  normal_concat=range(2, 6),\n"
                   f"  reduce={list(parse_darts(DARTS_V2).reduce)!r},\n  reduce_concat=range(2, 6))\nDARTS = DARTS_V2\n")
    code, out, err = run_cli(["score", "--space", "darts", "--archs-file", str(src), "--proxies", "params",
                              "--no-store", "--format", "json", "--no-progress"], capsys)
    assert code == 0, err
    assert [r["arch"] for r in json.loads(out)["scores"]] == [parse_darts(DARTS_V1).to_string(),
                                                              parse_darts(DARTS_V2).to_string()]
    # One genotype as a JSON object on the command line.
    code, out, err = run_cli(["score", "--space", "darts", "--arch", json.dumps(json.loads(
        split_darts_archs((tmp_path / "nds.json").read_text())[3][1])), "--proxies", "params", "--no-store",
        "--format", "json"], capsys)
    assert code == 0, err and json.loads(out)["scores"][0]["arch"] == archs[3].to_string()


def test_cli_bad_record_is_named(tmp_path, capsys):
    doc = [{"net": {"genotype": {"normal": [["sep_conv_3x3", 0]] * 8, "reduce": [["conv_7x1_1x7", 0]] * 8}}}]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    code, _, err = run_cli(["score", "--space", "darts", "--archs-file", str(tmp_path / "bad.json"),
                            "--proxies", "params", "--no-store"], capsys)
    assert code == 2 and "record 1" in err and "conv_7x1_1x7" in err and "Traceback" not in err


# --------------------------------------------------------------------------- NB301 data stays NB301


def test_nb301_rule_named_where_naslib_data_is_joined(tmp_path):
    from gradsign.benchmarks.naslib_zc import load_naslib_zc
    from gradsign.errors import DataError
    from gradsign.predictors.encodings import darts_onehot
    from gradsign.workflows.ground_truth import naslib_sample_truth

    good = sample_darts(3, seed=0)
    repeat = DartsArch([("skip_connect", 0), ("sep_conv_3x3", 0)] + list(good[0].normal[2:]), good[0].reduce)
    record = {"val_accuracy": 90.0, "params": {"score": 1.0, "time": 0.1}}
    doc = {"cifar10": {a.to_compact_string(): dict(record, val_accuracy=90.0 + i) for i, a in enumerate(good)}}
    path = tmp_path / "zc_nasbench301.json"
    path.write_text(json.dumps(doc))
    nb301_dir = tmp_path / "naslib_zc"
    nb301_dir.mkdir()
    (nb301_dir / "zc_nasbench301.json").write_text(json.dumps(doc))
    assert len(load_naslib_zc("darts", path=path)) == 3
    # A NASLib key outside NB301 (one input twice) is refused, naming the rule.
    bad = dict(doc["cifar10"], **{repeat.to_compact_string(): record})
    path.write_text(json.dumps({"cifar10": bad}))
    with pytest.raises(DataError, match="reads node 0 twice"):
        load_naslib_zc("darts", path=path)
    # Ground truth: an NB301 arch in the file has its accuracy; a full-space arch gets the rule.
    truth = naslib_sample_truth("darts", "cifar10", data_dir=tmp_path)
    assert list(truth.accuracy([good[1].to_string()])) == [91.0]
    outside = parse_darts(genotype_strings()[2])
    with pytest.raises(ConfigError, match="outside the NAS-Bench-301 space") as info:
        truth.accuracy([outside.to_string()])
    assert nb301_violation(outside) in str(info.value)
    with pytest.raises(ConfigError, match="no ground truth"):
        truth.accuracy([sample_darts(4, seed=0)[3].to_string()])  # in NB301, just not in the file
    with pytest.raises(ArchError, match="NB301 encodings"):
        darts_onehot(outside)
    assert darts_onehot(good[0]).shape == (192,)
    with pytest.raises(ArchError, match="outside the NAS-Bench-301 space"):
        check_nb301(outside)


def test_search_operators_stay_in_nb301():
    a = parse_darts(genotype_strings()[2])
    for seed in range(5):
        child = a.mutate(seed)
        (old, new), = [(x, y) for x, y in zip(a.normal + a.reduce, child.normal + child.reduce) if x != y]
        assert new[0] == old[0] or new[0] in DARTS_OPS  # an op change never draws 'none'
    assert all(is_nb301_valid(s) for s in sample_darts(50, seed=1))
    for child in sample_darts(3, seed=2)[0].neighbours():
        assert is_nb301_valid(child)
