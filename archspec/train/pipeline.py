"""The input pipeline: a :class:`~archspec.train.data.Dataset` → per-split inputs for ``model.fit``.

Two implementations of one recipe, chosen by the backend:

* TensorFlow backend: ``tf.data`` (:func:`make_tf_inputs`).
* JAX and PyTorch backends: ``Batches`` (:func:`batches_class`), a ``keras.utils.PyDataset`` that Keras runs with worker
  threads — no TensorFlow needed (:func:`make_py_inputs`).

The recipe, per split: image files are read and decoded in parallel and resized to the input's size,
then the decoded images are cached (in memory, or in a cache file in the run folder when they would
not fit), shuffled each epoch with the run's seed, batched, converted to float (resize, rescale,
flatten, label encoding — vectorized per batch), augmented (training only) and prefetched, so the
accelerator never waits for the next batch. Both give the same float batches for the same images
(``tests/test_backends.py`` compares them); the shuffle order is each one's own.
"""
from __future__ import annotations

import functools
import math
import os
import threading
from dataclasses import dataclass

import numpy as np

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


def make_inputs(ds, plan, settings, seed: int, cache_dir=None, batch_size: int | None = None,
                shard: tuple[int, int] = (0, 1), multiple: int = 1) -> Inputs:
    """The three splits' inputs for the running Keras backend. `batch_size` is the global batch (all
    replicas); `shard` = (this process, processes): each process feeds its part of every global batch
    (multi-process JAX; tf.data shards by itself); `multiple`: every batch splits evenly over this many
    devices (keras.distribution.DataParallel needs it; the last, partial batch is cut down to it)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        return make_tf_inputs(ds, plan, settings, seed, cache_dir, batch_size)
    return make_py_inputs(ds, plan, settings, seed, cache_dir, batch_size, shard, multiple)


def _inputs(ds, settings, bs: int, build) -> Inputs:
    """The three splits made by `build(split, name, training)`, with the steps and example counts."""
    steps = settings.steps_per_epoch
    return Inputs(build(ds.train, "train", True), build(ds.validation, "validation", False),
                  build(ds.test, "test", False), steps,
                  settings.validation_steps if ds.validation is not None else None,
                  steps * bs if steps else len(ds.train))


def make_tf_inputs(ds, plan, settings, seed: int, cache_dir=None, batch_size: int | None = None) -> Inputs:
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
        if plan.tokens:
            d = tf.data.Dataset.from_tensor_slices(token_arrays(split, plan))
            if training:
                d = d.shuffle(min(len(split), 50_000), seed=seed, reshuffle_each_iteration=True)
            d = d.batch(bs)
            if plan.labels == "onehot":
                d = d.map(lambda x, y, *w: (x, tf.one_hot(y, plan.units), *w), num_parallel_calls=AUTOTUNE)
            if (training and settings.steps_per_epoch) or (not training and name == "validation"
                                                          and settings.validation_steps):
                d = d.repeat()
            return d.prefetch(AUTOTUNE).with_options(opts)
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

    return _inputs(ds, settings, bs, build)


def token_arrays(split, plan, idx=None) -> tuple:
    """A split of token data (all of it, or the rows `idx`) as Keras takes it: (ids, targets) for a classifier,
    (ids, targets, loss weights) for a language model; ids are (ids, padding mask) when the spec has a mask
    input. Targets are one-hot when the loss wants them so (label smoothing)."""
    def rows(a):
        return a if idx is None else a[idx]

    x = rows(split.x).astype(np.int32, copy=False)
    if plan.mask_input:
        x = (x, rows(split.mask) if split.mask is not None else np.ones_like(x))
    y = rows(split.y)
    if plan.labels == "onehot" and idx is not None:
        y = np.eye(plan.units, dtype=np.float32)[y]
    if plan.objective == "next_token":
        w = rows(split.weight) if split.weight is not None else np.ones(y.shape[:2], np.float32)
        return x, y, w
    return x, y


# ---- without TensorFlow: keras.utils.PyDataset -------------------------------------------------------
def prepare(x: np.ndarray, y: np.ndarray, plan, settings):
    """A batch of stored images (uint8 or as stored) and class indices → what the model trains on:
    float32 images (resized, rescaled, flattened as the plan says) and encoded labels. NumPy, except the
    resize (keras.ops.image.resize, as tf.image.resize computes it)."""
    x = x.astype(np.float32)
    if plan.resize:
        import keras

        size = tuple(plan.input_shape[:2])
        x = keras.ops.convert_to_numpy(keras.ops.image.resize(
            x, size, interpolation=settings.data.options.get("interpolation", "bilinear"))).astype(np.float32)
    if settings.rescale is not None:
        x = x * np.float32(settings.rescale)
    if plan.flatten:
        x = x.reshape(len(x), plan.input_shape[0])
    if plan.labels == "onehot":
        y = np.eye(plan.units, dtype=np.float32)[y]
    elif plan.labels == "binary":
        y = y.astype(np.float32).reshape(-1, 1)
    return x, y


def decode_file(path: str, channels: int, size: tuple, interpolation: str) -> np.ndarray:
    """One image file → uint8 (h, w, channels) at the input's size: Pillow decodes (the first frame of
    an animation), keras.ops.image.resize resizes, as the tf.data path's decode_image + resize do."""
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert({1: "L", 3: "RGB", 4: "RGBA"}[channels])
        a = np.asarray(im, dtype=np.uint8)
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[:2] != tuple(size):
        import keras

        a = keras.ops.convert_to_numpy(keras.ops.image.resize(a.astype(np.float32), size, interpolation=interpolation))
        a = np.clip(np.round(a), 0, 255).astype(np.uint8)
    return a


class _Images:
    """The stored images of a split, by index: the arrays themselves, or image files decoded on first
    use into a cache (memory, or a file in the run folder above MEMORY_CACHE_BYTES)."""

    def __init__(self, split, plan, settings, cache_file=None):
        self.x = split.x
        self.files = split.files
        if self.x is None:
            size = tuple(plan.input_shape[:2])
            shape = (len(split), *size, plan.channels)
            self.size, self.channels = size, plan.channels
            self.interpolation = settings.data.options.get("interpolation", "bilinear")
            if math.prod(shape) > MEMORY_CACHE_BYTES and cache_file is not None:
                cache_file.parent.mkdir(parents=True, exist_ok=True)
                self.cache = np.lib.format.open_memmap(cache_file, mode="w+", dtype=np.uint8, shape=shape)
            else:
                self.cache = np.empty(shape, np.uint8)
            self.done = np.zeros(len(split), bool)

    def __getitem__(self, idx: np.ndarray) -> np.ndarray:
        if self.x is not None:
            return self.x[idx]
        for i in idx[~self.done[idx]]:
            self.cache[i] = decode_file(self.files[i], self.channels, self.size, self.interpolation)
            self.done[i] = True
        return self.cache[idx]


@functools.cache
def batches_class():
    """The PyDataset class (defined on first use: Keras is imported lazily)."""
    import keras

    class Batches(keras.utils.PyDataset):
        """One split as a PyDataset: batch `i` of epoch `e` is a slice of a seeded permutation (training),
        or of the split in order; Keras fetches batches ahead with `workers` threads.

        With a fixed number of steps the data is an endless stream: training continues through one
        permutation after another (as tf.data's repeat()), validation starts again at its first image.
        """

        def __init__(self, split, plan, settings, batch_size, training, seed, steps=None, shard=(0, 1),
                     cache_file=None, workers=None, multiple=1):
            super().__init__(workers=workers or min(8, os.cpu_count() or 1), use_multiprocessing=False,
                             max_queue_size=16)
            self.split = split
            self.images = _Images(split, plan, settings, cache_file)
            self.y = split.y
            self.n = len(split)
            self.plan, self.settings = plan, settings
            self.bs, self.training, self.seed, self.steps = batch_size, training, seed, steps
            self.shard, self.multiple = shard, multiple
            self.epoch = 0
            self._perms = {}
            self._lock = threading.Lock()
            self.augment = _augmenter(settings.augment, seed) if training and settings.augment else None

        def __len__(self):
            if self.steps:
                return self.steps
            last = self.n % self.bs
            return self.n // self.bs + (last - last % self.multiple > 0)

        @property
        def num_batches(self):
            return len(self)

        def _perm(self, k: int) -> np.ndarray:
            with self._lock:
                if k not in self._perms:
                    self._perms = {j: p for j, p in self._perms.items() if j >= k - 1}
                    self._perms[k] = np.random.default_rng([self.seed, k]).permutation(self.n)
                return self._perms[k]

        def indices(self, i: int) -> np.ndarray:
            """The split's indices of batch `i` in the current epoch (all processes together)."""
            if self.steps and self.training:
                start = (self.epoch * self.steps + i) * self.bs
            elif self.steps:
                start = i * self.bs
            else:
                start = i * self.bs
                stop = min(start + self.bs, self.n)
                stop -= (stop - start) % self.multiple          # an even split over the devices
                pos = np.arange(start, stop)
                return self._perm(self.epoch)[pos] if self.training else pos
            pos = np.arange(start, start + self.bs)
            if not self.training:
                return pos % self.n
            k, r = np.divmod(pos, self.n)
            out = np.empty(len(pos), np.int64)
            for kk in np.unique(k):
                out[k == kk] = self._perm(int(kk))[r[k == kk]]
            return out

        def __getitem__(self, i):
            if i >= len(self):
                raise IndexError(i)
            idx = self.indices(i)
            index, count = self.shard
            if count > 1:               # this process's contiguous part: the global batch keeps its order
                per = len(idx) // count
                idx = idx[index * per:(index + 1) * per]
            if self.plan.tokens:
                return token_arrays(self.split, self.plan, idx)
            x, y = prepare(self.images[idx], self.y[idx], self.plan, self.settings)
            if self.augment is not None:
                import keras as k

                with self._lock:            # the random layers' seed state is shared by the threads
                    x, y = self.augment(x, y)
                x = k.ops.convert_to_numpy(x)
            return x, y

        def on_epoch_end(self):
            if self.training:
                self.epoch += 1

    return Batches


def make_py_inputs(ds, plan, settings, seed: int, cache_dir=None, batch_size: int | None = None,
                   shard: tuple[int, int] = (0, 1), multiple: int = 1) -> Inputs:
    """PyDataset inputs for the three splits (no TensorFlow). `batch_size` is the global batch."""
    Batches = batches_class()
    bs = batch_size or settings.batch_size

    def build(split, name, training):
        if split is None or len(split) == 0:
            return None
        steps = settings.steps_per_epoch if training else settings.validation_steps if name == "validation" else None
        cache = cache_dir / f"{name}.npy" if cache_dir is not None else None
        return Batches(split, plan, settings, bs, training, seed, steps, shard, cache, multiple=multiple)

    return _inputs(ds, settings, bs, build)


__all__ = ["Inputs", "make_inputs", "make_tf_inputs", "make_py_inputs", "prepare", "decode_file", "token_arrays"]
