"""Distributed training: strategy flags, two local workers, mirrored on two CPUs, kill and resume.

The multi-worker tests start real `zoo train` processes on 127.0.0.1 (free
ports from the kernel), each in its own process group, and wait on every one
with a time-out: a hung collective fails the test, and the group is killed.
"""
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from zoo import distribute, trainer
from zoo.cli import cli
from zoo.errors import UsageError

RUN_FILES = {"model.keras", "config.json", "history.csv", "metrics.json",
             "curves.png", "confusion.png", "predictions.png"}
WORKER_TIMEOUT = 300  # seconds for one multi-worker job; two epochs of dense take about 10 here


# Flags and cluster descriptions: no TensorFlow needed ---------------------------------


def test_cluster_flags_become_tf_config():
    found = distribute.cluster_from("127.0.0.1:2222, 10.0.0.2:2222", 1, environ={})
    assert found.workers == ("127.0.0.1:2222", "10.0.0.2:2222") and found.index == 1
    assert not found.is_chief
    assert found.tf_config == {"cluster": {"worker": ["127.0.0.1:2222", "10.0.0.2:2222"]},
                               "task": {"type": "worker", "index": 1}}


def test_tf_config_with_a_chief_puts_it_first():
    config = {"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"]}, "task": {"type": "worker", "index": 1}}
    found = distribute.cluster_from(environ={"TF_CONFIG": json.dumps(config)})
    assert found.workers == ("a:1", "b:1", "c:1") and found.index == 2 and not found.is_chief
    config["task"] = {"type": "chief", "index": 0}
    assert distribute.cluster_from(environ={"TF_CONFIG": json.dumps(config)}).is_chief
    assert distribute.cluster_from(environ={}) is None


@pytest.mark.parametrize("kwargs, fragment", [
    ({"cluster": "a:1,b:1"}, "--task-index"),
    ({"cluster": "a:1,b:1", "task_index": 2}, "workers 0 to 1"),
    ({"cluster": "a,b:1", "task_index": 0}, "'a' is not host:port"),
    ({"cluster": "a:1,a:1", "task_index": 0}, "listed twice"),
    ({"task_index": 0}, "--task-index needs --cluster"),
    ({"environ": {"TF_CONFIG": "{not json"}}, "TF_CONFIG"),
    ({"environ": {"TF_CONFIG": '{"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, '
                                '"task": {"type": "worker", "index": 0}}'}}, "'ps' is not supported"),
    ({"environ": {"TF_CONFIG": '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}'}},
     "not in the cluster"),
])
def test_bad_cluster_descriptions_are_usage_errors(kwargs, fragment):
    kwargs.setdefault("environ", {})
    with pytest.raises(UsageError, match=fragment):
        distribute.cluster_from(**kwargs)


def test_plan_picks_multi_worker_for_a_cluster_and_checks_flags():
    assert distribute.plan("auto", cluster="a:1,b:1", task_index=0, environ={})[0] == "multi-worker"
    assert distribute.plan("auto", environ={}) == ("auto", (), None)
    assert distribute.plan("mirrored", devices="cpu:0, CPU:1", environ={})[1] == ("CPU:0", "CPU:1")
    for kwargs, fragment in [
        ({"strategy": "multi-worker"}, "needs the cluster"),
        ({"strategy": "mirrored", "cluster": "a:1,b:1", "task_index": 0}, "--cluster is for"),
        ({"strategy": "one-device", "devices": "GPU:0,GPU:1"}, "one device"),
        ({"strategy": "mirrored", "devices": "TPU:0"}, "not a device"),
        ({"strategy": "multi-worker", "devices": "GPU:0", "cluster": "a:1", "task_index": 0}, "CUDA_VISIBLE"),
    ]:
        with pytest.raises(UsageError, match=fragment):
            distribute.plan(environ={}, **kwargs)


@pytest.mark.parametrize("args, fragment", [
    (["--strategy", "multi-worker"], "needs the cluster"),
    (["--cluster", "127.0.0.1:1,127.0.0.1:2"], "--task-index"),
    (["--cluster", "127.0.0.1:1,127.0.0.1:2", "--task-index", "0"], "needs --output RUN"),
    (["--strategy", "mirrored", "--devices", "gpu0"], "not a device"),
    (["--strategy", "sideways"], "sideways"),
])
def test_bad_strategy_flags_fail_before_training(cli_runner, monkeypatch, args, fragment):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    result = cli_runner.invoke(cli, ["train", "dense", "fashion-sample", *args])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output
    assert not os.path.exists("runs")


# Real processes ------------------------------------------------------------------------


def _free_ports(count):
    """Ports the kernel hands out now (bound to port 0, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture
def workers(tmp_path):
    """``start(args_for_index, count)``: one `zoo train` per worker, each in its own process group.

    Every process still running at the end of the test is killed with its group.
    """
    started = []

    def start(args_for, count=2, tag="job"):
        cluster = ",".join(f"127.0.0.1:{p}" for p in _free_ports(count))
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "ZOO_CLUSTER_TIMEOUT": "120"}
        env.pop("TF_CONFIG", None)
        procs = []
        for index in range(count):
            out = open(tmp_path / f"{tag}-{index}.out", "w+")
            err = open(tmp_path / f"{tag}-{index}.err", "w+")
            proc = subprocess.Popen(
                [sys.executable, "-m", "zoo.cli", "train", *args_for(index),
                 "--strategy", "multi-worker", "--cluster", cluster, "--task-index", str(index), "-q"],
                stdout=out, stderr=err, env=env, start_new_session=True)
            proc.out, proc.err = out, err
            procs.append(proc)
            started.append(proc)
        return procs

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        proc.out.close()
        proc.err.close()


def _finish(procs, timeout=WORKER_TIMEOUT):
    """Wait for every process (one deadline for all); kill all and fail on a time-out."""
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for other in procs:
                if other.poll() is None:
                    os.killpg(other.pid, signal.SIGKILL)
            pytest.fail(f"a worker did not finish within {timeout} s (hung collective?):\n"
                        + "\n".join(_output(p)[1][-2000:] for p in procs))
    return [_output(p) for p in procs]


def _output(proc):
    proc.out.seek(0)
    proc.err.seek(0)
    return proc.out.read(), proc.err.read()


def _history_epochs(run_dir):
    with open(run_dir / "history.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _digest(stdout):
    return stdout.rsplit("final weights sha256 ", 1)[1].split()[0]


def test_two_workers_train_like_one(workers, tmp_path):
    run_dir = tmp_path / "two"
    # 128 per worker x 2 workers = the 256 of one worker below: the same steps per epoch.
    args = ["dense", "fashion-sample", "--epochs", "2", "--batch-size", "128", "-o", str(run_dir)]
    started = time.monotonic()
    procs = workers(lambda i: args)
    (chief_out, chief_err), (other_out, other_err) = _finish(procs)
    two_seconds = time.monotonic() - started
    assert [p.returncode for p in procs] == [0, 0], chief_err[-3000:] + other_err[-3000:]
    assert "test accuracy" in chief_out, chief_err[-3000:]
    assert "worker 1 of 2 finished after 2 epochs" in other_out, other_err[-3000:]

    # The chief wrote a complete run; the other worker's scratch directory is gone.
    assert RUN_FILES <= {p.name for p in run_dir.iterdir()}
    assert not (run_dir / "backup").exists()
    assert not distribute.worker_dir(run_dir, 1).exists()
    assert _history_epochs(run_dir) == [0, 1]
    config = json.loads((run_dir / "config.json").read_text())
    assert config["status"] == "complete"
    assert config["distribution"] == {"strategy": "multi-worker", "workers": 2, "replicas": 2,
                                      "devices": None, "batch_size_per_worker": 128,
                                      "global_batch_size": 256}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # Identical final weights on both workers (batch norm statistics included).
    assert metrics["distribution"]["final_weights_sha256"] == _digest(other_out)

    one = trainer.train("dense", "fashion-sample", overrides={"epochs": 2, "batch_size": 256},
                        output=str(tmp_path / "one"), verbose=0)
    print(f"two workers: {metrics['test_accuracy']:.4f} in {metrics['training_seconds']} s "
          f"(job {two_seconds:.1f} s); one worker: {one.metrics['test_accuracy']:.4f} "
          f"in {one.metrics['training_seconds']} s")
    assert abs(metrics["test_accuracy"] - one.metrics["test_accuracy"]) < 0.04


def test_mirrored_on_two_logical_cpu_devices(tmp_path):
    run_dir = tmp_path / "mirrored"
    result = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "train", "dense", "fashion-sample", "--epochs", "2",
         "-o", str(run_dir), "--strategy", "mirrored", "--devices", "CPU:0,CPU:1", "-q"],
        capture_output=True, text=True, timeout=WORKER_TIMEOUT)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["distribution"]["strategy"] == "mirrored"
    assert metrics["distribution"]["replicas"] == 2
    assert metrics["distribution"]["devices"] == ["CPU:0", "CPU:1"]
    assert metrics["test_accuracy"] >= 0.65 and _history_epochs(run_dir) == [0, 1]


def test_a_worker_whose_peers_never_come_gives_up(tmp_path):
    """TensorFlow would wait for the cluster forever; zoo's watchdog ends the wait."""
    cluster = ",".join(f"127.0.0.1:{p}" for p in _free_ports(2))
    env = {**os.environ, "ZOO_CLUSTER_TIMEOUT": "5"}
    env.pop("TF_CONFIG", None)
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "train", "dense", "fashion-sample", "-o", str(tmp_path / "run"),
         "--cluster", cluster, "--task-index", "0", "-q"],
        capture_output=True, text=True, env=env, timeout=120, start_new_session=True)
    assert result.returncode != 0 and time.monotonic() - started < 100
    assert "the cluster did not come up within 5 s" in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_killed_worker_rejoins_after_resume(workers, tmp_path):
    run_dir = tmp_path / "run"
    args = ["dense", "fashion-sample", "--recipe", "tutorial", "--epochs", "5", "--batch-size", "32",
            "-o", str(run_dir)]
    chief, other = workers(lambda i: args, tag="first")
    metadata = run_dir / "backup" / "training_metadata.json"
    deadline = time.monotonic() + WORKER_TIMEOUT
    while time.monotonic() < deadline:
        if metadata.is_file() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= 2:
            break
        if chief.poll() is not None or other.poll() is not None:
            pytest.fail("training ended before a worker could be killed:\n" + _output(chief)[1][-3000:])
        time.sleep(0.05)
    else:
        pytest.fail("no two epochs finished in time")
    os.killpg(other.pid, signal.SIGKILL)
    # The chief notices the lost worker (TensorFlow's health check) and stops in one line.
    (_, chief_err), _ = _finish([chief, other], timeout=120)
    assert chief.returncode == 1, chief_err[-3000:]
    assert "--resume" in chief_err.splitlines()[-1] and "Traceback" not in chief_err
    assert not (run_dir / "metrics.json").exists()
    assert len(_history_epochs(run_dir)) >= 2

    # Every worker is started again with --resume (new ports: the old ones may linger).
    procs = workers(lambda i: ["--resume", str(run_dir)], tag="resumed")
    (chief_out, chief_err), (other_out, other_err) = _finish(procs)
    assert [p.returncode for p in procs] == [0, 0], chief_err[-3000:] + other_err[-3000:]
    assert "test accuracy" in chief_out, chief_err[-3000:]
    assert "finished after 5 epochs" in other_out, other_err[-3000:]
    assert _history_epochs(run_dir) == list(range(5))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_run"] == 5 and metrics["resumed"] is True
    assert metrics["distribution"]["final_weights_sha256"] == _digest(other_out)
    assert not distribute.worker_dir(run_dir, 1).exists()
