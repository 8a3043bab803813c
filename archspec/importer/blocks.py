"""KerasHub layers read as a short block of archspec ops (imports Keras).

Some KerasHub layers use weights of their own directly in their call — the image embeddings of the vision
transformers: a patch convolution, a learned class token tiled over the batch and concatenated, a learned
position table added — so the tracer (importer/trace.py), which reads layers built from other layers and
``keras.ops``, cannot read them. Each such class whose computation is a chain of archspec ops is read here,
matched by its full module path (``keras_hub.src.models.vit.vit_layers.ViTPatchingAndEmbedding``, never a
bare class name), into config entries of the Keras layers archspec builds for those ops (Conv2D, Reshape,
archspec's ClassToken and PositionEmbedding, Dropout), which the reader then reads and checks like any
other layer. The entries are spliced where the layer was, named ``<layer>_<part>``.

Weights go across by meaning: a part made of one of the layer's own sub-layers (its patch Conv2D, its
Dropout) is that sub-layer; a part that stands for some of the layer's own variables is a
:class:`WeightView` naming them (``class_token`` and ``distillation_token`` → the class_token op's
(1, 2, D) token; ``position_embedding`` (1, N, D) → the (N, D) table), each checked for its shape.

A class whose settings make it compute something else (channels-first data, a mask token given, register
tokens) is refused with the reason, by name.
"""
from __future__ import annotations


class BlockError(Exception):
    """The layer is a class read here but its settings or call are not a chain of archspec ops; the message
    follows "layer 'x' (class): "."""


class WeightView:
    """Stands for an archspec layer's weights where they live in another layer's variables: `get_weights`
    gives them in the archspec layer's order and shapes, `set_weights` writes them back. `parts` lists, per
    archspec weight, the variables it is made of (concatenated along `axis`), each reshaped to `shape`, and
    optionally `order`: the archspec weight's last axis is the variable's taken in that order (RoFormer's
    interleaved rotary pairs as archspec's half-split ones)."""

    trainable = True

    def __init__(self, parts: list[tuple]):
        self.parts = [p if len(p) == 4 else (*p, None) for p in parts]   # [(variables, shape, concat axis, order)]

    @property
    def weights(self):
        return [vs[0] for vs, _, _, _ in self.parts]

    def get_weights(self):
        import numpy as np

        out = []
        for vs, shape, axis, order in self.parts:
            arrays = [np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in vs]
            w = np.concatenate(arrays, axis=axis).reshape(shape) if len(arrays) > 1 else arrays[0].reshape(shape)
            out.append(w if order is None else w[..., order])
        return out

    def set_weights(self, values):
        import numpy as np

        for (vs, _, axis, order), value in zip(self.parts, values):
            if order is not None:
                value = np.asarray(value)[..., np.argsort(order)]
            if len(vs) == 1:
                vs[0].assign(np.reshape(value, vs[0].shape))
                continue
            sizes = np.cumsum([v.shape[axis] for v in vs])[:-1]
            whole = np.reshape(value, tuple(vs[0].shape[:axis]) + (-1,) + tuple(vs[0].shape[axis + 1:]))
            for v, piece in zip(vs, np.split(whole, sizes, axis=axis)):
                v.assign(piece)


def _view(variables: list, shape: tuple, axis: int = 1) -> WeightView:
    import numpy as np

    total = sum(int(np.prod(v.shape)) for v in variables)
    if total != int(np.prod(shape)):
        raise BlockError(f"its weights {[v.path for v in variables]} hold {total} values where {shape} needs "
                         f"{int(np.prod(shape))}")
    return WeightView([(list(variables), tuple(shape), axis)])


# ---- the classes --------------------------------------------------------------------------------------
def _channels_last(layer):
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        raise BlockError(f"it is {layer.data_format}; archspec specs are channels-last")


def _patches(layer, conv, in_shape) -> list:
    """The patch convolution and the reshape of its grid into tokens: (H, W, C) → (H/p · W/p, D)."""
    import keras

    out = conv.compute_output_shape((None,) + tuple(in_shape))
    d = out[-1]
    return [("patch_embedding", conv, conv, tuple(out[1:])),
            ("reshape", keras.layers.Reshape((-1, d)), None, (out[1] * out[2], d))]


def _class_tokens(variables, shape, name="class_token"):
    from ..ops import keras_layers

    t, d = shape
    tokens = len(variables)
    return (name, keras_layers.ClassToken(tokens=tokens), _view(variables, (1, tokens, d)), (t + tokens, d))


def _positions(variable, shape, name="position_embedding"):
    from ..ops import keras_layers

    return (name, keras_layers.PositionEmbedding(stddev=0.02), _view([variable], tuple(shape)), tuple(shape))


def _vit(layer, in_shape, kwargs):
    """ViT's ViTPatchingAndEmbedding and PaliGemma's PaliGemmaVitEmbeddings (no class token): conv → tokens →
    [class token] → + position embedding (an Embedding looked up at 0 … N − 1, i.e. its whole table in order)."""
    import numpy as np

    _channels_last(layer)
    parts = _patches(layer, layer.patch_embedding, in_shape)
    shape = parts[-1][3]
    if getattr(layer, "use_class_token", False):
        parts.append(_class_tokens([layer.class_token], shape))
        shape = parts[-1][3]
    ids = np.asarray(layer.position_ids).reshape(-1)
    table = layer.position_embedding.embeddings
    if not np.array_equal(ids, np.arange(shape[0])) or tuple(table.shape) != shape:
        raise BlockError(f"its position ids {ids.tolist()[:4]}… do not read its table {tuple(table.shape)} in order "
                         f"for {shape[0]} tokens")
    parts.append(_positions(table, shape))
    return parts


def _deit(layer, in_shape, kwargs):
    """DeiT's DeiTEmbeddings: conv → tokens → class and distillation tokens → + position embedding →
    dropout. Its mask token (use_mask_token) is only used with `bool_masked_pos`."""
    _channels_last(layer)
    if kwargs.get("bool_masked_pos") is not None:
        raise BlockError("it is called with bool_masked_pos (masked patches), which a spec cannot express")
    if getattr(layer, "use_mask_token", False):
        raise BlockError("it holds a mask token (use_mask_token=True) that only a bool_masked_pos call uses; a "
                         "spec holds the weights it computes with")
    parts = _patches(layer, layer.patch_embedding, in_shape)
    parts.append(_class_tokens([layer.class_token, layer.distillation_token], parts[-1][3]))
    shape = parts[-1][3]
    parts.append(_positions(layer.position_embedding, shape))
    parts.append(("dropout", layer.dropout, layer.dropout, shape))
    return parts


def _dinov2(layer, in_shape, kwargs):
    """DINOv2's DINOV2Embedding: conv → tokens (its DINOV2PatchEmbedding) → class token → + position
    embedding (the table interpolated to the image size) → dropout. Its mask token (used with `masks`) and
    its source position table (read once, to make the interpolated one) are idle (:func:`_dinov2_idle`)."""
    _channels_last(layer)
    if getattr(layer, "num_register_tokens", 0):
        raise BlockError(f"it inserts {layer.num_register_tokens} register tokens after the class token, which "
                         "archspec's class_token (prepended tokens) cannot express")
    parts = _patches(layer, layer.patch_embeddings.projection, in_shape)
    parts.append(_class_tokens([layer.cls_token], parts[-1][3]))
    shape = parts[-1][3]
    parts.append(_positions(layer.interpolated_position_embeddings, shape))
    parts.append(("dropout", layer.dropout, layer.dropout, shape))
    return parts


def _dinov2_idle(layer, kwargs) -> list:
    return [v for v in (getattr(layer, "mask_token", None), getattr(layer, "position_embeddings", None))
            if v is not None]


def _vitdet_positions(layer, in_shape, kwargs):
    """ViTDet's AddPositionalEmbedding: x + a learned (H, W, D) table."""
    return [_positions(layer.pos_embed, tuple(in_shape))]


def _vitdet_encoder(layer, in_shape, kwargs):
    """ViTDet's WindowedTransformerEncoder: x + attention(layer_norm(x)) within windows (window_attention,
    whose window partition — windows into the batch axis — is the op's own), then + mlp(layer_norm(·))."""
    import keras

    from ..ops import keras_layers

    attn = layer.attention
    h, w, c = in_shape
    size = (layer.window_size,) * 2 if layer.window_size else (h, w)
    if attn.use_rel_pos and tuple(attn.input_size) != size:
        raise BlockError(f"its relative position tables are for {tuple(attn.input_size)} positions and it attends "
                         f"over {size}; KerasHub resizes them then, which archspec's window_attention does not")
    rel = ([attn.add_decomposed_relative_pe.rel_pos_h, attn.add_decomposed_relative_pe.rel_pos_w]
           if attn.use_rel_pos else [])
    qkv, proj = attn.qkv, attn.projection
    if proj.units != c or attn.num_heads * attn.key_dim != c:
        raise BlockError(f"its attention makes {proj.units} channels of an input with {c}")
    weights = [qkv.kernel] + ([qkv.bias] if attn.use_bias else []) + [proj.kernel, proj.bias] + rel
    view = WeightView([([v], tuple(v.shape), 0) for v in weights])
    mlp = list(layer.mlp_block.dense_net.layers)
    shape = tuple(in_shape)
    parts = [("layer_norm1", layer.layer_norm1, layer.layer_norm1, shape, ["in"]),
             ("attention", keras_layers.WindowAttention(heads=attn.num_heads, key_dim=attn.key_dim,
                                                        window=layer.window_size,
                                                        relative="decomposed" if attn.use_rel_pos else "none",
                                                        use_bias=attn.use_bias), view, shape, ["layer_norm1"]),
             ("add", keras.layers.Add(), None, shape, ["in", "attention"]),
             ("layer_norm2", layer.layer_norm2, layer.layer_norm2, shape, ["add"])]
    prev = "layer_norm2"
    for sub in mlp:
        out = tuple(sub.compute_output_shape((None,) + shape)[1:])
        parts.append((f"mlp_{sub.name}", sub, sub, out, [prev]))
        prev, shape = f"mlp_{sub.name}", out
    parts.append(("add_1", keras.layers.Add(), None, shape, ["add", prev]))
    return parts


def _swin_block(layer, in_shape, kwargs):
    """Swin's SwinTransformerBlock on tokens (H·W, C): x + attention(layer_norm(x)) within shifted windows
    (window_attention with a relative position bias, on the (H, W, C) map: reshapes around it), then
    + mlp(layer_norm(·))."""
    import keras

    from ..ops import keras_layers

    attn, mlp = layer.attn, layer.mlp
    h, w = layer.input_resolution
    t, c = in_shape
    if t != h * w:
        raise BlockError(f"it reads {t} tokens as a {h}×{w} map")
    if attn.window_size != (layer.window_size, layer.window_size):
        raise BlockError(f"its attention's bias table is for {attn.window_size} windows and it attends in "
                         f"{layer.window_size}×{layer.window_size} ones (a map smaller than the window)")
    if attn.attn_dim != c or attn.dim != c or abs(attn.scale - attn.head_dim ** -0.5) > 1e-12:
        raise BlockError("its attention's sizes or scale differ from heads × head_dim = channels, 1/√head_dim")
    if attn.attn_drop_rate or attn.proj_drop_rate or mlp.dropout is not None:
        raise BlockError("it drops out inside its attention or MLP, which window_attention does not")
    if not isinstance(layer.drop_path, keras.layers.Identity):
        raise BlockError("it drops paths (stochastic depth) on its residuals")
    if mlp.act_layer is not keras.activations.gelu:
        raise BlockError(f"its MLP's activation {mlp.act_layer!r} is not keras.activations.gelu")
    qkv, proj = attn.qkv, attn.proj
    weights = [qkv.kernel] + ([qkv.bias] if attn.qkv_bias else []) + [proj.kernel, proj.bias,
                                                                      attn.relative_position_bias_table]
    view = WeightView([([v], tuple(v.shape), 0) for v in weights])
    hidden = mlp.fc1.units
    return [("norm1", layer.norm1, layer.norm1, (t, c), ["in"]),
            ("to_map", keras.layers.Reshape((h, w, c)), None, (h, w, c), ["norm1"]),
            ("attn", keras_layers.WindowAttention(heads=attn.num_heads, key_dim=attn.head_dim, window=layer.window_size,
                                                  relative="bias", shift=layer.shift_size, use_bias=attn.qkv_bias),
             view, (h, w, c), ["to_map"]),
            ("to_tokens", keras.layers.Reshape((h * w, c)), None, (t, c), ["attn"]),
            ("add", keras.layers.Add(), None, (t, c), ["in", "to_tokens"]),
            ("norm2", layer.norm2, layer.norm2, (t, c), ["add"]),
            ("mlp_fc1", mlp.fc1, mlp.fc1, (t, hidden), ["norm2"]),
            ("mlp_gelu", keras.layers.Activation("gelu"), None, (t, hidden), ["mlp_fc1"]),
            ("mlp_fc2", mlp.fc2, mlp.fc2, (t, c), ["mlp_gelu"]),
            ("add_1", keras.layers.Add(), None, (t, c), ["add", "mlp_fc2"])]


def _swin_merging(layer, in_shape, kwargs):
    """Swin's PatchMerging, called with the map's H and W: tokens → (H, W, C) map [→ zero row/column to even
    sizes] → each 2×2 patch's four tokens side by side, in Swin's order (0,0), (1,0), (0,1), (1,1) — a
    reshape, a permute and a reshape — → layer norm → dense (4C → 2C) → tokens."""
    import keras

    h, w = kwargs.get("H"), kwargs.get("W")
    t, c = in_shape
    if not (isinstance(h, int) and isinstance(w, int)) or h * w != t:
        raise BlockError(f"it is called with H={h!r}, W={w!r} for {t} tokens")
    parts = [("to_map", keras.layers.Reshape((h, w, c)), None, (h, w, c))]
    if h % 2 or w % 2:
        parts.append(("pad", keras.layers.ZeroPadding2D(((0, h % 2), (0, w % 2))), None, (h + h % 2, w + w % 2, c)))
    h2, w2 = (h + h % 2) // 2, (w + w % 2) // 2
    parts += [("patches", keras.layers.Reshape((h2, 2, w2, 2, c)), None, (h2, 2, w2, 2, c)),
              ("order", keras.layers.Permute((1, 3, 4, 2, 5)), None, (h2, w2, 2, 2, c)),
              ("merge", keras.layers.Reshape((h2, w2, 4 * c)), None, (h2, w2, 4 * c)),
              ("norm", layer.norm, layer.norm, (h2, w2, 4 * c)),
              ("reduction", layer.reduction, layer.reduction, (h2, w2, layer.reduction.units)),
              ("to_tokens", keras.layers.Reshape((h2 * w2, layer.reduction.units)), None, (h2 * w2, layer.reduction.units))]
    return parts


def _swin_patches(layer, in_shape, kwargs):
    """Swin's PatchEmbedding: conv → tokens [→ layer norm]."""
    _channels_last(layer)
    parts = _patches(layer, layer.proj, in_shape)
    if layer.norm is not None:
        parts.append(("norm", layer.norm, layer.norm, parts[-1][3]))
    return parts


READERS = {
    "keras_hub.src.models.swin_transformer.swin_transformer_layers.SwinTransformerBlock": _swin_block,
    "keras_hub.src.models.swin_transformer.swin_transformer_layers.PatchMerging": _swin_merging,
    "keras_hub.src.models.swin_transformer.swin_transformer_layers.PatchEmbedding": _swin_patches,
    "keras_hub.src.models.vit_det.vit_layers.AddPositionalEmbedding": _vitdet_positions,
    "keras_hub.src.models.vit_det.vit_layers.WindowedTransformerEncoder": _vitdet_encoder,
    "keras_hub.src.models.vit.vit_layers.ViTPatchingAndEmbedding": _vit,
    "keras_hub.src.models.pali_gemma.pali_gemma_vit.PaliGemmaVitEmbeddings": _vit,
    "keras_hub.src.models.deit.deit_layers.DeiTEmbeddings": _deit,
    "keras_hub.src.models.dinov2.dinov2_layers.DINOV2Embedding": _dinov2,
}
def _token_to_image(layer, in_shape, kwargs):
    """DepthAnything's DepthAnythingTokenToImage: the class (and register) tokens cropped off, the patch tokens
    reshaped into their (rows, columns, features) map."""
    _channels_last(layer)
    import keras

    t, d = in_shape
    skip = layer.num_cls_tokens + layer.num_register_tokens
    shape = tuple(layer.target_shape)
    if t - skip != shape[0] * shape[1] or shape[2] != d:
        raise BlockError(f"it reads {t} tokens, {skip} of them not patches, as a {shape} map")
    return [("crop", keras.layers.Cropping1D((skip, 0)), None, (t - skip, d)),
            ("reshape", keras.layers.Reshape(shape), None, shape)]


def _preact(prefix, layer, shape, source) -> list:
    """DepthAnything's pre-activation residual: x + conv(pad(relu(conv(pad(relu(x))))))."""
    import keras

    parts, prev = [], source
    for sub in (layer.activation1, layer.padding1, layer.convolution1, layer.activation2, layer.padding2,
                layer.convolution2):
        out = tuple(sub.compute_output_shape((None,) + shape)[1:])
        parts.append((f"{prefix}_{sub.name}", sub, sub, out, [prev]))
        prev, shape = f"{prefix}_{sub.name}", out
    parts.append((f"{prefix}_add", keras.layers.Add(), None, shape, [prev, source]))
    return parts


def _fusion(layer, in_shape, kwargs):
    """DepthAnything's DepthAnythingFeatureFusionLayer: [x + residual_1(residual) →] residual_2 → resized with
    corners aligned → 1×1 projection."""
    import keras

    from ..ops import keras_layers

    _channels_last(layer)
    shape, parts, source = tuple(in_shape), [], "in"
    if kwargs.get("residual") is not None:
        parts += _preact("residual1", layer.residual_layer1, shape, "residual")
        parts.append(("add", keras.layers.Add(), None, shape, ["in", parts[-1][0]]))
        source = "add"
    parts += _preact("residual2", layer.residual_layer2, shape, source)
    h, w = layer.size
    parts.append(("resize", keras_layers.AlignedResize(h, w), None, (h, w, shape[2]), [parts[-1][0]]))
    out = tuple(layer.projection.compute_output_shape((None, h, w, shape[2]))[1:])
    parts.append(("projection", layer.projection, layer.projection, out, ["resize"]))
    return parts


def _fusion_idle(layer, kwargs) -> list:
    """The first fusion stage has no residual: its residual_layer1 is never called."""
    return list(layer.residual_layer1.weights) if kwargs.get("residual") is None else []


def _depth_head(layer, in_shape, kwargs):
    """DepthAnything's DepthAnythingDepthEstimationHead: pad → conv → resized with corners aligned → pad → conv →
    relu → 1×1 conv (the depth)."""
    from ..ops import keras_layers

    _channels_last(layer)
    shape, parts = tuple(in_shape), []
    for sub in (layer.padding1, layer.conv1):
        shape = tuple(sub.compute_output_shape((None,) + shape)[1:])
        parts.append((sub.name, sub, sub, shape))
    h, w = layer.interpolate_size
    shape = (h, w, shape[2])
    parts.append(("resize", keras_layers.AlignedResize(h, w), None, shape))
    for sub in (layer.padding2, layer.conv2, layer.activation1, layer.conv3):
        shape = tuple(sub.compute_output_shape((None,) + shape)[1:])
        parts.append((sub.name, sub, sub, shape))
    return parts


def _dinov3_embedding(layer, in_shape, kwargs):
    """DINOv3's DINOV3Embedding: conv → tokens → the class token then the register tokens, prepended (no position
    embedding: its attention rotates the patches). Its mask token is idle (used only with masks)."""
    _channels_last(layer)
    if kwargs.get("masks") is not None:
        raise BlockError("it is called with masks (masked patches), which a spec cannot express")
    parts = _patches(layer, layer.patch_embeddings.projection, in_shape)
    tokens = [layer.cls_token] + ([layer.register_tokens] if layer.num_register_tokens else [])
    _, d = parts[-1][3]
    t = parts[-1][3][0]
    n = 1 + layer.num_register_tokens
    from ..ops import keras_layers

    parts.append(("class_token", keras_layers.ClassToken(tokens=n), _view(tokens, (1, n, d)), (t + n, d)))
    return parts


def _dinov3_embedding_idle(layer, kwargs) -> list:
    return [layer.mask_token] if getattr(layer, "mask_token", None) is not None else []


def _dinov3_rope(layer, in_shape, kwargs):
    """DINOv3's DINOV3RopePositionEmbedding: the rotation angles of the patch grid, a function of the image size
    alone; the attention that reads them (grid_rope_attention) computes them itself, so it stands for nothing."""
    _channels_last(layer)
    return [], []


def _dinov3_encoder(layer, in_shape, kwargs):
    """DINOv3's DINOV3Encoder: per layer x + γ₁·attention(norm(x)) (grid_rope_attention: the rotation of the
    patches after num_prefix_tokens), then + γ₂·mlp(norm(·)); its outputs the last layer's and each layer's
    (stage1, stage2, …), as Keras numbers them."""
    import keras

    from ..ops import keras_layers

    t, d = in_shape
    prefix = kwargs.get("num_prefix_tokens", 0)
    if not isinstance(prefix, int) or kwargs.get("attention_mask") is not None:
        raise BlockError("it is called with an attention mask or a computed number of prefix tokens")
    rope = kwargs["_producers"].get("position_embeddings")
    if type(rope).__module__ + "." + type(rope).__name__ != _DINOV3 + "DINOV3RopePositionEmbedding":
        raise BlockError("its position embeddings do not come from a DINOV3RopePositionEmbedding")
    _, height, width, _ = rope.input.shape
    grid = (height // rope.patch_size, width // rope.patch_size)
    if grid[0] * grid[1] != t - prefix:
        raise BlockError(f"its {t - prefix} patch tokens are not the {grid[0]}×{grid[1]} grid its rotation is for")
    parts, prev, outs = [], "in", {}
    for i, block in enumerate(layer.layers, start=1):
        attn = block.attention
        if block.use_gated_mlp or block.drop_path_rate or attn.dropout_rate:
            raise BlockError(f"its layer {i} has a gated MLP, drop path or attention dropout")
        weights = []
        for dense in (attn.query_dense, attn.key_dense, attn.value_dense, attn.output_dense):
            weights += [dense.kernel] + ([dense.bias] if dense.use_bias else [])
        view = WeightView([([v], tuple(v.shape), 0) for v in weights])
        rotary = keras_layers.GridRopeAttention(
            heads=attn.num_heads, key_dim=attn.head_dim, grid=grid, prefix=prefix, theta=rope.rope_theta,
            query_bias=attn.use_query_bias, key_bias=attn.use_key_bias, value_bias=attn.use_value_bias,
            output_bias=attn.use_proj_bias)
        mlp = block.mlp
        n = f"layer{i}"
        hidden = (t, mlp.up_proj.units)
        parts += [(f"{n}_norm1", block.norm1, block.norm1, (t, d), [prev]),
                  (f"{n}_attention", rotary, view, (t, d), [f"{n}_norm1"]),
                  (f"{n}_layer_scale1", block.layer_scale1, block.layer_scale1, (t, d), [f"{n}_attention"]),
                  (f"{n}_add", keras.layers.Add(), None, (t, d), [f"{n}_layer_scale1", prev]),
                  (f"{n}_norm2", block.norm2, block.norm2, (t, d), [f"{n}_add"]),
                  (f"{n}_mlp_up", mlp.up_proj, mlp.up_proj, hidden, [f"{n}_norm2"]),
                  (f"{n}_mlp_down", mlp.down_proj, mlp.down_proj, (t, d), [f"{n}_mlp_up"]),
                  (f"{n}_layer_scale2", block.layer_scale2, block.layer_scale2, (t, d), [f"{n}_mlp_down"]),
                  (f"{n}_add_1", keras.layers.Add(), None, (t, d), [f"{n}_layer_scale2", f"{n}_add"])]
        prev = outs[f"stage{i}"] = f"{n}_add_1"
    return parts, [prev] + [outs[k] for k in sorted(outs)]


def _roformer_attention(layer, in_shape, kwargs):
    """RoFormer V2's RoformerAttention: q, k, v Dense projections to heads × head_size, q and k rotated (Su's
    interleaved pairs (2i, 2i + 1) — archspec's rotary pairs (i, i + size/2): each head's q and k columns taken
    even ones first, which leaves every score q·k as it is), `ops.dot_product_attention` scaled by 1/√head_size
    with its mask reshaped to (batch, 1, tokens, 1) — over the queries on TensorFlow and JAX (padding_mask_on:
    queries, as ESM's) — then the output Dense."""
    import numpy as np

    from ..ops import keras_layers

    t, d = in_shape
    heads, size = layer.heads, layer.head_size
    mask = kwargs.get("attention_mask")
    if mask is None:
        raise BlockError("it is called without an attention mask (its call reshapes None)")
    if tuple(mask["config"]["shape"][1:]) != (t,):
        raise BlockError(f"its attention mask has shape {tuple(mask['config']['shape'][1:])}, not one entry per "
                         f"token ({t},)")
    if size % 2:
        raise BlockError(f"its head size {size} is odd; rotary embedding rotates pairs")
    rotary = layer.rotary_embedding_layer
    if rotary.output_dim != size:
        raise BlockError(f"its rotary embedding is for heads of {rotary.output_dim}, its heads have {size}")
    import keras

    if keras.config.backend() == "torch":
        raise BlockError("on torch its mask covers the keys, on TensorFlow and JAX the queries; archspec reads it "
                         "as TensorFlow and JAX compute it — import it with one of those backends")
    order = np.concatenate([np.arange(0, size, 2), np.arange(1, size, 2)])     # interleaved → half-split pairs
    parts = []
    for dense, rotated in ((layer.q_dense, True), (layer.k_dense, True), (layer.v_dense, False)):
        parts.append(([dense.kernel], (dense.kernel.shape[0], heads, size), 1, order if rotated else None))
        if layer.use_bias:
            parts.append(([dense.bias], (heads, size), 0, order if rotated else None))
    parts.append(([layer.o_dense.kernel], (heads, size, layer.out_dim), 0, None))
    if layer.use_bias:
        parts.append(([layer.o_dense.bias], (layer.out_dim,), 0, None))
    attention = keras_layers.GroupedAttention(num_heads=heads, key_dim=size, use_bias=layer.use_bias, rotary=True,
                                              rotary_wavelength=float(layer.max_wavelength),
                                              output_shape=layer.out_dim if layer.out_dim != d else None,
                                              padding_mask_on="queries")
    return [("attention", attention, WeightView(parts), (t, layer.out_dim), ["in"], {"value_mask": "mask"})]


def _roformer_inputs(layer, args, kwargs) -> dict:
    """RoformerAttention: its input and the attention mask (one entry per token)."""
    made = _one_tensor(layer, args, {})
    if not _is_ref(kwargs.get("attention_mask")):
        raise BlockError("its attention mask is not a tensor")
    made["mask"] = kwargs["attention_mask"]
    return made


_ROFORMER = "keras_hub.src.models.roformer_v2.roformer_v2_attention.RoformerAttention"
READERS[_ROFORMER] = _roformer_attention
_DINOV3 = "keras_hub.src.models.dinov3.dinov3_layers."
_DEPTH = "keras_hub.src.models.depth_anything.depth_anything_layers."
READERS.update({
    _DINOV3 + "DINOV3Embedding": _dinov3_embedding,
    _DINOV3 + "DINOV3RopePositionEmbedding": _dinov3_rope,
    _DINOV3 + "DINOV3Encoder": _dinov3_encoder,
    _DEPTH + "DepthAnythingTokenToImage": _token_to_image,
    _DEPTH + "DepthAnythingFeatureFusionLayer": _fusion,
    _DEPTH + "DepthAnythingDepthEstimationHead": _depth_head,
})
# the call keywords a class's reader reads (others are refused): DeiT's masked patches (refused unless None),
# Swin's PatchMerging's map size
CALL_KWARGS = {
    "keras_hub.src.models.deit.deit_layers.DeiTEmbeddings": ("bool_masked_pos",),
    "keras_hub.src.models.swin_transformer.swin_transformer_layers.PatchMerging": ("H", "W"),
    _DEPTH + "DepthAnythingFeatureFusionLayer": ("residual",),
    _DINOV3 + "DINOV3Embedding": ("masks",),
    _DINOV3 + "DINOV3Encoder": ("position_embeddings", "num_prefix_tokens", "attention_mask"),
    _ROFORMER: ("attention_mask",),
}
# weights a class holds that its computation (as read here, for this call) never uses: left out of the spec
# and of the parameters it is compared on, and named in a warning (importer/weights.py): DINOv2's mask token
# (used only with masks) and the position table its interpolated one was made from
IDLE = {
    "keras_hub.src.models.dinov2.dinov2_layers.DINOV2Embedding": _dinov2_idle,
    _DEPTH + "DepthAnythingFeatureFusionLayer": _fusion_idle,
    _DINOV3 + "DINOV3Embedding": _dinov3_embedding_idle,
}


def is_block(entry) -> bool:
    return f"{entry.get('module') or ''}.{entry['class_name']}" in READERS


def _tensor(name: str, shape: tuple, dtype: str = "float32") -> dict:
    return {"class_name": "__keras_tensor__",
            "config": {"shape": [None, *shape], "dtype": dtype, "keras_history": [name, 0, 0]}}


def read_block(layer, entry, taken: set, live: dict | None = None) -> tuple[list[dict], dict, list, list]:
    """(config entries, their live layers by name, the outputs' tensor references, the layer's idle weights)
    standing for the call `entry` of `layer`, one of :data:`READERS`' classes; names `<layer>_<part>` not in
    `taken` (added to it); `live`: the model's layers by name (a reader may ask the layer that made a tensor it
    is given: DINOv3's rotation settings). Raises :class:`BlockError` when the layer cannot be read so."""
    key = f"{entry.get('module') or ''}.{entry['class_name']}"
    reader = READERS[key]
    name = entry.get("name") or entry["config"].get("name")
    inbound = entry.get("inbound_nodes") or []
    if len(inbound) != 1 or layer is None:
        raise BlockError(f"it is called {len(inbound)} times; archspec reads it called once")
    args = inbound[0].get("args", [])
    kwargs = {k: v for k, v in (inbound[0].get("kwargs") or {}).items() if v is not None and k not in ("training", "mask")}
    unknown = sorted(k for k in kwargs if k not in CALL_KWARGS.get(key, ()))
    if unknown:
        raise BlockError(f"it is called with the keyword arguments {unknown}, which a spec cannot express")
    made = INPUTS.get(key, _one_tensor)(layer, args, kwargs)     # part name → tensor reference ("in" first)
    ref = made["in"]
    producers = {k: (live or {}).get(r["config"]["keras_history"][0])
                 for k, v in kwargs.items() for r in [_first_ref(v)] if r is not None}
    parts = reader(layer, tuple(ref["config"]["shape"][1:]), dict(kwargs, _producers=producers))
    parts, out_names = parts if isinstance(parts, tuple) else (parts, None)
    used = set()
    for _, _, live, *_ in parts:
        if isinstance(live, WeightView):
            used |= {id(v) for vs, *_ in live.parts for v in vs}
        elif live is not None:
            used |= {id(v) for v in live.weights}
    idle = IDLE[key](layer, kwargs) if key in IDLE else []
    used |= {id(v) for v in idle}
    left = [v.path for v in layer.weights if id(v) not in used]
    if left:
        raise BlockError(f"it holds weights its computation does not use ({', '.join(left[:3])}); a spec holds "
                         "the weights it computes with")
    entries, live_of, prev = [], {}, ref
    for part, keras_layer, live, shape, *inputs in parts:
        call_kwargs = {k: made[v] for k, v in inputs[1].items()} if len(inputs) > 1 else {}   # (tensors by keyword)
        new, k = f"{name}_{part}", 2
        while new in taken:
            new, k = f"{name}_{part}_{k}", k + 1
        taken.add(new)
        cfg = dict(keras_layer.get_config(), name=new)
        cls = type(keras_layer)
        module = "keras.layers" if cls.__module__.startswith("keras.") else cls.__module__
        args = [prev] if not inputs else [[made[i] for i in inputs[0]]] if len(inputs[0]) > 1 else [made[inputs[0][0]]]
        entries.append({"module": module, "class_name": cls.__name__, "config": cfg, "name": new,
                        "registered_name": _registered(cls),
                        "inbound_nodes": [{"args": args, "kwargs": call_kwargs}]})
        live_of[new] = live
        prev = made[part] = _tensor(new, shape)
    if out_names is None:
        outs = [prev["config"]["keras_history"]]
    else:                                          # (none: it stands for nothing; a reader of it is refused)
        outs = [made[n]["config"]["keras_history"] for n in out_names]
    return entries, live_of, outs, idle


def _first_ref(v):
    """The first tensor reference in a call argument (a reference, or a list or tuple holding some)."""
    if _is_ref(v):
        return v
    if isinstance(v, (list, tuple)):
        return next((r for r in map(_first_ref, v) if r is not None), None)
    return None


def _is_ref(v) -> bool:
    return isinstance(v, dict) and v.get("class_name") == "__keras_tensor__"


def _one_tensor(layer, args, kwargs) -> dict:
    if len(args) != 1 or not _is_ref(args[0]):
        raise BlockError("it is called on something other than one tensor")
    return {"in": args[0]}


def _fusion_inputs(layer, args, kwargs) -> dict:
    """DepthAnything's fusion layer: its input, and the `residual` of the stage before (or none)."""
    made = _one_tensor(layer, args, {})
    if kwargs.get("residual") is not None:
        if not _is_ref(kwargs["residual"]):
            raise BlockError("its residual is not a tensor")
        made["residual"] = kwargs["residual"]
    return made


def _head_inputs(layer, args, kwargs) -> dict:
    """DepthAnything's head: called on the list of fused maps, it reads one (head_in_index)."""
    if len(args) != 1 or not isinstance(args[0], (list, tuple)) or not all(_is_ref(a) for a in args[0]):
        raise BlockError("it is called on something other than a list of tensors")
    return {"in": args[0][layer.head_in_index]}


def _registered(cls) -> str | None:
    import keras

    name = keras.saving.get_registered_name(cls)
    return name if ">" in name else None


# the tensors a class's call reads beyond one positional tensor (default: exactly that one, named "in")
INPUTS = {
    _DEPTH + "DepthAnythingFeatureFusionLayer": _fusion_inputs,
    _DEPTH + "DepthAnythingDepthEstimationHead": _head_inputs,
    _ROFORMER: _roformer_inputs,
}
