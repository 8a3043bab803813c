"""The KerasHub zoo: build every backbone class in a tiny configuration, save it, `archspec import` it.

    python tools/keras_hub_zoo.py [CLASS ...] [--json results.json] [--timeout 300] [--table]
    python tools/keras_hub_zoo.py --write-docs results.json     # the table of docs/import.md from a run

Each class in ``keras_hub.models.*Backbone`` is built from its constructor with the arguments in
:data:`CONFIGS` (random weights: presets need the network), saved as ``.keras`` the usual way
(``backbone.save``) and given to ``archspec import`` as a user would — with verification (the default) and
``--shape NAME=[...]`` for the inputs the backbone leaves open (a sequence length). The classes run one
after another in a worker process (TensorFlow imported once); a class that crashes or hangs its worker is
recorded as failed and a fresh worker takes the rest, so no class can stop the others. The outcome:

* ``exact``    — the spec was written: same graph, parameters and outputs (``--verify``);
* ``refused``  — exit 1 with the reason (the first problem, and the Keras classes named);
* ``failed``   — anything else: an internal error (exit 3, a traceback), a crash, a timeout, or a spec the
  verification finds different from the model (written silently with ``--no-verify``) — each a bug;
* ``not built`` — the tiny configuration could not be built or saved (KerasHub's side; the reason kept).

Times are CPU seconds of ``archspec import`` (``time.process_time`` of the worker around the command:
loading the file, reading, writing and verifying; TensorFlow's import and the model build excluded), since
the machine is shared.

:data:`CONFIGS` is data (JSON-like) so tests reuse it: a value ``{"hub": NAME, "config": {...}}`` is
another KerasHub model (an encoder or backbone given to a composite backbone) built the same way.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
DOC = os.path.join(ROOT, "docs", "import.md")
SEQ = 12                       # the sequence length given to open sequence axes (--shape)


def hub(name: str, **config) -> dict:
    """Another KerasHub model (by its keras_hub.models name) as an argument of a composite backbone."""
    return {"hub": name, "config": config}


_TEXT = dict(vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32)
_DECODER = dict(vocabulary_size=50, num_layers=2, num_query_heads=2, num_key_value_heads=1, hidden_dim=16,
                intermediate_dim=32)
_RESNET = dict(input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 16],   # 64: required
               stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
               image_shape=(32, 32, 3))
_RESNET4 = dict(input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 8, 16, 16],
                stackwise_num_blocks=[1, 1, 1, 1], stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block",
                image_shape=(64, 64, 3))
_RESNET4_OPEN = {k: v for k, v in _RESNET4.items() if k != "image_shape"}     # BASNet sets the size itself
_MIT = dict(layerwise_depths=[1, 1], num_layers=2, layerwise_num_heads=[1, 2], layerwise_sr_ratios=[2, 1],
            max_drop_path_rate=0.0, layerwise_patch_sizes=[7, 3], layerwise_strides=[4, 2], hidden_dims=[8, 16],
            image_shape=(32, 32, 3))
_CLIP_VISION = dict(patch_size=8, hidden_dim=16, num_layers=2, num_heads=2, intermediate_dim=32, image_shape=(32, 32, 3))
_CLIP_TEXT = dict(vocabulary_size=50, embedding_dim=16, hidden_dim=16, num_layers=2, num_heads=2, intermediate_dim=32,
                  max_sequence_length=SEQ)
_SIGLIP_VISION = dict(patch_size=8, hidden_dim=16, num_layers=2, num_heads=2, intermediate_dim=32, image_shape=(32, 32, 3))
_SIGLIP_TEXT = dict(vocabulary_size=50, embedding_dim=16, hidden_dim=16, num_layers=2, num_heads=2, intermediate_dim=32,
                    max_sequence_length=SEQ)
_GEMMA = dict(vocabulary_size=50, num_layers=2, num_query_heads=2, num_key_value_heads=1, hidden_dim=16,
              intermediate_dim=32, head_dim=8)

# One tiny configuration per backbone class: small widths, one or two blocks per stage, fixed image sizes
# (the spec language has static shapes). Keys are keras_hub.models names.
CONFIGS: dict[str, dict] = {
    # ---- vision: convolutional -------------------------------------------------------------------
    "ResNetBackbone": _RESNET,
    "VGGBackbone": dict(stackwise_num_repeats=[1, 1], stackwise_num_filters=[8, 16], image_shape=(32, 32, 3)),
    "DenseNetBackbone": dict(stackwise_num_repeats=[2, 2], growth_rate=4, image_shape=(32, 32, 3)),
    "XceptionBackbone": dict(stackwise_conv_filters=[[8, 8], [16, 16]], stackwise_pooling=[False, True],
                             image_shape=(32, 32, 3)),
    "CSPNetBackbone": dict(stem_filters=8, stem_kernel_size=3, stem_strides=1, stackwise_depth=[1, 1],
                           stackwise_strides=[1, 2], stackwise_num_filters=[8, 16], block_type="dark_block",
                           stage_type="dark",
                           image_shape=(32, 32, 3)),
    "EfficientNetBackbone": dict(
        stackwise_width_coefficients=[1.0, 1.0], stackwise_depth_coefficients=[1.0, 1.0], stackwise_kernel_sizes=[3, 3],
        stackwise_num_repeats=[1, 1], stackwise_input_filters=[8, 8], stackwise_output_filters=[8, 16],
        stackwise_expansion_ratios=[1, 2], stackwise_squeeze_and_excite_ratios=[0.25, 0.25], stackwise_strides=[1, 2],
        stackwise_block_types=["v1", "v1"], stackwise_force_input_filters=[0, 0], stackwise_nores_option=[False, False],
        num_features=32, input_shape=(32, 32, 3)),
    "MobileNetBackbone": dict(
        stackwise_expansion=[[1], [2]], stackwise_num_blocks=[1, 1], stackwise_num_filters=[[8], [16]],
        stackwise_kernel_size=[[3], [3]], stackwise_num_strides=[[2], [2]], stackwise_se_ratio=[[0.25], [None]],
        stackwise_activation=[["relu"], ["hard_swish"]], stackwise_padding=[[1], [1]], output_num_filters=32,
        depthwise_filters=8, depthwise_stride=1, depthwise_residual=False, last_layer_filter=32,
        squeeze_and_excite=0.5, image_shape=(32, 32, 3), input_num_filters=8),
    "MobileNetV5Backbone": dict(
        stackwise_block_types=[["er"], ["uir"]], stackwise_num_blocks=[1, 1], stackwise_num_filters=[[8], [16]],
        stackwise_strides=[[2], [2]], stackwise_act_layers=[["relu"], ["gelu"]], stackwise_exp_ratios=[[2.0], [2.0]],
        stackwise_se_ratios=[[0.0], [0.0]], stackwise_dw_kernel_sizes=[[0], [0]],
        stackwise_dw_start_kernel_sizes=[[0], [3]], stackwise_dw_end_kernel_sizes=[[0], [0]],
        stackwise_exp_kernel_sizes=[[3], [0]], stackwise_pw_kernel_sizes=[[1], [0]], stackwise_num_heads=[[0], [0]],
        stackwise_key_dims=[[0], [0]], stackwise_value_dims=[[0], [0]], stackwise_kv_strides=[[0], [0]],
        stackwise_use_cpe=[[False], [False]], stem_size=8, num_features=32, use_msfa=False, image_shape=(32, 32, 3)),
    "HGNetV2Backbone": dict(
        depths=[1, 1], embedding_size=8, hidden_sizes=[16, 32], stem_channels=[3, 8, 8], hidden_act="relu",
        use_learnable_affine_block=False,
        stackwise_stage_filters=[[8, 8, 16, 1, 2, 3], [16, 16, 32, 1, 2, 3]], apply_downsample=[False, True],
        use_lightweight_conv_block=[False, True], image_shape=(32, 32, 3)),
    # ---- vision: transformers -------------------------------------------------------------------
    "ViTBackbone": dict(image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32),
    "DeiTBackbone": dict(image_shape=(32, 32, 3), patch_size=8, num_layers=2, num_heads=2, hidden_dim=16,
                         intermediate_dim=32),
    "DINOV2Backbone": dict(patch_size=8, num_layers=2, hidden_dim=16, num_heads=2, intermediate_dim=32,
                           image_shape=(32, 32, 3), position_embedding_shape=(32, 32, 3)),
    "DINOV3Backbone": dict(patch_size=8, num_layers=2, hidden_dim=16, num_heads=2, intermediate_dim=32,
                           image_shape=(32, 32, 3)),
    "SwinTransformerBackbone": dict(image_shape=(32, 32, 3), embed_dim=8, depths=[2, 2], num_heads=[1, 2],
                                    window_size=4, patch_size=4, drop_path=0.0),
    "MiTBackbone": _MIT,
    "ViTDetBackbone": dict(hidden_size=16, num_layers=2, intermediate_dim=32, num_heads=2,
                           global_attention_layer_indices=[1], image_shape=(32, 32, 3), patch_size=8,
                           num_output_channels=8, window_size=2),
    "VideoPrismBackbone": dict(num_frames=2, patch_size=8, hidden_dim=16, intermediate_dim=32, num_heads=2,
                               num_spatial_layers=1, num_temporal_layers=1, num_auxiliary_layers=0,
                               image_shape=(32, 32, 3)),
    # ---- vision: built on another backbone --------------------------------------------------------
    "DeepLabV3Backbone": dict(image_encoder=hub("ResNetBackbone", **_RESNET4), spatial_pyramid_pooling_key="P4",
                              upsampling_size=4, dilation_rates=[1, 2], low_level_feature_key="P2",
                              projection_filters=8, image_shape=(64, 64, 3)),
    "SegFormerBackbone": dict(image_encoder=hub("MiTBackbone", **_MIT), projection_filters=8),
    "BASNetBackbone": dict(image_encoder=hub("ResNetBackbone", **_RESNET4_OPEN), num_classes=1, image_shape=(64, 64, 3),
                           projection_filters=64),          # its refinement reuses the encoder's 64-filter blocks
    "RetinaNetBackbone": dict(image_encoder=hub("ResNetBackbone", **_RESNET4), min_level=3, max_level=4,
                              use_p5=False, image_shape=(64, 64, 3)),
    "DepthAnythingBackbone": dict(
        image_encoder=hub("DINOV2Backbone", patch_size=14, num_layers=4, hidden_dim=16, num_heads=2,
                          intermediate_dim=32, image_shape=(112, 112, 3), position_embedding_shape=(112, 112, 3)),
        reassemble_factors=[4, 2, 1, 0.5], neck_hidden_dims=[8, 8, 8, 8], fusion_hidden_dim=8, head_hidden_dim=8,
        head_in_index=-1, feature_keys=["stage1", "stage2", "stage3", "stage4"]),
    "PARSeqBackbone": dict(image_encoder=hub("ViTBackbone", image_shape=(32, 32, 3), patch_size=8, num_layers=1,
                                             num_heads=2, hidden_dim=16, mlp_dim=32, use_class_token=False),
                           vocabulary_size=20, max_label_length=6, decoder_hidden_dim=16, num_decoder_layers=1,
                           num_decoder_heads=2, decoder_mlp_dim=32),
    "CLIPBackbone": dict(vision_encoder=hub("CLIPVisionEncoder", **_CLIP_VISION),
                         text_encoder=hub("CLIPTextEncoder", **_CLIP_TEXT), projection_dim=8),
    "MetaCLIP2Backbone": dict(vision_encoder=hub("MetaCLIP2VisionEncoder", **_CLIP_VISION),
                              text_encoder=hub("MetaCLIP2TextEncoder", **_CLIP_TEXT), projection_dim=8),
    "SigLIPBackbone": dict(vision_encoder=hub("SigLIPVisionEncoder", **_SIGLIP_VISION),
                           text_encoder=hub("SigLIPTextEncoder", **_SIGLIP_TEXT)),
    "SAMBackbone": dict(image_encoder=hub("ViTDetBackbone", hidden_size=16, num_layers=2, intermediate_dim=32,
                                          num_heads=2, global_attention_layer_indices=[1], image_shape=(32, 32, 3),
                                          patch_size=8, num_output_channels=8, window_size=2),
                        prompt_encoder={"layer": "SAMPromptEncoder", "config": dict(
                            hidden_size=8, image_embedding_size=(4, 4), input_image_size=(32, 32),
                            mask_in_channels=4)},
                        mask_decoder={"layer": "SAMMaskDecoder", "config": dict(
                            hidden_size=8, num_layers=1, intermediate_dim=16, num_heads=2, embedding_dim=8,
                            num_multimask_outputs=3, iou_head_depth=2, iou_head_hidden_dim=8)}),
    # ---- text: encoders ----------------------------------------------------------------------------
    "BertBackbone": dict(_TEXT, max_sequence_length=SEQ),
    "RobertaBackbone": dict(_TEXT, max_sequence_length=SEQ + 2),
    "XLMRobertaBackbone": dict(_TEXT, max_sequence_length=SEQ + 2),
    "DistilBertBackbone": dict(_TEXT, max_sequence_length=SEQ),
    "AlbertBackbone": dict(vocabulary_size=50, num_layers=2, num_heads=2, embedding_dim=8, hidden_dim=16,
                           intermediate_dim=32, max_sequence_length=SEQ),
    "ElectraBackbone": dict(vocab_size=50, num_layers=2, num_heads=2, hidden_dim=16, embedding_dim=8,
                            intermediate_dim=32, max_sequence_length=SEQ),
    "FNetBackbone": dict(vocabulary_size=50, num_layers=2, hidden_dim=16, intermediate_dim=32, max_sequence_length=SEQ),
    "DebertaV3Backbone": dict(_TEXT, max_sequence_length=SEQ, bucket_size=4),
    "RoformerV2Backbone": dict(_TEXT, head_size=8),
    # one class under two names: ESM-1's learned positions (from row 1, its pad id) and embedding norm; ESM-2's
    # rotary attention; pad id 1 as in their Hugging Face checkpoints and KerasHub's presets
    "ESMBackbone": dict(_TEXT, max_sequence_length=SEQ + 1, position_embedding_type="absolute", use_pre_layer_norm=True,
                        pad_token_id=1),
    "ESM2Backbone": dict(_TEXT, max_sequence_length=SEQ, pad_token_id=1),
    "XLNetBackbone": dict(_TEXT),
    # ---- text: decoders --------------------------------------------------------------------------
    "GPT2Backbone": dict(_TEXT, max_sequence_length=SEQ),
    "GPTNeoXBackbone": dict(_TEXT, max_sequence_length=SEQ),
    "OPTBackbone": dict(_TEXT, max_sequence_length=SEQ),
    "BloomBackbone": dict(_TEXT),
    "FalconBackbone": dict(vocabulary_size=50, num_layers=2, num_attention_heads=2, hidden_dim=16, intermediate_dim=32),
    "LlamaBackbone": dict(_DECODER),
    "Llama3Backbone": dict(_DECODER),
    "MistralBackbone": dict(_DECODER),
    "MixtralBackbone": dict(_DECODER, num_experts=2, top_k=1),
    "QwenBackbone": dict(_DECODER),
    "Qwen2Backbone": dict(_DECODER),
    "QwenMoeBackbone": dict(_DECODER, moe_intermediate_dim=16, shared_expert_intermediate_dim=16, num_experts=2,
                            top_k=1),
    "Qwen3Backbone": dict(_DECODER, head_dim=8),
    "Qwen3MoeBackbone": dict(_DECODER, moe_intermediate_dim=16, num_experts=2, top_k=1, head_dim=8),
    "Qwen3_5Backbone": dict(_DECODER, head_dim=8, linear_num_key_heads=2, linear_num_value_heads=2,
                            linear_key_head_dim=8, linear_value_head_dim=8),
    "Qwen3_5MoeBackbone": dict(vocabulary_size=50, num_layers=2, num_query_heads=2, num_key_value_heads=1, head_dim=8,
                               hidden_dim=16, moe_intermediate_dim=16, shared_expert_intermediate_size=16,
                               num_experts=2, top_k=1, linear_num_key_heads=2, linear_num_value_heads=2,
                               linear_key_head_dim=8, linear_value_head_dim=8),
    "Phi3Backbone": dict(vocabulary_size=50, num_layers=2, hidden_dim=16, intermediate_dim=32, num_query_heads=2,
                         num_key_value_heads=1),
    "GemmaBackbone": dict(_GEMMA),
    "Gemma3Backbone": dict(_GEMMA, image_size=32, vision_encoder=None),
    "Gemma4Backbone": dict(_GEMMA, image_size=32, vision_encoder=None, sliding_window_size=4,
                           sliding_window_pattern=2),
    "GptOssBackbone": dict(vocabulary_size=50, num_layers=2, num_query_heads=2, hidden_dim=16, intermediate_dim=32,
                           num_key_value_heads=1, num_experts=2, top_k=1, head_dim=8, sliding_window=4),
    "SmolLMBackbone": dict(vocabulary_size=50, hidden_dim=16, intermediate_dim=32, num_layers=2, num_attention_heads=2,
                           num_key_value_heads=1, attention_bias=False, attention_dropout=0.0,
                           rope_layer_enabled_list=[True, True], layer_types=["attention", "attention"],
                           mlp_bias=False, layer_norm_epsilon=1e-6, max_position_embeddings=SEQ, rope_theta=10000.0,
                           partial_rotary_factor=1.0),
    "SmolLM3Backbone": dict(vocabulary_size=50, hidden_dim=16, intermediate_dim=32, num_layers=2, num_attention_heads=2,
                            num_key_value_heads=1, attention_bias=False, attention_dropout=0.0,
                            rope_layer_enabled_list=[True, True], layer_types=["attention", "attention"],
                            mlp_bias=False, layer_norm_epsilon=1e-6, max_position_embeddings=SEQ, rope_theta=10000.0,
                            partial_rotary_factor=1.0),
    "RWKV7Backbone": dict(hidden_size=16, head_size=8, num_layers=2, vocabulary_size=50, intermediate_dim=32,
                          gate_lora=8, mv_lora=8, aaa_lora=8, decay_lora=8),
    "PaliGemmaBackbone": dict(_GEMMA, image_size=16, vit_patch_size=8, vit_num_heads=2, vit_hidden_dim=16,
                              vit_num_layers=1, vit_intermediate_dim=32),
    # ---- text: encoder-decoder and audio ---------------------------------------------------------
    "BartBackbone": dict(_TEXT, max_sequence_length=SEQ),
    "T5Backbone": dict(_TEXT),
    "T5GemmaBackbone": dict(vocabulary_size=50, encoder_hidden_dim=16, encoder_intermediate_dim=32,
                            encoder_num_layers=1, encoder_num_attention_heads=2, encoder_num_key_value_heads=1,
                            encoder_head_dim=8, encoder_layer_types=["full_attention"], decoder_hidden_dim=16,
                            decoder_intermediate_dim=32, decoder_num_layers=1, decoder_num_attention_heads=2,
                            decoder_num_key_value_heads=1, decoder_head_dim=8, decoder_layer_types=["full_attention"]),
    "T5Gemma2Backbone": dict(vocabulary_size=50, encoder_hidden_dim=16, encoder_intermediate_dim=32,
                             encoder_num_layers=1, encoder_num_attention_heads=2, encoder_num_key_value_heads=1,
                             encoder_head_dim=8, encoder_layer_types=["full_attention"], decoder_hidden_dim=16,
                             decoder_intermediate_dim=32, decoder_num_layers=1, decoder_num_attention_heads=2,
                             decoder_num_key_value_heads=1, decoder_head_dim=8, decoder_layer_types=["full_attention"]),
    "EdRecBackbone": dict(vocab_size=50, num_layers_enc=1, num_layers_dec=1, hidden_dim=16, intermediate_dim=32,
                          num_heads=2),
    "WhisperBackbone": dict(_TEXT, num_mels=8, max_encoder_sequence_length=16, max_decoder_sequence_length=SEQ),
    "MoonshineBackbone": dict(vocabulary_size=50, filter_dim=16, encoder_num_layers=1, decoder_num_layers=1,
                              hidden_dim=16, intermediate_dim=32, encoder_num_heads=2, decoder_num_heads=2),
}
# Backbones whose parts need more than a table entry (multimodal stacks of several encoders); each is
# listed with why it is not in CONFIGS, and counted in the table as "not built".
NOT_CONFIGURED = {
    "BLIP2Backbone": "a vision encoder, a Q-Former and an OPT language model, each configured separately",
    "DFineBackbone": "an object detector with 25 required arguments and a backbone of its own",
    "FluxBackbone": "a diffusion transformer with five open input shapes",
    "Gemma3nBackbone": "33 required arguments (per-layer inputs, AltUp, LAuReL, audio and vision towers)",
    "SAM3PromptableConceptBackbone": "six encoders and decoders, each configured separately",
    "StableDiffusion3Backbone": "a VAE, two CLIP text encoders and an MMDiT, each configured separately",
}


def backbone_classes() -> list[str]:
    """Every keras_hub.models.*Backbone class except the abstract Backbone (and FeaturePyramidBackbone)."""
    import keras_hub

    return sorted(n for n in dir(keras_hub.models)
                  if n.endswith("Backbone") and n not in ("Backbone", "FeaturePyramidBackbone"))


def build(name: str, config: dict | None = None):
    """A KerasHub model from its name and a :data:`CONFIGS`-style configuration (random weights)."""
    import keras
    import keras_hub

    def value(v):
        if isinstance(v, dict) and "hub" in v:
            return build(v["hub"], v["config"])
        if isinstance(v, dict) and "layer" in v:
            return getattr(keras_hub.layers, v["layer"])(**{k: value(x) for k, x in v["config"].items()})
        return v

    keras.utils.set_random_seed(0)
    cfg = CONFIGS[name] if config is None else config
    return getattr(keras_hub.models, name)(**{k: value(v) for k, v in cfg.items()})


# sizes for open axes other than one sequence length (prompts, audio)
SHAPES = {
    "SAMBackbone": {"points": [2, 2], "labels": [2], "boxes": [1, 2, 2], "masks": [1, 16, 16, 1]},
    "MoonshineBackbone": {"encoder_input_values": [2000, 1]},       # its convolutions stride 64, then 3 and 2
}


def open_inputs(model, length: int = SEQ, name: str | None = None) -> dict[str, list[int]]:
    """The inputs that leave an axis open (a sequence length), as `--shape` gives them: the class's entry
    in :data:`SHAPES`, else every open axis `length`. Keyed by the name `archspec import --shape` takes
    (the input layer's name)."""
    out = {}
    for t in model.inputs:
        if t.name in SHAPES.get(name, {}):
            out[t.name] = SHAPES[name][t.name]
            continue
        dims = list(t.shape[1:])
        if any(d is None for d in dims):
            out[t.name] = [length if d is None else d for d in dims]
    return out


# ---- one class, in a process of its own ------------------------------------------------------------
def measure(name: str, workdir: str) -> dict:
    """Build, save and import one class; the row of the table (run inside the worker process)."""
    import contextlib
    import io

    row = {"class": name, "config": _config_text(CONFIGS.get(name))}
    if name not in CONFIGS:
        return dict(row, result="not built", reason=NOT_CONFIGURED.get(name, "no configuration in CONFIGS"))
    try:
        model = build(name)
        path = os.path.join(workdir, f"{name}.keras")
        model.save(path)
    except Exception as exc:                                    # noqa: BLE001  (KerasHub's constructor or saving)
        return dict(row, result="not built", reason=f"{type(exc).__name__}: {_first(exc)}")
    row["params"] = model.count_params()
    shapes = open_inputs(model, name=name)
    import archspec.importer as importer

    if not hasattr(importer, "fix_input_shapes"):       # an archspec before --shape (to measure "before")
        shapes = {}
    argv = ["import", path, "-o", os.path.join(workdir, f"{name}.yaml")]
    for k, v in shapes.items():
        argv += ["--shape", f"{k}={json.dumps(v)}"]
    row["shapes"] = shapes
    from archspec.cli import main

    err = io.StringIO()
    t = time.process_time()
    with contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:                           # noqa: BLE001  (that is the finding)
            code = 3
            err.write(f"{type(exc).__name__}: {exc}\n")
    row["seconds"] = round(time.process_time() - t, 2)
    text = err.getvalue()
    row["exit"], row["stderr"] = code, text[-4000:]
    if code == 0:
        row["result"] = "exact"
    elif code == 1 and "Keras cannot load it" in text:
        row["result"] = "not built"                             # KerasHub's .keras file does not reload
        row["reason"] = ("the saved .keras file does not load: " + text.split("Keras cannot load it", 1)[1]
                         .strip(" (").splitlines()[0][:200].rstrip(" :)") + f"; the model in memory: {_in_memory(model, shapes)}")
    elif code == 1 and ("does not reproduce the model" in text or "round trip is not exact" in text):
        row["result"] = "failed"                                # without --verify, a wrong spec: a bug
        row["reason"] = "verification: " + " ".join(s.strip() for s in text.splitlines()
                                                    if "error:" in s or s.startswith("round trip:"))[:400]
    elif code == 1:
        row["result"] = "refused"
        row["reason"], row["classes"], row["problems"] = _reason(text)
    else:
        row["result"] = "failed"
        row["reason"] = f"exit {code}: " + (text.strip().splitlines() or ["no message"])[-1]
    return row


def _in_memory(model, shapes) -> str:
    """What `archspec.importer` makes of the built model itself (for a backbone whose .keras file does not
    reload): "exact", "refused: <first problem>" or "not exact"."""
    from archspec.importer import UnsupportedModel, fix_input_shapes, import_keras
    from archspec.importer.verify import RoundTripError, roundtrip

    try:
        model = fix_input_shapes(model, shapes)
        result = import_keras(model)
        return "exact" if roundtrip(model, result.text, kg=result.graph).exact else "not exact"
    except UnsupportedModel as exc:
        return f"refused: {exc.problems[0][:200]}"
    except RoundTripError as exc:
        return f"not exact: {str(exc)[:200]}"


def _first(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else "no message"


def _config_text(cfg) -> str:
    if cfg is None:
        return ""

    def short(v):
        if isinstance(v, dict) and "hub" in v:
            return v["hub"] + "(…)"
        if isinstance(v, dict) and "layer" in v:
            return v["layer"] + "(…)"
        return json.dumps(v) if not isinstance(v, tuple) else json.dumps(list(v))
    return ", ".join(f"{k}={short(v)}" for k, v in cfg.items())


def _reason(text: str) -> tuple[str, list[str], list[str]]:
    """The first problem of a refusal, the Keras classes its problems name, and all its problems."""
    import re

    lines = [s.strip() for s in text.splitlines()]
    problems = [s for s in lines if s.startswith(("layer '", "in the nested model", "the ", "its "))]
    classes = sorted({m for s in problems for m in re.findall(r"\(([\w.>]+\.[A-Z]\w*)\)", s)})
    errors = [s for s in lines if s.startswith("archspec import: error:")]
    first = problems[0] if problems else (errors[0] if errors else (lines[-1] if lines else ""))
    return first[:400], classes, problems


def run_one(name: str, timeout: float) -> dict:
    """`measure(name)` in a fresh process (killed after `timeout` seconds of wall time)."""
    return run_batch([name], timeout)[0]


def run_batch(names: list[str], timeout: float, report=None) -> list[dict]:
    """`measure` for each of `names`, one after another in a worker process (TensorFlow is imported once);
    a class that kills its worker or runs past `timeout` wall seconds is a failure, and a fresh worker
    takes the rest. `report(row)` is called as each row arrives."""
    rows, todo = [], list(names)
    while todo:
        with tempfile.TemporaryDirectory() as work:
            out = os.path.join(work, "rows.jsonl")
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", ",".join(todo), "--workdir", work,
                   "--row", out]
            env = dict(os.environ, KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "tensorflow"),
                       TF_CPP_MIN_LOG_LEVEL="3",
                       PYTHONPATH=os.path.abspath(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
            seen, started, why = 0, time.monotonic(), None
            while True:
                done = _read_rows(out)
                for row in done[seen:]:
                    rows.append(row)
                    todo.remove(row["class"])
                    if report:
                        report(row)
                    started = time.monotonic()
                seen = len(done)
                if proc.poll() is not None:
                    if todo and len(_read_rows(out)) == seen:
                        tail = (proc.stderr.read().strip().splitlines() or ["no output"])[-1]
                        why = f"the worker died (status {proc.returncode}): {tail[:300]}"
                    break
                if time.monotonic() - started > timeout:
                    proc.kill()
                    proc.wait()
                    why = f"timed out after {timeout:.0f} s (wall)"
                    break
                time.sleep(0.5)
            for row in _read_rows(out)[seen:]:
                rows.append(row)
                todo.remove(row["class"])
                if report:
                    report(row)
            if why and todo:
                name = todo.pop(0)
                row = {"class": name, "config": _config_text(CONFIGS.get(name)), "result": "failed", "reason": why}
                rows.append(row)
                if report:
                    report(row)
    return rows


def _read_rows(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.endswith("\n")]


# ---- the table ------------------------------------------------------------------------------------
TABLE_START = "<!-- keras-hub-zoo table: generated by tools/keras_hub_zoo.py --write-docs; do not edit -->"
TABLE_END = "<!-- end of keras-hub-zoo table -->"


def table(rows: list[dict], date: str) -> str:
    counts = {k: sum(r["result"] == k for r in rows) for k in ("exact", "refused", "failed", "not built")}
    out = [TABLE_START, "",
           f"Measured {date} with keras-hub 0.32 (`python tools/keras_hub_zoo.py`): {len(rows)} backbone classes — "
           f"**{counts['exact']} exact**, {counts['refused']} refused, {counts['failed']} failed, "
           f"{counts['not built']} not built. Seconds: CPU time of `archspec import` (loading the `.keras` file, "
           "reading, writing and verifying the spec; TensorFlow's import and the model build excluded), on a "
           "shared 2-core machine.", "",
           "| class | config | result | params | seconds | reason (the first problem) |",
           "| --- | --- | --- | ---: | ---: | --- |"]
    for r in sorted(rows, key=lambda r: r["class"]):
        reason = (r.get("reason") or "").replace("|", "\\|")
        config = (r.get("config") or "").replace("|", "\\|")
        params = f"{r['params']:,}" if r.get("params") else ""
        secs = f"{r['seconds']:.1f}" if "seconds" in r else ""
        out.append(f"| {r['class']} | {config} | {r['result']} | {params} | {secs} | {reason} |")
    out += ["", TABLE_END]
    return "\n".join(out)


def write_docs(rows: list[dict], date: str, path: str = DOC) -> None:
    with open(path) as f:
        text = f.read()
    new = table(rows, date)
    if TABLE_START in text:
        head, rest = text.split(TABLE_START, 1)
        text = head + new + rest.split(TABLE_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + new + "\n"
    with open(path, "w") as f:
        f.write(text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("classes", nargs="*", help="backbone classes (default: all of keras_hub.models)")
    p.add_argument("--json", help="write the rows here")
    p.add_argument("--timeout", type=float, default=600, help="wall seconds per class")
    p.add_argument("--write-docs", metavar="ROWS.json", help="put the table of ROWS.json into docs/import.md")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--row", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        import keras

        for name in args.worker.split(","):
            keras.backend.clear_session()
            row = measure(name, args.workdir)
            with open(args.row, "a") as f:
                f.write(json.dumps(row) + "\n")
        return 0
    if args.write_docs:
        with open(args.write_docs) as f:
            data = json.load(f)
        write_docs(data["rows"], data["date"])
        return 0
    names = args.classes or backbone_classes()
    rows = []
    date = time.strftime("%Y-%m-%d", time.gmtime())
    def report(row):
        rows.append(row)
        print(f"{row['class']:32s} {row['result']:9s} {row.get('seconds', '')!s:>6} {row.get('reason', '')[:150]}",
              flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"date": date, "rows": rows}, f, indent=1)

    run_batch(names, args.timeout, report)
    counts = {k: sum(r["result"] == k for r in rows) for k in ("exact", "refused", "failed", "not built")}
    print(counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
