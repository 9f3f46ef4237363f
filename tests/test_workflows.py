"""Scoring through the store: reuse, resume after interruption, failures recorded as data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gradsign.errors import ConfigError
from gradsign.storage import ResultsStore
from gradsign.workflows.scoring import Scorer, ScoringSetup

DATA_FREE = ("params", "l2_norm")


def _setup(**kw):
    base = dict(space="nb201", dataset="cifar10", proxies=DATA_FREE, batch_size=8, seed=0)
    base.update(kw)
    return ScoringSetup(**base)


def _archs(n=4, seed=3):
    from gradsign.spaces import get_space

    return get_space("nb201").sample(n, seed)


def test_second_run_reuses_store(tmp_path):
    store = ResultsStore(tmp_path / "s.sqlite")
    archs = _archs()
    first = Scorer(_setup(), store).score_archs(archs, progress=False)
    assert first.n_computed == len(archs) * len(DATA_FREE)
    second = Scorer(_setup(), store).score_archs(archs, progress=False)
    assert second.n_computed == 0
    for p in DATA_FREE:
        np.testing.assert_array_equal(first.scores[p], second.scores[p])
        assert np.isfinite(second.seconds[p]).all()


def test_scores_are_deterministic_for_a_seed_and_change_with_it(tmp_path):
    archs = _archs(2)
    a = Scorer(_setup(seed=1)).score_archs(archs, progress=False)
    b = Scorer(_setup(seed=1)).score_archs(archs, progress=False)
    c = Scorer(_setup(seed=2)).score_archs(archs, progress=False)
    np.testing.assert_array_equal(a.scores["l2_norm"], b.scores["l2_norm"])
    assert not np.array_equal(a.scores["l2_norm"], c.scores["l2_norm"])
    np.testing.assert_array_equal(a.scores["params"], c.scores["params"])  # init-independent


def test_interrupted_run_resumes_without_recomputing(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path / "s.sqlite")
    archs = _archs(5)
    scorer = Scorer(_setup(), store)
    real = scorer.score_one
    calls = {"n": 0}

    def flaky(arch, proxies):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(arch, proxies)

    monkeypatch.setattr(scorer, "score_one", flaky)
    with pytest.raises(KeyboardInterrupt):
        scorer.score_archs(archs, progress=False)
    resumed = Scorer(_setup(), store).score_archs(archs, progress=False)
    assert resumed.n_computed == 3 * len(DATA_FREE)  # the two finished cells are not recomputed


def test_failure_is_recorded_retried_then_kept(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path / "s.sqlite")
    archs = _archs(3)
    target = Scorer(_setup(), store).space.to_string(archs[1])

    def broken_factory():
        scorer = Scorer(_setup(), store, max_attempts=2)
        real = scorer.score_one

        def broken(arch, proxies):
            if scorer.space.to_string(arch) == target:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")
            return real(arch, proxies)

        monkeypatch.setattr(scorer, "score_one", broken)
        return scorer

    t1 = broken_factory().score_archs(archs, progress=False)
    assert t1.n_failed("params") == 1 and np.isnan(t1.scores["params"][1])
    assert t1.failure_reasons("params") == {"RuntimeError": 1}
    t2 = broken_factory().score_archs(archs, progress=False)  # retried once (attempt 2)
    assert t2.n_computed == len(DATA_FREE)
    t3 = broken_factory().score_archs(archs, progress=False)  # attempts exhausted: not retried
    assert t3.n_computed == 0 and t3.n_failed("params") == 1
    # Asked to retry failed cells (score/evaluate --retry-failed): tried again, and a success replaces the error.
    t4 = Scorer(_setup(), store, max_attempts=None).score_archs(archs, progress=False)
    assert t4.n_computed == len(DATA_FREE) and t4.n_failed("params") == 0 and np.isfinite(t4.scores["params"][1])
    with pytest.raises(ConfigError, match="max_attempts"):
        Scorer(_setup(), store, max_attempts=0)


def test_score_and_evaluate_say_truly_what_a_rerun_does_about_failed_cells(tmp_path, capsys):
    from gradsign.cli.main import main

    store = ResultsStore(tmp_path / "s.sqlite")
    scorer = Scorer(_setup(proxies=("params",)), store)
    arch = scorer.space.to_string(_archs(1)[0])
    key = scorer.keys["params"]
    for _ in range(2):  # failed twice: out of attempts
        store.put_error(key, arch, "RuntimeError: CUDA out of memory")
    store.close()

    def run(*extra):
        with pytest.raises(SystemExit) as exc:
            main(["score", "--arch", arch, "--proxies", "params", "--store", str(tmp_path / "s.sqlite"),
                  "--batch-size", "8", "--format", "csv", *extra])
        return exc.value.code or 0, capsys.readouterr()

    code, out = run()
    # the one cell failed: params failed on every cell, so the exit status says so (the output is written)
    assert code == 1 and "failed cells: params 1 of 1 (RuntimeError: CUDA out of memory)" in out.err
    assert "until it has failed 2 times" in out.err and "error: params failed on every cell" in out.err
    assert "--retry-failed retries every one" in out.err and "rerun to retry" not in out.err
    code, out = run("--retry-failed")
    assert code == 0 and "failed cells" not in out.err
    assert ResultsStore(tmp_path / "s.sqlite").get_many(key, [arch])[arch].status == "ok"


@pytest.fixture()
def failing_proxy():
    """A registered proxy ``_test_boom`` that raises on every network."""
    from gradsign.proxies import registry

    def boom(ctx):
        raise ValueError("boom: the proxy's own bug")

    registry.register_proxy("_test_boom", description="test only", needs_data=False, needs_labels=False)(boom)
    yield "_test_boom"
    registry._REGISTRY.pop("_test_boom", None)


def test_one_failing_proxy_costs_only_its_own_scores(tmp_path, failing_proxy, capsys):
    store = ResultsStore(tmp_path / "s.sqlite")
    archs = _archs(2)
    alone = Scorer(_setup()).score_archs(archs, progress=False)
    table = Scorer(_setup(proxies=(*DATA_FREE, failing_proxy)), store).score_archs(archs, progress=False)
    for p in DATA_FREE:  # scored alone after the joint call raised: the same values, stored as ok
        np.testing.assert_array_equal(table.scores[p], alone.scores[p])
        assert table.n_failed(p) == 0
    assert table.n_failed(failing_proxy) == 2
    assert table.failure_example(failing_proxy) == "ProxyError: proxy '_test_boom' failed: ValueError: boom: the proxy's own bug"
    assert Scorer(_setup(), store).score_archs(archs, progress=False).n_computed == 0  # kept in the store

    from gradsign.cli.main import main

    def run(*args):
        with pytest.raises(SystemExit) as exc:
            main(["score", "--index", "1", "--index", "2", "--batch-size", "8", "--no-store", *args])
        return exc.value.code or 0, capsys.readouterr()

    code, out = run("--proxies", f"params,{failing_proxy}", "--format", "json")
    doc = json.loads(out.out)
    assert code == 1 and all(r["params"] > 0 and r[failing_proxy] is None for r in doc["scores"])
    assert doc["failed"] == {failing_proxy: {"cells": 2, "example": "ProxyError: proxy '_test_boom' failed: ValueError: boom: the proxy's own bug"}}
    assert f"failed cells: {failing_proxy} 2 of 2 (ProxyError: proxy '_test_boom' failed: ValueError: boom: the proxy's own bug)" in out.err
    assert f"error: {failing_proxy} failed on every cell" in out.err
    code, out = run("--proxies", "params", "--format", "json")
    assert code == 0 and "failed" not in json.loads(out.out)


def test_unknown_names_are_config_errors():
    with pytest.raises(ConfigError, match="unknown proxy"):
        _setup(proxies=("nope",))
    with pytest.raises(ConfigError, match="unknown search space"):
        Scorer(_setup(space="nb999"))
    with pytest.raises(ConfigError):
        Scorer(_setup(dataset="mnist"))


@pytest.mark.slow
@pytest.mark.usefixtures("data_dir")
def test_evaluate_writes_summary_scores_and_plots(tmp_path):
    from gradsign.workflows.evaluate import run_evaluate

    out = tmp_path / "out"
    res = run_evaluate(_setup(proxies=("params", "l2_norm")), sample=30, store=ResultsStore(tmp_path / "s.sqlite"),
                       output=out, n_bootstrap=100, progress=False, repeats=2)
    summary = json.loads((out / "summary.json").read_text())
    for key in ("space", "dataset", "target", "n_archs", "seed", "batch_size", "proxies"):
        assert key in summary
    p = summary["proxies"]["params"]
    for key in ("spearman", "spearman_ci", "kendall", "kendall_ci", "top10_precision", "seconds_per_arch", "n_nan"):
        assert key in p
    assert summary["n_archs"] == 30 and p["spearman"] > 0.3  # params correlates with accuracy on NB201
    assert p["kendall_repeats"]["repeats"] == 2
    assert (out / "scores.csv").read_text().splitlines()[0] == "index,arch,accuracy,params,l2_norm"
    assert (out / "scatter_params.png").stat().st_size > 1000
    assert res.summary["noise_ceiling"] is None or res.summary["noise_ceiling"]["spearman"] > 0.9
    # The same folder again with one proxy: no plot of the other is left to pass for this run's; a file
    # the earlier run did not write is not touched.
    (out / "scatter_mine.png").write_bytes(b"user's")
    run_evaluate(_setup(proxies=("params",)), sample=30, store=ResultsStore(tmp_path / "s.sqlite"),
                 output=out, n_bootstrap=100, progress=False)
    assert sorted(p.name for p in out.glob("scatter_*.png")) == ["scatter_mine.png", "scatter_params.png"]


@pytest.mark.slow
def test_process_pool_gives_the_same_scores_as_in_process(tmp_path):
    from gradsign.execution import ProcessPoolBackend

    archs = _archs(4, seed=11)
    local = Scorer(_setup()).score_archs(archs, progress=False)
    store = ResultsStore(tmp_path / "s.sqlite")
    pooled = Scorer(_setup(), store).score_archs(archs, progress=False, backend=ProcessPoolBackend(2, chunk_size=1))
    for p in DATA_FREE:
        np.testing.assert_array_equal(local.scores[p], pooled.scores[p])
    assert store.count() == len(archs) * len(DATA_FREE)  # the parent wrote every result


@pytest.mark.slow
def test_process_pool_stops_its_workers_when_interrupted():
    import multiprocessing
    import time

    from gradsign.execution import CellTask, ProcessPoolBackend

    scorer = Scorer(_setup())
    tasks = [CellTask(scorer.space.to_string(a), DATA_FREE) for a in _archs(6, seed=5)]
    gen = ProcessPoolBackend(2, chunk_size=1).run(scorer.worker_factory(), scorer, tasks)
    first = next(gen)
    assert first.error is None
    gen.close()  # what an interrupt in the consumer does: the backend's cleanup runs
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not multiprocessing.active_children()


@pytest.mark.usefixtures("data_dir")
def test_stored_only_reports_scored_cells_and_computes_nothing(tmp_path):
    from gradsign.errors import ConfigError as _CE
    from gradsign.workflows.evaluate import draw_archs, run_evaluate

    store = ResultsStore(tmp_path / "s.sqlite")
    setup = _setup()
    drawn = draw_archs(Scorer(setup).space, 20, setup.seed)
    Scorer(setup, store).score_archs(drawn[:8], progress=False)  # a "partial run"
    res = run_evaluate(setup, sample=20, store=store, n_bootstrap=50, progress=False, stored_only=True)
    assert res.summary["stored_only"] == {"drawn": 20, "kept": 8}
    assert res.summary["n_computed_this_run"] == 0
    with pytest.raises(_CE, match="only 0 of"):
        run_evaluate(setup, sample=20, store=ResultsStore(tmp_path / "empty.sqlite"), progress=False, stored_only=True)
    # Other draws would need scoring, a retry computes: refused before anything is drawn.
    with pytest.raises(_CE, match="--repeats > 1 draws other cells"):
        run_evaluate(setup, sample=20, store=store, progress=False, stored_only=True, repeats=2)
    with pytest.raises(_CE, match="cannot retry failed cells"):
        run_evaluate(setup, sample=20, store=store, progress=False, stored_only=True, retry_failed=True)


@pytest.mark.usefixtures("data_dir")
def test_computed_this_run_counts_every_repeat_draw(tmp_path):
    from gradsign.workflows.evaluate import run_evaluate

    store = ResultsStore(tmp_path / "s.sqlite")
    res = run_evaluate(_setup(), sample=6, store=store, n_bootstrap=20, progress=False, repeats=3)
    assert res.summary["n_computed_this_run"] == store.count() == 3 * 6 * len(DATA_FREE)
    again = run_evaluate(_setup(), sample=6, store=store, n_bootstrap=20, progress=False, repeats=3)
    assert again.summary["n_computed_this_run"] == 0


@pytest.mark.usefixtures("data_dir")
def test_stored_only_printout_says_interim_only_when_cells_are_missing(tmp_path, capsys):
    from gradsign.cli.scoring_cmds import print_evaluate_summary
    from gradsign.workflows.evaluate import draw_archs, run_evaluate

    store = ResultsStore(tmp_path / "s.sqlite")
    setup = _setup()
    drawn = draw_archs(Scorer(setup).space, 10, setup.seed)
    Scorer(setup, store).score_archs(drawn[:6], progress=False)
    print_evaluate_summary(run_evaluate(setup, sample=10, store=store, n_bootstrap=20, progress=False,
                                        stored_only=True).summary)
    assert "INTERIM (--stored-only): 6 of 10" in capsys.readouterr().out
    Scorer(setup, store).score_archs(drawn, progress=False)  # the run finishes
    print_evaluate_summary(run_evaluate(setup, sample=10, store=store, n_bootstrap=20, progress=False,
                                        stored_only=True).summary)
    out = capsys.readouterr().out
    assert "INTERIM" not in out and "complete (--stored-only): all 10 drawn cells" in out


def test_ray_backend_without_ray_says_how_to_install(monkeypatch):
    import importlib.util

    from gradsign.errors import ConfigError as _CE
    from gradsign.execution import get_backend

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(_CE, match=r"pip install 'gradsign\[ray\]'"):
        get_backend("ray", 2)
    with pytest.raises(_CE, match="unknown backend"):
        get_backend("dask", 2)


@pytest.mark.slow
def test_process_pool_survives_a_killed_worker_and_loses_no_cell():
    import os
    import signal

    from gradsign.execution import CellTask, ProcessPoolBackend

    scorer = Scorer(_setup())
    archs = _archs(8, seed=9)
    tasks = [CellTask(scorer.space.to_string(a), DATA_FREE) for a in archs]
    backend = ProcessPoolBackend(2, chunk_size=1)
    gen = backend.run(scorer.worker_factory(), scorer, tasks)
    results = [next(gen)]
    os.kill(backend.worker_pids[0], signal.SIGKILL)  # a worker dies mid-run
    results.extend(gen)
    assert sorted(r.arch for r in results) == sorted(t.arch for t in tasks)
    assert all(r.error is None for r in results)
    local = Scorer(_setup()).score_archs(archs, progress=False)
    by_arch = {r.arch: r for r in results}
    for p in DATA_FREE:
        assert [by_arch[a].values[p] for a in local.archs] == list(local.scores[p])


@pytest.mark.usefixtures("data_dir")
def test_workers_get_the_drivers_minibatch_and_read_no_data(monkeypatch):
    import torch

    import gradsign.data.images as images

    scorer = Scorer(_setup(proxies=("gradsign",)))
    factory = scorer.worker_factory()
    monkeypatch.setattr(images, "load_image_set", lambda *a, **k: (_ for _ in ()).throw(AssertionError("read")))
    worker = factory()
    assert torch.equal(worker._batch[0], scorer._batch[0]) and torch.equal(worker._batch[1], scorer._batch[1])
    assert worker.keys == scorer.keys and worker.data_description == scorer.data_description


def _with_minibatch(setup, store):
    """A scorer whose minibatch is given (no image files needed), as a worker's is."""
    import torch

    g = torch.Generator().manual_seed(0)
    batch = (torch.randn(8, 3, 32, 32, generator=g), torch.randint(0, 10, (8,), generator=g),
             "test minibatch", "test-images:train:random")
    return Scorer(setup, store, minibatch=batch)


@pytest.mark.slow
def test_data_free_scores_are_found_whichever_minibatch_the_storing_run_had(tmp_path):
    # A data-free proxy scored next to a data-dependent one is stored under that run's
    # minibatch description; a later data-free-only run (no minibatch) must find it, and
    # the reverse, instead of scoring the cells again.
    store = ResultsStore(tmp_path / "s.sqlite")
    archs = _archs(3)
    with_data = _with_minibatch(_setup(proxies=("grad_norm", "params", "synflow")), store)
    first = with_data.score_archs(archs, progress=False)
    assert first.n_computed == 9
    alone = Scorer(_setup(proxies=("params", "synflow")), store)
    assert alone.keys["synflow"].sampling != with_data.keys["synflow"].sampling
    again = alone.score_archs(archs, progress=False)
    assert again.n_computed == 0
    np.testing.assert_array_equal(first.scores["synflow"], again.scores["synflow"])

    more = _archs(2, seed=11)
    Scorer(_setup(proxies=("synflow",)), store).score_archs(more, progress=False)
    reverse = _with_minibatch(_setup(proxies=("grad_norm", "synflow")), store).score_archs(more, progress=False)
    assert reverse.n_computed == 2  # grad_norm only
    # The data-dependent proxy is still keyed by its minibatch: another one is not reused.
    other = Scorer(_setup(proxies=("grad_norm",)), store, minibatch=(
        *_with_minibatch(_setup(proxies=("grad_norm",)), None).minibatch, "another", "other:train:random"))
    assert other.score_archs(archs, progress=False).n_computed == 3


@pytest.mark.slow
def test_search_provider_preloads_data_free_scores_stored_by_a_run_with_data(tmp_path):
    from gradsign.workflows.search import StoreBackedProvider

    store = ResultsStore(tmp_path / "s.sqlite")
    archs = _archs(4)
    _with_minibatch(_setup(proxies=("grad_norm", "synflow")), store).score_archs(archs, progress=False)
    provider = StoreBackedProvider(Scorer(_setup(proxies=("synflow",)), store), "synflow")
    assert provider.n_preloaded == 4


def test_a_wildcard_key_reads_but_never_writes(tmp_path):
    import dataclasses

    from gradsign.errors import StoreError
    from gradsign.storage import ScoreKey

    store = ResultsStore(tmp_path / "s.sqlite")
    key = ScoreKey(space="nb201", dataset="cifar10", proxy="synflow", proxy_version="1", options="{}",
                   batch_size=8, seed=0, sampling="a:train:random", init="default")
    store.put_error(dataclasses.replace(key, sampling="b:train:random"), "x", "RuntimeError: boom")
    store.put_many(key, [("x", 2.5, 0.1), ("y", 1.0, 0.1)])
    anywhere = dataclasses.replace(key, sampling=None)
    got = store.get_many(anywhere, ["x", "y"])
    assert got["x"].status == "ok" and got["x"].value == 2.5  # a success is preferred over a failure
    assert sorted(r.arch for r in store.iter_key(anywhere)) == ["x", "y"]
    with pytest.raises(StoreError, match="reading only"):
        store.put_many(anywhere, [("z", 1.0, 0.1)])


def test_zen_depends_on_the_run_batch_size_not_on_whether_a_minibatch_was_loaded(tmp_path):
    # zen draws its own Gaussian batch of the minibatch's size. A run of data-free proxies alone loads
    # no minibatch: it drew 64 samples whatever --batch-size said, and stored that under the run's
    # batch size, where a run with a data-dependent proxy stored the --batch-size value: the store then
    # served whichever came first.
    archs = _archs(2)
    alone = Scorer(_setup(proxies=("zen",)), None).score_archs(archs, progress=False)
    with_data = _with_minibatch(_setup(proxies=("zen", "grad_norm")), None).score_archs(archs, progress=False)
    np.testing.assert_array_equal(alone.scores["zen"], with_data.scores["zen"])  # both batch 8
    at_64 = Scorer(_setup(proxies=("zen",), batch_size=64), None).score_archs(archs, progress=False)
    assert not np.array_equal(alone.scores["zen"], at_64.scores["zen"])
    # an explicit option still wins, and the store key keeps the user's options only
    explicit = Scorer(_setup(proxies=("zen",), proxy_options={"zen": {"batch_size": 64}}), None)
    np.testing.assert_array_equal(explicit.score_archs(archs, progress=False).scores["zen"], at_64.scores["zen"])
    assert Scorer(_setup(proxies=("zen",)), None).keys["zen"].options == \
        _with_minibatch(_setup(proxies=("zen", "grad_norm")), None).keys["zen"].options
    # a minibatch of another size than the run's (a small image set, GraSP's per-class sampling) changes nothing
    import torch

    g = torch.Generator().manual_seed(0)
    small = (torch.randn(5, 3, 32, 32, generator=g), torch.randint(0, 10, (5,), generator=g), "5 images", "tiny:x")
    odd = Scorer(_setup(proxies=("zen", "grad_norm")), None, minibatch=small).score_archs(archs, progress=False)
    np.testing.assert_array_equal(odd.scores["zen"], alone.scores["zen"])
