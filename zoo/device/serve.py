"""`zoo serve`: a run's web page (``zoo export --web``) served over HTTP, for a browser here or a phone.

The page must be served, not opened from disk (browsers block module
imports from ``file://``). Before serving, every model file the page runs is
checked against the SHA-256 that ``page.json`` records: a file replaced since
the export is refused, here and again by the page itself.

``--lan`` listens on every interface so a phone on the same network can open
the page; browsers give the camera only to pages from localhost or HTTPS, so
on a phone the page offers the file picker (which can take a photo).
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

from zoo.errors import DataError, ZooError
from zoo.run import runs

PAGE = Path("web") / "index.html"
PAGE_DATA = Path("web") / "page.json"


def export_dir(run: str | None) -> Path:
    """The export folder holding the page: a run's ``export/`` (default: the newest run), or a folder given."""
    if run is not None and (Path(run) / PAGE_DATA).is_file():
        return Path(run)
    run_dir = runs.resolve_run(run)
    folder = run_dir / "export"
    if not (folder / PAGE_DATA).is_file():
        raise ZooError(f"{run_dir}: has no web page; write one with: zoo export {run_dir} --web")
    return folder


def check(folder: Path) -> dict:
    """page.json, read, with every file it runs present and unchanged since the export.

    Raises:
        DataError: page.json is not zoo's, or a model file is missing or was replaced.
    """
    path = folder / PAGE_DATA
    try:
        page = json.loads(path.read_text(encoding="utf-8"))
        runners = page["runners"]
        files = [(r["file"], r["sha256"]) for r in runners]
    except (OSError, ValueError, KeyError, TypeError):
        raise DataError(f"{path}: not the page.json zoo writes (damaged or edited); export the run again "
                        "with --web") from None
    web = folder / "web"
    for file, digest in files:
        model = (web / file).resolve()
        if not isinstance(file, str) or folder.resolve() not in model.parents:
            raise DataError(f"{path}: names {file!r}, outside the export; export the run again with --web")
        if not model.is_file():
            raise DataError(f"{model}: missing; the page runs it (export the run again with --web)")
        if hashlib.sha256(model.read_bytes()).hexdigest() != digest:
            raise DataError(f"{model}: not the file zoo exported (its SHA-256 differs from {path}'s); "
                            "export the run again with --web")
    return page


def lan_addresses() -> list:
    """This machine's addresses a phone on the same network could reach (no packet is sent)."""
    found = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # picks the interface of the default route
            found.append(probe.getsockname()[0])
        except OSError:
            pass
    return [a for a in found if not a.startswith("127.")]


def server(folder: Path, port: int = 8000, lan: bool = False, page: dict | None = None):
    """A ``zoo.browser.Server`` for the export folder (not started); the page is at ``/web/``, where ``/`` leads.

    Only regular files inside the folder are served, no folder is listed, and
    each model file ``page`` (page.json, from ``check``) names is hashed again
    at every request: one replaced while served is refused (HTTP 410).
    """
    from zoo.device.browser import Server

    page = check(folder) if page is None else page
    pinned = {os.path.realpath(folder / "web" / r["file"]): r["sha256"] for r in page["runners"]}
    return Server(folder, host="0.0.0.0" if lan else "127.0.0.1", port=port, home="/web/", pinned=pinned)
