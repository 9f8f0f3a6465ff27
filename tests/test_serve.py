"""zoo serve shares the page and its files, nothing else: no links out, no listings, no replaced model file.

Served from a hand-made export folder (the server reads page.json and hashes
files; it never runs the model), so these need no browser.
"""
import concurrent.futures
import hashlib
import json
import os
import urllib.error
import urllib.request

import pytest

from zoo import serve


@pytest.fixture
def export(tmp_path):
    folder = tmp_path / "export"
    (folder / "web").mkdir(parents=True)
    (folder / "saved_model").mkdir()
    (folder / "saved_model" / "saved_model.pb").write_bytes(b"graph")
    model = folder / "model.tflite"
    model.write_bytes(b"\0\0\0\0TFL3 a model")
    (folder / "web" / "index.html").write_text("<!doctype html><title>page</title>")
    runners = [{"file": "../model.tflite", "sha256": hashlib.sha256(model.read_bytes()).hexdigest()}]
    (folder / "web" / "page.json").write_text(json.dumps({"title": "t", "runners": runners}))
    return folder


def _get(url):
    """(status, body) of a GET, redirects followed."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.mark.parametrize("case", ["file link", "folder link", "dot-dot", "encoded dot-dot"])
def test_nothing_outside_the_export_is_served(export, tmp_path, case):
    secret = tmp_path / "secret.txt"
    secret.write_text("the user's own file")
    if case == "file link":
        (export / "web" / "notes.txt").symlink_to(secret)
        path = "/web/notes.txt"
    elif case == "folder link":
        (export / "web" / "more").symlink_to(tmp_path)
        path = "/web/more/secret.txt"
    else:
        path = "/../secret.txt" if case == "dot-dot" else "/web/%2e%2e/%2e%2e/secret.txt"
    with serve.server(export, port=0) as server:
        status, body = _get(server.url(path))
    assert status == 404 and b"the user's own file" not in body


@pytest.mark.parametrize("path", ["/saved_model/", "/web/../saved_model/", "/saved_model"])
def test_no_folder_is_listed(export, path):
    with serve.server(export, port=0) as server:
        status, body = _get(server.url(path))
    assert status == 404 and b"Directory listing" not in body and b"saved_model.pb" not in body


def test_the_root_is_the_page(export):
    with serve.server(export, port=0) as server:
        status, body = _get(server.url("/"))
        model_status, model = _get(server.url("/model.tflite"))
    assert status == 200 and b"<title>page</title>" in body
    assert model_status == 200 and model.endswith(b"a model")


def test_a_model_file_replaced_while_serving_is_refused(export):
    with serve.server(export, port=0) as server:
        assert _get(server.url("/model.tflite"))[0] == 200
        (export / "model.tflite").write_bytes(b"\0\0\0\0TFL3 another model")
        status, body = _get(server.url("/model.tflite"))
    assert status == 410 and b"another model" not in body


def test_two_hundred_requests_at_once_are_all_answered(export):
    """A phone, a laptop and a reload at once: every connection answered (bounded: 200 requests, 30 s)."""
    with serve.server(export, port=0) as server:
        url = server.url("/web/index.html")
        with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
            statuses = list(pool.map(lambda _: _get(url)[0], range(200), timeout=30))
    assert statuses == [200] * 200


def test_a_link_as_the_model_file_is_not_served(export, tmp_path):
    """page.json's hash is checked at start against what the link points to; the server still refuses links."""
    real = tmp_path / "elsewhere.tflite"
    os.replace(export / "model.tflite", real)
    (export / "model.tflite").symlink_to(real)
    with serve.server(export, port=0, page=json.loads((export / "web" / "page.json").read_text())) as server:
        assert _get(server.url("/model.tflite"))[0] == 404
