"""NAS-Bench-201 arch representation, official index order, sampling and local moves."""

from __future__ import annotations

import csv
import dataclasses
import pickle
import random
import subprocess
import sys

import numpy as np
import pytest

from gradsign.errors import ArchError, ConfigError, GradsignError
from gradsign.spaces import (
    NB201_NUM_ARCHS,
    NB201_OPS,
    NB201Arch,
    NB201Space,
    SearchSpace,
    all_nb201_archs,
    available_spaces,
    get_space,
    nb201_arch_at,
    nb201_index_of,
    parse_nb201,
    sample_nb201,
)
from gradsign.spaces import nb201 as nb201_module

ARCH0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
ARCH1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def n_diff(a: NB201Arch, b: NB201Arch) -> int:
    return sum(x != y for x, y in zip(a.ops, b.ops))


# --------------------------------------------------------------------------- representation


def test_ops_order_and_parse_known_string():
    assert NB201_OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    a = parse_nb201(ARCH1)
    assert a.ops == (3, 3, 4, 1, 3, 1)
    assert a.op_names == (
        "nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "skip_connect"
    )
    assert a.to_string() == ARCH1 == str(a)
    assert NB201Arch.from_string("  " + ARCH1 + "\n") == a  # surrounding whitespace tolerated


def test_arch_is_immutable_hashable_and_picklable():
    a = NB201Arch((3, 3, 4, 1, 3, 1))
    b = NB201Arch([3, 3, 4, 1, 3, 1])
    c = NB201Arch(np.array([3, 3, 4, 1, 3, 1]))
    assert a == b == c and hash(a) == hash(b) == hash(c)
    assert all(type(o) is int for o in c.ops)  # numpy ints normalised
    assert len({a, b, c, NB201Arch((0,) * 6)}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.ops = (0,) * 6  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(a)) == a
    assert a != a.ops  # an arch is not equal to its bare tuple


@pytest.mark.parametrize(
    "ops, fragment",
    [
        ((3, 3, 4, 1, 3), "6 entries"),
        ((3, 3, 4, 1, 3, 1, 0), "6 entries"),
        ((3, 3, 4, 1, 3, 5), "entry 5 is 5"),
        ((-1, 3, 4, 1, 3, 1), "entry 0 is -1"),
        ((3, 3, 4.0, 1, 3, 1), "entry 2 is 4.0"),
        ((3, True, 4, 1, 3, 1), "entry 1 is True"),
        ("333131", "sequence of 6"),
        (None, "sequence of 6"),
    ],
)
def test_bad_encoding_raises_arch_error(ops, fragment):
    with pytest.raises(ArchError, match=fragment) as exc:
        NB201Arch(ops)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "expected 3 nodes"),
        (ARCH1 + "+|none~0|", "expected 3 nodes"),
        ("nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         "node 1 part 'nor_conv_3x3~0|' must start and end with '|'"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         "node 2 part"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         "node 2 must have 2 incoming edge"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|",
         "node 3 must have 3 incoming edge"),
        ("|conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         "unknown op 'conv_3x3' on node 1"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~0|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         "has input node '0', expected 1"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~x|",
         "has input node 'x', expected 2"),
        ("|nor_conv_3x3|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
         "lacks '~<input node>'"),
        ("|nor_conv_3x3~0|+||+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "node 2 must have 2"),
    ],
)
def test_parse_errors_are_one_line_and_name_the_problem(text, fragment):
    with pytest.raises(ArchError) as exc:
        parse_nb201(text)
    msg = str(exc.value)
    assert fragment in msg
    assert "\n" not in msg
    assert isinstance(exc.value, GradsignError) and isinstance(exc.value, ValueError)


@pytest.mark.parametrize("value", [None, 5, b"|none~0|", ["|none~0|"]])
def test_parse_rejects_non_strings(value):
    with pytest.raises(ArchError, match="must be given as a string"):
        parse_nb201(value)


def test_long_bad_string_is_truncated_in_message():
    with pytest.raises(ArchError) as exc:
        parse_nb201("x" * 5000)
    assert len(str(exc.value)) < 300


def test_onehot_and_op_names_round_trip():
    a = parse_nb201(ARCH1)
    flat = a.onehot()
    assert flat.shape == (30,) and flat.dtype == np.float32 and flat.sum() == 6
    grid = a.onehot(flat=False)
    assert grid.shape == (6, 5) and grid.argmax(axis=1).tolist() == list(a.ops)
    assert NB201Arch.from_onehot(flat) == a == NB201Arch.from_onehot(grid)
    assert NB201Arch.from_op_names(a.op_names) == a


@pytest.mark.parametrize(
    "onehot, fragment",
    [(np.zeros(29), "shape"), (np.zeros((6, 5)), "row 0"), (np.full((6, 5), 0.2), "row 0")],
)
def test_bad_onehot(onehot, fragment):
    with pytest.raises(ArchError, match=fragment):
        NB201Arch.from_onehot(onehot)


def test_bad_op_names():
    with pytest.raises(ArchError, match="unknown NB201 op 'conv' on edge 2"):
        NB201Arch.from_op_names(["none", "none", "conv", "none", "none", "none"])
    with pytest.raises(ArchError, match="6 names"):
        NB201Arch.from_op_names(["none"] * 5)


def test_graph_form():
    a = parse_nb201(ARCH1)
    adj, feats = a.to_graph()
    assert adj.shape == (8, 8) and adj.dtype == np.int8
    assert not np.tril(adj).any()  # a DAG in topological order
    # input -> ops of edges leaving node 0 (edges 0, 1, 3); ops of edges into node 3 (3, 4, 5) -> output
    assert np.flatnonzero(adj[0]).tolist() == [1, 2, 4]
    assert np.flatnonzero(adj[:, 7]).tolist() == [4, 5, 6]
    # edge 0 (1<-0) feeds the edges leaving node 1 (edges 2 and 4); edges 1, 2 (into 2) feed edge 5
    assert np.flatnonzero(adj[1]).tolist() == [3, 5]
    assert np.flatnonzero(adj[2]).tolist() == [6] and np.flatnonzero(adj[3]).tolist() == [6]
    assert adj.sum() == 10
    assert feats.shape == (8, 7) and (feats.sum(axis=1) == 1).all()
    assert feats.argmax(axis=1).tolist() == [0, 4, 4, 5, 2, 4, 2, 6]


# --------------------------------------------------------------------------- official index order


def test_known_indices():
    assert nb201_arch_at(0).to_string() == ARCH0
    assert nb201_arch_at(1).to_string() == ARCH1
    assert nb201_index_of(ARCH1) == 1 and parse_nb201(ARCH0).index() == 0
    assert NB201Arch.from_index(1) == parse_nb201(ARCH1)


def test_index_is_a_bijection():
    archs = all_nb201_archs()
    assert len(archs) == NB201_NUM_ARCHS == 15625 and len(set(archs)) == NB201_NUM_ARCHS
    assert all(nb201_index_of(a) == i for i, a in enumerate(archs))
    assert all(parse_nb201(archs[i].to_string()) == archs[i] for i in range(0, NB201_NUM_ARCHS, 97))


def test_index_table_leaves_global_rng_alone():
    nb201_module._index_tables.cache_clear()
    random.seed(1234)
    before = random.getstate()
    assert nb201_arch_at(1).to_string() == ARCH1  # rebuilt from scratch
    assert random.getstate() == before


@pytest.mark.parametrize("bad", [-1, NB201_NUM_ARCHS, 1.0, True, "1", None])
def test_bad_index(bad):
    with pytest.raises(ArchError, match="index must be an int in 0..15624"):
        nb201_arch_at(bad)


def test_all_indices_match_reference_csv(data_dir):
    path = data_dir / "nb201" / "nb201_naswot_reference.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with open(path, newline="") as f:
        arch_strs = [row["arch_str"] for row in csv.DictReader(f)]
    assert len(arch_strs) == NB201_NUM_ARCHS
    ours = [a.to_string() for a in all_nb201_archs()]
    mismatched = [i for i, (x, y) in enumerate(zip(ours, arch_strs)) if x != y]
    assert mismatched == []


# --------------------------------------------------------------------------- sampling and moves


def test_sampling_is_seeded_and_uses_no_global_rng():
    np.random.seed(0)
    random.seed(0)
    np_state, py_state = np.random.get_state()[1].copy(), random.getstate()
    a = sample_nb201(50, seed=7)
    b = sample_nb201(50, seed=7)
    c = sample_nb201(50, seed=8)
    assert a == b and a != c
    assert len(set(a)) == 50
    assert (np.random.get_state()[1] == np_state).all() and random.getstate() == py_state


def test_sampling_without_and_with_replacement():
    everything = sample_nb201(NB201_NUM_ARCHS, seed=0)
    assert len(set(everything)) == NB201_NUM_ARCHS
    with pytest.raises(ConfigError, match="only 15625"):
        sample_nb201(NB201_NUM_ARCHS + 1, seed=0)
    many = sample_nb201(3000, seed=0, replace=True)
    assert len(many) == 3000 and len(set(many)) < 3000  # birthday paradox: repeats expected
    assert sample_nb201(0, seed=0) == []
    # a Generator continues its stream instead of restarting it
    gen = np.random.default_rng(3)
    first, second = sample_nb201(5, gen), sample_nb201(5, gen)
    assert first != second and first == sample_nb201(5, 3)


@pytest.mark.parametrize("n, seed", [(-1, 0), (2.0, 0), (True, 0), (2, "x"), (2, -5), (2, 1.5)])
def test_bad_sampling_arguments(n, seed):
    with pytest.raises(ConfigError):
        sample_nb201(n, seed)


def test_mutation_changes_exactly_one_edge():
    a = parse_nb201(ARCH1)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(600):
        m = a.mutate(rng)
        assert n_diff(a, m) == 1
        seen.add(m)
    assert seen == set(a.neighbours())  # every neighbour is reachable
    assert a.mutate(11) == a.mutate(11)  # seeded: deterministic


def test_mutation_leaves_global_rng_alone():
    random.seed(0)
    np.random.seed(0)
    py_state, np_state = random.getstate(), np.random.get_state()[1].copy()
    nb201_arch_at(5).mutate(3)
    assert random.getstate() == py_state and (np.random.get_state()[1] == np_state).all()


def test_neighbourhood():
    a = nb201_arch_at(123)
    nbrs = a.neighbours()
    assert len(nbrs) == 24 == len(set(nbrs)) and a not in nbrs
    assert all(n_diff(a, b) == 1 for b in nbrs)
    assert all(a in b.neighbours() for b in nbrs)
    assert nbrs == a.neighbours()  # deterministic order


def test_with_op():
    a = NB201Arch((0,) * 6)
    assert a.with_op(5, 3).ops == (0, 0, 0, 0, 0, 3)
    with pytest.raises(ArchError, match="edge index"):
        a.with_op(6, 0)
    with pytest.raises(ArchError, match="entry 0 is 7"):
        a.with_op(0, 7)


# --------------------------------------------------------------------------- registry / space interface


def test_get_space_and_aliases():
    space = get_space("nb201")
    assert isinstance(space, NB201Space) and isinstance(space, SearchSpace)
    assert space.name == "nb201" and "nb201" in available_spaces()
    for alias in ("NB201", "nas-bench-201", "NASBench201", "nas_bench_201"):
        assert get_space(alias) is space
    with pytest.raises(ConfigError, match=r"unknown search space 'nb999'; available: .*nb201"):
        get_space("nb999")
    with pytest.raises(ConfigError):
        get_space(None)  # type: ignore[arg-type]


def test_space_interface():
    space = get_space("nb201")
    a = space.parse(ARCH1)
    assert space.to_string(a) == ARCH1 and space.to_string(ARCH1) == ARCH1
    assert space.num_archs == len(space) == NB201_NUM_ARCHS
    assert space.arch_at(1) == a and space.index_of(a) == 1 and space.index_of(ARCH0) == 0
    assert next(iter(space)) == space.arch_at(0)
    assert space.sample(4, seed=1) == sample_nb201(4, 1)
    assert n_diff(space.mutate(a, seed=2), a) == 1
    assert len(space.neighbours(ARCH1)) == 24


def test_arch_work_does_not_import_torch():
    code = (
        "import sys, gradsign.spaces as s; s.get_space('nb201').sample(3, 0); "
        "s.nb201_arch_at(1).mutate(0); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_input_reaches_output_follows_the_non_none_edges():
    from gradsign.spaces.nb201 import NB201Arch, all_nb201_archs

    # Only the direct edge 0->3 is an op: connected.
    assert NB201Arch.from_string("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|").input_reaches_output()
    # 0->1->3 through two ops, the rest none: connected.
    assert NB201Arch.from_string("|nor_conv_3x3~0|+|none~0|none~1|+|none~0|avg_pool_3x3~1|none~2|"
                                 ).input_reaches_output()
    # Node 2 is reached (0->2) but 2->3 is none; 1->3 is a conv but node 1 is never reached.
    assert not NB201Arch.from_string("|none~0|+|skip_connect~0|none~1|+|none~0|nor_conv_1x1~1|none~2|"
                                     ).input_reaches_output()
    # Counted over the space: 5^6 cells minus those with a path; brute force over paths agrees.
    n = sum(not a.input_reaches_output() for a in all_nb201_archs())
    paths = [(3,), (0, 4), (1, 5), (0, 2, 5)]  # edge positions of each input->output path
    brute = sum(all(any(a.ops[e] == 0 for e in path) for path in paths) for a in all_nb201_archs())
    assert n == brute == 341
