"""A folder served over HTTP on this machine, and a headless Chromium that runs one of its pages.

Pages that import ES modules and WebAssembly do not run from ``file://``
(module imports are blocked there), so zoo's web pages are served: by ``zoo
serve`` for a person, and here for ``zoo export --web``, which opens the page
in headless Chromium, lets it run the model on test examples and reads its
answers back from a POST to the same server. Only the standard library:
``http.server`` and a Chromium found on PATH (or ``ZOO_CHROMIUM``).
"""
from __future__ import annotations

import errno
import hashlib
import http.server
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from functools import partial
from pathlib import Path

from zoo.errors import ZooError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Python's mimetypes lacks some; a module script or streamed wasm needs the right type.
TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
         ".json": "application/json", ".tflite": "application/octet-stream", ".css": "text/css",
         ".html": "text/html; charset=utf-8", ".txt": "text/plain; charset=utf-8"}


def find_chromium() -> str | None:
    """``ZOO_CHROMIUM``, else the first Chromium or Chrome on PATH; None when there is none."""
    given = os.environ.get("ZOO_CHROMIUM")
    if given:
        return given if Path(given).is_file() else shutil.which(given)
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Regular files inside one folder, nothing else; ``extra`` paths answered from memory; POSTs to
    ``posts`` paths queued.

    What ``http.server`` does and a shared export must not: it follows symbolic
    links anywhere on the machine and lists directories. Here a file is served
    only when its real path is inside the folder and it is a regular file; no
    folder is listed (a folder's ``index.html`` is its page; ``home`` is where
    ``/`` goes). Files named in ``pinned`` (real path -> SHA-256) are hashed
    at every request and refused once they differ: a model file replaced while
    the page is served never reaches a phone.
    """

    # HTTP/1.1 keeps a page's dozen files on one connection (every answer has a Content-Length).
    protocol_version = "HTTP/1.1"
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def __init__(self, *args, extra=None, posts=None, home=None, pinned=None, **kwargs):
        self.extra, self.posts, self.home, self.pinned = extra or {}, posts or {}, home, pinned or {}
        super().__init__(*args, **kwargs)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path in self.extra:
            body = self.extra[path]
            self.send_response(200)
            self.send_header("Content-Type", TYPES.get(Path(path).suffix, "application/octet-stream"))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def send_head(self):
        """The answer's head, and the body as a file object (None when an error was sent)."""
        path = urllib.parse.unquote(self.path.split("?", 1)[0].split("#", 1)[0])
        if path == "/" and self.home:
            return self._redirect(self.home)
        target = Path(self.translate_path(self.path))  # drops "..", as http.server does
        if os.path.isdir(target) and not path.endswith("/"):
            return self._redirect(path + "/")
        if path.endswith("/"):
            target = target / "index.html"  # a folder is its page or nothing: never a listing
        root = os.path.realpath(self.directory)
        real = os.path.realpath(target)
        if not real.startswith(root + os.sep) or not os.path.isfile(real) or os.path.islink(real):
            self.send_error(404, "File not found")
            return None
        try:
            with open(real, "rb") as handle:
                body = handle.read()  # hashed and sent as read: no window for a swap in between
        except OSError:
            self.send_error(404, "File not found")
            return None
        if real in self.pinned and hashlib.sha256(body).hexdigest() != self.pinned[real]:
            self.send_error(410, "Not the file zoo exported (replaced since the export)")
            return None
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(real))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return io.BytesIO(body)

    def _redirect(self, location: str):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def list_directory(self, path):  # never reached through send_head; kept shut for subclasses
        self.send_error(404, "File not found")
        return None

    def do_POST(self):
        path = self.path.split("?", 1)[0]
        if path not in self.posts:
            self.send_error(404)
            return
        length = int(self.headers.get("Content-Length") or 0)
        self.posts[path].put(self.rfile.read(length))
        self.send_response(204)
        self.end_headers()

    def end_headers(self):
        # A page is re-read each time (an export replaced in place must not be served stale).
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format, *args):  # noqa: A002 - the base class' name
        pass


class _ThreadingServer(http.server.ThreadingHTTPServer):
    # http.server's backlog of 5 refuses connections when a phone, a laptop and a reload
    # open a page's files at once; the kernel caps this at net.core.somaxconn anyway.
    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client gone mid-answer (a reload, a phone locking its screen) is no fault of the server's:
        # socketserver would print a traceback for each on the user's terminal.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class Server:
    """``root`` served on ``host:port`` in a thread (port 0: a free one); a context manager.

    Only regular files inside ``root`` are served (see ``_Handler``); ``home``
    is where ``/`` redirects; ``pinned`` maps real paths to the SHA-256 they
    must still have when requested.

    Raises:
        ZooError: the port is in use or the address cannot be bound.
    """

    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0, extra: dict | None = None,
                 posts: dict | None = None, home: str | None = None, pinned: dict | None = None):
        handler = partial(_Handler, directory=str(root), extra=extra, posts=posts, home=home, pinned=pinned)
        try:
            self.httpd = _ThreadingServer((host, port), handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ZooError(f"port {port} on {host} is in use; choose another with --port") from None
            raise ZooError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
        self.host, self.port = host, self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run_page(root: Path, page: str, extra: dict, results_path: str, chromium: str, timeout: float = 300) -> dict:
    """Serve ``root`` on 127.0.0.1, open ``page`` in headless Chromium and return the JSON it POSTs to
    ``results_path``.

    Raises:
        ZooError: the page posted nothing within ``timeout`` seconds (with
            Chromium's last console line), or posted something not JSON.
    """
    posted: queue.Queue = queue.Queue()
    with Server(root, extra=extra, posts={results_path: posted}) as server, \
            tempfile.TemporaryDirectory(prefix="zoo-chromium-") as profile:
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                   "--disable-extensions", "--disable-background-networking", "--enable-logging=stderr",
                   f"--user-data-dir={profile}", server.url(page)]
        with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              errors="replace") as browser:
            lines: list = []
            reader = threading.Thread(target=lambda: lines.extend(browser.stderr), daemon=True)
            reader.start()
            try:
                body = posted.get(timeout=timeout)
            except queue.Empty:
                body = None
            finally:
                browser.terminate()
                try:
                    browser.wait(10)
                except subprocess.TimeoutExpired:
                    browser.kill()
            reader.join(5)
    if os.environ.get("ZOO_BROWSER_LOG"):  # for whoever debugs a page: Chromium's own lines
        Path(os.environ["ZOO_BROWSER_LOG"]).write_text("".join(lines))
    if body is None:
        console = [line.strip() for line in lines if "CONSOLE" in line or "Uncaught" in line]
        raise ZooError(f"{page}: gave no answers in headless Chromium within {timeout:.0f} s"
                       + (f" ({console[-1][:200]})" if console else ""))
    try:
        return json.loads(body)
    except ValueError:
        raise ZooError(f"{page}: posted something that is not JSON") from None
