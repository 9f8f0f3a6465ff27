"""A run, opened once: its directory, its config.json typed and checked, and what it holds.

``Run.open(RUN)`` finds the directory a RUN argument means, reads
config.json once and checks the fields zoo reads from it (a hand-edited or
damaged file fails here in one line, naming the file); the run's task and
input spec are rebuilt from it. Evaluating, exporting and starting from a run
go through here instead of re-reading the dict: ``model()`` (safe mode, the
archive checked), ``load_dataset()`` (the run's dataset with its stored
settings, a value that no longer works named as that file's fault),
``require_finished()`` and ``export_dir``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from zoo.data.card import EXPORT_DIR
from zoo.errors import IncompatibleError, ZooError
from zoo.run import runs


@dataclass(frozen=True)
class RunConfig:
    """What zoo reads of a run's config.json, typed. ``raw`` is the whole file, as written."""

    architecture: str
    dataset: str
    input_shape: tuple
    class_names: tuple
    task: object  # a zoo.tasks task
    spec: object | None  # the zoo.spec.InputSpec recorded (None for runs made before specs)
    seed: int = 0
    data_dir: str | None = None
    data_options: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    recipe: str | None = None
    status: str = "complete"
    tokenizer: dict | None = None  # the description of the tokenizer it was trained with (text)
    raw: dict = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path, resume: bool = False) -> RunConfig:
        """config.json at ``path``, checked (``runs.read_config``) and typed.

        Raises:
            ZooError: the file is missing, not JSON, or a field zoo reads is
                missing or of the wrong type (named with the file).
        """
        return cls.of(runs.read_config(path.parent, resume=resume), path)

    @classmethod
    def of(cls, raw: dict, path: Path | str = "config.json") -> RunConfig:
        """A config already read as ``raw`` (checked by ``runs.read_config``), typed; ``path`` names it in errors."""
        from zoo.data import tasks
        from zoo.data.spec import InputSpec

        try:
            task = tasks.from_config(raw)
        except KeyError as exc:
            raise ZooError(f"{path}: task {str(exc)[:40]} is not installed here (a plugin's?)") from None
        except (TypeError, ValueError) as exc:
            raise ZooError(f"{path}: 'task' is damaged ({exc})") from None
        described = raw.get("input") if isinstance(raw.get("input"), dict) else {}
        try:
            spec = InputSpec.from_dict(described) if described else None
        except (TypeError, ValueError):
            spec = None  # what zoo checks of it (the tokenizer) is read from the section itself
        tokenizer = described.get("tokenizer") if isinstance(described.get("tokenizer"), dict) else None
        options = raw.get("data_options")
        return cls(architecture=raw["architecture"], dataset=raw["dataset"], input_shape=tuple(raw["input_shape"]),
                   class_names=tuple(raw["class_names"]), task=task, spec=spec, seed=_int(raw.get("seed"), 0),
                   data_dir=raw.get("data_dir") if isinstance(raw.get("data_dir"), str) else None,
                   data_options={k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}  # JSON's lists
                   if isinstance(options, dict) else {},
                   params=dict(raw["params"]) if isinstance(raw.get("params"), dict) else {},
                   recipe=raw.get("recipe") if isinstance(raw.get("recipe"), str) else None,
                   status=str(raw.get("status", "complete")), tokenizer=tokenizer, raw=raw)

    @property
    def layout(self) -> str:
        """The layout of the examples it read ("image" for runs made before the input spec)."""
        described = self.raw.get("input") if isinstance(self.raw.get("input"), dict) else {}
        return str(described.get("layout", "image"))


def _int(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


@dataclass
class Run:
    """A run directory and its typed config."""

    directory: Path
    config: RunConfig

    @classmethod
    def open(cls, run: str | Path | None, need_model: bool = True, resume: bool = False) -> Run:
        """The run a RUN argument means (a path, a name under the runs root, or None: the newest finished).

        Raises:
            UsageError: no such run.
            ZooError: not a run directory, no model (``need_model``), a damaged config.json.
        """
        directory = runs.resolve_run(None if run is None else str(run), need_model=need_model)
        return cls(directory, RunConfig.read(directory / runs.CONFIG, resume=resume))

    @property
    def config_path(self) -> Path:
        return self.directory / runs.CONFIG

    @property
    def model_path(self) -> Path:
        return self.directory / runs.MODEL

    @property
    def export_dir(self) -> Path:
        """Where ``zoo export`` writes by default: RUN/export."""
        return self.directory / EXPORT_DIR

    @property
    def finished(self) -> bool:
        return self.config.status == "complete"

    def require_finished(self, what: str) -> None:
        """Refuse a run that did not finish (killed, failed, or still training), naming what it cannot be."""
        runs.require_finished(self.directory, self.config.raw, what)

    def metrics(self) -> dict:
        """metrics.json (a finished run's scores)."""
        return runs.read_json(self.directory / runs.METRICS)

    def model(self):
        """The run's ``keras.Model``: its archive checked, loaded with Keras safe mode on."""
        from zoo.run.run_model import load_run_model

        return load_run_model(self.directory)

    def load_dataset(self):
        """The run's dataset as it trained on it: its plugin, data folder, seed and load options.

        Raises:
            ZooError: a stored setting that no longer works (named as config.json's fault).
            IncompatibleError: the dataset now gives other examples, classes or tokens than the run
                was trained on.
        """
        from zoo.api import calls, plugins

        config = self.config
        with runs.stored_settings(self.config_path):
            entry = plugins.get("dataset", config.dataset)
            data = calls.load_dataset(entry, data_dir=config.data_dir, seed=config.seed,
                                      options=config.data_options)
        if tuple(data.input_shape) != config.input_shape or tuple(data.class_names) != config.class_names:
            raise IncompatibleError(f"{entry.name} now has {data.classes} classes of shape "
                                    f"{list(data.input_shape)}; the run was trained on "
                                    f"{len(config.class_names)} of shape {list(config.input_shape)}")
        recorded = config.tokenizer
        if isinstance(recorded, dict) and (data.input_spec.tokenizer or {}).get("sha256") != recorded.get("sha256"):
            raise IncompatibleError(f"{entry.name}: its tokenizer, fitted again to its files, is not the one the "
                                    "run was trained with (the files changed); the model's token ids would mean "
                                    "other words")
        return data
