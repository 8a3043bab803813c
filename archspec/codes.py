"""The catalogue of diagnostic codes. `docs/errors.md` is generated from it (tools/gen_docs.py).

Every Diagnostic's code must be listed here; a test walks the sources to make sure.
"""
from __future__ import annotations

ERRORS: dict[str, str] = {
    # reading the file
    "file-not-found": "The spec file (or an included file) does not exist or cannot be read.",
    "encoding": "The file is not UTF-8 text (or starts with a byte-order mark).",
    "yaml-syntax": "The YAML text cannot be parsed.",
    "json-syntax": "The JSON text cannot be parsed.",
    "duplicate-key": "A mapping repeats a key (YAML would silently keep the last one).",
    "yaml-tag": "A YAML tag such as !!python/object was used; archspec loads YAML safely and refuses them.",
    "limit": "A safety limit was exceeded (file size, nesting depth, alias expansion, repeat count, graph size).",
    # the document
    "schema": "A field has the wrong type or an invalid value.",
    "unknown-field": "A key that the document, a block or an op does not define.",
    "missing-field": "A required key is absent.",
    "version": "The `archspec:` version is missing or not supported.",
    # the language
    "unknown-op": "An entry names neither an op nor a block.",
    "bad-entry": "A model/body entry is not of the form `- op: {attrs}`.",
    "unknown-param": "A block call passes a parameter that the block does not declare.",
    "missing-param": "A block call omits a parameter that has no default.",
    "param-type": "A parameter value has the wrong type.",
    "search-space": "A search-space declaration (choice, range, one_of under `params:`) is malformed, or a value "
                    "given for it lies outside it.",
    "expr-syntax": "An expression ($...) cannot be parsed.",
    "expr-name": "An expression uses a name that is not defined there.",
    "expr-value": "An expression fails when evaluated (division by zero, wrong types, non-integer channels...).",
    "expr-limit": "An expression would compute a value too large (a power tower, a huge `round`) or the spec's "
                  "expressions would take too long; the message names the `--limit` that bounds it.",
    "recursion": "A block calls itself, directly or through other blocks.",
    "include": "An include is missing, escapes the project, or forms a cycle.",
    "duplicate-name": "Two layers, blocks or inputs share a name.",
    # the graph
    "unknown-ref": "A `from` reference or output names no layer.",
    "forward-ref": "A `from` reference names a layer defined later (or forms a cycle).",
    "cycle": "The references form a cycle.",
    "unused-input": "A model input is never used.",
    "dead-layer": "A layer does not contribute to any output.",
    "arity": "An op received the wrong number of inputs.",
    "input-dtype": "A mask (a boolean input, padding_mask's output) feeds an op that does not read it as a mask; only a "
                   "mask input (attention's last input with `padding_mask: true`) takes one.",
    # training data and runs (archspec train)
    "data-missing": "A data file or folder for training is missing (nothing is downloaded: the message says where to put it).",
    "data-format": "Training data cannot be read as the kind of data it was given as.",
    "data-mismatch": "Training data and spec disagree: input size, channels, number of classes, loss.",
    "token-range": "The data's token ids reach beyond the rows of the spec's token embedding or the scores of its "
                   "output (its vocabulary).",
    "train-unsupported": ("The spec cannot be trained by `archspec train` (several outputs, a second input that is not a padding "
                          "mask, an output its objective cannot train, `next_token` on an image input)."),
    "training-diverged": "The loss became NaN or infinite; training stopped.",
    "out-of-memory": "Training ran out of accelerator or host memory; the hint names a smaller batch size.",
    "prompt-token": "A prompt for `archspec generate` holds a character the run's tokenizer does not know (a character-level "
                    "tokenizer has only the characters of its training text).",
    "export-unsupported": "The model cannot be exported in that format here (backend, missing package, converter failure).",
    # importing Keras models (archspec import)
    "import-unsupported": "A Keras layer (or a setting of one) that the spec language cannot express.",
    # shapes
    "shape-mismatch": "The inputs of a merge (add, multiply, concat...) have incompatible shapes.",
    "shape-rank": "An op received a tensor of the wrong rank (e.g. conv2d on a flat vector).",
    "shape-empty": "An op produces an empty or negative dimension (e.g. a valid kernel larger than its input).",
    "shape-size": "A reshape does not preserve the number of elements.",
    "sequence-too-long": "A sequence has more tokens than a learned position table has rows.",
    "attention-heads": "Attention heads that do not divide their sizes: hidden features not divisible by the heads, "
                       "query heads not a multiple of the key/value heads, rotary embedding on an odd head size.",
}

WARNINGS: dict[str, str] = {
    "kernel-exceeds-input": "A convolution kernel or pooling window is larger than the feature map it runs on.",
    "spatial-collapse": "The feature map shrinks to 1×1 and layers with spatial kernels still run on it (a gate multiplied "
                        "back onto the full map, as in squeeze-and-excitation, is not a collapse).",
    "bias-before-bn": "A conv/dense bias is cancelled by the batch normalization right after it.",
    "dominant-layer": "One layer holds most of the network's parameters.",
    "high-dropout": "A dropout rate above 0.5; Keras's rate is the fraction dropped, not kept.",
    "double-activation": "An activation directly follows a layer that already applies a non-linear activation.",
    "unscaled-input": "Training images in 0..255 fed to a network without rescaling.",
    "schedule-extended": "A cosine-scheduled run trained further keeps its schedule's length; the new epochs run at its final rate.",
    "validation-steps": "validation_steps asks for more batches than the validation data has; clamped to one pass.",
    "data-skipped": "Files in the class folders that are not an image type training reads were left out.",
    "softmax-not-last": "A softmax that is not at an output.",
    "heads-split": "Attention heads × head size differ from the features they read: the hidden size does not "
                   "divide into the heads (`key_dim: $hidden // heads` rounded down).",
    "causal-leak": "A causal attention whose input already mixes in later tokens (a non-causal attention or token "
                   "mixing before it): the causal mask no longer hides the future.",
}

ALL = {**ERRORS, **WARNINGS}
