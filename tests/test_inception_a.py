"""specs/inception_a.yaml — Inception-v4's Inception-A block — against a hand-written Keras twin."""
import pytest
from conftest import ROOT

import archspec

SPEC = ROOT / "specs" / "inception_a.yaml"


def test_block_keeps_its_shape_so_it_stacks():
    one, four = archspec.load(SPEC), archspec.load(SPEC, overrides={"blocks": 4})
    for spec in (one, four):
        assert [spec.graph[v].shape for v in spec.graph.outputs.values()] == [(35, 35, 384)]
    assert four.analysis().total.params == 4 * one.analysis().total.params
    assert four.analysis().total.macs == 4 * one.analysis().total.macs
    assert not one.warnings and not four.warnings


def twin(keras, blocks: int):
    """Inception-A as one would write it by hand in Keras (the paper's figure 4, reference-code conv_bn)."""
    from keras import layers

    def conv_bn(x, filters, kernel):
        x = layers.Conv2D(filters, kernel, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(scale=False)(x)
        return layers.Activation("relu")(x)

    def inception_a(x):
        pool = layers.AveragePooling2D(3, strides=1, padding="same")(x)
        pool = conv_bn(pool, 96, 1)
        b1 = conv_bn(x, 96, 1)
        b3 = conv_bn(conv_bn(x, 64, 1), 96, 3)
        b33 = conv_bn(conv_bn(conv_bn(x, 64, 1), 96, 3), 96, 3)
        return layers.Concatenate()([pool, b1, b3, b33])

    inp = keras.Input((35, 35, 384))
    x = inp
    for _ in range(blocks):
        x = inception_a(x)
    return keras.Model(inp, x)


@pytest.mark.keras
@pytest.mark.parametrize("blocks", [1, 2])
def test_equals_hand_written_keras(blocks):
    """Same parameter split, same weight shapes layer by layer, and with the twin's weights copied in
    (moving statistics randomised so batch norm is not the identity) the same outputs."""
    import keras
    import numpy as np

    keras.backend.clear_session()
    spec = archspec.load(SPEC, overrides={"blocks": blocks})
    ref = twin(keras, blocks)
    ours = spec.to_keras()
    assert ours.name == f"inception_a_blocks_{blocks}"         # a spec with overrides names its model after them
    t = spec.analysis().total
    assert (t.params, t.trainable, t.non_trainable) == (
        ref.count_params(), sum(int(np.prod(w.shape)) for w in ref.trainable_weights),
        sum(int(np.prod(w.shape)) for w in ref.non_trainable_weights))
    assert tuple(ours.output.shape[1:]) == tuple(ref.output.shape[1:]) == (35, 35, 384)
    rng = np.random.default_rng(0)
    a, b = [x for x in ours.layers if x.weights], [y for y in ref.layers if y.weights]
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert (type(x).__name__, [tuple(w.shape) for w in x.weights]) == (type(y).__name__, [tuple(w.shape) for w in y.weights])
        ws = [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in y.get_weights()]
        y.set_weights(ws)
        x.set_weights(ws)
    batch = rng.uniform(-1, 1, (2, 35, 35, 384)).astype("float32")
    diff = float(np.max(np.abs(np.asarray(ours(batch)) - np.asarray(ref(batch)))))
    assert diff <= 1e-4, diff
    keras.backend.clear_session()
