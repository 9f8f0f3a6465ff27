"""RUN/report.html: written by zoo train, refreshed by zoo export, and checked in headless Chromium.

Chromium is Debian's package (CI installs it); the test opens the real page,
takes a screenshot, and reads back from the rendered DOM that every image
decoded and the tables and scores are there.
"""
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from zoo.cli import cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
# Appended to a copy of the page only: the report itself carries no script.
PROBE = """<script>
window.addEventListener('load', function () {
  var pre = document.createElement('pre'); pre.id = 'probe';
  pre.textContent = JSON.stringify({
    images: Array.from(document.images).map(function (i) { return [i.alt, i.complete, i.naturalWidth]; }),
    tables: document.querySelectorAll('table').length, text: document.body.innerText});
  document.body.appendChild(pre);
});
</script>"""


def chromium(*args, timeout=120):
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def run(good_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(good_run, copy)
    return copy


def test_training_writes_a_self_contained_report(good_run):
    page = (good_run / "report.html").read_text()
    metrics = json.loads((good_run / "metrics.json").read_text())
    assert f"test accuracy {metrics['test_accuracy']:.4f}" in page
    assert page.count("data:image/png;base64,") == 3  # curves, confusion matrix, predictions
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    assert "Not exported yet" in page


def test_export_refreshes_the_report_with_its_files(run):
    result = CliRunner().invoke(cli, ["export", str(run), "--tflite", "--quantize", "int8"])
    assert result.exit_code == 0, result.output
    page = (run / "report.html").read_text()
    assert "model.int8.tflite" in page and f"zoo export {run} --tflite --quantize int8 --force" in page
    card = json.loads((run / "export" / "model_card.json").read_text())
    assert all(f"{f['size_bytes']}" in page for f in card["files"])
    assert "latency" in page


@needs_chromium
def test_the_report_renders_in_chromium(run, tmp_path):
    CliRunner().invoke(cli, ["export", str(run), "--tflite"])
    result = CliRunner().invoke(cli, ["report", str(run)])
    assert result.exit_code == 0 and result.output.strip() == str(run / "report.html")
    # The page as a person sees it: a screenshot that is not blank.
    shot = tmp_path / "shot.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,2400", (run / "report.html").as_uri())
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (2400, 1200) and pixels.std() > 20
    # What rendered: every image decoded, the tables, the scores.
    probe = tmp_path / "probe.html"
    probe.write_text((run / "report.html").read_text() + PROBE)
    dom = chromium("--virtual-time-budget=5000", "--dump-dom", probe.as_uri()).stdout
    found = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1).replace("&quot;", '"')
                       .replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
    assert len(found["images"]) == 3 and all(done and width > 100 for _, done, width in found["images"])
    assert found["tables"] >= 5
    metrics = json.loads((run / "metrics.json").read_text())
    assert f"test accuracy {metrics['test_accuracy']:.4f}" in found["text"]
    assert "model.tflite" in found["text"] and "Trouser" in found["text"]


def test_report_of_a_missing_run_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "not found" in result.output
