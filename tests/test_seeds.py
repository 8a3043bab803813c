"""The seed notebooks' networks as specs (specs/*.yaml for seeds 000, 001, 002, 004).

Fast group (no Keras): every spec checks, seed 000's design flaws are reported where they are
written, the repaired variant is clean, and seed 001's multiply-accumulate arithmetic is
reproduced (docs/inception-macs.md).

Keras group: each seed's Keras code is transcribed from its notebook (modernized to Keras 3:
`keras.layers.add`, no `np_utils`, `x.shape` for `K.int_shape`), and archspec's parameter counts
must equal Keras's. The only numbers typed in are the ones the notebooks printed.
"""
import os
import re

import pytest
from conftest import SPECS

import archspec

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

SEED_SPECS = [
    "mnist_cnn.yaml", "mnist_cnn_dropout.yaml",                                  # 001
    "inception_resnet_cifar10.yaml", "inception_resnet_cifar10_fixed.yaml",      # 000
    "cats_vs_dogs.yaml",                                                         # 002
    "resnet_blocks.yaml", "inception_resnet_blocks.yaml", "vgg16_inception_resnet.yaml",  # 004
    "inception_v1_module.yaml", "ops_count_14x14.yaml", "ops_count_inception.yaml",       # 001
    "digits_cnn.yaml",
]


def load(name, **overrides):
    return archspec.load(SPECS / name, overrides=overrides or None)


def line_of(text: str, pattern: str, after: str | None = None) -> int:
    """1-based line of the first line matching `pattern` (a regex) after the line matching `after`."""
    lines = text.splitlines()
    start = 0
    if after is not None:
        start = next(k for k, line in enumerate(lines) if re.search(after, line)) + 1
    return next(k for k in range(start, len(lines)) if re.search(pattern, lines[k])) + 1


def out_shape(spec, name=None):
    g = spec.graph
    node = g.outputs[name] if name else next(iter(g.outputs.values()))
    return g[node].shape


def in_shape(spec, scope):
    g = spec.graph
    return g[g.scopes[scope].input].shape


# ---- fast: every spec checks --------------------------------------------------------------------

@pytest.mark.parametrize("name", SEED_SPECS)
def test_spec_checks(name):
    spec = load(name)
    assert spec.analysis().total.params > 0
    assert all(w.severity == "warning" for w in spec.warnings)


# ---- fast: seed 001, the MNIST CNN (the notebook printed its summary) ---------------------------

@pytest.mark.parametrize("name", ["mnist_cnn.yaml", "mnist_cnn_dropout.yaml"])
def test_mnist_matches_printed_summary(name):
    spec = load(name)
    a = spec.analysis()
    assert a.total.params == a.total.trainable == 52_138
    convs = [n for n in spec.graph if n.op == "conv2d"]
    assert [a.nodes[n.id].params for n in convs] == [80, 1168]
    assert [n.shape for n in convs] == [(26, 26, 8), (13, 13, 16)]
    assert a.nodes["FC1"].params == 50_240 and a.nodes["output"].params == 650
    assert spec.warnings == []


# ---- fast: seed 000, faithful and fixed ---------------------------------------------------------

def test_seed000_faithful_warnings_at_their_lines():
    path = SPECS / "inception_resnet_cifar10.yaml"
    text = path.read_text(encoding="utf-8")
    spec = load("inception_resnet_cifar10.yaml")
    got = {(w.code, w.loc.line) for w in spec.warnings}
    assert {w.code for w in spec.warnings} == {"spatial-collapse", "kernel-exceeds-input", "high-dropout"}
    assert all(w.loc.file.endswith("inception_resnet_cifar10.yaml") for w in spec.warnings)

    # Dropout(0.8): a keep probability written as a rate
    assert ("high-dropout", line_of(text, r"- dropout: 0\.8")) in got
    # Reduction-A takes the 2×2 map to 1×1; its max pool is where the collapse happens
    collapse = line_of(text, r"max_pool: \{pool_size: 3, strides: 2, padding: same\}", after=r"^  reduction_a:")
    assert ("spatial-collapse", collapse) in got
    assert [w.code for w in spec.warnings].count("spatial-collapse") == 1
    # kernels larger than their maps: the stem's 7×1 / 1×7 on 6×6, block A's 3×3 on 2×2,
    # block B's 1×7 / 7×1 and block C's 1×3 / 3×1 on 1×1
    for pattern, after in [(r"kernel: \[7, 1\]", r"^  stem:"), (r"kernel: \[1, 7\]", r"^  stem:"),
                           (r"filters: 48\}", r"^  inception_resnet_a:"),
                           (r"kernel: \[1, 7\]", r"^  inception_resnet_b:"),
                           (r"kernel: \[7, 1\]", r"^  inception_resnet_b:"),
                           (r"kernel: \[1, 3\]", r"^  inception_resnet_c:"),
                           (r"kernel: \[3, 1\]", r"^  inception_resnet_c:")]:
        assert ("kernel-exceeds-input", line_of(text, pattern, after)) in got, (pattern, after)
    # the shapes behind them
    assert in_shape(spec, "inception_resnet_a") == (2, 2, 384)
    assert in_shape(spec, "inception_resnet_b") == (1, 1, 1024)
    assert in_shape(spec, "inception_resnet_c") == (1, 1, 2016)


def test_seed000_fixed_keeps_blocks_meaningful():
    spec = load("inception_resnet_cifar10_fixed.yaml")
    assert spec.warnings == []
    assert in_shape(spec, "inception_resnet_a") == (16, 16, 384)
    assert in_shape(spec, "inception_resnet_b") == (8, 8, 1024)
    assert in_shape(spec, "inception_resnet_c") == (4, 4, 2016)
    ops = [n.op for n in spec.graph]
    assert "flatten" not in ops and "global_avg_pool" in ops
    assert [n.attrs.rate for n in spec.graph if n.op == "dropout"] == [0.2]
    assert out_shape(spec) == (10,)


# ---- fast: seed 002 ------------------------------------------------------------------------------

def test_cats_vs_dogs_matches_printed_summary():
    spec = load("cats_vs_dogs.yaml")
    a = spec.analysis()
    convs = [n for n in spec.graph if n.op == "conv2d"]
    assert [a.nodes[n.id].params for n in convs] == [448, 4640, 9248]
    assert [n.shape for n in spec.graph if n.op == "max_pool"] == [(74, 74, 16), (36, 36, 32), (17, 17, 32)]
    assert spec.graph["flatten"].shape == (9248,)
    assert out_shape(spec) == (1,)
    t = spec.training
    assert (t["optimizer"], t["loss"], t["learning_rate"]) == ("rmsprop", "binary_crossentropy", 1e-4)
    assert t["rescale"] == pytest.approx(1 / 255)


# ---- fast: seed 004 ------------------------------------------------------------------------------

def test_inception_resnet_blocks_keep_the_input_shape():
    spec = load("inception_resnet_blocks.yaml")
    assert set(spec.graph.outputs) == {"block_a", "block_b", "block_c"}
    for name in spec.graph.outputs:
        assert out_shape(spec, name) == (224, 224, 32)
    concat = {n.scope.split("/")[0]: n.shape[-1] for n in spec.graph if n.op == "concat"}
    assert concat == {"block_a": 128, "block_b": 384, "block_c": 384}
    assert {n.attrs.scale for n in spec.graph if n.op == "scaled_add"} == {0.1}
    assert spec.warnings == []


def test_vgg16_inception_resnet_stages():
    spec = load("vgg16_inception_resnet.yaml")
    assert in_shape(spec, "block3_1") == (56, 56, 128)
    assert in_shape(spec, "block5_1") == (14, 14, 512)
    assert spec.graph["block5_pool"].shape == (7, 7, 512)
    assert out_shape(spec) == (1000,)
    assert [w.code for w in spec.warnings] == ["dominant-layer"]      # fc1, as in VGG16
    notop = load("vgg16_inception_resnet.yaml", include_top=False)
    assert out_shape(notop) == (512,)
    assert "global_max_pool" in {n.op for n in notop.graph}
    assert notop.warnings == []


def test_resnet_blocks():
    spec = load("resnet_blocks.yaml")
    for scope in ("resnet_v1_identity", "resnet_v1_bottleneck", "resnet_v2_preact", "resnet_v2_bottleneck"):
        assert spec.graph[spec.graph.scopes[scope].output].shape == (56, 56, 128)
    # the notebook's Conv2D keep their bias before BatchNormalization; without it no warnings
    assert {w.code for w in spec.warnings} == {"bias-before-bn"}
    assert load("resnet_blocks.yaml", use_bias=False).warnings == []


# ---- fast: seed 001's multiply-accumulate arithmetic ---------------------------------------------

H = W = 28
C_IN, F, R = 192, 32, 16


def paths_macs(spec, *paths):
    return sum(spec.analysis().scopes[f"inception/{p}"].macs for p in paths)


def corrected_reduced_macs(r=R, f=F):
    """docs/inception-macs.md: 3×3 and 5×5 paths with r-map 1×1 reductions, counted consistently."""
    return H * W * (2 * C_IN * r + (5 * 5 + 3 * 3) * r * f)


def test_notebook_14x14_count():
    assert load("ops_count_14x14.yaml").analysis().total.macs == 944_111_616


def test_notebook_5x5_3x3_count():
    assert load("ops_count_inception.yaml").analysis().total.macs == 163_774_464
    naive = load("inception_v1_module.yaml", reduce=0)
    assert paths_macs(naive, "conv3x3", "conv5x5") == 163_774_464


def test_notebook_reduced_count_is_a_grouped_convolution():
    spec = load("ops_count_inception.yaml", reduce=32, groups=2)
    assert spec.analysis().total.macs == 23_281_664
    module = load("inception_v1_module.yaml", reduce=32, groups=2)
    assert paths_macs(module, "conv3x3", "conv5x5") == 23_281_664


def test_reduced_module_correct_count():
    expected = corrected_reduced_macs()
    assert expected == 18_464_768 != 23_281_664
    assert load("ops_count_inception.yaml", reduce=R).analysis().total.macs == expected
    module = load("inception_v1_module.yaml")
    assert paths_macs(module, "conv3x3", "conv5x5") == expected
    # the 1×1 and pool-projection paths: 192 → 32 each
    assert module.analysis().total.macs == expected + 2 * H * W * F * C_IN
    assert out_shape(module) == (28, 28, 4 * F)


def test_mac_convention():
    """MACs = output elements × kernel area × input channels per group, for every conv."""
    for spec in (load("inception_v1_module.yaml"), load("inception_v1_module.yaml", reduce=32, groups=2)):
        a = spec.analysis()
        for n in spec.graph:
            if n.op == "conv2d":
                (h, w, c), (kh, kw) = spec.graph[n.inputs[0]].shape, n.attrs.kernel
                assert a.nodes[n.id].macs == h * w * n.shape[2] * kh * kw * c // n.attrs.groups


def test_digits_cnn():
    spec = load("digits_cnn.yaml")
    assert out_shape(spec) == (10,)
    assert spec.warnings == []
    assert spec.analysis().total.params < 500_000
    t = spec.training
    assert (t["optimizer"], t["loss"], t["batch_size"], t["validation_split"]) == \
        ("adam", "sparse_categorical_crossentropy", 32, 0.1)
    assert "early_stopping" in t


# ---- Keras parity: the notebooks' own model code -------------------------------------------------

def keras_counts(model):
    import numpy as np

    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    assert model.count_params() == trainable + non_trainable
    return model.count_params(), trainable, non_trainable


def archspec_counts(spec):
    t = spec.analysis().total
    return t.params, t.trainable, t.non_trainable


@pytest.fixture
def keras():
    keras = pytest.importorskip("keras")
    keras.backend.clear_session()
    yield keras
    keras.backend.clear_session()


# seed 001 ---------------------------------------------------------------------------------------

def mnist_model(keras, dropout=False):
    from keras import layers, models

    model = models.Sequential()
    model.add(keras.Input(shape=(28, 28, 1)))
    model.add(layers.Conv2D(8, (3, 3), activation='relu'))
    model.add(layers.Conv2D(16, (3, 3), strides=(2, 2), padding='same', activation='relu'))
    model.add(layers.MaxPooling2D((2, 2), padding='same'))
    model.add(layers.Flatten())
    if dropout:
        model.add(layers.Dropout(0.25))
    model.add(layers.Dense(64, activation='relu', name='FC1'))
    if dropout:
        model.add(layers.Dropout(0.50))
    model.add(layers.Dense(10, activation='softmax', name='output'))
    return model


@pytest.mark.keras
@pytest.mark.parametrize("name,dropout", [("mnist_cnn.yaml", False), ("mnist_cnn_dropout.yaml", True)])
def test_keras_mnist(keras, name, dropout):
    model = mnist_model(keras, dropout)
    assert keras_counts(model) == archspec_counts(load(name))
    assert model.count_params() == 52_138                # the notebook's printed summary


# seed 000 ---------------------------------------------------------------------------------------

def seed000_model(keras):
    from keras.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D, concatenate
    from keras.models import Model

    def stem(input_img):
        model = Conv2D(32, (3, 3), strides=(2, 2), padding='valid', activation='relu', name='stem')(input_img)
        model = BatchNormalization()(model)
        model = Conv2D(32, (3, 3), padding='valid', activation='relu', name='conv1')(model)
        model = BatchNormalization()(model)
        model = Conv2D(64, (3, 3), padding='same', activation='relu', name='conv2')(model)
        model = BatchNormalization()(model)
        branch0 = MaxPooling2D((3, 3), strides=(2, 2), padding='valid')(model)
        branch1 = Conv2D(96, (3, 3), strides=(2, 2), padding='valid', activation='relu', name='conv3_branch1')(model)
        branch1 = BatchNormalization()(branch1)
        model = concatenate([branch0, branch1], axis=-1)
        branch0 = Conv2D(64, (1, 1), padding='same', activation='relu', name='conv5_branch0')(model)
        branch0 = BatchNormalization()(branch0)
        branch0 = Conv2D(96, (3, 3), padding='valid', activation='relu', name='conv6_branch0')(branch0)
        branch0 = BatchNormalization()(branch0)
        branch1 = Conv2D(64, (1, 1), padding='same', activation='relu', name='conv7_branch1')(model)
        branch1 = Conv2D(64, (7, 1), padding='same', activation='relu', name='conv8_branch1')(branch1)
        branch1 = BatchNormalization()(branch1)
        branch1 = Conv2D(64, (1, 7), padding='same', activation='relu', name='conv9_branch1')(branch1)
        branch1 = BatchNormalization()(branch1)
        branch1 = Conv2D(96, (3, 3), padding='valid', activation='relu', name='conv10_branch1')(branch1)
        branch1 = BatchNormalization()(branch1)
        model = concatenate([branch0, branch1], axis=-1)
        branch0 = Conv2D(192, (3, 3), padding='valid', activation='relu', name='conv11_branch0')(model)
        branch0 = BatchNormalization()(branch0)
        branch1 = MaxPooling2D()(model)
        model = concatenate([branch0, branch1], axis=-1)
        return model

    def inception_resnet_A(model):
        branch0 = Conv2D(32, (1, 1), padding='same', activation='relu', name='resnet_a_conv1_branch0')(model)
        branch0 = BatchNormalization()(branch0)
        branch1 = Conv2D(32, (1, 1), padding='same', activation='relu', name='resnet_a_conv2_branch1')(model)
        branch1 = BatchNormalization()(branch1)
        branch1 = Conv2D(32, (3, 3), padding='same', activation='relu', name='resnet_a_conv3_branch1')(branch1)
        branch1 = BatchNormalization()(branch1)
        branch2 = Conv2D(32, (1, 1), padding='same', activation='relu', name='resnet_a_conv4_branch1')(model)
        branch2 = BatchNormalization()(branch2)
        branch2 = Conv2D(48, (3, 3), padding='same', activation='relu', name='resnet_a_conv5_branch1')(branch2)
        branch2 = BatchNormalization()(branch2)
        branch2 = Conv2D(64, (3, 3), padding='same', activation='relu', name='resnet_a_conv6_branch1')(branch2)
        branch2 = BatchNormalization()(branch2)
        x = concatenate([branch0, branch1, branch2], axis=-1)
        x = Conv2D(384, (1, 1), padding='same', activation='relu', name='resnet_a_conv7')(x)
        x = BatchNormalization()(x)
        model = keras.layers.add([x, model])
        return model

    def reduction_a(model):
        branch0 = MaxPooling2D((3, 3), strides=(2, 2), padding='same', name='reduction_a')(model)
        branch1 = Conv2D(384, (3, 3), strides=(2, 2), padding='same', activation='relu')(model)
        branch1 = BatchNormalization()(branch1)
        branch2 = Conv2D(192, (1, 1), padding='same', activation='relu')(model)
        branch2 = BatchNormalization()(branch2)
        branch2 = Conv2D(224, (3, 3), padding='same', activation='relu')(branch2)
        branch2 = BatchNormalization()(branch2)
        branch2 = Conv2D(256, (3, 3), strides=(2, 2), padding='same', activation='relu')(branch2)
        branch2 = BatchNormalization()(branch2)
        model = concatenate([branch0, branch1, branch2], axis=-1)
        return model

    def inception_resnet_b(model):
        branch0 = Conv2D(128, (1, 1), padding='same', activation='relu', name='resnet_b')(model)
        branch0 = BatchNormalization()(branch0)
        branch0 = Conv2D(160, (1, 7), padding='same', activation='relu')(branch0)
        branch0 = BatchNormalization()(branch0)
        branch0 = Conv2D(192, (7, 1), padding='same', activation='relu')(branch0)
        branch0 = BatchNormalization()(branch0)

        branch1 = Conv2D(192, (1, 1), padding='same', activation='relu')(model)
        branch1 = BatchNormalization()(branch1)
        x = concatenate([branch1, branch0], axis=-1)
        branch1 = Conv2D(1024, (1, 1), padding='same', activation='relu')(x)
        branch1 = BatchNormalization()(branch1)
        model = keras.layers.add([branch1, model])
        return model

    def reduction_b(model):
        branch0 = MaxPooling2D((3, 3), strides=(2, 2), padding='same', name='reduction_b')(model)
        branch1 = Conv2D(256, (1, 1), padding='same', activation='relu')(model)
        branch1 = BatchNormalization()(branch1)
        branch1 = Conv2D(384, (3, 3), padding='same', activation='relu')(branch1)
        branch1 = BatchNormalization()(branch1)
        branch2 = Conv2D(256, (1, 1), padding='same', activation='relu')(model)
        branch2 = BatchNormalization()(branch2)
        branch2 = Conv2D(288, (3, 3), padding='same', activation='relu')(branch2)
        branch2 = BatchNormalization()(branch2)
        branch3 = Conv2D(256, (1, 1), padding='same', activation='relu')(model)
        branch3 = BatchNormalization()(branch3)
        branch3 = Conv2D(288, (3, 3), padding='same', activation='relu')(branch3)
        branch3 = BatchNormalization()(branch3)
        branch3 = Conv2D(320, (1, 1), padding='same', activation='relu')(branch3)
        branch3 = BatchNormalization()(branch3)
        model = concatenate([branch0, branch1, branch2, branch3], axis=-1)
        return model

    def inception_resnet_c(model):
        branch0 = Conv2D(192, (1, 1), padding='same', activation='relu', name='resnet_c')(model)
        branch0 = BatchNormalization()(branch0)
        branch0 = Conv2D(224, (1, 3), padding='same', activation='relu')(branch0)
        branch0 = BatchNormalization()(branch0)
        branch0 = Conv2D(256, (3, 1), padding='same', activation='relu')(branch0)
        branch0 = BatchNormalization()(branch0)

        branch1 = Conv2D(192, (1, 1), padding='same', activation='relu')(model)
        branch1 = BatchNormalization()(branch1)
        x = concatenate([branch1, branch0], axis=-1)
        branch1 = Conv2D(2016, (1, 1), padding='same', activation='relu')(x)
        branch1 = BatchNormalization()(branch1)
        model = keras.layers.add([branch1, model])
        return model

    input_img = Input(shape=(32, 32, 3))
    st = stem(input_img)
    resnetA = inception_resnet_A(st)
    reductionA = reduction_a(resnetA)
    resnetB = inception_resnet_b(reductionA)
    reductionB = reduction_b(resnetB)
    resnetC = inception_resnet_c(reductionB)
    drop = Dropout(0.8)(resnetC)
    flatten = Flatten()(drop)
    out = Dense(10, activation='softmax')(flatten)
    net = Model(inputs=input_img, outputs=out)
    return net, {"stem": st, "inception_resnet_a": resnetA, "reduction_a": reductionA,
                 "inception_resnet_b": resnetB, "reduction_b": reductionB, "inception_resnet_c": resnetC}


@pytest.mark.keras
def test_keras_seed000(keras):
    net, stages = seed000_model(keras)
    spec = load("inception_resnet_cifar10.yaml")
    assert keras_counts(net) == archspec_counts(spec)
    for scope, tensor in stages.items():
        assert spec.graph[spec.graph.scopes[scope].output].shape == tuple(tensor.shape[1:]), scope


# seed 002 ---------------------------------------------------------------------------------------

@pytest.mark.keras
def test_keras_cats_vs_dogs(keras):
    from keras import layers, models

    model = models.Sequential()
    model.add(keras.Input(shape=(150, 150, 3)))
    model.add(layers.Conv2D(16, (3, 3), activation='relu'))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(32, (3, 3), activation='relu'))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(32, (3, 3), activation='relu'))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dropout(0.5))
    model.add(layers.Dense(512, activation='relu'))
    model.add(layers.Dense(1, activation='sigmoid'))
    assert keras_counts(model) == archspec_counts(load("cats_vs_dogs.yaml"))
    assert model.output_shape == (None, 1)


# seed 004 ---------------------------------------------------------------------------------------

def seed004_functions(keras):
    """The notebook's Conv2d_bn, inception_resnet_block and VGG16_ResNet_Inception."""
    from keras.layers import (
        Activation,
        BatchNormalization,
        Concatenate,
        Conv2D,
        Dense,
        Flatten,
        GlobalAveragePooling2D,
        GlobalMaxPooling2D,
        Input,
        Lambda,
        MaxPooling2D,
    )
    from keras.models import Model

    def Conv2d_bn(x, filters, kernel_size, padding='same', strides=(1, 1), normalizer=True, activation='relu',
                  name=None):
        if name is not None:
            conv_name = name + '_conv'
            bn_name = name + '_bn'
            act_name = name + '_act'
        else:
            conv_name = None
            bn_name = None
            act_name = None
        if keras.config.image_data_format() == 'channels_first':
            bn_axis = 1
        else:
            bn_axis = 3
        x = Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=False, name=conv_name)(x)
        if normalizer:
            x = BatchNormalization(axis=bn_axis, scale=False, name=bn_name)(x)
        if activation:
            x = Activation(activation, name=act_name)(x)
        return x

    def inception_resnet_block(x, scale, block_type, activation='relu'):
        if block_type == 'Incpetion_Block-A':
            branch_0 = Conv2d_bn(x, 32, 1)
            branch_1 = Conv2d_bn(x, 32, 1)
            branch_1 = Conv2d_bn(branch_1, 32, 3)
            branch_2 = Conv2d_bn(x, 32, 1)
            branch_2 = Conv2d_bn(branch_2, 48, 3)
            branch_2 = Conv2d_bn(branch_2, 64, 3)
            branches = [branch_0, branch_1, branch_2]
        elif block_type == 'Incpetion_Block-B':
            branch_0 = Conv2d_bn(x, 192, 1)
            branch_1 = Conv2d_bn(x, 128, 1)
            branch_1 = Conv2d_bn(branch_1, 160, [1, 7])
            branch_1 = Conv2d_bn(branch_1, 192, [7, 1])
            branches = [branch_0, branch_1]
        elif block_type == 'Incpetion_Block-C':
            branch_0 = Conv2d_bn(x, 192, 1)
            branch_1 = Conv2d_bn(x, 192, 1)
            branch_1 = Conv2d_bn(branch_1, 192, [1, 3])
            branch_1 = Conv2d_bn(branch_1, 192, [3, 1])
            branches = [branch_0, branch_1]
        else:
            raise ValueError('Unknown Inception-ResNet block type: ' + str(block_type))
        mixed = Concatenate(axis=3)(branches)
        up = Conv2d_bn(mixed, x.shape[3], 1, activation=None)
        x = Lambda(lambda inputs, scale: inputs[0] + inputs[1] * scale,
                   output_shape=tuple(x.shape[1:]),
                   arguments={'scale': scale},)([x, up])
        if activation is not None:
            x = Activation(activation)(x)
        return x

    def VGG16_ResNet_Inception(include_top=True, input_tensor=None, input_shape=(224, 224, 1),
                               pooling='max', classes=1000):
        img_input = Input(shape=input_shape)

        x = Conv2d_bn(img_input, 64, (3, 3), activation='relu', padding='same', name='block1_conv1')
        x = Conv2d_bn(x, 64, (3, 3), activation='relu', padding='same', name='block1_conv2')
        x = MaxPooling2D((2, 2), strides=(2, 2), name='block1_pool')(x)

        # Block 2
        x = Conv2d_bn(x, 128, (3, 3), activation='relu', padding='same', name='block2_conv1')
        x = Conv2d_bn(x, 128, (3, 3), activation='relu', padding='same', name='block2_conv2')
        x = MaxPooling2D((2, 2), strides=(2, 2), name='block2_pool')(x)

        # Block 3
        x = inception_resnet_block(x, 0.1, 'Incpetion_Block-A', activation='relu')
        x = inception_resnet_block(x, 0.1, 'Incpetion_Block-A', activation='relu')
        x = inception_resnet_block(x, 0.1, 'Incpetion_Block-A', activation='relu')
        x = MaxPooling2D((2, 2), strides=(2, 2), name='block3_pool')(x)

        # Block 4
        x = Conv2d_bn(x, 512, (3, 3), activation='relu', padding='same', name='block4_conv1')
        x = Conv2d_bn(x, 512, (3, 3), activation='relu', padding='same', name='block4_conv2')
        x = Conv2d_bn(x, 512, (3, 3), activation='relu', padding='same', name='block4_conv3')
        x = MaxPooling2D((2, 2), strides=(2, 2), name='block4_pool')(x)

        # Block 5
        x = inception_resnet_block(x, 0.1, 'Incpetion_Block-B', activation='relu')
        x = inception_resnet_block(x, 0.1, 'Incpetion_Block-B', activation='relu')
        x = inception_resnet_block(x, 0.1, 'Incpetion_Block-B', activation='relu')
        x = MaxPooling2D((2, 2), strides=(2, 2), name='block5_pool')(x)

        if include_top:
            x = Flatten(name='flatten')(x)
            x = Dense(4096, activation='relu', name='fc1')(x)
            x = Dense(4096, activation='relu', name='fc2')(x)
            x = Dense(classes, activation='softmax', name='predictions')(x)
        else:
            if pooling == 'avg':
                x = GlobalAveragePooling2D()(x)
            elif pooling == 'max':
                x = GlobalMaxPooling2D()(x)

        inputs = img_input
        model = Model(inputs, x, name='vgg16')
        return model

    return Conv2d_bn, inception_resnet_block, VGG16_ResNet_Inception


@pytest.mark.keras
def test_keras_inception_resnet_blocks(keras):
    from keras.layers import Input
    from keras.models import Model

    _, inception_resnet_block, _ = seed004_functions(keras)
    spec = load("inception_resnet_blocks.yaml")
    a = spec.analysis()
    for scope, kind in [("block_a", "A"), ("block_b", "B"), ("block_c", "C")]:
        img_input = Input(shape=(224, 224, 32))
        x = inception_resnet_block(img_input, 0.1, 'Incpetion_Block-' + kind, activation='relu')
        model = Model(img_input, x)
        cost = a.scopes[scope]
        assert keras_counts(model) == (cost.params, cost.trainable, cost.non_trainable), scope
        assert tuple(x.shape[1:]) == out_shape(spec, scope)


@pytest.mark.keras
def test_keras_vgg16_inception_resnet(keras):
    _, _, VGG16_ResNet_Inception = seed004_functions(keras)
    """As the notebook called it: include_top=False → global max pool."""
    model = VGG16_ResNet_Inception(include_top=False)
    spec = load("vgg16_inception_resnet.yaml", include_top=False)
    assert keras_counts(model) == archspec_counts(spec)
    assert model.output_shape[1:] == out_shape(spec)


@pytest.mark.keras
def test_keras_vgg16_inception_resnet_top(keras):
    """The function's defaults: the VGG classifier on top (~132 M weights to initialize)."""
    _, _, VGG16_ResNet_Inception = seed004_functions(keras)
    model = VGG16_ResNet_Inception()
    spec = load("vgg16_inception_resnet.yaml")
    assert keras_counts(model) == archspec_counts(spec)
    assert model.output_shape[1:] == out_shape(spec)


@pytest.mark.keras
def test_keras_resnet_blocks(keras):
    from keras import layers
    from keras.layers import Activation, BatchNormalization, Conv2D, Dense, GlobalAveragePooling2D, Input
    from keras.models import Model

    # the notebook's Residual_block (first version: filters3 unused)
    def Residual_block_identity(input_tensor, kernel_size, filters, stage, block):
        filters1, filters2, filters3 = filters
        conv_name_base = 'res' + str(stage) + block + '_branch'
        bn_name_base = 'bn' + str(stage) + block + '_branch'
        x = Conv2D(filters1, (1, 1), name=conv_name_base + '2a')(input_tensor)
        x = BatchNormalization(axis=3, name=bn_name_base + '2a')(x)
        x = Activation('relu')(x)
        x = Conv2D(filters2, kernel_size, padding='same', name=conv_name_base + '2b')(x)
        x = BatchNormalization(axis=3, name=bn_name_base + '2b')(x)
        x = layers.add([x, input_tensor])
        x = Activation('relu')(x)
        return x

    # Residual_block, second version (bottleneck)
    def Residual_block(input_tensor, kernel_size, filters, stage, block):
        filters1, filters2, filters3 = filters
        conv_name_base = 'res' + str(stage) + block + '_branch'
        bn_name_base = 'bn' + str(stage) + block + '_branch'
        x = Conv2D(filters1, (1, 1), name=conv_name_base + '2a')(input_tensor)
        x = BatchNormalization(axis=3, name=bn_name_base + '2a')(x)
        x = Activation('relu')(x)
        x = Conv2D(filters2, kernel_size, padding='same', name=conv_name_base + '2b')(x)
        x = BatchNormalization(axis=3, name=bn_name_base + '2b')(x)
        x = Activation('relu')(x)
        x = Conv2D(filters3, (1, 1), name=conv_name_base + '2c')(x)
        x = BatchNormalization(axis=3, name=bn_name_base + '2c')(x)
        x = layers.add([x, input_tensor])
        x = Activation('relu')(x)
        return x

    # Residual_block_v2, pre-activation
    def Residual_block_v2(input_tensor, kernel_size, filters, stage, block):
        filters1, filters2, filters3 = filters
        conv_name_base = 'res' + str(stage) + block + '_branch'
        bn_name_base = 'bn' + str(stage) + block + '_branch'
        x = BatchNormalization(axis=3, name=bn_name_base + '2a')(input_tensor)
        x = Activation('relu')(x)
        x = Conv2D(filters1, kernel_size, padding='same', name=conv_name_base + '2a')(x)
        x = BatchNormalization(axis=3, name=bn_name_base + '2b')(x)
        x = Activation('relu')(x)
        x = Conv2D(filters2, (1, 1), name=conv_name_base + '2b')(x)
        x = layers.add([x, input_tensor])
        return x

    # Residual_block_v2, the notebook's compress-then-restore version
    def Residual_block_v2_bottleneck(input_tensor, kernel_size, stage, block, reduce=96, ouput_size=128):
        conv_name_base = 'res' + str(stage) + block + '_branch'
        bn_name_base = 'bn' + str(stage) + block + '_branch'
        x = Conv2D(reduce, (1, 1), name=conv_name_base + '2a')(input_tensor)
        x = BatchNormalization(axis=3, name=bn_name_base + '2a')(x)
        x = Activation('relu')(x)
        x = Conv2D(reduce, kernel_size, padding='same', name=conv_name_base + '2b')(x)
        x = BatchNormalization(axis=3, name=bn_name_base + '2b')(x)
        x = Activation('relu')(x)
        x = Conv2D(ouput_size, (1, 1), name=conv_name_base + '2c')(x)
        x = layers.add([x, input_tensor])
        return x

    inp = Input(shape=(56, 56, 128))
    x = Residual_block_identity(inp, 3, (64, 128, 128), 2, 'a')
    x = Residual_block(x, 3, (64, 64, 128), 2, 'b')
    x = Residual_block_v2(x, 3, (64, 128, 128), 2, 'c')
    x = Residual_block_v2_bottleneck(x, 3, 2, 'd')
    x = GlobalAveragePooling2D()(x)
    x = Dense(10, activation='softmax')(x)
    model = Model(inp, x)
    assert keras_counts(model) == archspec_counts(load("resnet_blocks.yaml"))
