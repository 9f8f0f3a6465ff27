"""The plugin system and `zoo list` / `zoo plugins`, with real installed packages."""
import json
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO, install_distribution, pip_install_to, run_zoo
from zoo.cli import cli

BUILTIN_ARCHITECTURES = {"dense", "cnn", "vgg", "simplernn", "lstm-bn"}
BUILTIN_DATASETS = {"fashion", "mnist", "mnist-noisy", "fashion-noisy", "fashion-sample", "idx", "images"}


def _listing(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_list_json_shows_builtins(cli_runner):
    entries = _listing(cli_runner.invoke(cli, ["list", "--json"]))
    names = {(e["kind"], e["name"]) for e in entries}
    assert {("architecture", a) for a in BUILTIN_ARCHITECTURES} <= names
    assert {("dataset", d) for d in BUILTIN_DATASETS} <= names
    for entry in entries:
        assert set(entry) >= {"kind", "name", "aliases", "summary", "plugin"}
        if entry["name"] in BUILTIN_ARCHITECTURES:
            assert entry["plugin"] == "zoo"
            assert set(entry["recipes"]) >= {"tutorial", "tuned"}


@pytest.mark.parametrize("kind", ["architectures", "arch", "a", "architecture"])
def test_list_kind_short_forms(cli_runner, kind):
    entries = _listing(cli_runner.invoke(cli, ["list", kind, "--json"]))
    assert {e["kind"] for e in entries} == {"architecture"}


def test_list_pattern_is_a_shell_wildcard(cli_runner):
    entries = _listing(cli_runner.invoke(cli, ["list", "datasets", "fashion*", "--json"]))
    assert {e["name"] for e in entries} == {"fashion", "fashion-noisy", "fashion-sample"}
    # A lone pattern searches every kind.
    entries = _listing(cli_runner.invoke(cli, ["list", "*rnn", "--json"]))
    assert [e["name"] for e in entries] == ["simplernn"]


def test_list_table(cli_runner):
    result = cli_runner.invoke(cli, ["list"])
    assert result.exit_code == 0
    header = result.output.splitlines()[0].split()
    assert header == ["KIND", "NAME", "SUMMARY", "PLUGIN"]
    assert any(line.startswith("architecture  lstm-bn") for line in result.output.splitlines())


def test_unknown_kind_is_a_usage_error(cli_runner):
    result = cli_runner.invoke(cli, ["list", "models", "x*"])
    assert result.exit_code == 2
    assert "unknown kind 'models'" in result.output


def test_unknown_name_suggests(cli_runner):
    result = cli_runner.invoke(cli, ["show", "fashon"])
    assert result.exit_code == 2
    assert "did you mean 'fashion'" in result.output
    assert "Traceback" not in result.output


def test_lookup_is_case_insensitive_with_aliases():
    from zoo import plugins

    assert plugins.get("dataset", "Fashion-MNIST").name == "fashion"
    assert plugins.get("dataset", "fashion_mnist").name == "fashion"
    assert plugins.get("architecture", "LSTM-BN").name == "lstm-bn"


def test_plugins_command(cli_runner):
    infos = _listing(cli_runner.invoke(cli, ["plugins", "--json"]))
    builtins = [i for i in infos if i["builtin"]]
    assert builtins and all(i["status"] == "ok" and i["distribution"] == "zoo" for i in builtins)
    hooks = {h for i in builtins for h in i["hooks"]}
    assert {"register_architectures", "register_datasets"} <= hooks


def test_list_and_plugins_do_not_import_tensorflow():
    code = textwrap.dedent("""
        import sys
        from zoo.cli import cli
        for args in (["list"], ["list", "--json"], ["plugins"]):
            try:
                cli(args, standalone_mode=False)
            except SystemExit:
                pass
        heavy = sorted(m for m in ("tensorflow", "keras", "matplotlib") if m in sys.modules)
        print("HEAVY", heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


@pytest.fixture(scope="module")
def third_party(tmp_path_factory):
    """The example plugin and a broken one, really pip-installed into a folder."""
    target = tmp_path_factory.mktemp("site")
    pip_install_to(target, str(REPO / "examples" / "zoo-gru"), str(REPO / "tests" / "plugins" / "zoo-broken"))
    return {"PYTHONPATH": str(target)}


def test_example_plugin_is_found(third_party):
    result = run_zoo("list", "--json", env={**third_party, "ZOO_LOAD_PLUGINS": "gru"})
    assert result.returncode == 0, result.stderr
    gru = [e for e in json.loads(result.stdout) if e["name"] == "gru"]
    assert len(gru) == 1 and gru[0]["plugin"] == "zoo-gru" and gru[0]["kind"] == "architecture"


def test_broken_plugin_leaves_the_rest_working(third_party):
    result = run_zoo("list", "--json", env=third_party)
    assert result.returncode == 0
    names = {e["name"] for e in json.loads(result.stdout)}
    assert "gru" in names and BUILTIN_ARCHITECTURES <= names
    warnings = [line for line in result.stderr.splitlines() if "broken" in line]
    assert len(warnings) == 1 and "zoo-broken is broken on purpose" in warnings[0]
    assert "Traceback" not in result.stderr

    result = run_zoo("plugins", "--json", env=third_party)
    by_name = {i["name"]: i for i in json.loads(result.stdout)}
    assert by_name["broken"]["status"] == "broken"
    assert "ImportError: zoo-broken is broken on purpose" == by_name["broken"]["error"]
    assert by_name["gru"]["status"] == "ok" and by_name["gru"]["hooks"] == ["register_architectures"]


def test_zoo_load_plugins_limits_third_party(third_party):
    result = run_zoo("plugins", "--json", env={**third_party, "ZOO_LOAD_PLUGINS": ""})
    names = {i["name"] for i in json.loads(result.stdout)}
    assert "gru" not in names and "broken" not in names
    assert result.stderr == ""


def _make_plugin(root, dist, module, body):
    pkg = root / dist
    (pkg / module).mkdir(parents=True)
    (pkg / "setup.cfg").write_text(textwrap.dedent(f"""
        [metadata]
        name = {dist}
        version = 1.0

        [options]
        packages = {module}

        [options.entry_points]
        zoo =
            {module} = {module}
    """))
    (pkg / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools"]\n'
                                        'build-backend = "setuptools.build_meta"\n')
    (pkg / module / "__init__.py").write_text(textwrap.dedent(body))
    return str(pkg)


def test_duplicate_name_and_raising_hook(tmp_path):
    duplicate = _make_plugin(tmp_path, "zoo-dup", "zoo_dup", """
        import zoo

        @zoo.hookimpl
        def register_architectures(register):
            register(zoo.Architecture(name="dense", summary="another dense", build=lambda *a, **k: None))
    """)
    raising = _make_plugin(tmp_path, "zoo-raises", "zoo_raises", """
        import zoo

        @zoo.hookimpl
        def register_datasets(register):
            raise RuntimeError("cannot register today")
    """)
    target = tmp_path / "site"
    pip_install_to(target, duplicate, raising)
    env = {"PYTHONPATH": str(target)}

    result = run_zoo("show", "dense", env=env)
    assert result.returncode == 1
    assert "'zoo'" in result.stderr and "'zoo-dup'" in result.stderr
    # Everything else keeps working, and both entries are listed.
    result = run_zoo("list", "arch", "dense", "--json", env=env)
    assert result.returncode == 0
    assert sorted(e["plugin"] for e in json.loads(result.stdout)) == ["zoo", "zoo-dup"]
    assert "zoo_raises" in result.stderr and "RuntimeError: cannot register today" in result.stderr
    result = run_zoo("show", "cnn", env=env)
    assert result.returncode == 0


def test_a_broken_entry_point_leaves_its_sibling_working(tmp_path, plugins_from):
    """One distribution, two entry points: the one whose hook raises is broken, the other keeps its entries."""
    site = tmp_path / "site"
    install_distribution(site, "zoo-twins", {
        "zoo_twins_ok": "import zoo\n\n@zoo.hookimpl\ndef register_architectures(register):\n"
                        "    register(zoo.Architecture(name='twin-ok', summary='ok', build=lambda *a, **k: None))\n",
        "zoo_twins_bad": "import zoo\n\n@zoo.hookimpl\ndef register_datasets(register):\n"
                         "    register(zoo.DatasetEntry(name='twin-data', summary='d', load=lambda **k: None))\n\n"
                         "@zoo.hookimpl\ndef register_exporters(register):\n"
                         "    raise RuntimeError('second hook fails')\n",
    }, entry_points={"ok": "zoo_twins_ok", "bad": "zoo_twins_bad"})
    loaded = plugins_from(site, "zoo-twins")
    status = {i.name: i.status for i in loaded.infos if i.distribution == "zoo-twins"}
    names = {e.name for e in loaded.registry.entries()}
    assert status == {"ok": "ok", "bad": "broken: RuntimeError: second hook fails"}
    assert "twin-ok" in names  # the healthy sibling keeps its architecture
    assert "twin-data" not in names  # the broken one registers nothing, not even its first hook's


def test_a_failing_locate_is_shown_and_the_listing_goes_on(tmp_path, plugins_from, cli_runner):
    site = tmp_path / "site"
    install_distribution(site, "zoo-where", {"zoo_where": (
        "import zoo\n\ndef locate(data_dir=None):\n    raise OSError('network share gone')\n\n"
        "@zoo.hookimpl\ndef register_datasets(register):\n"
        "    register(zoo.DatasetEntry(name='where', summary='w', load=lambda **k: None, locate=locate))\n")})
    plugins_from(site, "zoo_where")
    result = cli_runner.invoke(cli, ["list", "datasets"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if "  where  " in line)
    assert "cannot tell: dataset 'where' (zoo-where) failed in locate: OSError: network share gone" in line
    assert any(" fashion-sample " in line and "available" in line for line in result.output.splitlines())


def test_a_built_in_module_that_fails_to_import_is_broken_alone(monkeypatch, cli_runner):
    """A damaged install (here: the ONNX exporter's module cannot be imported) breaks that plugin only."""
    import sys

    from zoo import plugins
    from zoo.cli import cli

    monkeypatch.setitem(sys.modules, "zoo_exports.onnx", None)  # import raises ImportError
    plugins.load.cache_clear()
    try:
        result = cli_runner.invoke(cli, ["list", "--json"])
        assert result.exit_code == 0, result.output
        names = {e["name"] for e in json.loads(result.stdout)}
        assert {"tflite", "mediapipe", "cnn", "fashion-sample"} <= names and "onnx" not in names
        listed = cli_runner.invoke(cli, ["plugins", "--json"])
        broken = {i["name"]: i for i in json.loads(listed.stdout)}["zoo_exports.onnx"]
        assert broken["status"] == "broken" and "import of zoo_exports.onnx halted" in broken["error"]
    finally:
        plugins.load.cache_clear()
