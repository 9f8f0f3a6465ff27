"""TensorFlow's C++ log lines stay off a user's terminal; --verbose keeps them."""
from conftest import run_zoo
from zoo.quiet import NATIVE_LINE


def _native(stderr: str) -> list:
    return [line for line in stderr.splitlines() if NATIVE_LINE.match(line.encode())]


def test_train_prints_no_tensorflow_log_line(tmp_path):
    result = run_zoo("train", "dense", "fashion-sample", "--epochs", "1", "-q", "-o", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert _native(result.stderr) == [], result.stderr
    assert result.stderr.strip() == ""
    assert result.stdout.startswith("dense on fashion-sample: test accuracy ")

    # The same lines are there to see with --verbose: the filter, not luck, hid them.
    verbose = run_zoo("train", "dense", "fashion-sample", "--epochs", "1", "-q", "--verbose",
                      "-o", str(tmp_path / "verbose"))
    assert verbose.returncode == 0, verbose.stderr
    assert _native(verbose.stderr), verbose.stderr


def test_errors_and_partial_lines_pass_the_filter(tmp_path):
    result = run_zoo("evaluate", str(tmp_path / "nosuch"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("Error: run ")


def test_the_filter_drops_native_lines_and_passes_everything_else():
    import os
    import threading

    from zoo.quiet import _pump

    into, pumped = os.pipe()
    out, collected = os.pipe()
    thread = threading.Thread(target=_pump, args=(into, collected))
    thread.start()
    os.write(pumped, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    os.write(pumped, b"I0000 00:00:1796162249.911244    2146 port.cc:153] oneDNN custom operations are on.\n")
    os.write(pumped, b"WARNING: Logging before InitGoogle() is written to STDERR\n")  # MediaPipe's glog
    os.write(pumped, b"verifying model.tflite  [##--]  1/2\r")  # a progress bar: no newline yet
    os.write(pumped, b"E0000 00:00:1796162254.8   2146 cuda_platform.cc:52] failed call to cuInit\n"
                     b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
    os.write(pumped, b"Error: model.keras: cannot be loaded\nIt0000 is not a log line\n")
    os.close(pumped)
    thread.join(timeout=10)
    os.close(collected)
    assert os.read(out, 1 << 16) == (b"verifying model.tflite  [##--]  1/2\r"
                                     b"Error: model.keras: cannot be loaded\nIt0000 is not a log line\n")
    os.close(out)
