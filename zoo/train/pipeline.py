"""The input pipeline of training: tf.data over the examples, targets encoded by the task, augmentation
seeded per epoch, validation cut from the end of the training set as Keras' ``validation_split``."""
from __future__ import annotations

import math

import numpy as np

from zoo.data.augment import augmentation
from zoo.errors import UsageError


def input_pipeline(x, y, spec, task, batch_size: int,
                   shuffle_seed: int | None = None, augment=None, epoch=None):
    """tf.data: shuffled batches, normalised (and augmented) on the fly, prefetched.

    Examples stay in their stored dtype (uint8 images) in memory; each batch
    becomes float32 model input when it is read (``spec``: ``x * scale +
    offset``), and its targets become what the task's loss reads (``task.encode``:
    one-hot labels for classification, so that label smoothing is available).

    Shuffling permutes indices, once per epoch, and gathers whole batches, as
    Keras does for NumPy input: ``Dataset.shuffle`` over the images themselves
    moved one element at a time and made a short LSTM epoch about 10% slower
    than plain Keras. The permutation is a function of ``(shuffle_seed,
    epoch)``, where ``epoch`` is a variable that ``EpochSeeds`` sets as each
    epoch begins: a run resumed in a new process shuffles its remaining
    epochs exactly as the uninterrupted run would (a tf.data random counter
    would start again from the first epoch's permutation).
    """
    import tensorflow as tf

    count = len(x)
    images, labels = tf.constant(x), tf.constant(task.targets(y))
    whole = count // batch_size

    def order(_):
        indices = tf.range(count, dtype=tf.int64)
        if shuffle_seed is None:
            return indices
        seed = tf.stack([tf.constant(shuffle_seed, tf.int64), tf.cast(epoch.value(), tf.int64)])
        return tf.random.experimental.stateless_shuffle(indices, seed=seed)

    def batches(indices):
        # Whole batches by reshaping, then the remainder: no per-element work.
        steps = tf.data.Dataset.from_tensor_slices(tf.reshape(indices[:whole * batch_size], [whole, batch_size]))
        if count % batch_size:
            steps = steps.concatenate(tf.data.Dataset.from_tensors(indices[whole * batch_size:]))
        return steps

    def prepare(batch):
        batch_images = tf.cast(tf.gather(images, batch), tf.float32) * spec.scale
        if spec.offset:
            batch_images += spec.offset
        if augment is not None and len(x.shape) == 3:
            # Keras image layers want a channel axis; grayscale models add their own.
            batch_images = augment(batch_images[..., None], training=True)[..., 0]
        elif augment is not None:
            batch_images = augment(batch_images, training=True)
        return batch_images, task.encode(tf.gather(labels, batch))

    # One element per pass over the data; its permutation is read when the pass begins.
    data = tf.data.Dataset.from_tensors(0).map(order).flat_map(batches)
    # flat_map hides the length; Keras needs it to end each epoch without a warning.
    data = data.apply(tf.data.experimental.assert_cardinality(math.ceil(count / batch_size)))
    return data.map(prepare, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def epoch_seeds(seed: int, augment=None):
    """The variable ``input_pipeline`` shuffles by, and the callback that sets it each epoch.

    The callback also re-seeds the augmentation layers' generators from
    ``(seed, epoch)``, so that augmentation, too, is the same after a resume.
    """
    import keras
    import tensorflow as tf

    epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="zoo_epoch")
    generators = []
    for layer in (augment.layers if augment is not None else ()):
        generators += [v for v in vars(layer).values() if isinstance(v, keras.random.SeedGenerator)]

    class EpochSeeds(keras.callbacks.Callback):

        def on_epoch_begin(self, index, logs=None):
            epoch.assign(index)
            for n, generator in enumerate(generators):
                generator.state.assign(np.array([(seed + 7919 * index + 104729 * n) % 2**31, 0],
                                                dtype=generator.state.dtype))

    return epoch, EpochSeeds()


def pipelines(data, settings, dist, seed: int):
    """Step: the training and validation tf.data pipelines, and the epoch-seeding callback.

    Returns:
        ``(training, validation or None, steps per epoch, EpochSeeds callback)``.
    """
    # Validation is the last part of the training set, as Keras' validation_split.
    x_train, y_train = data.x_train, data.y_train
    validation = None
    if settings.validation_split:
        cut = int(len(x_train) * (1 - settings.validation_split))
        x_train, y_train = data.x_train[:cut], data.y_train[:cut]
        # Multi-worker: each worker validates its share; the metrics are summed over all.
        x_val, y_val = dist.shard(data.x_train[cut:], data.y_train[cut:])
        validation = input_pipeline(x_val, y_val, data.input_spec, data.task,
                                    max(max(settings.batch_size, 256) // dist.local_replicas, 1))
    # Multi-worker: each worker trains on its share with --batch-size per worker.
    x_train, y_train = dist.shard(x_train, y_train, settings.batch_size)
    if len(x_train) == 0:
        raise UsageError(f"--validation-split {settings.validation_split} leaves no training images"
                         + (f" for each of {dist.workers} workers" if dist.multi_worker else ""))
    augment = augmentation(settings.augment, seed) if settings.augment else None
    epoch, seeding = epoch_seeds(seed, augment)
    training = input_pipeline(x_train, y_train, data.input_spec, data.task,
                              dist.replica_batch(settings.batch_size), shuffle_seed=seed, augment=augment,
                              epoch=epoch)
    steps = math.ceil(len(x_train) / settings.batch_size)
    return training, validation, steps, seeding
