"""NAS-Bench-101: validity and pruning rules, the official hash, string forms, sampling, mutation, network."""

from __future__ import annotations

import itertools
import json
import pickle
import random

import numpy as np
import pytest
import torch

from gradsign.errors import ArchError, ConfigError
from gradsign.spaces import available_spaces, get_space
from gradsign.spaces.nb101 import (
    NB101_MAX_EDGES,
    NB101_NUM_ARCHS,
    NB101_OPS,
    NB101Arch,
    NB101Space,
    _hash_module,
    nb101_hash,
    parse_nb101,
    sample_nb101,
)
from gradsign.spaces.nb101_network import (
    BN_EPS,
    BN_MOMENTUM,
    build_nb101_network,
    compute_vertex_channels,
    count_nb101_params,
)

C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"

# A cell with its official hash and trainable_parameters (a NAS-Bench-101 dataset record).
OFFICIAL_MATRIX = [
    [0, 1, 0, 0, 1, 1, 0],
    [0, 0, 1, 0, 0, 0, 0],
    [0, 0, 0, 1, 0, 0, 1],
    [0, 0, 0, 0, 0, 1, 0],
    [0, 0, 0, 0, 0, 1, 0],
    [0, 0, 0, 0, 0, 0, 1],
    [0, 0, 0, 0, 0, 0, 0],
]
OFFICIAL_OPS = ["input", C3, MP, C3, C3, C1, "output"]
OFFICIAL_HASH = "00005c142e6f48ac74fdcf73e3439874"
OFFICIAL_PARAMS = 8_555_530

# The benchmark README's Inception-like query, and the isomorphic form the dataset stores
# for it (module_adjacency / module_operations in the README's output, 2,694,282 parameters).
INCEPTION = (
    [[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
     [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
    ["input", C1, C3, C3, C3, MP, "output"],
)
INCEPTION_STORED = (
    [[0, 1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1],
     [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]],
    ["input", C3, C1, MP, C3, C3, "output"],
)


def official() -> NB101Arch:
    return NB101Arch(OFFICIAL_MATRIX, OFFICIAL_OPS)


def built_param_count(arch, **options) -> int:
    # A CPU build (~0.1 s); the meta device would avoid the allocation but costs
    # seconds of one-time set-up per process.
    net = build_nb101_network(arch, **options)
    return sum(p.numel() for p in net.parameters())


# --------------------------------------------------------------------------- hash


def test_official_hash_and_params():
    a = official()
    assert a.spec_hash() == OFFICIAL_HASH == nb101_hash(OFFICIAL_MATRIX, OFFICIAL_OPS)
    assert count_nb101_params(a) == OFFICIAL_PARAMS == built_param_count(a)


def test_inception_example_hashes_like_its_stored_form_and_has_official_params():
    q, stored = NB101Arch(*INCEPTION), NB101Arch(*INCEPTION_STORED)
    assert q != stored  # different labelling ...
    assert q.spec_hash() == stored.spec_hash() and q.is_isomorphic(stored)  # ... same cell
    assert count_nb101_params(q) == count_nb101_params(stored) == 2_694_282 == built_param_count(q)


def _topological_relabel(arch: NB101Arch, rng: random.Random) -> NB101Arch:
    """The same cell with its interior vertices renumbered in another topological order."""
    n = arch.num_vertices
    m = arch.matrix
    order, placed = [0], {0}
    while len(order) < n - 1:
        ready = [v for v in range(1, n - 1) if v not in placed and all(u in placed for u in range(n) if m[u][v])]
        v = rng.choice(ready)
        order.append(v)
        placed.add(v)
    order.append(n - 1)
    new = [[m[order[i]][order[j]] for j in range(n)] for i in range(n)]
    return NB101Arch(new, [arch.ops[v] for v in order])


def test_hash_is_invariant_under_vertex_relabelling():
    rng = random.Random(0)
    for arch in sample_nb101(30, seed=1):
        for _ in range(3):
            other = _topological_relabel(arch, rng)
            assert other.spec_hash() == arch.spec_hash()


def test_hash_function_is_invariant_under_any_permutation():
    # The fingerprint itself does not need a topological order: permute everything.
    a = official()
    labels = (-1, *(NB101_OPS.index(o) for o in a.ops[1:-1]), -2)
    m = np.array(a.matrix)
    rng = np.random.default_rng(0)
    for _ in range(5):
        perm = rng.permutation(len(labels))
        pm = m[np.ix_(perm, perm)]
        assert _hash_module(tuple(map(tuple, pm.tolist())), tuple(labels[i] for i in perm)) == OFFICIAL_HASH


def test_hash_distinguishes_different_cells():
    a = official()
    changed_op = NB101Arch(OFFICIAL_MATRIX, ["input", C1, MP, C3, C3, C1, "output"])
    m = [row[:] for row in OFFICIAL_MATRIX]
    m[2][6] = 0
    changed_edge = NB101Arch(m, OFFICIAL_OPS)
    assert len({a.spec_hash(), changed_op.spec_hash(), changed_edge.spec_hash()}) == 3


# --------------------------------------------------------------------------- validity and pruning


def test_pruning_removes_dangling_and_island_vertices():
    # Vertex 1 has no out-edge (dangling), vertex 2 is an island; vertex 3 is the only path.
    m = [[0, 1, 0, 1, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    a = NB101Arch(m, ["input", C3, C1, MP, "output"])
    assert a.matrix == ((0, 1, 0), (0, 0, 1), (0, 0, 0))
    assert a.ops == ("input", MP, "output")
    # A vertex reachable from the input that does not reach the output goes too.
    m = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert NB101Arch(m, ["input", C3, C1, "output"]).ops == ("input", C3, "output")
    # Pruning makes dead parts irrelevant to equality.
    assert NB101Arch(m, ["input", C3, MP, "output"]) == NB101Arch(m, ["input", C3, C1, "output"])


def test_input_connected_directly_to_output_is_valid():
    a = NB101Arch([[0, 1], [0, 0]], ["input", "output"])
    assert a.num_vertices == 2 and a.num_edges == 1
    assert a.to_string() == "01,00|input,output"


@pytest.mark.parametrize(
    "matrix, ops, fragment",
    [
        ([[0, 0], [0, 0]], ["input", "output"], "no path from the input"),
        ([[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", C3, C3, "output"], "no path"),
        ([[0, 1], [1, 0]], ["input", "output"], "upper triangular"),
        ([[1, 1], [0, 0]], ["input", "output"], "upper triangular"),
        ([[0, 2], [0, 0]], ["input", "output"], "0 or 1"),
        ([[0, 1, 0], [0, 0, 1]], ["input", C3, "output"], "square"),
        ([[0, 1], [0, 0]], ["input", C3, "output"], "one entry per vertex"),
        ([[0, 1], [0, 0]], [C3, "output"], "start with 'input'"),
        ([[0, 1], [0, 0]], ["input", C3], "end with 'output'"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"], "unknown"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "output", "output"], "interior vertices"),
        (np.triu(np.ones((8, 8), int), 1), ["input"] + [C3] * 6 + ["output"], "2..7 vertices"),
        ("0110", ["input", "output"], "string"),
    ],
)
def test_invalid_specs_raise_one_line_arch_error(matrix, ops, fragment):
    with pytest.raises(ArchError) as info:
        NB101Arch(matrix, ops)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_edge_limit_applies_after_pruning():
    full = np.triu(np.ones((7, 7), int), 1)  # 21 edges, all live
    with pytest.raises(ArchError, match="21 edges after pruning"):
        NB101Arch(full, ["input"] + [C3] * 5 + ["output"])
    # 9 live edges: a chain 0-1-2-3-4-5-6 (6 edges) plus 3 skips.
    m = np.diag(np.ones(6, int), 1)
    m[0, 2] = m[0, 3] = m[1, 6] = 1
    assert NB101Arch(m, ["input"] + [C3] * 5 + ["output"]).num_edges == NB101_MAX_EDGES
    m[2, 6] = 1
    with pytest.raises(ArchError, match="10 edges"):
        NB101Arch(m, ["input"] + [C3] * 5 + ["output"])
    # Many edges into a dead vertex do not count: vertex 5 has in-edges only.
    m = np.zeros((7, 7), int)
    for i in range(5):
        m[i, 5] = 1
    m[0, 1] = m[1, 6] = 1
    m[0, 2] = m[2, 3] = m[3, 4] = m[4, 6] = 1
    a = NB101Arch(m, ["input"] + [C3] * 5 + ["output"])
    assert a.num_vertices == 6 and a.num_edges == 6


def test_arch_is_immutable_hashable_picklable():
    a = official()
    b = NB101Arch(np.array(OFFICIAL_MATRIX), tuple(OFFICIAL_OPS))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(AttributeError):
        a.ops = ()  # type: ignore[misc]
    assert all(type(v) is int for row in b.matrix for v in row)


# --------------------------------------------------------------------------- string forms


def test_string_form_round_trip():
    a = official()
    s = a.to_string()
    assert s == ("0100110,0010000,0001001,0000010,0000010,0000001,0000000|"
                 "input,conv3x3-bn-relu,maxpool3x3,conv3x3-bn-relu,conv3x3-bn-relu,conv1x1-bn-relu,output")
    assert parse_nb101(s) == a == parse_nb101("  " + s + "\n") == NB101Arch.from_string(s)
    for arch in sample_nb101(50, seed=3):
        assert parse_nb101(arch.to_string()) == arch
        assert parse_nb101(arch.to_json()) == arch
    assert parse_nb101(json.dumps({"matrix": OFFICIAL_MATRIX, "ops": OFFICIAL_OPS})) == a


def test_parse_prunes_what_it_is_given():
    assert parse_nb101("0110,0001,0000,0000|input,conv3x3-bn-relu,maxpool3x3,output") == NB101Arch(
        [[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", C3, "output"]
    )


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("01,00", "exactly one '|'"),
        ("01,00|input|output", "exactly one '|'"),
        ("012,000,000|input,maxpool3x3,output", "row 0"),
        ("01,000|input,output", "row 1"),
        ("01,00|input,maxpool3x3,output", "one entry per vertex"),
        ("01,00|input,Output", "unknown"),
        ("{not json", "not valid JSON"),
        ('{"matrix": [[0, 1], [0, 0]]}', "exactly the keys"),
        ("00,00|input,output", "no path"),
    ],
)
def test_parse_errors_are_one_line_arch_errors(text, fragment):
    with pytest.raises(ArchError) as info:
        parse_nb101(text)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_parse_rejects_non_strings():
    with pytest.raises(ArchError, match="must be given as a string"):
        parse_nb101(42)  # type: ignore[arg-type]


def test_from_naslib_key():
    key = tuple(v for row in OFFICIAL_MATRIX for v in row) + (0, 4, 2, 4, 4, 3, 1)
    assert NB101Arch.from_naslib(key) == official()
    assert NB101Arch.from_naslib(str(key)) == official()
    with pytest.raises(ArchError, match="n\\*n \\+ n"):
        NB101Arch.from_naslib(key[:-1])
    with pytest.raises(ArchError, match="op codes"):
        NB101Arch.from_naslib(key[:-1] + (7,))
    with pytest.raises(ArchError, match="tuple of ints"):
        NB101Arch.from_naslib("(0, 1, x)")


# --------------------------------------------------------------------------- sampling and local moves


def test_sampling_is_reproducible_valid_and_distinct():
    state = np.random.get_state()
    a = sample_nb101(40, seed=7)
    b = sample_nb101(40, seed=7)
    assert a == b
    assert a != sample_nb101(40, seed=8)
    assert np.array_equal(np.random.get_state()[1], state[1])  # global RNG untouched
    hashes = [x.spec_hash() for x in a]
    assert len(set(hashes)) == len(a)
    for x in a:
        assert x.num_vertices <= 7 and x.num_edges <= NB101_MAX_EDGES
        assert NB101Arch(x.matrix, x.ops) == x  # already pruned and valid
    with_replacement = sample_nb101(300, seed=0, replace=True)
    assert len({x.spec_hash() for x in with_replacement}) < 300  # small cells repeat


def test_sampling_continues_a_generator_stream():
    rng = np.random.default_rng(5)
    first, second = sample_nb101(5, rng, replace=True), sample_nb101(5, rng, replace=True)
    assert first + second == sample_nb101(10, 5, replace=True)


@pytest.mark.parametrize("n", [-1, 1.5, "3", NB101_NUM_ARCHS + 1])
def test_sampling_rejects_bad_counts(n):
    with pytest.raises(ConfigError):
        sample_nb101(n, seed=0)


def test_mutation_is_reproducible_valid_and_different():
    for parent in sample_nb101(15, seed=11):
        child = parent.mutate(seed=3)
        assert child == parent.mutate(seed=3)
        assert child.spec_hash() != parent.spec_hash()
        assert child.num_edges <= NB101_MAX_EDGES
    rng = np.random.default_rng(0)
    a = official()
    chain = [a]
    for _ in range(10):
        chain.append(chain[-1].mutate(rng))
    assert all(x.spec_hash() != y.spec_hash() for x, y in zip(chain, chain[1:]))


def test_neighbours_are_distinct_valid_single_changes():
    a = official()
    nbrs = a.neighbours()
    hashes = [x.spec_hash() for x in nbrs]
    assert nbrs and len(set(hashes)) == len(nbrs) and a.spec_hash() not in hashes
    assert nbrs == a.neighbours()  # deterministic
    # The first ones are the op changes of vertex 1 (conv3x3 -> conv1x1, maxpool).
    assert nbrs[0].ops[1] == C1 and nbrs[1].ops[1] == MP
    trivial = NB101Arch([[0, 1], [0, 0]], ["input", "output"])
    # From input->output alone, one flip can only add an edge into a dead vertex: no valid change
    # except removing the only edge (invalid), so the neighbourhood is empty.
    assert trivial.neighbours() == []
    assert trivial.mutate(seed=0).spec_hash() != trivial.spec_hash()  # mutation may flip several edges


def test_padded_form_keeps_the_cell():
    for arch in sample_nb101(20, seed=4):
        m, ops = arch.padded()
        assert len(m) == 7 and len(ops) == 7
        assert NB101Arch(m, ops) == arch


# --------------------------------------------------------------------------- registry


def test_registered_with_aliases():
    assert "nb101" in available_spaces()
    space = get_space("nb101")
    assert isinstance(space, NB101Space) and space is get_space("NAS-Bench-101") is get_space("nasbench101")
    a = official()
    assert space.parse(space.to_string(a)) == a
    assert space.num_archs is None
    assert space.sample(3, seed=0) == sample_nb101(3, seed=0)
    assert space.mutate(a, seed=1) == a.mutate(seed=1)
    assert space.neighbours(a.to_string()) == a.neighbours()
    with pytest.raises(ConfigError):
        iter(space)
    with pytest.raises(ConfigError):
        space.arch_at(0)


# --------------------------------------------------------------------------- network


def test_vertex_channels_split_and_propagate():
    # Three vertices feed the output: 128 = 43 + 43 + 42; vertex 1 feeds vertex 2 only.
    m = [
        [0, 1, 0, 1, 1, 0],
        [0, 0, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0],
    ]
    assert compute_vertex_channels(64, 128, m) == [64, 43, 43, 43, 42, 128]
    # Vertex 1 feeds two vertices of different width (11 = 6 + 5): it takes the larger one.
    m = [[0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    assert compute_vertex_channels(10, 11, m) == [10, 6, 6, 5, 11]
    assert compute_vertex_channels(10, 20, [[0, 1], [0, 0]]) == [10, 20]


@pytest.mark.parametrize(
    "text",
    [
        "01,00|input,output",  # projection only
        "0101,0010,0001,0000|input,conv3x3-bn-relu,maxpool3x3,output",  # input also feeds the output
        "011100,000010,000011,000001,000001,000000|input,conv1x1-bn-relu,maxpool3x3,conv3x3-bn-relu,maxpool3x3,output",
    ],
)
def test_forward_shapes_small(text):
    torch.manual_seed(0)
    net = build_nb101_network(text, 10, stem_channels=9)  # odd widths exercise the uneven split + truncation
    out = net(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
    assert count_nb101_params(text, 10, stem_channels=9) == sum(p.numel() for p in net.parameters())
    net.eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 16, 16)).shape == (1, 10)


def test_default_configuration_and_bn_settings():
    net = build_nb101_network(official(), 100, stem_channels=16)
    assert net.classifier.out_features == 100 and net.feature_dim == 64
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.momentum == pytest.approx(BN_MOMENTUM) and m.eps == BN_EPS for m in bns)
    assert BN_MOMENTUM == pytest.approx(0.003)
    pools = [m for m in net.layers if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 2 and sum(isinstance(m, torch.nn.Module) for m in net.layers) == 11


def test_counter_matches_built_networks():
    for arch in sample_nb101(10, seed=21):
        for options in ({}, {"stem_channels": 16, "num_stacks": 2, "cells_per_stack": 1}):
            assert count_nb101_params(arch, 10, **options) == built_param_count(arch, **options)


def test_init_options():
    torch.manual_seed(0)
    net = build_nb101_network(official(), stem_channels=16)
    w = net.stem.conv.weight
    assert w.std().item() == pytest.approx((2.0 / (9 * 16)) ** 0.5, rel=0.2)
    assert torch.all(net.classifier.bias == 0)
    torch.manual_seed(0)
    a = build_nb101_network(official(), stem_channels=16, init="torch")
    torch.manual_seed(0)
    b = build_nb101_network(official(), stem_channels=16, init="torch")
    assert torch.equal(a.stem.conv.weight, b.stem.conv.weight)
    assert not torch.equal(a.stem.conv.weight, w)


@pytest.mark.parametrize(
    "options",
    [{"init": "xavier"}, {"stem_channels": 0}, {"num_stacks": True}, {"cells_per_stack": 1.0}],
)
def test_bad_network_options(options):
    with pytest.raises(ConfigError):
        build_nb101_network(official(), **options)


def test_too_narrow_stem_for_the_split():
    wide = "011110,000001,000001,000001,000001,000000|input,maxpool3x3,maxpool3x3,maxpool3x3,maxpool3x3,output"
    with pytest.raises(ConfigError, match="too small"):
        build_nb101_network(wide, stem_channels=3)
    assert build_nb101_network(wide, stem_channels=4) is not None


def test_space_builds_network():
    net = get_space("nb101").build_network(official().to_string(), 10, stem_channels=8)
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 10)


# --------------------------------------------------------------------------- against NASLib's file


@pytest.mark.data
def test_params_match_naslib_sample(data_dir):
    path = data_dir / "naslib_zc" / "zc_nasbench101.json"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    records = json.loads(path.read_text())["nasbench101"]["cifar10"]
    keys = random.Random(0).sample(sorted(records), 20)
    for key in keys:
        arch = NB101Arch.from_naslib(key)
        assert round(count_nb101_params(arch) / 1e6, 6) == records[key]["params"], key
    # The built network, not only the counter, for a few of them.
    for key in keys[:3]:
        assert round(built_param_count(NB101Arch.from_naslib(key)) / 1e6, 6) == records[key]["params"]


def test_all_two_vertex_and_three_vertex_cells():
    # Exhaustive over the tiny cells: every one valid is distinct by hash from the others.
    cells = {}
    for ops in itertools.product(NB101_OPS, repeat=1):
        for bits in itertools.product((0, 1), repeat=3):
            m = [[0, bits[0], bits[1]], [0, 0, bits[2]], [0, 0, 0]]
            try:
                a = NB101Arch(m, ["input", *ops, "output"])
            except ArchError:
                continue
            cells.setdefault(a.spec_hash(), set()).add(a)
    # input->output; input->v->output (3 ops); plus input->output with the middle path (3 ops).
    assert len(cells) == 7
