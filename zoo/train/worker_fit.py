"""Multi-worker training's own loop and files: each worker's scratch directory beside the run, the
weights' digest every worker must agree on, and ``fit_multi_worker`` (epochs of Keras' fit, resumable,
each worker starting from the chief's weights)."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from zoo.errors import UsageError


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
    from zoo.run import runs

    path = Path(run)
    if path.is_dir() or os.sep in run or (os.altsep and os.altsep in run):
        return path
    return runs.runs_root() / run


def prepare_worker_dir(run_dir: Path, index: int, resume: bool) -> Path:
    """The non-chief worker's directory: fresh for a new run, kept for a resumed one."""
    from zoo.run import runs

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


def fit_multi_worker(dist, model, training, *, validation_data=None, epochs: int,
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
