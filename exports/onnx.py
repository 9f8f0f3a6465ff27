"""`onnx`: an ONNX file through Keras' own ``model.export(format="onnx")``, verified by ONNX Runtime.

``zoo export RUN --format onnx`` writes ``model.onnx``. Keras converts the
model with tf2onnx (its TensorFlow backend's route); zoo then runs the file
with ONNX Runtime on the whole test set and publishes it only if it agrees
with Keras by the rule every float file meets (largest difference at most
1e-4 and the same class everywhere). Measured beside TensorFlow 2.21 and
Keras 3.15: tf2onnx 1.17.0, onnx 1.23.2 and onnxruntime 1.32.0 install
without changing any other package, and the float differences were about
1e-8 (an LSTM on token ids) to 4e-7 (EfficientNet-Lite0 at 224 x 224).

The input is the SavedModel's: float32, any batch size (text: the token ids as
float32). ONNX is an extra: ``pip install 'zoo[onnx]'``; without it the
export stops with that line and writes nothing.
"""
from __future__ import annotations

import hashlib
import importlib.util
import warnings

import numpy as np

import zoo
from zoo.data.evaluation import batch_for
from zoo.errors import ZooError, first_line

FILE = "model.onnx"
INSTALL = "pip install 'zoo[onnx]'"
NEEDED = ("onnx", "onnxruntime", "tf2onnx")


def installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in NEEDED)


def prepare(options: dict, config: dict) -> None:
    """Before any converting: the packages the file is made and verified with."""
    if not installed():
        missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
        raise ZooError(f"{FILE}: needs {', '.join(missing)}: {INSTALL}")


def export(context) -> list:
    """Write ``model.onnx`` with Keras, run it with ONNX Runtime on the test set, compare with Keras."""
    if not installed():
        missing = [name for name in NEEDED if importlib.util.find_spec(name) is None]
        problem = f"needs {', '.join(missing)}: {INSTALL}"
        context.fail(FILE, problem)
        return [{"file": FILE, "format": "onnx", "error": problem}]
    path = context.directory / FILE
    context.log(f"{FILE}: exporting with keras.Model.export(format='onnx')")
    x = context.x_test
    try:
        context.model(x[:1])  # Keras exports only a model that has been called
        with warnings.catch_warnings():
            # Keras' tf2onnx shim probes np.object, and NumPy warns about it on every export: not the
            # user's concern, and zoo's output is one line per file.
            warnings.filterwarnings("ignore", category=FutureWarning, message=r".*np\.object.*")
            context.model.export(str(path), format="onnx", verbose=False)
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # tf2onnx, onnx and onnxruntime raise many types
        context.fail(FILE, f"Keras could not export it or ONNX Runtime cannot load it ({first_line(exc, 200)})")
        return [{"file": FILE, "format": "onnx", "error": first_line(exc, 200)}]
    given = session.get_inputs()[0]
    dtype = np.float32 if "float" in given.type else np.int32
    outputs = []
    extra = [i.name for i in session.get_inputs()[1:]]
    if extra:
        # Measured on efficientnet-v2-b0: tf2onnx leaves the constants of its Normalization layer
        # (keras.applications' preprocessing) as graph inputs, so no runtime can feed the file.
        problem = (f"Keras' ONNX file asks for inputs besides the model's ({', '.join(extra[:2])}): constants "
                   "tf2onnx left as inputs; ONNX Runtime cannot run it")
        context.fail(FILE, problem)
        return [{"file": FILE, "format": "onnx", "error": problem}]
    with context.progress(f"verifying {FILE}", len(x)) as update:
        step = batch_for(x, 500)
        for start in range(0, len(x), step):
            outputs.append(session.run(None, {given.name: x[start:start + step].astype(dtype)})[0])
            update(len(x[start:start + step]))
    probabilities = np.concatenate(outputs) if outputs else np.zeros((0, context.reference.shape[1]))
    check = context.verify(FILE, probabilities, quantized=False)
    import onnx

    opsets = {o.domain or "ai.onnx": o.version for o in onnx.load(str(path), load_external_data=False).opset_import}
    return [{
        "file": FILE, "format": "onnx", "variant": "float32", "runtime": f"onnxruntime {onnxruntime.__version__}",
        "input": {"name": given.name, "shape": [d if isinstance(d, int) else -1 for d in given.shape],
                  "dtype": given.type}, "opsets": opsets, "batch": "dynamic",
        "size_bytes": path.stat().st_size, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        **check.to_dict(),
    }]


@zoo.hookimpl
def register_exporters(register):
    register(zoo.Exporter(
        name="onnx", summary="ONNX via keras.Model.export (tf2onnx), verified by ONNX Runtime: --format onnx",
        export=export, suffixes=(FILE,), options=(), prepare=prepare,
    ))
