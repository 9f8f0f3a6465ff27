"""Quantization-aware fine-tuning: a short stage that trains a finished run's weights as int8 will run them.

``zoo train --from RUN --qat`` (``zoo.trainer.train(..., start_from=RUN,
quantization_aware=True)``). Post-training int8 rounds weights and
activations that were never trained to be rounded; a few epochs with the
rounding in the forward pass (straight-through gradients) let the weights
settle where int8 puts them. Model Maker's detector did the same (a 15-epoch
QAT stage) for its int8 files.

The maintained QAT library (tensorflow-model-optimization) does not take
Keras 3 models (tensorflow/model-optimization#1270, #1119) and Keras' own
``model.quantize`` is post-training only (keras#18930), so the rounding is
simulated here with ``keras.quantizers.fake_quant_with_min_max_vars``, as
TFLite's int8 kernels round:

* weights of every convolution, depthwise convolution and dense layer per
  output channel, symmetric, 8 bits in [-127, 127] (TFLite's int8 weights);
  where a batch norm follows one directly, its kernel is rounded *folded*
  (``kernel * gamma / sqrt(var + eps)``, as the converter folds it) and
  the batch norm runs on its moving statistics, so the rounded grid is the
  one the file will hold;
* activations per tensor, asymmetric 8 bits, where the int8 graph holds a
  tensor: after each convolution or dense layer and its fused activation
  (before a softmax or sigmoid: the logits), after a batch norm that is not
  folded, an activation layer, an addition or a concatenation. Their ranges
  are non-trainable variables set before the first step to the minimum and
  maximum on the training examples ``zoo export`` calibrates on, as the
  converter sets them, and kept (not a moving average of each batch's
  range, as TensorFlow's QAT did: the file's ranges are the calibration's).

The QAT graph is a clone of the model whose wrappers *share* the model's
layers and variables: the trained model stays the architecture's own float
model (model.keras loads as any run's), and ``zoo export --quantize int8``
converts it with the converter's calibration as before; the weights'
grid is the one they were trained on. LSTM and SimpleRNN layers run step
by step as their unrolled int8 graph does (``RecurrentRounded``): gate
sums, gates (LOGISTIC and TANH's fixed int8 ranges), cell state and output
rounded, which is where post-training int8 loses lstm-bn's accuracy.
"""
from __future__ import annotations

import functools
from types import SimpleNamespace

# Training examples run through the graph to set the activations' ranges: the ones zoo export calibrates on
# (its default --representative-size, drawn with the run's seed), so the stage rounds where the file will.
CALIBRATION_EXAMPLES = 200
CALIBRATION_BATCH = 64

# What the stage simulates, as config.json and the card record it.
DESCRIPTION = {
    "weights": "int8 per output channel, symmetric [-127, 127], batch norm folded",
    "activations": "int8 per tensor, asymmetric; ranges calibrated on zoo export's calibration examples, kept",
    "recurrent_cells": "LSTM and SimpleRNN step by step as unrolled int8 runs them: gate sums, gates, state, "
                       "output rounded",
}


@functools.cache
def _kinds():
    """The wrapper classes and the layer kinds they take, made once Keras is imported (zoo imports it late)."""
    import keras
    from keras import ops, quantizers

    weighted = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
                keras.layers.SeparableConv2D, keras.layers.Dense)
    rounded_outputs = (keras.layers.Activation, keras.layers.ReLU, keras.layers.Add, keras.layers.Concatenate,
                       keras.layers.Rescaling, keras.layers.RNN)

    class Range(keras.layers.Layer):
        """One int8 tensor's range: non-trainable variables, calibrated (or the first training batch's) and
        kept; ``rounded`` rounds a tensor to its 256 levels."""

        def __init__(self, name=None, **kwargs):
            super().__init__(name=name, **kwargs)
            self.low = self.add_weight(name="range_min", shape=(), initializer="zeros", trainable=False)
            self.high = self.add_weight(name="range_max", shape=(), initializer="zeros", trainable=False)
            self.seen = self.add_weight(name="range_seen", shape=(), initializer="zeros", trainable=False)
            self.calibrating = False

        def build(self, input_shape=None):
            self.built = True  # the variables are made above; a wrapped layer is built already

        def rounded(self, x, training):
            if self.calibrating:  # eager passes: the widest range seen
                low, high = float(ops.min(x)), float(ops.max(x))
                if float(self.seen) > 0:
                    low, high = min(low, float(self.low)), max(high, float(self.high))
                self.low.assign(low)
                self.high.assign(high)
                self.seen.assign(1.0)
                return x
            if training:  # uncalibrated: the first batch's range, then kept
                first = ops.equal(self.seen, 0.0)
                self.low.assign(ops.where(first, ops.min(x), self.low))
                self.high.assign(ops.where(first, ops.max(x), self.high))
                self.seen.assign(1.0)
            # The range holds zero (int8's zero point is a level) and is never empty.
            low = ops.minimum(self.low, 0.0)
            high = ops.maximum(ops.maximum(self.high, 0.0), low + 1e-6)
            return quantizers.fake_quant_with_min_max_vars(x, low, high, num_bits=8, narrow_range=False)

    class Rounding(Range):
        """A shared ``layer`` whose output (an int8 tensor in the file) is rounded per tensor."""

        def __init__(self, layer, **kwargs):
            super().__init__(name=f"{layer.name}_qat", **kwargs)
            self.inner = layer

        def ranges(self) -> list:
            """Every range this wrapper holds (calibrated together)."""
            return [self]

        def compute_output_shape(self, shape):
            return self.inner.compute_output_shape(shape)

    class OutputRounded(Rounding):
        """``inference``: the layer runs in inference mode (a folded batch norm on its moving statistics);
        ``rounds_output``: False where the file holds no tensor here."""

        def __init__(self, layer, inference=False, rounds_output=True, **kwargs):
            super().__init__(layer, **kwargs)
            self.inference, self.rounds_output = inference, rounds_output

        def call(self, inputs, training=None, mask=None):
            takes_mask = getattr(self.inner, "_call_has_mask_arg", False)
            extra = {"mask": mask} if takes_mask and mask is not None else {}
            out = self.inner(inputs, training=False if self.inference else training, **extra)
            return self.rounded(out, training) if self.rounds_output else out

    class WeightsRounded(Rounding):
        """A convolution or dense layer with its kernel rounded per output channel and its output (after a
        fused relu, before a softmax or sigmoid) rounded per tensor; ``norm``: the batch norm folded into it."""

        def __init__(self, layer, norm=None, **kwargs):
            super().__init__(layer, **kwargs)
            self.norm = norm

        def _fold(self):
            """Per output channel: the folded batch norm's multiplier, or None."""
            norm = self.norm
            if norm is None:
                return None
            scale = ops.rsqrt(ops.add(norm.moving_variance, norm.epsilon))
            return scale * norm.gamma if norm.scale else scale

        @staticmethod
        def _rounded_kernel(kernel, fold, other_axes):
            """``kernel`` rounded symmetric per channel (``other_axes``: those that are not channels)."""
            if fold is not None:
                kernel = kernel * fold
            reach = ops.stop_gradient(ops.maximum(ops.max(ops.abs(kernel), axis=other_axes, keepdims=True), 1e-8))
            rounded = quantizers.fake_quant_with_min_max_vars(kernel / reach, -1.0, 1.0, num_bits=8,
                                                              narrow_range=True) * reach
            return rounded / fold if fold is not None else rounded

        def call(self, inputs, training=None, mask=None):
            layer, fold = self.inner, self._fold()
            if isinstance(layer, keras.layers.SeparableConv2D):
                depth = self._rounded_kernel(layer.depthwise_kernel, None, (0, 1))
                point = self._rounded_kernel(layer.pointwise_kernel, None, (0, 1, 2))
                out = ops.separable_conv(inputs, depth, point, strides=layer.strides, padding=layer.padding,
                                         data_format=layer.data_format, dilation_rate=layer.dilation_rate)
            elif isinstance(layer, keras.layers.DepthwiseConv2D):
                kernel = layer.kernel
                shaped = None if fold is None else ops.reshape(fold, (kernel.shape[2], kernel.shape[3]))
                out = ops.depthwise_conv(inputs, self._rounded_kernel(kernel, shaped, (0, 1)),
                                         strides=layer.strides, padding=layer.padding,
                                         data_format=layer.data_format, dilation_rate=layer.dilation_rate)
            else:  # Dense, Conv1D, Conv2D: the last axis holds the output channels
                kernel = self._rounded_kernel(layer.kernel, fold, tuple(range(len(layer.kernel.shape) - 1)))
                out = ops.matmul(inputs, kernel) if isinstance(layer, keras.layers.Dense) else \
                    layer.convolution_op(inputs, kernel)
            if layer.use_bias:
                out = out + layer.bias
            if _activation_name(layer) in ("softmax", "sigmoid"):
                return layer.activation(self.rounded(out, training))  # the file rounds the logits
            out = layer.activation(out)
            return out if self.norm is not None else self.rounded(out, training)

    def fixed(x, low, high):
        """Rounded to a range the int8 kernel fixes (LOGISTIC's output [0, 255/256], TANH's [-1, 127/128])."""
        return quantizers.fake_quant_with_min_max_vars(x, low, high, num_bits=8, narrow_range=False)

    class RecurrentRounded(Rounding):
        """An LSTM or SimpleRNN run step by step as its unrolled int8 graph runs: kernels rounded per output
        channel, and each step's gate sums, gates, cell state and output rounded (one range per tensor for
        every step: the file calibrates one per step, on the same examples)."""

        def __init__(self, layer, steps: int, **kwargs):
            super().__init__(layer, **kwargs)
            # One range per tensor and step, as the unrolled file calibrates each step's ops apart: the input's
            # and the state's products (two FULLY_CONNECTED), their sum, the cell state's two products and
            # their sum, the output.
            def ranges(what):
                return [Range(name=f"{layer.name}_{what}_{t}") for t in range(steps)]

            self.inputs_in, self.state_in, self.sums = ranges("inputs_in"), ranges("state_in"), ranges("sums")
            self.kept, self.added, self.state = ranges("kept"), ranges("added"), ranges("state")
            self.outputs = ranges("output")
            self.lstm = isinstance(layer, keras.layers.LSTM)
            # tanh and sigmoid gates: int8's TANH and LOGISTIC, whose output ranges are fixed.
            self.standard = (_activation_name(layer.cell) == "tanh" and (
                not self.lstm or getattr(layer.cell.recurrent_activation, "__name__", "") == "sigmoid"))

        def ranges(self) -> list:
            """The ranges the steps use: a SimpleRNN's output is TANH's fixed one where its activation is tanh."""
            common = [*self.inputs_in, *self.state_in, *self.sums]
            return [*common, *self.kept, *self.added, *self.state, *self.outputs] if self.lstm else \
                [*common, *([] if self.standard else self.outputs)]

        def call(self, inputs, training=None, mask=None):
            layer = self.inner
            cell = layer.cell
            lstm, standard = self.lstm, self.standard
            kernel = WeightsRounded._rounded_kernel(cell.kernel, None, (0,))
            recurrent = WeightsRounded._rounded_kernel(cell.recurrent_kernel, None, (0,))
            bias = cell.bias if cell.use_bias else 0.0

            def gate(x, kind):
                y = cell.recurrent_activation(x) if kind == "sigmoid" else cell.activation(x)
                if not standard:
                    return y
                return fixed(y, 0.0, 255 / 256) if kind == "sigmoid" else fixed(y, -1.0, 127 / 128)

            def step(n, x, states):
                h = states[0]
                sums = self.sums[n].rounded(self.inputs_in[n].rounded(ops.matmul(x, kernel) + bias, training)
                                            + self.state_in[n].rounded(ops.matmul(h, recurrent), training), training)
                if not lstm:
                    h = self.outputs[n].rounded(cell.activation(sums), training) if not standard else gate(sums, "tanh")
                    return h, [h]
                i, f, g, o = ops.split(sums, 4, axis=-1)
                kept = self.kept[n].rounded(gate(f, "sigmoid") * states[1], training)
                added = self.added[n].rounded(gate(i, "sigmoid") * gate(g, "tanh"), training)
                c = self.state[n].rounded(kept + added, training)
                h = self.outputs[n].rounded(gate(o, "sigmoid") * gate(c, "tanh"), training)
                return h, [h, c]

            # Unrolled in Python, as the int8 file is (the time axis is static: _steps_simulated).
            zeros = ops.zeros((ops.shape(inputs)[0], cell.units), dtype=inputs.dtype)
            states, outputs = ([zeros, zeros] if lstm else [zeros]), []
            order = range(inputs.shape[1] - 1, -1, -1) if layer.go_backwards else range(inputs.shape[1])
            for n, t in enumerate(order):
                h, new_states = step(n, inputs[:, t], states)
                if mask is not None:  # a masked step keeps the state, as Keras' RNN does
                    keep = ops.expand_dims(ops.cast(mask[:, t], h.dtype), -1)
                    new_states = [keep * n + (1 - keep) * s for n, s in zip(new_states, states)]
                    h = keep * h + (1 - keep) * (0.0 if layer.zero_output_for_mask else states[0])
                states = new_states
                outputs.append(h)
            return ops.stack(outputs, axis=1) if layer.return_sequences else outputs[-1]

    class BidirectionalRounded(Rounding):
        """Both directions of a Bidirectional as ``RecurrentRounded``, merged as the layer merges them."""

        def __init__(self, layer, **kwargs):
            super().__init__(layer, **kwargs)
            steps = layer.input.shape[1]
            self.forward = RecurrentRounded(layer.forward_layer, steps)
            self.backward = RecurrentRounded(layer.backward_layer, steps)

        def ranges(self) -> list:
            return [self, *self.forward.ranges(), *self.backward.ranges()]

        def call(self, inputs, training=None, mask=None):
            forward = self.forward(inputs, training=training, mask=mask)
            backward = self.backward(inputs, training=training, mask=mask)
            if self.inner.return_sequences:
                backward = ops.flip(backward, axis=1)
            mode = self.inner.merge_mode
            merged = (ops.concatenate([forward, backward], axis=-1) if mode == "concat" else forward + backward
                      if mode == "sum" else forward * backward if mode == "mul" else (forward + backward) / 2)
            return self.rounded(merged, training)

    return SimpleNamespace(weighted=weighted, rounded_outputs=rounded_outputs, recurrent=(keras.layers.LSTM,
                           keras.layers.SimpleRNN), OutputRounded=OutputRounded, WeightsRounded=WeightsRounded,
                           RecurrentRounded=RecurrentRounded, BidirectionalRounded=BidirectionalRounded)


def quantization_aware(model, sample=None):
    """The QAT graph of ``model``: its layers shared, rounding where int8 rounds (see the module).

    ``sample``: normalised training examples whose activations set the
    first ranges (``calibrate``); without it they start at the first
    training batch's.
    """
    import keras

    folded = _folded_pairs(model)
    wrappers = []

    def clone(layer):
        wrapped = _wrap(layer, folded)
        if wrapped is not layer:
            wrappers.append(wrapped)
        return wrapped

    qat = keras.models.clone_model(model, clone_function=clone, recursive=True)
    if sample is not None:
        calibrate(qat, wrappers, sample)
    return qat, wrappers


def calibrate(qat, wrappers, sample) -> None:
    """Every activation range set to the minimum and maximum it takes on ``sample`` (eager passes)."""
    ranges = [held for wrapper in wrappers for held in wrapper.ranges()]
    for held in ranges:
        held.calibrating = True
        held.seen.assign(0.0)
    try:
        for start in range(0, min(len(sample), CALIBRATION_EXAMPLES), CALIBRATION_BATCH):
            qat(sample[start:start + CALIBRATION_BATCH], training=False)
    finally:
        for held in ranges:
            held.calibrating = False


def _folded_pairs(model) -> dict:
    """``{id(conv or dense): batch norm}`` for each batch norm that reads one such layer's output alone."""
    import keras

    weighted = _kinds().weighted
    pairs = {}
    for layer in _every_layer(model):
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        try:
            source = layer.input._keras_history[0]
            last_axis = layer.axis in (-1, len(layer.input.shape) - 1)
        except (AttributeError, IndexError, ValueError, TypeError):
            continue
        if (last_axis and isinstance(source, weighted) and not isinstance(source, keras.layers.SeparableConv2D)
                and _activation_name(source) == "linear" and len(source._outbound_nodes) == 1):
            pairs[id(source)] = layer
    return pairs


def _every_layer(model):
    import keras

    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _every_layer(layer)


def _activation_name(layer) -> str:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "linear") if activation is not None else "linear"


def _steps_simulated(layer, called=None) -> bool:
    """An LSTM or SimpleRNN that ``RecurrentRounded`` runs: not stateful, no states returned, a known number of
    steps in the input of ``called`` (the layer, or the Bidirectional around it)."""
    try:
        steps = (called or layer).input.shape[1]
    except (AttributeError, ValueError, IndexError):
        return False
    return isinstance(layer, _kinds().recurrent) and not layer.return_state and not layer.stateful and steps is not None


def _wrap(layer, folded: dict):
    import keras

    kinds = _kinds()
    if isinstance(layer, keras.Model):
        return layer
    if _steps_simulated(layer):
        return kinds.RecurrentRounded(layer, layer.input.shape[1])
    if isinstance(layer, keras.layers.Bidirectional) and layer.merge_mode in ("concat", "sum", "mul", "ave") \
            and _steps_simulated(layer.forward_layer, layer) and _steps_simulated(layer.backward_layer, layer):
        return kinds.BidirectionalRounded(layer)
    if isinstance(layer, kinds.weighted):
        return kinds.WeightsRounded(layer, folded.get(id(layer)))
    if isinstance(layer, keras.layers.BatchNormalization):
        # A folded one runs on its moving statistics (the fold is exact only so); its output is the folded
        # convolution's, a tensor of the file unless an activation fused into it follows. One that is not
        # folded stays a multiply and an add, its output rounded.
        folds = any(norm is layer for norm in folded.values())
        return kinds.OutputRounded(layer, inference=True, rounds_output=not (folds and _feeds_only_an_activation(layer)))
    if isinstance(layer, kinds.rounded_outputs):
        return kinds.OutputRounded(layer)
    return layer


def _feeds_only_an_activation(layer) -> bool:
    """Whether ``layer``'s one consumer is an activation layer (which the converter fuses into what it reads)."""
    import keras

    try:
        consumers = [node.operation for node in layer._outbound_nodes]
    except AttributeError:
        return False
    return len(consumers) == 1 and isinstance(consumers[0], (keras.layers.Activation, keras.layers.ReLU))


def describe(settings) -> dict:
    """What config.json and the card record of a QAT stage."""
    return {**DESCRIPTION, "epochs": settings.epochs, "learning_rate": settings.learning_rate}


def stage_request(request):
    """The ``TrainRequest`` of a QAT stage: what it leaves out taken from the run it starts from.

    Raises:
        UsageError: no ``--from RUN``, or ``--resume`` given with ``--qat``.
        ZooError: the earlier run cannot be read.
    """
    import dataclasses

    from zoo.errors import UsageError
    from zoo.run.run import Run

    if request.resume:
        raise UsageError("--qat with --resume: a resumed QAT run continues as it began (give only --resume RUN)")
    if not request.start_from:
        raise UsageError("--qat fine-tunes a finished run through int8's rounding: give --from RUN")
    opened = Run.open(request.start_from, need_model=True)
    opened.require_finished("--from")
    config = opened.config.raw
    options = {key: tuple(value) if isinstance(value, list) else value
               for key, value in (config.get("data_options") or {}).items()}
    recipe = config.get("recipe_file") or config.get("recipe")
    same_pair = request.architecture is None and request.dataset is None
    return dataclasses.replace(
        request,
        architecture=request.architecture or opened.config.architecture,
        dataset=request.dataset or opened.config.dataset,
        recipe=request.recipe or recipe,
        params=request.params or (dict(config.get("params") or {}) if same_pair else None),
        seed=config.get("seed") if request.seed is None and same_pair else request.seed,
        data_dir=request.data_dir or (config.get("data_dir") if same_pair else None),
        data_options=(request.data_options if any(v is not None for v in (request.data_options or {}).values())
                      else options if same_pair else None))
