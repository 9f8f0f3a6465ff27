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
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field

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
                from zoo.train.worker_fit import fit_multi_worker

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


# The multi-worker loop ---------------------------------------------------------------


# Worker directories and the weights' digest, with the multi-worker loop (zoo.worker_fit); their
# names here as before.
from zoo.train.worker_fit import prepare_worker_dir, run_path, weights_digest, worker_dir  # noqa: E402,F401
