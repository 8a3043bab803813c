"""The input pipeline: a :class:`~archspec.train.data.Dataset` → ``tf.data`` datasets that Keras 3
accepts on every backend (TensorFlow, JAX, PyTorch).

Per split: image files are read and decoded in parallel and resized to the input's size, then the
decoded images are cached (in memory, or in a cache file in the run folder when they would not fit),
shuffled each epoch with the run's seed, batched, converted to float (resize, rescale, flatten,
label encoding — vectorized per batch), augmented (training only) and prefetched, so the
accelerator never waits for the next batch.
"""
from __future__ import annotations

from dataclasses import dataclass

MEMORY_CACHE_BYTES = 2 << 30      # decoded uint8 images larger than this are cached on disk


@dataclass
class Inputs:
    train: object
    validation: object | None
    test: object | None
    steps_per_epoch: int | None       # None: one pass over the training split
    validation_steps: int | None
    images_per_epoch: int


def _decode(channels: int, size: tuple, interpolation: str):
    import tensorflow as tf

    def load(path, label):
        img = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
        img = tf.image.resize(img, size, method=interpolation)
        img = tf.cast(tf.clip_by_value(tf.round(img), 0, 255), tf.uint8)
        img.set_shape((*size, channels))
        return img, label

    return load


def _augmenter(aug: dict, seed: int):
    import keras

    layers = []
    if aug.get("flip"):
        layers.append(keras.layers.RandomFlip(aug["flip"], seed=seed))
    if aug.get("rotation"):
        layers.append(keras.layers.RandomRotation(aug["rotation"], seed=seed))
    if aug.get("zoom"):
        layers.append(keras.layers.RandomZoom(aug["zoom"], seed=seed))
    if aug.get("translation"):
        layers.append(keras.layers.RandomTranslation(aug["translation"], aug["translation"], seed=seed))
    if aug.get("contrast"):
        layers.append(keras.layers.RandomContrast(aug["contrast"], seed=seed))

    def apply(x, y):
        for layer in layers:
            x = layer(x, training=True)
        return x, y

    return apply


def make_inputs(ds, plan, settings, seed: int, cache_dir=None, batch_size: int | None = None) -> Inputs:
    """tf.data pipelines for the three splits. `batch_size` is the global batch (all replicas)."""
    import tensorflow as tf

    AUTOTUNE = tf.data.AUTOTUNE
    bs = batch_size or settings.batch_size
    ishape = plan.input_shape
    size = tuple(ishape[:2]) if len(ishape) == 3 else None
    rescale = settings.rescale
    opts = tf.data.Options()
    opts.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    opts.deterministic = True

    def prep(x, y):
        x = tf.cast(x, tf.float32)
        if plan.resize:
            x = tf.image.resize(x, size, method=settings.data.options.get("interpolation", "bilinear"))
        if rescale is not None:
            x = x * rescale
        if plan.flatten:
            x = tf.reshape(x, (-1, ishape[0]))
        if plan.labels == "onehot":
            y = tf.one_hot(y, plan.units)
        elif plan.labels == "binary":
            y = tf.reshape(tf.cast(y, tf.float32), (-1, 1))
        return x, y

    def build(split, name, training):
        if split is None or len(split) == 0:
            return None
        if split.x is not None:
            d = tf.data.Dataset.from_tensor_slices((split.x, split.y))
        else:
            d = tf.data.Dataset.from_tensor_slices((split.files, split.y))
            d = d.map(_decode(plan.channels, size, settings.data.options.get("interpolation", "bilinear")),
                      num_parallel_calls=AUTOTUNE)
            nbytes = len(split) * size[0] * size[1] * plan.channels
            if nbytes > MEMORY_CACHE_BYTES and cache_dir is not None:
                cache_dir.mkdir(parents=True, exist_ok=True)
                d = d.cache(str(cache_dir / name))
            else:
                d = d.cache()
        if training:
            d = d.shuffle(min(len(split), 50_000), seed=seed, reshuffle_each_iteration=True)
        d = d.batch(bs).map(prep, num_parallel_calls=AUTOTUNE)
        if training and settings.augment:
            d = d.map(_augmenter(settings.augment, seed), num_parallel_calls=AUTOTUNE)
        if (training and settings.steps_per_epoch) or (not training and name == "validation"
                                                      and settings.validation_steps):
            d = d.repeat()
        return d.prefetch(AUTOTUNE).with_options(opts)

    steps = settings.steps_per_epoch
    n = len(ds.train)
    return Inputs(build(ds.train, "train", True), build(ds.validation, "validation", False),
                  build(ds.test, "test", False), steps,
                  settings.validation_steps if ds.validation is not None else None,
                  steps * bs if steps else n)


__all__ = ["Inputs", "make_inputs"]
