"""The manual as printed: its code runs, its zoo commands exist, and it builds strictly into a site that works.

The plugins of docs/writing-plugins.md are installed for real and run (here, and
in test_edges, test_tasks and test_text); every `zoo` command in the README and
the manual is parsed by the CLI; the site is built with Sphinx -W and opened in
headless Chromium.
"""
import json
import re
import shlex
import shutil
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from conftest import REPO, install_distribution
from zoo.cli import cli

DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))


def python_block(page: str, heading: str) -> str:
    """The first ```python block after ``heading`` in ``docs/page``."""
    text = "\n" + (DOCS / page).read_text()
    start = text.index(f"\n{heading}\n")
    match = re.compile(r"```python\n(.*?)```", re.S).search(text, start)
    assert match, f"no python block after {heading} in docs/{page}"
    return match.group(1)


@pytest.fixture
def readme_plugins(tmp_path, plugins_from):
    site = tmp_path / "site"
    install_distribution(site, "zoo-tiny", {"zoo_tiny": python_block("writing-plugins.md", "# Writing a plugin")})
    install_distribution(site, "zoo-npz", {"zoo_npz": python_block("writing-plugins.md", "## Adding a format")})
    plugins_from(site, "zoo_tiny,zoo_npz")
    return site


def test_the_manuals_plugin_and_exporter_work_as_printed(readme_plugins, tmp_path):
    runner = CliRunner()
    listing = runner.invoke(cli, ["list", "--json"])
    assert listing.exit_code == 0, listing.output
    entries = {(e["kind"], e["name"]): e for e in json.loads(listing.output)}
    assert entries[("architecture", "tiny-gru")]["plugin"] == "zoo-tiny"
    assert entries[("exporter", "npz")]["plugin"] == "zoo-npz"

    run = tmp_path / "run"
    trained = runner.invoke(cli, ["train", "tiny-gru", "fashion-sample", "--epochs", "1", "-q", "-o", str(run)])
    assert trained.exit_code == 0, trained.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.3  # ten classes: chance is 0.1

    exported = runner.invoke(cli, ["export", str(run), "--format", "npz"])
    assert exported.exit_code == 0, exported.output
    assert "Traceback" not in exported.output
    card = json.loads((run / "export" / "model_card.json").read_text())
    npz = next(f for f in card["files"] if f["file"] == "weights.npz")
    # zoo filled in what the exporter did not write itself.
    assert npz["format"] == "npz" and npz["verified"] is True
    assert npz["size_bytes"] == (run / "export" / "weights.npz").stat().st_size
    # The same weights, predicted in other batches: bit-equal on Intel Xeon, 1.2e-7 apart on AMD EPYC (oneDNN
    # sums in another order), as on facdfa2 before this session's changes.
    assert npz["max_abs_diff"] <= 1e-6 and npz["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert len(npz["sha256"]) == 64
    row = next(line for line in exported.output.splitlines() if line.startswith("weights.npz"))
    assert "100.00%" in row

    # The exporter's own option: a flag of zoo export, in its help, reaching the exporter.
    shown = runner.invoke(cli, ["export", "--help"])
    assert shown.exit_code == 0 and "--compressed" in shown.output and "npz: write weights.npz compressed." in shown.output
    import zipfile

    stored = {i.compress_type for i in zipfile.ZipFile(run / "export" / "weights.npz").infolist()}
    assert stored == {zipfile.ZIP_STORED}
    squeezed = runner.invoke(cli, ["export", str(run), "--format", "npz", "--compressed", "-o", str(tmp_path / "c")])
    assert squeezed.exit_code == 0, squeezed.output
    assert {i.compress_type for i in zipfile.ZipFile(tmp_path / "c" / "weights.npz").infolist()} == {zipfile.ZIP_DEFLATED}
    refused = runner.invoke(cli, ["export", str(run), "--compressed", "-o", str(tmp_path / "d")])
    assert refused.exit_code == 2 and "--compressed: not supported by the selected exporter(s) (savedmodel); it " \
                                      "applies to npz" in refused.output, refused.output


def zoo_commands(text: str) -> list:
    """Every ``zoo ...`` command in the code of a Markdown page: fenced blocks, indented blocks, ``$ zoo`` lines."""
    found, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not (fenced or line.startswith("    ")):
            continue
        command = line.strip()
        command = command[2:] if command.startswith("$ zoo ") else command
        if command.startswith("zoo ") and "..." not in command:
            found.append(shlex.split(command, comments=True)[1:])
    return found


COMMANDS = [(page.name, argv) for page in [REPO / "README.md", *PAGES] for argv in zoo_commands(page.read_text())]


def test_the_manual_shows_commands():
    assert len(COMMANDS) > 60 and {p for p, _ in COMMANDS} >= {"README.md", "getting-started.md", "browser.md", "text.md"}


@pytest.mark.parametrize("page, argv", COMMANDS, ids=[f"{p}:{' '.join(a)[:60]}" for p, a in COMMANDS])
def test_every_zoo_command_in_the_manual_exists_with_its_options(page, argv):
    """Parsed as the CLI would (commands, options, choices, ranges), without running: no page drifts from it."""
    with cli.make_context("zoo", list(argv)) as group:
        # Click 8.2+ keeps the command's name apart (protected_args is deprecated; 9.0 puts it in args).
        tokens = [*group.__dict__.get("_protected_args", []), *group.args]
        name, command, rest = cli.resolve_command(group, tokens)
        try:
            command.make_context(name, rest, parent=group)
        except click.MissingParameter:
            pass  # a command shown without an argument the reader supplies


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """docs/ built as make docs builds it: Sphinx, -W (a warning, a broken link or reference, fails it)."""
    pytest.importorskip("myst_parser", reason="needs the docs extra (make docs, or the test extra)")
    site = tmp_path_factory.mktemp("manual") / "site"
    built = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-W", "--keep-going", "-b", "html", str(DOCS),
                            str(site)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    return site


def test_the_manual_builds_strictly_with_a_page_per_task(built_site):
    pages = {p.stem for p in built_site.glob("*.html")}
    assert {p.stem for p in PAGES} <= pages
    reference = (built_site / "plugin-api.html").read_text()
    # Generated from the docstrings: the hooks and what they register, with their own words.
    for hook in ("register_architectures", "register_datasets", "register_exporters"):
        assert f'id="zoo.hookspecs.{hook}"' in reference, hook
    assert "Exporters it builds on" in reference or "builds on" in reference


def test_a_broken_link_fails_the_build(tmp_path):
    pytest.importorskip("myst_parser", reason="needs the docs extra")
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs, ignore=shutil.ignore_patterns("_build"))
    page = docs / "predict.md"
    page.write_text(page.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    built = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-W", "--keep-going", "-b", "html", str(docs),
                            str(tmp_path / "site")], capture_output=True, text=True, timeout=300)
    assert built.returncode != 0 and "no-such-page" in built.stderr


def opened_from_disk(page, log):
    """(the DOM headless Chromium renders from ``page``'s file:// address, the addresses the page asked for).

    Chromium's network log lists the browser's own requests too (its clock,
    its dictionaries); those have no initiator ("not an origin"), while a
    page's have one ("null" for a file://). File loads are not network
    requests: what is left is what the page asked of other servers.
    """
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--log-net-log={log}",
                          "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    net = json.loads(log.read_text())
    start = net["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    asked = {e["params"]["url"] for e in net["events"] if e["type"] == start
             and e.get("params", {}).get("initiator", "not an origin") != "not an origin"}
    return dom, asked


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_site_opens_from_disk_and_asks_nothing_of_other_servers(built_site, tmp_path):
    """Three pages from file:// in headless Chromium: rendered with their navigation, no request leaving the site."""
    control = tmp_path / "control.html"  # the check itself sees a page's outside request
    control.write_text('<img src="https://example.com/x.png">')
    assert opened_from_disk(control, tmp_path / "control.json")[1] == {"https://example.com/x.png"}
    for page, text in (("index.html", "Where to go"), ("browser.html", "zoo serve"),
                       ("plugin-api.html", "register_exporters")):
        dom, asked = opened_from_disk(built_site / page, tmp_path / f"{page}.json")
        assert text in dom and 'class="sidebar-tree"' in dom, page
        assert not asked, (page, sorted(asked))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_a_link_between_pages_is_followed_in_chromium(built_site):
    """A reader's click: the index's link to Getting started, followed in a frame, lands on that page."""
    from zoo import browser

    (built_site / "probe.js").write_text("""
const frame = document.querySelector('iframe');
const loaded = () => new Promise((resolve) => frame.addEventListener('load', resolve, {once: true}));
await loaded();
const link = Array.from(frame.contentDocument.querySelectorAll('article a'))
  .find((a) => a.getAttribute('href') === 'getting-started.html');
link.click();
await loaded();
const page = frame.contentDocument;
await fetch('/results', {method: 'POST', body: JSON.stringify({
  url: frame.contentWindow.location.pathname, title: page.querySelector('h1').textContent,
  navigation: page.querySelectorAll('.sidebar-tree a').length})});
""")
    (built_site / "probe.html").write_text('<iframe src="index.html"></iframe><script type="module" src="probe.js"></script>')
    seen = browser.run_page(built_site, "/probe.html", {}, "/results", CHROMIUM, timeout=60)
    assert seen["url"] == "/getting-started.html" and seen["title"].startswith("Getting started")
    assert seen["navigation"] >= len(PAGES) - 1  # the sidebar lists every page


# The manual's Python blocks, each installed as a plugin and run by a test (here, test_edges, test_tasks,
# test_text): a new block must join this list and get its test.
RUN_BLOCKS = {("writing-plugins.md", "# Writing a plugin"), ("writing-plugins.md", "## A regression dataset"),
              ("writing-plugins.md", "## A vector classification dataset"), ("writing-plugins.md", "## A text dataset"),
              ("writing-plugins.md", "## Adding a format")}


def test_every_python_block_of_the_manual_is_run_by_a_test():
    blocks = []
    for page in [REPO / "README.md", *PAGES]:
        heading = None
        for line in page.read_text().splitlines():
            if re.match(r"#{1,4} ", line):
                heading = line
            elif line.startswith("```python"):
                blocks.append((page.name, heading))
    assert set(blocks) == RUN_BLOCKS and len(blocks) == len(RUN_BLOCKS), blocks
