"""User plug-ins: a module registering its own proxy works in the API by importing it, and in the CLI by --plugin."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gradsign.cli.main import main
from gradsign.errors import ConfigError

PLUGIN = '''
from gradsign.proxies import register_proxy


@register_proxy("module_count_{tag}", description="modules in the network", needs_data=False, needs_labels=False)
def module_count(ctx):
    return float(sum(1 for _ in ctx.template.modules()))
'''


def run(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr()
    return exc.value.code or 0, out.out, out.err


@pytest.fixture
def plugin_file(tmp_path, monkeypatch):
    monkeypatch.delenv("GRADSIGN_PLUGINS", raising=False)  # load_plugins exports it for worker processes
    path = tmp_path / "my_proxies.py"
    path.write_text(PLUGIN.format(tag="cli"))
    return path


@pytest.mark.slow
def test_cli_plugin_file_registers_a_proxy_for_every_backend(plugin_file, capsys, monkeypatch):
    code, out, err = run(["--plugin", str(plugin_file), "score", "--index", "3", "--proxies", "module_count_cli",
                          "--no-store", "--format", "csv"], capsys)
    assert code == 0, err
    assert out.splitlines()[0].endswith("module_count_cli") and float(out.splitlines()[1].split(",")[-1]) > 10
    assert os.environ["GRADSIGN_PLUGINS"] == str(plugin_file.resolve())
    # a fresh process with --backend process: the workers load the plug-in too
    r = subprocess.run([sys.executable, "-m", "gradsign.cli.main", "--plugin", str(plugin_file), "score", "--index",
                        "3", "--index", "4", "--proxies", "module_count_cli", "--no-store", "--format", "csv",
                        "--backend", "process", "--workers", "2", "--no-progress"],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.strip().splitlines()) == 3


def test_bad_plugins_are_one_line_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("GRADSIGN_PLUGINS", raising=False)
    code, _, err = run(["--plugin", "no_such_module_xyz", "proxies"], capsys)
    assert code == 2 and "plug-in no_such_module_xyz: cannot be imported (ModuleNotFoundError" in err
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('oops')\n")
    code, _, err = run(["--plugin", str(broken), "proxies"], capsys)
    assert code == 2 and "RuntimeError: oops" in err and "Traceback" not in err
    code, _, err = run(["--plugin", str(tmp_path / "missing.py"), "proxies"], capsys)
    assert code == 2 and "no such file" in err


def test_api_needs_only_an_import(tmp_path, monkeypatch):
    import torch
    from torch import nn

    import gradsign

    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "api_proxies.py").write_text(PLUGIN.format(tag="api"))
    import api_proxies  # noqa: F401

    assert gradsign.score(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), None, None, ["module_count_api"],
                          input_shape=(4,)) == {"module_count_api": 3.0}
    with pytest.raises(ConfigError, match="unknown proxy"):
        gradsign.score(nn.Linear(2, 2), torch.zeros(1, 2), None, ["module_count_nope"])


def test_editing_a_plugin_proxy_changes_its_store_key(tmp_path, capsys, monkeypatch):
    """A plug-in's version carries its source's digest: edited without a version bump, it is recomputed, not
    served from the store with the old code's numbers."""
    from gradsign import plugins
    from gradsign.proxies import get_proxy, registry

    monkeypatch.setenv("GRADSIGN_PLUGINS", "")  # recorded, so that the path --plugin exports is undone after
    assert get_proxy("snip").version == "1"  # the library's own: versions bumped by hand
    path = tmp_path / "edited.py"
    store = tmp_path / "s.sqlite"
    values = []
    try:
        for factor in ("1.0", "1000.0"):
            registry._REGISTRY.pop("module_count_edit", None)  # a fresh process each time, as a user's reruns
            sys.modules.pop("gradsign_plugin_edited", None)
            plugins._LOADED.discard(str(path.resolve()))
            path.write_text(PLUGIN.format(tag="edit").replace("return float(", f"return {factor} * float("))
            code, out, err = run(["--plugin", str(path), "score", "--index", "3", "--proxies", "module_count_edit",
                                  "--store", str(store), "--format", "csv", "--no-progress"], capsys)
            assert code == 0, err
            values.append(float(out.splitlines()[1].split(",")[-1]))
            assert get_proxy("module_count_edit").version.startswith("1+src.")
    finally:
        registry._REGISTRY.pop("module_count_edit", None)
    assert values[1] == 1000 * values[0]


def test_a_plugin_taking_a_builtin_name_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GRADSIGN_PLUGINS", "")  # recorded, so that the path --plugin exports is undone after
    clash = tmp_path / "clash.py"
    clash.write_text(PLUGIN.format(tag="x").replace('"module_count_x"', '"synflow"'))
    code, _, err = run(["--plugin", str(clash), "proxies"], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "proxy name 'synflow' is taken by gradsign's own" in err and "under another name" in err
