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

from zoo.errors import IncompatibleError


def start_from(model, run: str, architecture: str, data, params: dict | None = None) -> dict:
    """Copy ``run``'s weights into ``model`` where names and shapes agree; what config.json records.

    Raises:
        UsageError: not a run, not finished, or another architecture, input shape or layout.
        ZooError: a damaged run (its config or model cannot be read).
    """
    from zoo.run.run import Run

    opened = Run.open(run, need_model=True)
    opened.require_finished("--from")
    run_dir, config = opened.directory, opened.config
    if not (run_dir / "metrics.json").is_file():
        raise IncompatibleError(f"--from {run}: its metrics.json is missing, so nothing says how good its "
                                "weights are (a damaged run); train it again or start from another")
    if config.architecture != architecture:
        raise IncompatibleError(f"--from {run}: {_article(config.architecture)} {config.architecture} run; its weights "
                                f"fit {config.architecture}, not {architecture}")
    earlier_layout, layout = config.layout, data.input_spec.layout
    if config.input_shape != tuple(data.input_shape) or earlier_layout != layout:
        raise IncompatibleError(f"--from {run}: its model reads {earlier_layout}s of shape "
                                f"{list(config.input_shape)}; {data.name} gives {layout}s of shape "
                                f"{list(data.input_shape)} (train with --image-size/--color to match, or "
                                f"start from scratch)")
    earlier = opened.model()
    # Layers pair up in order (Keras numbers unnamed layers per process, so names differ between
    # builds of one architecture); a pair whose weights differ in shape keeps the new layer's.
    copied, kept_new = [], []
    new_layers = [layer for layer in _layers(model) if layer.weights]
    old_layers = [layer for layer in _layers(earlier) if layer.weights]
    vocabularies = _vocabularies(run_dir, data)
    mapped = 0
    for i, layer in enumerate(new_layers):
        source = old_layers[i] if i < len(old_layers) else None
        if source is not None and vocabularies is not None and _is_embedding(layer) and _is_embedding(source):
            mapped = _map_rows(source, layer, *vocabularies)  # rows by token: an id means another word there
            copied.append(layer.name)
        elif source is not None and [tuple(w.shape) for w in source.weights] == [tuple(w.shape) for w in layer.weights]:
            layer.set_weights(source.get_weights())
            copied.append(layer.name)
        else:
            kept_new.append(layer.name)
    if not copied:
        raise IncompatibleError(f"--from {run}: no layer of its model fits the new one (it was built with "
                                f"{json.dumps(config.params)[:160]}, the new one with "
                                f"{json.dumps(params, default=list)[:160]}: give its recipe or -p values)")
    return {"run": str(Path(run_dir).resolve()), "architecture": config.architecture,
            "dataset": config.dataset, "layers_copied": len(copied), "layers_new": kept_new,
            **({"embedding_rows_mapped": mapped} if vocabularies is not None else {})}


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _vocabularies(run_dir: Path, data):
    """(earlier, new) tokenizers where both runs read text through different ones, else None."""
    if data.tokenizer is None or not (run_dir / "tokenizer.json").is_file():
        return None
    from zoo.data import tokenizer

    earlier = tokenizer.read(run_dir / tokenizer.TOKENIZER_FILE)
    return None if earlier.digest() == data.tokenizer.digest() else (earlier, data.tokenizer)


def _is_embedding(layer) -> bool:
    import keras

    return isinstance(layer, keras.layers.Embedding)


def _map_rows(source, layer, earlier, new) -> int:
    """``layer``'s Embedding rows taken from ``source``'s for the tokens both vocabularies hold (padding and
    [UNK] too, where both have it); a token the earlier run never saw keeps its new row. Returns the rows
    taken."""
    old_rows, rows = source.get_weights()[0], layer.get_weights()[0].copy()
    if old_rows.shape[1] != rows.shape[1]:
        return 0
    old_index = {word: i + earlier.first_word_id for i, word in enumerate(earlier.vocabulary)}
    pairs = [(0, 0)] + ([(1, 1)] if earlier.unknown == new.unknown == "oov" else [])
    pairs += [(i + new.first_word_id, old_index[word]) for i, word in enumerate(new.vocabulary) if word in old_index]
    pairs = [(n, o) for n, o in pairs if n < len(rows) and o < len(old_rows)]
    for n, o in pairs:
        rows[n] = old_rows[o]
    layer.set_weights([rows])
    return len(pairs)


def _layers(model):
    """Every layer with weights, nested models opened (a backbone's layers by their own names)."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
        else:
            yield layer
