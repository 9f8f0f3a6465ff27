"""Keep TensorFlow's and LiteRT's C++ log lines off a CLI user's terminal.

TensorFlow 2.21 logs through absl in C++ (``I0000 00:00:... port.cc:153]
oneDNN custom operations are on``, ``cudart_stub.cc``, ``node_def_util.cc``,
``WARNING: All log messages before absl::InitializeLog() ...``), at import and
later (first device use, first tf.data graph); ``TF_CPP_MIN_LOG_LEVEL`` no
longer silences all of it. The lines are written straight to file
descriptor 2, so they are filtered there: fd 2 becomes a pipe, and a thread
passes on everything but lines in absl's format (and LiteRT's ``INFO:``
banner). zoo's own messages go through unchanged, partial lines (progress
bars) included.
"""
from __future__ import annotations

import atexit
import os
import re
import sys
import threading

# absl/glog: "I0000 00:00:1796162249.911244    2146 port.cc:153] ..." (before
# absl's InitializeLog the clock field is seconds since the epoch); absl's
# one-time warning; MediaPipe's glog one ("Logging before InitGoogle()"); LiteRT's "INFO: Created
# TensorFlow Lite XNNPACK delegate".
NATIVE_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]\n]+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|WARNING: Logging before InitGoogle\(\) is written to STDERR"
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate)")
_PREFIXES = (b"WARNING: All log messages before absl", b"WARNING: Logging before InitGoogle",
             b"INFO: Created TensorFlow Lite")

_state: dict = {}


def _could_be_native(partial: bytes) -> bool:
    """Whether an unfinished line may still turn out to be a native log line."""
    if partial[:1] in (b"I", b"W", b"E", b"F"):
        digits = partial[1:5]
        if digits.isdigit() or (len(digits) < 4 and (not digits or digits.isdigit())):
            return True
    return any(p.startswith(partial[:len(p)]) for p in _PREFIXES)


def _without_native(line: bytes) -> bytes:
    """``line`` and its newline, or only what precedes a native log line that ends it."""
    head, cr, tail = line.rpartition(b"\r")
    return head + cr if NATIVE_LINE.match(tail) else line + b"\n"


def _pump(read_fd: int, out_fd: int) -> None:
    pending = b""
    while True:
        try:
            chunk = os.read(read_fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        pending += chunk
        *lines, pending = pending.split(b"\n")
        kept = b"".join(_without_native(line) for line in lines)
        # A progress bar redraws with \r: what follows the last \r starts a new line.
        head, cr, tail = pending.rpartition(b"\r")
        if not _could_be_native(tail):
            kept, pending = kept + pending, b""
        elif cr:
            kept, pending = kept + head + cr, tail
        if kept:
            os.write(out_fd, kept)
    if pending:  # the last words, without a newline
        head, cr, tail = pending.rpartition(b"\r")
        os.write(out_fd, head + cr if NATIVE_LINE.match(tail) else pending)
    os.close(read_fd)


def filter_native_logs() -> None:
    """Filter fd 2 for the rest of the process (once; a no-op where stderr is not fd 2)."""
    if _state or sys.stderr is not sys.__stderr__:
        return  # already on, or stderr is captured in Python (click's CliRunner)
    try:
        sys.stderr.flush()
        read_fd, write_fd = os.pipe()
        real = os.dup(2)
        os.dup2(write_fd, 2)
        os.close(write_fd)
    except OSError:
        return  # no fd 2 to filter: nothing to do
    thread = threading.Thread(target=_pump, args=(read_fd, real), name="zoo-stderr", daemon=True)
    thread.start()
    _state.update(real=real, thread=thread)
    atexit.register(_restore)


def real_stderr() -> int | None:
    """The unfiltered stderr's file descriptor for a child process (None: inherit fd 2)."""
    return _state.get("real")


def _restore() -> None:
    """Give fd 2 back and let the thread pass on what is left in the pipe."""
    real, thread = _state.get("real"), _state.get("thread")
    if real is None:
        return
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(real, 2)  # the pipe's last writer closes: the thread sees its end
    thread.join(timeout=5)
    _state.clear()
