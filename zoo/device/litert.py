"""Run a .tflite file with LiteRT (``ai_edge_litert``): no TensorFlow here.

Shared by ``zoo export`` (which verifies every file it writes) and
``zoo predict`` (the on-device story: LiteRT alone). ``tf.lite.Interpreter``
is deprecated in favour of ``ai_edge_litert.interpreter.Interpreter``.
"""
from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np

from zoo.data.evaluation import batch_for
from zoo.errors import DataError, first_line

# A TFLite flatbuffer carries this identifier at bytes 4..8.
FILE_IDENTIFIER = b"TFL3"


def read_ops(data: bytes) -> list[str]:
    """Operator names used anywhere in a TFLite model (all subgraphs).

    Builtin ops by their ``BuiltinOperator`` name (``FULLY_CONNECTED``,
    ``WHILE`` ...); custom ops (Flex ops included, ``FlexTensorListReserve``
    ...) as ``CUSTOM:<code>``.
    """
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(data, 0)
    ops = set()
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        # Codes above 127 live in builtin_code; older files use the deprecated byte.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            ops.add(f"CUSTOM:{(code.CustomCode() or b'?').decode(errors='replace')}")
        else:
            ops.add(names.get(builtin, f"BUILTIN_{builtin}"))
    return sorted(ops)


def float_ops(data: bytes) -> list[str]:
    """The ops of a TFLite model that read or write a float tensor (none: the file is integer-only), each
    name once with its count, e.g. ``['LOGISTIC x2', 'SOFTMAX']``."""
    from ai_edge_litert import schema_py_generated as schema

    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    floats = {schema.TensorType.FLOAT32, schema.TensorType.FLOAT16, schema.TensorType.FLOAT64}
    model = schema.Model.GetRootAsModel(data, 0)
    found: dict[str, int] = {}
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for o in range(graph.OperatorsLength()):
            op = graph.Operators(o)
            tensors = [*op.InputsAsNumpy(), *op.OutputsAsNumpy()] if op.InputsLength() else list(op.OutputsAsNumpy())
            if any(int(t) >= 0 and graph.Tensors(int(t)).Type() in floats for t in tensors):
                code = model.OperatorCodes(op.OpcodeIndex())
                name = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
                found[name] = found.get(name, 0) + 1
    return [name if count == 1 else f"{name} x{count}" for name, count in sorted(found.items())]


def custom_ops(ops) -> list[str]:
    """The ops of ``ops`` that stock LiteRT cannot run without a delegate or custom kernel."""
    return [op for op in ops if op.startswith("CUSTOM:")]


class LiteRTModel:
    """A .tflite classifier run with LiteRT.

    Args:
        path: the .tflite file.
        num_threads: LiteRT CPU threads (None: LiteRT's default).

    Raises:
        DataError: the file is missing, not a TFLite flatbuffer, or LiteRT
            cannot prepare it (e.g. it needs the Flex delegate).
    """

    def __init__(self, path, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(f"{self.path}: {'not a file' if self.path.exists() else 'no such file'}")
        data = self.path.read_bytes()
        if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
            raise DataError(f"{self.path}: not a TFLite model (no TFL3 flatbuffer identifier)")
        try:
            self.ops = read_ops(data)
        except Exception as exc:  # a damaged flatbuffer fails in many ways
            raise DataError(f"{self.path}: damaged TFLite model ({first_line(exc, 200)})") from None
        try:
            with _quiet_stderr():  # LiteRT's C++ "INFO: Created ... XNNPACK delegate" line
                self._interpreter = Interpreter(model_content=data, num_threads=num_threads)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            flex = custom_ops(self.ops)
            hint = f"; it uses ops stock LiteRT lacks: {', '.join(flex)}" if flex else ""
            raise DataError(f"{self.path}: LiteRT cannot load it ({first_line(exc, 200)}){hint}") from None
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise DataError(f"{self.path}: expected one input and one output, found "
                            f"{len(inputs)} and {len(outputs)}")
        self._input, self._output = inputs[0], outputs[0]
        self.size = len(data)

    # What the model card and predict need to know about the tensors.
    @property
    def input_name(self) -> str:
        return self._input["name"]

    @property
    def input_shape(self) -> list:
        """The input shape; -1 marks a batch dimension that may be resized."""
        return [int(d) for d in self._input["shape_signature"]]

    @property
    def image_shape(self) -> tuple:
        return tuple(self.input_shape[1:])

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the file was converted with, or None when it is dynamic."""
        batch = self.input_shape[0]
        return None if batch == -1 else batch

    @property
    def input_dtype(self) -> str:
        return np.dtype(self._input["dtype"]).name

    @property
    def output_dtype(self) -> str:
        return np.dtype(self._output["dtype"]).name

    @property
    def input_quantization(self) -> dict | None:
        return _quantization(self._input)

    @property
    def output_quantization(self) -> dict | None:
        return _quantization(self._output)

    def describe(self) -> dict:
        """The tensor facts a model card records."""
        return {
            "input": {"name": self.input_name, "shape": self.input_shape, "dtype": self.input_dtype,
                      "quantization": self.input_quantization},
            "output": {"name": self._output["name"], "shape": [int(d) for d in self._output["shape_signature"]],
                       "dtype": self.output_dtype, "quantization": self.output_quantization},
            "batch": ("dynamic: the batch dimension is resized as needed" if self.fixed_batch is None else
                      f"fixed at {self.fixed_batch}: LiteRT cannot resize it; batches are run one "
                      f"{'image' if self.fixed_batch == 1 else 'chunk'} at a time"),
            "ops": self.ops,
        }

    def predict(self, images: np.ndarray, batch_size: int = 250, progress=None) -> np.ndarray:
        """Class probabilities for float32 model inputs (already normalised).

        Integer inputs and outputs (``--int8-io``) are quantized and
        dequantized with the scale and zero point the file records.

        Args:
            images: float32 array of shape (N, *image_shape).
            batch_size: images per invoke where the batch is dynamic (fewer where images are
                large: zoo.evaluation.batch_for).
            progress: called with the number of images done after each invoke.

        Returns:
            float32 array of shape (N, classes).
        """
        images = np.asarray(images, dtype=np.float32)
        if tuple(images.shape[1:]) != self.image_shape:
            raise DataError(f"{self.path}: reads images of shape {list(self.image_shape)}, "
                            f"given {list(images.shape[1:])}")
        step = self.fixed_batch or batch_for(images, batch_size)
        current = None
        results = []
        for start in range(0, len(images), step):
            chunk = images[start:start + step]
            count = len(chunk)
            if self.fixed_batch is None:
                if current != count:
                    self._interpreter.resize_tensor_input(self._input["index"], [count, *self.image_shape])
                    self._interpreter.allocate_tensors()
                    current = count
            elif count < step:  # a fixed batch: pad the last chunk
                chunk = np.concatenate([chunk, np.zeros((step - count, *self.image_shape), np.float32)])
            self._interpreter.set_tensor(self._input["index"], self._quantize(chunk))
            self._interpreter.invoke()
            out = self._dequantize(self._interpreter.get_tensor(self._output["index"]))
            results.append(out[:count])
            if progress is not None:
                progress(count)
        if not results:
            return np.zeros((0, self._output["shape"][-1]), np.float32)
        return np.concatenate(results).astype(np.float32)

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        dtype = self._input["dtype"]
        if dtype == np.float32:
            return x
        scale, zero = self._input["quantization"]
        if not scale:  # integers that are not quantized values: token ids, rounded as they are
            return np.rint(x).astype(dtype)
        info = np.iinfo(dtype)
        return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)

    def _dequantize(self, y: np.ndarray) -> np.ndarray:
        if self._output["dtype"] == np.float32:
            return y.copy()
        scale, zero = self._output["quantization"]
        return ((y.astype(np.float32) - zero) * scale).astype(np.float32)


@contextlib.contextmanager
def _quiet_stderr():
    """Silence what native code writes to file descriptor 2 (Python's own errors still raise)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        sys.stderr.flush()
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _quantization(details) -> dict | None:
    scale, zero = details["quantization"]
    if not scale:
        return None
    return {"scale": float(scale), "zero_point": int(zero)}
