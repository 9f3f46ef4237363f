"""DARTS / NAS-Bench-301 space: genotype and compact forms, rules, sampling, mutation, network."""

from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest
import torch

from gradsign.errors import ArchError, ConfigError
from gradsign.spaces import available_spaces, get_space
from gradsign.spaces.darts import (
    DARTS_OPS,
    DartsArch,
    DartsSpace,
    Genotype,
    check_nb301,
    is_nb301_valid,
    nb301_violation,
    parse_darts,
    sample_darts,
)
from gradsign.spaces.darts_network import (
    DartsNetwork,
    FactorizedReduce,
    build_darts_network,
    count_darts_params,
    param_count,
)

# DARTS (second order), as in DARTS's genotypes.py (concat written as range(2, 6)).
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
    "normal_concat=range(2, 6), reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
    "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], "
    "reduce_concat=range(2, 6))"
)
# A key of NASLib's zc_nasbench301.json, verbatim.
NASLIB_KEY = "[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], [(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]"


def v2() -> DartsArch:
    return parse_darts(DARTS_V2)


def n_diff(a: DartsArch, b: DartsArch) -> int:
    return sum(x != y for x, y in zip(a.normal + a.reduce, b.normal + b.reduce))


# --------------------------------------------------------------------------- string forms


def test_genotype_string_round_trip():
    a = v2()
    assert a.normal[0] == ("sep_conv_3x3", 0) and a.reduce[-1] == ("max_pool_3x3", 1)
    s = a.to_string()
    assert s.startswith("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1),")
    assert "normal_concat=[2, 3, 4, 5]" in s and s.endswith("reduce_concat=[2, 3, 4, 5])")
    assert parse_darts(s) == a == DartsArch.from_string("  " + s + "\n")
    # The string is exactly the repr of DARTS's namedtuple holding lists.
    assert s == repr(a.to_genotype())
    assert DartsArch.from_genotype(a.to_genotype()) == a
    # Module-qualified and positional spellings parse too.
    positional = f"genotypes.Genotype({list(a.normal)!r}, [2, 3, 4, 5], {list(a.reduce)!r}, [2, 3, 4, 5])"
    assert parse_darts(positional) == a
    assert parse_darts(f"Genotype(normal={list(a.normal)!r}, reduce={list(a.reduce)!r})") == a


def test_compact_form_round_trip_matches_naslib_keys():
    a = parse_darts(NASLIB_KEY)
    assert a.to_compact_string() == NASLIB_KEY
    assert a.normal[:2] == (("max_pool_3x3", 0), ("dil_conv_3x3", 1))
    assert DartsArch.from_compact(a.compact()) == a
    assert parse_darts(a.to_string()) == a
    assert parse_darts(str(a.compact())) == a  # tuple spelling
    assert a.compact()[1][-1] == (3, 6)
    for arch in sample_darts(30, seed=2):
        assert parse_darts(arch.to_string()) == arch == parse_darts(arch.to_compact_string())


def test_arch_is_immutable_hashable_picklable_and_order_sensitive():
    a = v2()
    b = DartsArch([list(p) for p in a.normal], np.array(a.reduce, dtype=object).tolist())
    assert a == b and hash(a) == hash(b)
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(AttributeError):
        a.normal = ()  # type: ignore[misc]
    swapped = list(a.normal)
    swapped[4], swapped[5] = swapped[5], swapped[4]
    c = DartsArch(swapped, a.reduce)
    assert c != a and c.normalized() == a.normalized()
    assert a.normalized().normal[4:6] == (("skip_connect", 0), ("sep_conv_3x3", 1))


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("Genotype(", "not a Genotype"),
        ("foo(normal=[], reduce=[])", "expected Genotype"),
        ("Genotype(normal=[('sep_conv_3x3', 0)] * 8, reduce=[])", "not a literal"),
        ("Genotype(normal=__import__('os').getcwd(), reduce=[])", "not a literal"),
        ("Genotype(normal=[], reduce=[], colour=[])", "unknown Genotype field"),
        ("Genotype(normal=[('skip_connect', 0), ('skip_connect', 1)])", "lacks reduce"),
        ("[[(0, 0), (1, 0)]]", "2 cells"),
        ("[[(0, 0), (1, 9)] * 4, [(0, 0), (1, 0)] * 4]", "not a literal"),
        ("[[(0, 0), (1, 9), (0, 0), (1, 0), (0, 0), (1, 0), (0, 0), (1, 0)], [(0, 0), (1, 0)]]", "op index"),
    ],
)
def test_parse_errors_are_one_line_arch_errors(text, fragment):
    with pytest.raises(ArchError) as info:
        parse_darts(text)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def _cell(pairs):
    return [(op, src) for op, src in pairs]


GOOD = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * 4


@pytest.mark.parametrize(
    "normal, fragment",
    [
        (GOOD[:7], "8 (op, input) pairs"),
        ([("sep_conv_3x3", 0), ("sep_conv_3x3", 2)] + GOOD[2:], "input must be a node in 0..1"),
        (GOOD[:2] + [("sep_conv_3x3", -1), ("sep_conv_3x3", 1)] + GOOD[4:], "0..2"),
        ([("conv_7x1_1x7", 0)] + GOOD[1:], "unknown op"),
        ([("sep_conv_3x3", True)] + GOOD[1:], "input must be"),
        ([("sep_conv_3x3",)] + GOOD[1:], "(op, input) pair"),
    ],
)
def test_rules_are_enforced(normal, fragment):
    with pytest.raises(ArchError) as info:
        DartsArch(normal, GOOD)
    assert fragment in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "normal, fragment",
    [
        (GOOD[:6] + [("skip_connect", 2), ("skip_connect", 2)], "node 5 reads node 2 twice"),
        ([("none", 0)] + GOOD[1:], "entry 0 uses op 'none'"),
    ],
)
def test_nb301_rules_are_a_checked_subset(normal, fragment):
    # The full DARTS space takes both; NB301's rules are checked where NB301 data is joined.
    arch = DartsArch(normal, GOOD)
    assert not is_nb301_valid(arch) and fragment in nb301_violation(arch)
    with pytest.raises(ArchError) as info:
        check_nb301(arch, "NASLib's NB301 scores")
    assert fragment in str(info.value) and "NASLib's NB301 scores" in str(info.value) and "\n" not in str(info.value)
    assert is_nb301_valid(DartsArch(GOOD, GOOD)) and check_nb301(v2()) == v2()


def test_concat_must_be_all_intermediate_nodes():
    bad = DARTS_V2.replace("normal_concat=range(2, 6)", "normal_concat=[2, 3, 4]")
    with pytest.raises(ArchError, match="must be \\[2, 3, 4, 5\\]"):
        parse_darts(bad)
    with pytest.raises(ArchError, match="normal_concat"):
        DartsArch.from_genotype(Genotype(GOOD, [2, 3], GOOD, [2, 3, 4, 5]))


def test_parse_rejects_non_strings():
    with pytest.raises(ArchError, match="must be given as a string"):
        parse_darts(3)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- sampling and local moves


def test_sampling_is_reproducible_valid_and_normalized():
    state = np.random.get_state()
    a = sample_darts(50, seed=4)
    assert a == sample_darts(50, seed=4) and a != sample_darts(50, seed=5)
    assert np.array_equal(np.random.get_state()[1], state[1])
    assert len(set(a)) == 50
    for arch in a:
        assert arch == arch.normalized()
        assert DartsArch(arch.normal, arch.reduce) == arch  # passes validation
    rng = np.random.default_rng(9)
    assert sample_darts(3, rng) + sample_darts(3, rng) == sample_darts(6, 9)


def test_sampling_covers_ops_and_inputs_uniformly_enough():
    archs = sample_darts(400, seed=0)
    ops = [op for a in archs for op, _ in a.normal + a.reduce]
    counts = np.array([ops.count(o) for o in DARTS_OPS])
    assert counts.min() > 0.8 * len(ops) / 7  # ~914 each
    node5_inputs = {tuple(sorted(src for _, src in a.normal[6:8])) for a in archs}
    assert len(node5_inputs) == 10  # all pairs of {0..4}


@pytest.mark.parametrize("n", [-1, 2.0, None])
def test_sampling_rejects_bad_counts(n):
    with pytest.raises(ConfigError):
        sample_darts(n, seed=0)  # type: ignore[arg-type]


def test_mutation_changes_exactly_one_entry():
    for parent in sample_darts(20, seed=1):
        child = parent.mutate(seed=7)
        assert child == parent.mutate(seed=7)
        assert n_diff(parent, child) == 1
        assert DartsArch(child.normal, child.reduce) == child  # still valid
    rng = np.random.default_rng(0)
    kinds = set()
    a = v2()
    for _ in range(50):
        b = a.mutate(rng)
        (x, y), = [(p, q) for p, q in zip(a.normal + a.reduce, b.normal + b.reduce) if p != q]
        kinds.add("op" if x[1] == y[1] else "input")
    assert kinds == {"op", "input"}


def test_neighbours():
    a = v2()
    nbrs = a.neighbours()
    # Per cell: 8 pairs x 6 other ops + sum over pairs of (node inputs - 2) = 48 + 12.
    assert len(nbrs) == 120 == len(set(nbrs))
    assert all(n_diff(a, b) == 1 for b in nbrs)
    assert a not in nbrs and nbrs == a.neighbours()
    assert nbrs[0].normal[0] == ("max_pool_3x3", 0)  # first: cell 0, pair 0, first other op


# --------------------------------------------------------------------------- registry


def test_registered_with_aliases():
    assert "darts" in available_spaces()
    space = get_space("darts")
    assert isinstance(space, DartsSpace)
    assert space is get_space("nb301") is get_space("NAS-Bench-301") is get_space("nasbench301")
    a = v2()
    assert space.parse(space.to_string(a)) == a and space.to_string(NASLIB_KEY) == parse_darts(NASLIB_KEY).to_string()
    assert space.num_archs is None
    assert space.sample(2, seed=0) == sample_darts(2, seed=0)
    assert space.mutate(a, seed=1) == a.mutate(seed=1)
    assert space.neighbours(a) == a.neighbours()


# --------------------------------------------------------------------------- network


def test_darts_v2_parameter_count_matches_darts():
    # DARTS's training log for DARTS_V2 (C=36, 20 cells): "param size = 3.349342MB"
    # (count_parameters_in_MB, auxiliary head excluded).
    assert count_darts_params(v2(), C=36, layers=20) == 3_349_342


@pytest.mark.parametrize("seed", [0, 1])
def test_forward_shapes(seed):
    arch = sample_darts(1, seed=seed)[0]
    torch.manual_seed(0)
    net = build_darts_network(arch, 10, C=8, layers=8)
    out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert net.forward_with_aux(torch.randn(2, 3, 32, 32))[1] is None  # no head built
    assert param_count(net) == count_darts_params(arch, 10, C=8, layers=8)


def test_auxiliary_head_and_drop_path():
    torch.manual_seed(0)
    net = build_darts_network(v2(), 10, C=8, layers=5, auxiliary=True, drop_path_prob=0.2)
    logits, aux = net.forward_with_aux(torch.randn(3, 3, 32, 32))
    assert logits.shape == (3, 10) and aux is not None and aux.shape == (3, 10)
    net.eval()
    with torch.no_grad():
        logits, aux = net.forward_with_aux(torch.randn(1, 3, 32, 32))
        assert aux is None and logits.shape == (1, 10)
        x = torch.randn(2, 3, 32, 32)
        assert torch.equal(net(x), net(x))  # no drop path in eval mode
    assert param_count(net) == count_darts_params(v2(), 10, C=8, layers=5, auxiliary=True)


def test_reduction_structure():
    net = build_darts_network(v2(), 100, C=8, layers=8)
    assert [c.reduction for c in net.cells] == [False, False, True, False, False, True, False, False]
    # The cell after a reduction reads its older input through FactorizedReduce.
    assert isinstance(net.cells[3].preprocess0, FactorizedReduce)
    assert net.classifier.in_features == 4 * 32 and net.classifier.out_features == 100
    # No BN after pooling in the evaluation network.
    pools = [m for m in net.cells[2]._ops if isinstance(m, torch.nn.MaxPool2d)]
    assert pools and all(p.stride == 2 for p in pools[:2])


def test_counter_matches_built_networks_for_all_options():
    for arch in sample_darts(6, seed=3):
        for options in (
            {"C": 8, "layers": 8},
            {"C": 6, "layers": 5, "cell_affine": False},
            {"C": 4, "layers": 3, "auxiliary": True},
        ):
            net = build_darts_network(arch, 10, **options)
            assert param_count(net) == count_darts_params(arch, 10, **options), options
    assert isinstance(net, DartsNetwork)


def test_cell_affine_only_affects_cell_op_bns():
    a = v2()
    affine, plain = build_darts_network(a, C=4, layers=3), build_darts_network(a, C=4, layers=3, cell_affine=False)
    assert param_count(affine) > param_count(plain)
    for net in (affine, plain):
        assert net.stem[1].affine and net.cells[0].preprocess1.op[2].affine


def test_pool_bn_adds_a_parameter_free_bn_after_each_pool_only():
    a = parse_darts("Genotype(normal=[('max_pool_3x3', 0), ('avg_pool_3x3', 1), ('skip_connect', 0), "
                    "('sep_conv_3x3', 1), ('max_pool_3x3', 2), ('dil_conv_3x3', 0), ('avg_pool_3x3', 3), "
                    "('skip_connect', 1)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), "
                    "('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0), ('avg_pool_3x3', 0), "
                    "('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
    torch.manual_seed(0)
    plain = build_darts_network(a, C=4, layers=3)
    torch.manual_seed(0)
    with_bn = build_darts_network(a, C=4, layers=3, pool_bn=True)
    assert param_count(plain) == param_count(with_bn)  # invisible to a parameter count
    pools = [op for cell in with_bn.cells for op in cell._ops if isinstance(op, torch.nn.Sequential)
             and isinstance(op[0], (torch.nn.MaxPool2d, torch.nn.AvgPool2d))]
    # layers=3: cell 0 normal, cells 1 and 2 reduction
    def pools_in(pairs):
        return sum(name.endswith("pool_3x3") for name, _ in pairs)

    n_pools = pools_in(a.normal) + 2 * pools_in(a.reduce)
    assert len(pools) == n_pools and all(isinstance(p[1], torch.nn.BatchNorm2d) and not p[1].affine for p in pools)
    # same weights (the BN draws nothing), but the training-mode forward differs
    assert all(torch.equal(x, y) for x, y in zip(plain.parameters(), with_bn.parameters()))
    x = torch.randn(4, 3, 32, 32)
    assert not torch.allclose(plain(x), with_bn(x))


@pytest.mark.parametrize(
    "options",
    [{"C": 0}, {"layers": 2}, {"layers": 8.0}, {"drop_path_prob": 1.0}, {"drop_path_prob": -0.1}, {"C": True}],
)
def test_bad_network_options(options):
    with pytest.raises(ConfigError):
        build_darts_network(v2(), **options)


def test_space_builds_network():
    net = get_space("nb301").build_network(DARTS_V2, 10, C=4, layers=3)
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 10)


# --------------------------------------------------------------------------- against NASLib's file


@pytest.mark.data
def test_params_match_naslib_sample(data_dir):
    path = data_dir / "naslib_zc" / "zc_nasbench301.json"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    records = json.loads(path.read_text())["cifar10"]
    keys = random.Random(0).sample(sorted(records), 20)
    for key in keys:
        arch = parse_darts(key)
        # NASLib's model: NB301's C=32, 8 cells, no auxiliary head, non-affine BNs in cell ops.
        expected = records[key]["params"]["score"]
        assert round(count_darts_params(arch, C=32, layers=8, cell_affine=False) / 1e6, 6) == expected, key
    for key in keys[:2]:
        net = build_darts_network(parse_darts(key), cell_affine=False)
        assert round(param_count(net) / 1e6, 6) == records[key]["params"]["score"]
