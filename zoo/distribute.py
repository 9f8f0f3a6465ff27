"""Training on several devices and several machines with ``tf.distribute``.

``--strategy`` picks one of TensorFlow's own strategies:

- ``one-device``: TensorFlow's default strategy (the first GPU, else the CPU),
  or ``OneDeviceStrategy`` on the one device given by ``--devices``;
- ``mirrored``: ``MirroredStrategy`` over every local GPU, or over the devices
  given by ``--devices`` (``CPU:0,CPU:1`` splits the CPU into logical devices);
- ``multi-worker``: ``MultiWorkerMirroredStrategy`` over the cluster in
  ``TF_CONFIG`` or given by ``--cluster host:port,... --task-index I``;
- ``auto`` (the default): multi-worker when a cluster of several tasks is
  given, mirrored when there are several GPUs, else one-device.

One device and mirrored train with Keras ``fit``. Keras 3 ``fit`` fails under
``MultiWorkerMirroredStrategy`` (keras-team/keras#20585, tensorflow/tensorflow
#72388: its symbolic build reduces a ``PerReplica`` data batch eagerly), so
multi-worker runs ``fit_multi_worker`` below: a loop that calls Keras' own
``model.train_step`` and ``model.test_step`` through ``strategy.run`` inside a
``tf.function``, and drives the trainer's callbacks with a Keras
``CallbackList``. The loss, metrics, optimizer and callbacks are the ones the
trainer compiled; only the loop is ours.

Nothing here imports TensorFlow at module level.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from zoo import quiet
from zoo.errors import UsageError, ZooError, first_line

STRATEGIES = ("auto", "one-device", "mirrored", "multi-worker")

# MultiWorkerMirroredStrategy pings its peers every 30 s, three tries of 10 s,
# before it aborts the collectives of a job that lost a worker; zoo checks
# every 5 s so that a dead worker stops the others within about half a minute.
HEALTH_CHECK_INTERVAL_S = 5
# How long a worker waits for the whole cluster to come up ($ZOO_CLUSTER_TIMEOUT).
CLUSTER_TIMEOUT_S = 600

_DEVICE = re.compile(r"^(?:/?(?:device:)?)(CPU|GPU):(\d+)$", re.IGNORECASE)
_ADDRESS = re.compile(r"^\[?[A-Za-z0-9_.:-]+\]?:(\d{1,5})$")


class WorkerLostError(ZooError):
    """A multi-worker job lost a worker: its collectives failed or timed out."""


@dataclass(frozen=True)
class Cluster:
    """The workers of a multi-worker job and which one this process is.

    ``workers`` lists every task's ``host:port``, the chief first; ``index`` is
    this process' position in it; ``tf_config`` is what TensorFlow is given.
    """

    workers: tuple[str, ...]
    index: int
    tf_config: dict = field(compare=False, default_factory=dict)

    @property
    def is_chief(self) -> bool:
        return self.index == 0


def parse_devices(text: str | None) -> tuple[str, ...]:
    """``--devices GPU:0,GPU:1`` (or ``CPU:0,CPU:1``) as canonical device names."""
    if not text:
        return ()
    names = []
    for item in text.split(","):
        match = _DEVICE.match(item.strip())
        if not match:
            raise UsageError(f"--devices {text}: '{item.strip()}' is not a device such as GPU:0 or CPU:1")
        name = f"{match.group(1).upper()}:{int(match.group(2))}"
        if name in names:
            raise UsageError(f"--devices {text}: {name} is named twice")
        names.append(name)
    return tuple(names)


def cluster_from(cluster: str | None = None, task_index: int | None = None,
                 environ=None) -> Cluster | None:
    """The cluster from ``--cluster``/``--task-index``, else from ``TF_CONFIG``.

    Returns None when neither names one.

    Raises:
        UsageError: a malformed address list, a missing or out-of-range task
            index, or a ``TF_CONFIG`` that is not a worker's.
    """
    environ = os.environ if environ is None else environ
    if cluster is not None:
        workers = tuple(a.strip() for a in cluster.split(",") if a.strip())
        if not workers:
            raise UsageError(f"--cluster {cluster!r}: expected host:port,host:port")
        for address in workers:
            match = _ADDRESS.match(address)
            if not match or not 0 < int(match.group(1)) < 65536:
                raise UsageError(f"--cluster {cluster}: '{address}' is not host:port")
        if len(set(workers)) != len(workers):
            raise UsageError(f"--cluster {cluster}: an address is listed twice")
        if task_index is None:
            raise UsageError("--cluster needs --task-index I (0 for the chief) on every worker")
        if not 0 <= task_index < len(workers):
            raise UsageError(f"--task-index {task_index}: the cluster has workers 0 to {len(workers) - 1}")
        config = {"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": task_index}}
        return Cluster(workers, task_index, config)
    if task_index is not None:
        raise UsageError("--task-index needs --cluster host:port,host:port")
    text = environ.get("TF_CONFIG", "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
        jobs = config["cluster"]
        task_type, index = config["task"]["type"], int(config["task"]["index"])
        chiefs, others = list(jobs.get("chief", [])), list(jobs.get("worker", []))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"TF_CONFIG: expected {{\"cluster\": {{\"worker\": [...]}}, "
                         f"\"task\": {{\"type\": \"worker\", \"index\": I}}}} ({exc})") from None
    extra = sorted(set(jobs) - {"chief", "worker"})
    if extra:
        raise UsageError(f"TF_CONFIG: job {extra[0]!r} is not supported; multi-worker training "
                         "uses 'worker' (and optionally one 'chief') tasks only")
    if len(chiefs) > 1:
        raise UsageError(f"TF_CONFIG: {len(chiefs)} chief tasks; at most one")
    if task_type not in ("chief", "worker"):
        raise UsageError(f"TF_CONFIG: task type {task_type!r}; expected 'worker' or 'chief'")
    count = len(chiefs) if task_type == "chief" else len(others)
    if not 0 <= index < count:
        raise UsageError(f"TF_CONFIG: task {task_type} {index} is not in the cluster")
    workers = tuple(chiefs + others)
    return Cluster(workers, index + (len(chiefs) if task_type == "worker" else 0), config)


@dataclass
class Distribution:
    """The strategy a run trains under, and this process' place in it.

    ``strategy`` is None for TensorFlow's default strategy (no scope needed).
    """

    name: str
    strategy: object = None
    cluster: Cluster | None = None
    devices: tuple[str, ...] = ()

    @property
    def multi_worker(self) -> bool:
        return self.name == "multi-worker"

    @property
    def workers(self) -> int:
        return len(self.cluster.workers) if self.cluster else 1

    @property
    def task_index(self) -> int:
        return self.cluster.index if self.cluster else 0

    @property
    def is_chief(self) -> bool:
        return self.cluster is None or self.cluster.is_chief

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync if self.strategy is not None else 1

    @property
    def local_replicas(self) -> int:
        return max(1, self.replicas // self.workers)

    def scope(self):
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def describe(self, batch_size: int) -> dict:
        """What config.json records: strategy, workers, replicas, batch sizes."""
        per_worker = batch_size if self.multi_worker else None
        return {"strategy": self.name, "workers": self.workers, "replicas": self.replicas,
                "devices": list(self.devices) or None,
                "batch_size_per_worker": per_worker,
                "global_batch_size": batch_size * self.workers if self.multi_worker else batch_size}

    def shard(self, x, y, batch_size: int | None = None):
        """This worker's share of ``(x, y)``: every ``workers``-th example.

        Every worker gets the same count (at most ``workers - 1`` examples are
        left out), so every worker runs the same number of steps. With several
        replicas on a worker and a ``batch_size``, the share is also cut to
        whole steps, so that no replica gets an empty batch (batch
        normalisation would turn it into NaN).
        """
        if not self.multi_worker:
            return x, y
        count = len(x) // self.workers
        x, y = x[self.task_index::self.workers][:count], y[self.task_index::self.workers][:count]
        if batch_size and self.local_replicas > 1:
            keep = len(x) // batch_size * batch_size
            x, y = x[:keep], y[:keep]
        return x, y

    def replica_batch(self, batch_size: int) -> int:
        """The batch each replica's pipeline makes.

        Keras ``fit`` splits a batch across local replicas; multi-worker feeds
        each replica its own pipeline, so a worker's batch is divided here.
        """
        if not self.multi_worker:
            return batch_size
        if batch_size % self.local_replicas:
            raise UsageError(f"--batch-size {batch_size}: with {self.local_replicas} devices per worker "
                             "the batch size must be a multiple of the device count")
        return batch_size // self.local_replicas

    def fit(self, model, training, *, validation_data, epochs, callbacks, verbose, run=None):
        """Train: Keras ``fit``, or for multi-worker zoo's loop around Keras' steps.

        Raises:
            WorkerLostError: a multi-worker job lost a worker (or could not
                reach one); every worker must be started again with --resume.
        """
        if self.multi_worker:
            import tensorflow as tf

            try:
                return fit_multi_worker(self, model, training, validation_data=validation_data,
                                        epochs=epochs, callbacks=callbacks, verbose=verbose)
            except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                    tf.errors.CancelledError, tf.errors.InternalError, tf.errors.AbortedError) as exc:
                first = (str(exc.message if hasattr(exc, "message") else exc).strip().splitlines()
                         or [type(exc).__name__])[0]
                raise WorkerLostError(
                    f"worker {self.task_index} of {self.workers}: training stopped, the cluster "
                    f"failed ({type(exc).__name__}: {first[:160]}); start every worker again with "
                    f"zoo train --resume {run or 'RUN'} and its own --cluster/--task-index "
                    f"(or TF_CONFIG)") from None
        return model.fit(training, validation_data=validation_data, epochs=epochs,
                         callbacks=callbacks, verbose=verbose, shuffle=False)  # tf.data shuffles


def plan(strategy: str = "auto", devices: str | None = None, cluster: str | None = None,
         task_index: int | None = None, environ=None) -> tuple[str, tuple[str, ...], Cluster | None]:
    """Check the flags without TensorFlow: (strategy, devices, cluster).

    ``auto`` stays ``auto`` unless a cluster of several tasks is given; the
    GPU count decides the rest in ``configure``.
    """
    strategy = (strategy or "auto").lower()
    if strategy not in STRATEGIES:
        raise UsageError(f"--strategy {strategy}: expected one of {', '.join(STRATEGIES)}")
    names = parse_devices(devices)
    found = cluster_from(cluster, task_index, environ)
    if strategy == "auto" and found is not None and len(found.workers) > 1:
        strategy = "multi-worker"
    if strategy == "multi-worker":
        if found is None:
            raise UsageError("--strategy multi-worker needs the cluster: set TF_CONFIG, or give "
                             "--cluster host:port,host:port --task-index I")
        if names:
            raise UsageError("--devices does not apply to multi-worker training: each worker uses "
                             "all its GPUs (limit them with CUDA_VISIBLE_DEVICES)")
    elif cluster is not None:
        raise UsageError(f"--cluster is for --strategy multi-worker, not {strategy}")
    if strategy == "one-device" and len(names) > 1:
        raise UsageError(f"--devices {devices}: one-device trains on one device; use --strategy mirrored")
    return strategy, names, found if strategy == "multi-worker" else None


def configure(strategy: str = "auto", devices: str | None = None, cluster: str | None = None,
              task_index: int | None = None) -> Distribution:
    """Create the ``tf.distribute`` strategy for a run.

    Call before anything else touches TensorFlow's devices in this process:
    logical CPU devices (``--devices CPU:0,CPU:1``) can only be made then.

    Raises:
        UsageError: bad flags, a device that does not exist, or devices that
            TensorFlow had already set up.
    """
    name, names, found = plan(strategy, devices, cluster, task_index)
    import tensorflow as tf

    if names:
        _make_devices(tf, names)
    gpus = tf.config.list_physical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "one-device"
    if name == "one-device":
        if not names:
            return Distribution("one-device")
        return Distribution(name, tf.distribute.OneDeviceStrategy(f"/{names[0]}"), devices=names)
    if name == "mirrored":
        chosen = [f"/{n}" for n in names] if names else [f"/GPU:{i}" for i in range(len(gpus))] or None
        return Distribution(name, tf.distribute.MirroredStrategy(chosen), devices=names)
    return Distribution(name, _multi_worker_strategy(tf, found), cluster=found)


def _make_devices(tf, names: tuple[str, ...]) -> None:
    """Check that the named devices exist; split the CPU for CPU:1 and up."""
    cpus = [int(n.split(":")[1]) for n in names if n.startswith("CPU")]
    gpus = [int(n.split(":")[1]) for n in names if n.startswith("GPU")]
    physical = tf.config.list_physical_devices("GPU")
    if gpus and max(gpus) >= len(physical):
        raise UsageError(f"--devices GPU:{max(gpus)}: this machine has {len(physical)} GPU(s)")
    if cpus and max(cpus) > 0:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * (max(cpus) + 1))
        except RuntimeError:
            if len(tf.config.list_logical_devices("CPU")) <= max(cpus):
                raise UsageError(f"--devices CPU:{max(cpus)}: TensorFlow had already set up its "
                                 "devices in this process; logical CPU devices must be made first "
                                 "(run zoo train in a fresh process)") from None


def _multi_worker_strategy(tf, cluster: Cluster):
    from tensorflow.python.distribute import collective_all_reduce_strategy as car

    # The health check's timings are class attributes read when the strategy
    # starts; without them a dead peer is noticed only after about a minute.
    timeout = _cluster_timeout()
    extended = car.CollectiveAllReduceExtended
    if hasattr(extended, "_check_health_interval"):
        extended._check_health_interval = HEALTH_CHECK_INTERVAL_S
        extended._check_health_initial_timeout = timeout
    spec = dict(cluster.tf_config["cluster"])
    task = cluster.tf_config["task"]
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(spec), task_type=task["type"], task_id=int(task["index"]),
        rpc_layer="grpc")
    hint = (f"is every worker started with the same cluster ({', '.join(cluster.workers)}), "
            f"and are their ports open? ZOO_CLUSTER_TIMEOUT={timeout}")
    # TensorFlow waits for every peer inside its C++ start-up, holding the GIL,
    # with no time-out and deaf to SIGTERM and Ctrl-C: only a process outside
    # can end that wait.
    watchdog = subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(os.getpid()), str(timeout),
         f"Error: worker {cluster.index}: the cluster did not come up within {timeout} s ({hint})"],
        # The real stderr: a filtered fd 2 dies with the worker this kills, and the line with it.
        stdin=subprocess.DEVNULL, stderr=quiet.real_stderr())
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
    except RuntimeError as exc:
        raise UsageError(f"multi-worker: {first_line(exc)} ({hint})") from None
    finally:
        watchdog.kill()
        watchdog.wait()


# Sleeps, then ends the waiting worker with a message (unless killed first, or
# the worker is gone).
_WATCHDOG = """
import os, signal, sys, time
pid, deadline = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    time.sleep(0.5)
    if os.getppid() != pid:
        sys.exit(0)
sys.stderr.write(sys.argv[3] + "\\n")
sys.stderr.flush()
os.kill(pid, signal.SIGKILL)
"""


def _cluster_timeout() -> int:
    text = os.environ.get("ZOO_CLUSTER_TIMEOUT") or str(CLUSTER_TIMEOUT_S)
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"ZOO_CLUSTER_TIMEOUT={text}: expected whole seconds") from None
    if value < 1:
        raise UsageError(f"ZOO_CLUSTER_TIMEOUT={text}: expected at least 1 second")
    return value


def worker_dir(run_dir: Path, index: int) -> Path:
    """Where worker ``index`` (not the chief) keeps its files: beside the run, hidden.

    On its own machine this is a scratch directory; on a shared file system it
    keeps the worker out of the chief's run directory. It is deleted when
    training finishes.
    """
    run_dir = Path(run_dir)
    return run_dir.parent / f".{run_dir.name}.worker-{index}"


def run_path(run: str) -> Path:
    """The path a RUN argument names, without requiring it to exist here."""
    from zoo import runs

    path = Path(run)
    if path.is_dir() or os.sep in run or (os.altsep and os.altsep in run):
        return path
    return runs.runs_root() / run


def prepare_worker_dir(run_dir: Path, index: int, resume: bool) -> Path:
    """The non-chief worker's directory: fresh for a new run, kept for a resumed one."""
    from zoo import runs

    path = worker_dir(run_dir, index)
    if not resume:
        shutil.rmtree(path, ignore_errors=True)  # a killed earlier job's scratch
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create worker directory {path}: {exc.strerror}") from None
    if resume and not (path / runs.CONFIG).is_file():
        # This machine lost its copy (or never had one): a shared run directory serves.
        if not (run_dir / runs.CONFIG).is_file():
            raise UsageError(f"--resume {run_dir}: worker {index} has no copy of the run's settings "
                             f"(looked for {path / runs.CONFIG} and {run_dir / runs.CONFIG})")
        shutil.copy(run_dir / runs.CONFIG, path / runs.CONFIG)
    return path


def weights_digest(model) -> str:
    """SHA-256 of every model weight's bytes: equal on workers that agree."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(weight.path.encode() if hasattr(weight, "path") else b"")
        digest.update(_local(weight).tobytes())
    return digest.hexdigest()


def _local(variable):
    import numpy as np

    return np.asarray(variable.numpy() if hasattr(variable, "numpy") else variable)


# The multi-worker loop ---------------------------------------------------------------


def fit_multi_worker(dist: Distribution, model, training, *, validation_data=None, epochs: int,
                     callbacks: list, verbose=0):
    """``model.fit`` for ``MultiWorkerMirroredStrategy``, as Keras' own loop does it.

    ``model`` must be built and compiled in ``dist.scope()``. Each epoch resets
    the metrics, runs ``model.train_step`` on every replica's batch, reads the
    metrics (summed over all workers), validates with ``model.test_step`` and
    calls the callbacks, as ``fit`` does; the callbacks run on every worker
    (the chief's write the run; the others' write their scratch directory).
    Every collective runs on all workers in the same order.

    Returns:
        The ``keras.callbacks.History`` of the run.
    """
    import keras
    import tensorflow as tf

    strategy = dist.strategy
    with strategy.scope():
        # What fit does before its first step: build the compiled loss and
        # metrics symbolically from one batch (this is the call that, given a
        # distributed batch, fails in fit), and the optimizer's variables.
        # test_on_batch would build them too, but its result reduction fails
        # under this strategy as well.
        model._symbolic_build(data_batch=next(iter(training.take(1))))
        model.optimizer.build(model.trainable_variables)

    train_data = strategy.distribute_datasets_from_function(lambda _: training)
    val_data = (strategy.distribute_datasets_from_function(lambda _: validation_data)
                if validation_data is not None else None)

    def reduce(outputs):
        return {k: strategy.reduce("MEAN", v, axis=None) for k, v in outputs.items()}

    @tf.function(reduce_retracing=True)
    def train_step(batch):
        return reduce(strategy.run(model.train_step, args=(batch,)))

    @tf.function(reduce_retracing=True)
    def test_step(batch):
        return reduce(strategy.run(model.test_step, args=(batch,)))

    @tf.function
    def metrics_result():
        # Read in cross-replica context: each metric's sums over all replicas.
        return model.get_metrics_result()

    moving = [v for v in model.non_trainable_variables if "float" in str(v.dtype)]

    @tf.function
    def average_moving():
        # Keras 3 mirrors batch norm's moving mean and variance without an
        # aggregation: each replica updates its own copy from its own batches
        # and the workers drift apart. Each epoch they are averaged (read in
        # replica context: each replica's own copy), so that every worker
        # validates and saves the same model.
        return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce(
            "MEAN", [tf.identity(v.value) for v in moving]))

    @tf.function
    def any_worker(flag):
        # (tf.identity: a replica's own tensor; the argument itself has no device)
        return strategy.run(lambda: tf.distribute.get_replica_context().all_reduce(
            "SUM", tf.identity(flag)))

    def local(value):
        return strategy.experimental_local_results(value)[0]

    steps = int(training.cardinality())
    callback_list = keras.callbacks.CallbackList(
        callbacks, add_history=True, add_progbar=verbose != 0, model=model, verbose=verbose,
        epochs=epochs, steps=steps if steps > 0 else None)

    model.stop_training = False
    model._initial_epoch = None  # BackupAndRestore sets it, as fit reads it
    with strategy.scope():
        callback_list.on_train_begin()
    restored = getattr(model, "_initial_epoch", None) or 0
    # The chief's state wins: a worker that restarted without its backup (or
    # whose backup is an epoch behind) takes the chief's weights and epoch.
    initial_epoch = _from_chief(strategy, model, restored)

    logs = {}
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        callback_list.on_epoch_begin(epoch)
        for step, batch in enumerate(train_data):
            callback_list.on_train_batch_begin(step)
            batch_logs = {k: float(v) for k, v in train_step(batch).items()}
            callback_list.on_train_batch_end(step, batch_logs)
            if model.stop_training:  # TerminateOnNaN: the loss is the same on every worker
                break
        if moving:
            for variable, value in zip(moving, average_moving()):
                variable.assign(local(value))
        logs = {k: float(v) for k, v in metrics_result().items()}
        if val_data is not None and not model.stop_training:
            model.reset_metrics()
            callback_list.on_test_begin()
            for step, batch in enumerate(val_data):
                callback_list.on_test_batch_begin(step)
                callback_list.on_test_batch_end(step, {k: float(v) for k, v in test_step(batch).items()})
            val_logs = {k: float(v) for k, v in metrics_result().items()}
            callback_list.on_test_end(val_logs)
            logs.update({f"val_{k}": v for k, v in val_logs.items()})
        callback_list.on_epoch_end(epoch, logs)
        # EarlyStopping decides alike on every worker (the logs are global);
        # this makes sure that no worker goes on alone into a collective.
        if float(local(any_worker(tf.constant(float(bool(model.stop_training)))))) > 0:
            break
    callback_list.on_train_end(logs)
    return model.history


def _from_chief(strategy, model, epoch: int) -> int:
    """Give every worker the chief's weights, optimizer state and epoch; return the epoch."""
    import tensorflow as tf

    variables = list(model.variables) + list(model.optimizer.variables)
    # One dtype for one all-reduce; float64 holds float32 weights and step counts exactly.
    values = [tf.constant(_local(v), tf.float64) for v in variables]
    values.append(tf.constant(float(epoch), tf.float64))

    @tf.function
    def run():
        def replica_fn():
            context = tf.distribute.get_replica_context()
            first = tf.cast(tf.equal(context.replica_id_in_sync_group, 0), tf.float64)
            return context.all_reduce("SUM", [value * first for value in values])

        return strategy.run(replica_fn)

    summed = [strategy.experimental_local_results(t)[0] for t in run()]
    for variable, value in zip(variables, summed[:-1]):
        variable.assign(tf.cast(value, variable.dtype))
    return int(round(float(summed[-1])))
