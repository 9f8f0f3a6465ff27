"""Starting a run from an earlier run's weights (``zoo train ARCH DATASET --from RUN``).

Fashion-MNIST's cnn as the start for a user's clothing photos: the new
model is built for the new dataset as usual, then its layers with weights,
in order, take the earlier model's weights where the earlier model's layer
in the same place has weights of the same shapes. The head (one unit per class) keeps its
new weights when the classes differ in number, and the earlier weights
when they do not. The earlier run must be finished, of the same
architecture, and read examples of the same shape and layout: otherwise
the weights would not mean what they meant.
"""
from __future__ import annotations

import json
from pathlib import Path

from zoo import runs
from zoo.errors import IncompatibleError


def start_from(model, run: str, architecture: str, data, params: dict | None = None) -> dict:
    """Copy ``run``'s weights into ``model`` where names and shapes agree; what config.json records.

    Raises:
        UsageError: not a run, not finished, or another architecture, input shape or layout.
        ZooError: a damaged run (its config or model cannot be read).
    """
    from zoo.trainer import load_run_model

    run_dir = runs.resolve_run(run, need_model=True)
    config = runs.read_config(run_dir)
    runs.require_finished(run_dir, config, "--from")
    if config["architecture"] != architecture:
        raise IncompatibleError(f"--from {run}: a {config['architecture']} run; its weights fit {config['architecture']}, "
                                f"not {architecture}")
    earlier_layout = (config.get("input") or {}).get("layout", "image") if isinstance(config.get("input"), dict) \
        else "image"
    layout = data.input_spec.layout
    if list(config.get("input_shape") or []) != list(data.input_shape) or earlier_layout != layout:
        raise IncompatibleError(f"--from {run}: its model reads {earlier_layout}s of shape "
                                f"{config.get('input_shape')}; {data.name} gives {layout}s of shape "
                                f"{list(data.input_shape)} (train with --image-size/--color to match, or "
                                f"start from scratch)")
    earlier = load_run_model(run_dir)
    # Layers pair up in order (Keras numbers unnamed layers per process, so names differ between
    # builds of one architecture); a pair whose weights differ in shape keeps the new layer's.
    copied, kept_new = [], []
    new_layers = [layer for layer in _layers(model) if layer.weights]
    old_layers = [layer for layer in _layers(earlier) if layer.weights]
    for i, layer in enumerate(new_layers):
        source = old_layers[i] if i < len(old_layers) else None
        if source is not None and [tuple(w.shape) for w in source.weights] == [tuple(w.shape) for w in layer.weights]:
            layer.set_weights(source.get_weights())
            copied.append(layer.name)
        else:
            kept_new.append(layer.name)
    if not copied:
        raise IncompatibleError(f"--from {run}: no layer of its model fits the new one (it was built with "
                                f"{json.dumps(config.get('params'))[:160]}, the new one with "
                                f"{json.dumps(params, default=list)[:160]}: give its recipe or -p values)")
    return {"run": str(Path(run_dir).resolve()), "architecture": config["architecture"],
            "dataset": config.get("dataset"), "layers_copied": len(copied), "layers_new": kept_new}


def _layers(model):
    """Every layer with weights, nested models opened (a backbone's layers by their own names)."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer
