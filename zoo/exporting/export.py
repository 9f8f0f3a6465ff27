"""Export a run's model: the machinery every exporter plugin shares.

``export()`` checks the request (formats, options, destination) before any
work, loads the run's model and dataset, calls each selected exporter's
``export(context)`` on a temporary directory beside the destination, verifies
what they wrote against the Keras model on the dataset's full test set, adds
``labels.txt`` and ``model_card.json``, and only then moves the directory into
place. An interrupted or failed export leaves the previous export (or
nothing), never a half-written file.

An exporter (see ``zoo.hookspecs.register_exporters``) writes its files into
``context.directory``, runs each through ``context.verify`` and returns one
description per file for the model card.
"""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from zoo.api import calls, plugins
from zoo.api.calls import file_size  # noqa: F401 - zoo.export.file_size, as before
from zoo.data.card import CARD, CARD_VERSION, EXPORT_DIR, LABELS  # noqa: F401 - zoo.export's names, as before
from zoo.data.card import read as read_card
# Verification thresholds, for every task, live with the tasks (tests tighten them there).
from zoo.data.tasks.base import FLOAT_ATOL, QUANTIZED_POINTS, SIGNIFICANCE, Check  # noqa: F401 - as before
from zoo.errors import UsageError, ZooError
from zoo.run import runs

# Calibration images (int8 and int16x8 files) drawn from the training set, unless --representative-size.
DEFAULT_REPRESENTATIVE_SIZE = 200


class ExportError(ZooError):
    """A conversion failed or a file did not pass verification: nothing was written."""


@dataclass
class ExportContext:
    """What an exporter gets.

    Attributes:
        run_dir: the run directory.
        run: the run's config.json, read and checked once (``zoo.run.run.RunConfig``:
            ``architecture``, ``dataset``, ``class_names``, ``input_shape``, ``task``,
            ``spec``, ``seed``, ``params`` ...). Read this.
        config: the same file as the raw dict it was written as (for plugins written
            before ``run``, and for fields ``RunConfig`` does not type).
        model: the run's ``keras.Model``.
        model_path: the run's model.keras (for exporters that convert in a child process).
        dataset: the run's ``zoo.dataset.Dataset``.
        architecture: the run's ``Architecture`` entry, or None if its plugin is
            not installed here.
        directory: where to write (a temporary directory, moved in place at the end).
        options: the export options given (``quantize``, ``int8_io``,
            ``representative_size``), with defaults filled in.
        x_test: the full test set as model input (float32, normalised).
        reference: the Keras model's probabilities on ``x_test``.
        progress: ``progress(label, total)`` -> a context manager yielding
            ``update(n)``; shows a progress bar in the CLI.
        log: where progress lines go.
    """

    run_dir: Path
    config: dict
    model: Any
    model_path: Path
    dataset: Any
    architecture: Any
    directory: Path
    options: dict
    x_test: np.ndarray
    reference: np.ndarray
    progress: Callable
    log: Callable = print
    failures: list = field(default_factory=list)
    checks: dict = field(default_factory=dict)  # file name -> Check, filled by verify
    refused: dict = field(default_factory=dict)  # file name -> why it was not written, filled by fail
    run: Any = None  # typed from ``config`` when not given
    _representative: np.ndarray | None = None

    def __post_init__(self):
        if self.run is None:
            from zoo.run.run import RunConfig

            self.run = RunConfig.of(self.config, self.run_dir / runs.CONFIG)

    def representative(self) -> np.ndarray:
        """Calibration images drawn from the run's training data (seeded by the run's seed).

        At most ``options["representative_size"]``; fewer when the training
        set is smaller. The model card records how many were used.
        """
        if self._representative is None:
            size = int(self.options.get("representative_size") or DEFAULT_REPRESENTATIVE_SIZE)
            self._representative = self.dataset.calibration_examples(size, self.run.seed)
        return self._representative

    def verify(self, name: str, probabilities, quantized: bool, hint: str | None = None) -> Check:
        """Compare a file's test-set probabilities with Keras'; a failure drops the file.

        Args:
            name: the file's name inside ``directory``, as the exporter returns it.
            probabilities: the file's outputs on ``x_test``, shape (images, classes).
            quantized: judge by accuracy (within 1 point) instead of matching Keras.
            hint: what to try instead, added to the error if the file fails
                (e.g. another quantization).

        Returns:
            The ``Check``; zoo copies its figures into the model card.
        """
        probabilities = np.asarray(probabilities, dtype=np.float32)
        if probabilities.shape != self.reference.shape:
            raise ExportError(f"{name}: gave outputs of shape {list(probabilities.shape)} on the test "
                              f"set, expected {list(self.reference.shape)} (nothing was written)")
        check = compare(name, probabilities, self.reference, self.dataset.y_test, quantized, self.dataset.task)
        self.checks[name] = check
        if not check.passed:
            self.fail(name, f"failed verification: {check.describe()}" + (f"; {hint}" if hint else ""))
        return check

    def judge(self, check: Check, hint: str | None = None) -> Check:
        """Record a check an exporter made itself (a runtime that answers in its own terms, e.g. MediaPipe's
        ObjectDetector's boxes, judged by the task's ``compare_found``); a failure drops the file."""
        self.checks[check.file] = check
        if not check.passed:
            self.fail(check.file, f"failed verification: {check.describe()}" + (f"; {hint}" if hint else ""))
        return check

    def fail(self, name: str, message: str) -> None:
        """Record that ``name`` could not be exported; its file, if any, is removed (the files that
        passed are still written)."""
        path = self.directory / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        self.failures.append(f"{name}: {message}")
        self.refused.setdefault(name, message)


def compare(name: str, probabilities: np.ndarray, reference: np.ndarray, labels: np.ndarray,
            quantized: bool, task=None) -> Check:
    """Figures of one file against the Keras model, by the task's rules (``task.compare``; no task:
    classification)."""
    from zoo.data.tasks import Classification

    task = task if task is not None else Classification(tuple(str(i) for i in range(np.asarray(reference).shape[-1])))
    return task.compare(name, np.asarray(probabilities, dtype=np.float32), np.asarray(reference),
                        np.asarray(labels), quantized)


@dataclass
class ExportResult:
    directory: Path
    card: dict


@contextlib.contextmanager
def _no_progress(label, total):
    yield lambda n: None


# ---------------------------------------------------------------------------
# Checking the request: everything that can be refused is refused before work.

def select_exporters(formats, config: dict | None = None) -> list:
    """Registered exporters for ``formats`` (savedmodel first), each once, and before each the exporters
    it ``needs`` for this run's config."""
    chosen = []

    def add(name, seen=()):
        entry = plugins.get("exporter", name)
        if entry in chosen or entry.name in seen:
            return
        if entry.needs is not None and config is not None:
            for needed in entry.needs(config):
                add(needed, (*seen, entry.name))
        chosen.append(entry)

    for name in ["savedmodel", *formats]:
        add(name)
    return chosen


def _is_export_dir(path: Path) -> bool:
    return (path / CARD).is_file() or not any(path.iterdir())


def foreign_files(dest: Path) -> list:
    """What is in an export directory that zoo did not write there (its card lists what it did)."""
    try:
        card = read_card(dest / CARD)
    except ZooError:
        return sorted(p.name for p in dest.iterdir() if p.name != CARD)
    files = card.get("files") if isinstance(card.get("files"), list) else []
    ours = {CARD, LABELS, "tokenizer.json"} | {Path(str(f.get("file", ""))).parts[0] for f in files
                             if isinstance(f, dict) and f.get("file")}
    return sorted(p.name for p in dest.iterdir() if p.name not in ours)


def check_destination(dest: Path, force: bool, flag: str) -> None:
    """Refuse a destination that is a file or a link, not an export, or an export holding other files."""
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise UsageError(f"{flag} {dest}: exists and is not a directory")
    if dest.is_dir():
        if not _is_export_dir(dest):
            raise UsageError(f"{flag} {dest}: exists and is not a zoo export (no {CARD}); "
                             "refusing to replace it")
        if not force and any(dest.iterdir()):
            raise UsageError(f"{dest}: an export exists already; use --force to replace it")
        foreign = foreign_files(dest) if (dest / CARD).is_file() else []
        if foreign:
            shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
            raise UsageError(f"{flag} {dest}: the export also holds {shown}, which zoo did not "
                             "write; refusing to replace it (move them out first)")


# ---------------------------------------------------------------------------
# Atomic publication.

def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(dest: Path) -> None:
    """Remove temporary directories that killed exports left beside ``dest``."""
    parent = dest.parent
    if not parent.is_dir():
        return
    for path in parent.glob(f".{dest.name}.*-*"):
        kind, _, rest = path.name[len(dest.name) + 2:].partition("-")
        pid = rest.split("-", 1)[0]
        if kind not in ("tmp", "old") or not pid.isdigit() or _alive(int(pid)):
            continue
        if kind == "old" and not dest.exists() and (path / CARD).is_file():
            os.replace(path, dest)  # killed between the two renames: restore it
        elif path.is_file() and not path.is_symlink():  # a killed export's mapped test set
            path.unlink(missing_ok=True)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False if unavailable."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    if ctypes.get_errno() in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(ctypes.get_errno(), f"cannot replace {b}", str(b))


def publish(tmp: Path, dest: Path) -> None:
    """Move the finished ``tmp`` to ``dest``, replacing an old export in one step where possible."""
    if not dest.exists():
        os.rename(tmp, dest)
        return
    if _exchange(tmp, dest):
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old export
        return
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}-{time.time_ns()}")
    os.rename(dest, old)
    os.rename(tmp, dest)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------

def export(run: str | None = None, *, formats=(), output: str | None = None, force: bool = False,
           progress: Callable | None = None, log: Callable = print, **options) -> ExportResult:
    """Export a run's model.

    Args:
        run: a run directory or name (default: the newest finished run).
        formats: exporter names besides ``savedmodel``, which is always
            written (``["tflite"]`` for ``--tflite``).
        output: destination directory (default ``RUN/export``).
        force: replace an existing export.
        progress: ``progress(label, total)`` context manager factory.
        log: where progress lines go.
        options: the exporters' options (``zoo list exporters`` names them):
            ``quantize=("int8",)``, ``int8_io=True``, ``representative_size=50``
            (tflite), ``web_runtime="exports/web_page"`` (web), or a plugin's.

    Returns:
        An ``ExportResult``: the directory written and its model card.

    Raises:
        UsageError: a bad format, option or destination (nothing done).
        ZooError: a missing or damaged run, model or dataset.
        ExportError: a conversion failed or a file failed verification;
            nothing was written.
    """
    from zoo.exporting import export_options

    options = export_options.with_defaults(export_options.check(select_exporters(formats), options))

    from zoo.run.run import Run

    opened = Run.open(run)
    opened.require_finished("exported")
    run_dir, config = opened.directory, opened.config.raw
    exporters = select_exporters(formats, config)  # now with what each needs for this run
    for exporter in exporters:
        if exporter.prepare is not None:
            calls.prepare_exporter(exporter, options, config)
    dest = Path(output) if output else opened.export_dir
    flag = "--output" if output else "export"
    check_destination(dest, force, flag)
    progress = progress or _no_progress
    # The destination must take files before minutes go into converting.
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(dest)
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.tmp-{os.getpid()}-"))
    except OSError as exc:
        raise ZooError(f"cannot write to {dest.parent}: {exc.strerror}") from None
    try:
        result = _export_into(tmp, dest, opened, options, exporters, progress, log)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        (tmp.parent / f"{tmp.name}.x_test.npy").unlink(missing_ok=True)
    if dest == opened.export_dir:  # the run's own export: its report shows the files
        from zoo.reports import report

        report.refresh(run_dir)
    refused = result.card.get("refused") or []
    if refused:  # the files that passed are written; the refused ones are named, and the exit says so
        written = ", ".join(f["file"] for f in result.card["files"])
        raise ExportError("; ".join(f"{r['file']}: {r['reason']}" for r in refused)
                          + f" (not written; the files that passed were written to {dest}: {written})")
    return result


def _export_into(tmp: Path, dest: Path, run, options: dict, exporters, progress, log) -> "ExportResult":
    """Load, convert and verify into ``tmp``; publish it at ``dest`` only if every file passed."""
    run_dir, config = run.directory, run.config.raw
    model = run.model()
    dataset = run.load_dataset()
    try:
        architecture = plugins.get("architecture", run.config.architecture)
    except ZooError:
        architecture = None  # its plugin is gone; the saved model still loads

    from zoo.data import evaluation

    x_test = normalised_test_set(dataset, tmp.parent / f"{tmp.name}.x_test.npy")
    log(f"Keras model: predicting {len(x_test)} test examples")
    reference = evaluation.predict(model, dataset.x_test, normalise=dataset.normalise)

    context = ExportContext(
        run_dir=run_dir, run=run.config, config=config, model=model, model_path=run_dir / runs.MODEL,
        dataset=dataset, architecture=architecture, directory=tmp, options=options,
        x_test=x_test, reference=reference, progress=progress, log=log)
    files = []
    for exporter in exporters:
        files.extend(calls.run_exporter(exporter, context))
    if SAVEDMODEL in context.refused or not _passed(context, files):  # nothing a user could run
        raise ExportError("; ".join(context.failures) + f" (nothing was written to {dest})")
    card = model_card(context, _passed(context, files), reference)
    # One name per output, in output order: the classes, or a regression's outputs.
    (tmp / LABELS).write_text("".join(f"{name}\n" for name in dataset.task.output_names))
    if dataset.tokenizer is not None:  # text: the file's input is this tokenizer's ids
        from zoo.data import tokenizer

        tokenizer.write(dataset.tokenizer, tmp / tokenizer.TOKENIZER_FILE)
    runs.write_json(tmp / CARD, card)
    # Each file as a user's runner reads it, through the card just written.
    from zoo.exporting import runner_check

    runner_check.check(context, tmp, card["files"])
    _refuse_pages_without_their_models(context, card["files"])
    card["files"] = _passed(context, card["files"])
    if context.refused:
        card["refused"] = [{"file": name, "reason": why} for name, why in context.refused.items()]
    runs.write_json(tmp / CARD, card)
    os.chmod(tmp / CARD, 0o644)  # written through mkstemp, which makes it private
    os.chmod(tmp, 0o755)  # as mkdtemp does
    publish(tmp, dest)
    return ExportResult(dest, card)


SAVEDMODEL = "saved_model"
# A normalised test set larger than this is written to a memory-mapped file beside the export's
# temporary folder instead of held in memory: 10,000 photos at 224 x 224 are 6 GB of float32, which
# every exporter reads and none changes, and the kernel can drop a mapped file's pages.
IN_MEMORY_TEST_SET_BYTES = 256 << 20


def normalised_test_set(dataset, path: Path) -> np.ndarray:
    """The test set as the model reads it: in memory, or (when large) a read-only memory map at ``path``,
    filled in chunks and removed with the export's temporary folder."""
    x = dataset.x_test
    if x.size * 4 <= IN_MEMORY_TEST_SET_BYTES:
        return dataset.normalise(x)
    mapped = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=x.shape)
    for start in range(0, len(x), 256):
        mapped[start:start + 256] = dataset.normalise(x[start:start + 256])
    mapped.flush()
    del mapped
    return np.load(path, mmap_mode="r")


def _passed(context: ExportContext, files: list) -> list:
    """The file descriptions of the files that were not refused."""
    return [f for f in files if "error" not in f and str(f.get("file", "")).rstrip("/") not in context.refused
            and str(f.get("file", "")) not in context.refused]


def _refuse_pages_without_their_models(context: ExportContext, files: list) -> None:
    """A page (or any folder) that runs a file refused after it was built is refused too."""
    for entry in _passed(context, files):
        runtimes = entry.get("runtimes") if isinstance(entry.get("runtimes"), list) else []
        gone = [r.get("model_file") for r in runtimes if isinstance(r, dict) and r.get("model_file") in context.refused]
        if gone:
            context.fail(entry["file"], f"runs {gone[0]}, which was refused")


def model_card(context: ExportContext, files: list, reference: np.ndarray) -> dict:
    """What a user of the exported files needs to know (``zoo.card.build``)."""
    from zoo.data import card

    return card.build(context, files, compare("keras", reference, reference, context.dataset.y_test, False,
                                              context.dataset.task))
