"""Bad input into the library gets a clear error, naming the argument, before any work is lost (issue 35).

Each row of `CASES` is one case of the issue's probe: the call, the error type it must raise and the words its message
must contain. Every one of them returned garbage silently, or failed late or obscurely, before the fixes. The tests
after the table check the behaviour that replaced a silent conversion (one image range rule, `fit_prior` on uint8,
`fit_prior(epochs=0)`, a warning for NaN weights) and that `jit_compile=True` training still trains.
"""

import functools
import math
import re
import tempfile
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.tiny_models import TOKENIZER_ARGS
from tests.tiny_models import VQGAN_ARGS
from tests.tiny_models import tiny_generator
from tests.tiny_models import tiny_transformer_prior
from tests.tiny_models import tiny_vqvae
from vqkeras.export import export_saved_model
from vqkeras.export import load_model
from vqkeras.generator import training
from vqkeras.layers import VectorQuantizerEMA
from vqkeras.models import VQGAN
from vqkeras.priors import PixelCNNPrior
from vqkeras.priors import TransformerPrior
from vqkeras.utils import to_model_range

K = TOKENIZER_ARGS["num_embeddings"]  # 16 codes; 8×8 images → a 4×4 grid


def images(n=2, size=8, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 1)).astype("float32")


def with_nan(x):
    x = x.copy()
    x[0, 1, 2, 0] = np.nan
    return x


@functools.lru_cache(maxsize=None)
def model():
    """A built tiny VQ-VAE (shared: no case changes its weights)."""
    m = tiny_vqvae()
    m.build((None, 8, 8, 1))
    return m


def compiled(jit_compile=False):
    m = tiny_vqvae()
    m.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit_compile)
    return m


@functools.lru_cache(maxsize=None)
def generator():
    return tiny_generator()


@functools.lru_cache(maxsize=None)
def exported():
    """The tiny VQ-VAE exported as a SavedModel and loaded back."""
    path = export_saved_model(model(), tempfile.mkdtemp(prefix="vqkeras_reliability_"), input_shape=(8, 8, 1))
    return tf.saved_model.load(path)


def fit(m, x, **kwargs):
    return m.fit(x, epochs=1, verbose=0, **kwargs)


def dataset(x):
    return tf.data.Dataset.from_tensor_slices(x).batch(2)


def offline_tfds(error):
    """`load_images('tfds:mnist')` with `tfds.load` failing as it does offline (`error`)."""

    def load(*args, **kwargs):
        raise error

    import tensorflow_datasets as tfds

    original = tfds.load
    tfds.load = load
    try:
        training.load_images("tfds:mnist", 8)
    finally:
        tfds.load = original


def missing_module():
    error = ModuleNotFoundError("No module named 'importlib_resources'")
    error.name = "importlib_resources"
    return error


NAN_ROW = "NaN or Inf"
RANGE = "to_model_range"
GRAPH_RANGE = re.escape("images must be finite floats in [-1, 1]")

# (case, call, error type, words the message must contain, as regular expressions)
CASES = [
    # --- silent garbage: non-finite images
    ("call_nan", lambda: model()(with_nan(images())), ValueError, ["images contain", NAN_ROW]),
    ("predict_nan", lambda: model().predict(with_nan(images()), verbose=0), ValueError, ["x contain", NAN_ROW]),
    ("encode_nan", lambda: model().encode(with_nan(images())), ValueError, ["images contain", NAN_ROW]),
    ("graph_call_nan", lambda: tf.function(model())(with_nan(images())), tf.errors.InvalidArgumentError,
     [GRAPH_RANGE]),
    ("upscale_nan", lambda: generator().upscale(with_nan(images(size=4)), factor=2), ValueError,
     ["images contain", NAN_ROW]),
    ("export_serving_default_nan", lambda: exported().signatures["serving_default"](
        images=tf.constant(with_nan(images()))), tf.errors.InvalidArgumentError, [GRAPH_RANGE]),
    ("export_encode_nan", lambda: exported().signatures["encode"](images=tf.constant(with_nan(images()))),
     tf.errors.InvalidArgumentError, [GRAPH_RANGE]),
    # --- silent garbage: floats in [0, 255]
    ("call_0_255", lambda: model()(images() * 127.5 + 127.5), ValueError, [r"images must be float images in \[-1, 1\]",
                                                                           RANGE, "values in"]),
    ("encode_0_255", lambda: model().encode(images() * 127.5 + 127.5), ValueError, [RANGE]),
    ("fit_0_255", lambda: fit(compiled(), images(4) * 127.5 + 127.5), ValueError, [r"x must be float images", RANGE]),
    ("fit_dataset_0_255", lambda: fit(compiled(), dataset(images(4) * 127.5 + 127.5)), ValueError,
     ["x hold a batch", RANGE]),
    ("export_serving_default_0_255", lambda: exported().signatures["serving_default"](
        images=tf.constant(images() * 127.5 + 127.5)), tf.errors.InvalidArgumentError, [GRAPH_RANGE]),
    # --- XLA drops in-graph assertions: fit checks on the host side
    ("fit_jit_nan", lambda: fit(compiled(jit_compile=True), with_nan(images(4))), ValueError, ["x contain", NAN_ROW]),
    ("fit_jit_dataset_nan", lambda: fit(compiled(jit_compile=True), dataset(with_nan(images(4)))), ValueError,
     ["x hold a batch", RANGE]),
    # --- silent garbage: out-of-range tokens
    ("sample_logit_bias_nan", lambda: tiny_transformer_prior().sample(2, seed=0, logit_bias=np.full(K, np.nan)),
     ValueError, ["logit_bias", "NaN"]),
    ("sample_logit_bias_all_neg_inf", lambda: tiny_transformer_prior().sample(
        2, seed=0, logit_bias=np.full(K, -np.inf, np.float32)), ValueError, ["logit_bias", "all -inf"]),
    ("generate_image_histogram_weight_nan", lambda: generator().generate_image(images(1), histogram_weight=math.nan),
     ValueError, ["histogram_weight", "Received: histogram_weight=nan"]),
    ("decode_index_k", lambda: model().decode(np.full((1, 4, 4), K, np.int32)), ValueError,
     [r"indices must be in \[0, 16\)", r"values in \[16, 16\]"]),
    ("decode_index_negative", lambda: model().decode(np.full((1, 4, 4), -1, np.int32)), ValueError,
     [r"indices must be in \[0, 16\)", r"values in \[-1, -1\]"]),
    ("graph_decode_index_k", lambda: tf.function(model().decode)(tf.fill((1, 4, 4), K)),
     tf.errors.InvalidArgumentError, [r"indices must be in \[0, 16\), the codebook size"]),
    # --- silent coercion in constructors
    ("latent_dim_float", lambda: tiny_vqvae(latent_dim=8.7), ValueError,
     [re.escape("latent_dim must be an integer >= 1. Received: latent_dim=8.7")]),
    ("latent_dim_bool", lambda: tiny_vqvae(latent_dim=True), ValueError, ["latent_dim=True"]),
    ("use_attention_string", lambda: tiny_vqvae(use_attention="no"), ValueError,
     ["use_attention must be a boolean", "use_attention='no'"]),
    ("num_embeddings_string", lambda: tiny_vqvae(num_embeddings="16"), ValueError, ["num_embeddings='16'"]),
    ("base_channels_float", lambda: tiny_vqvae(base_channels=8.5), ValueError, ["base_channels=8.5"]),
    ("channel_multipliers_float", lambda: tiny_vqvae(channel_multipliers=(1, 2.5)), ValueError,
     [r"channel_multipliers=\(1, 2.5\)"]),
    ("quantizer_l2_normalize_string", lambda: VectorQuantizerEMA(16, 8, l2_normalize="no"), ValueError,
     ["l2_normalize='no'"]),
    ("quantizer_decay_string", lambda: VectorQuantizerEMA(16, 8, decay="0.9"), ValueError, ["decay='0.9'"]),
    ("vqgan_disc_start_float", lambda: VQGAN(**TOKENIZER_ARGS, **VQGAN_ARGS, disc_start=10.5), ValueError,
     ["disc_start=10.5"]),
    ("pixelcnn_kernel_size_float", lambda: PixelCNNPrior(16, (4, 4), kernel_size=5.5), ValueError,
     ["kernel_size=5.5"]),
    ("pixelcnn_hidden_dim_bool", lambda: PixelCNNPrior(16, (4, 4), hidden_dim=True), ValueError,
     ["hidden_dim must be an integer >= 1 or None", "hidden_dim=True"]),
    ("prior_dropout_string", lambda: TransformerPrior(16, (4, 4), embed_dim=16, num_layers=1, num_heads=2,
                                                      dropout="0.1"), ValueError, ["dropout='0.1'"]),
    ("generator_prior_trained_string", lambda: tiny_generator(prior_trained="no"), ValueError,
     ["prior_trained='no'"]),
    ("fit_prior_epochs_0", lambda: tiny_generator(prior_trained=False).fit_prior(images(4), epochs=0, verbose=0),
     ValueError, ["epochs must be an integer >= 1", "epochs=0"]),
    # --- obscure or late errors
    ("call_empty_batch", lambda: model()(np.zeros((0, 8, 8, 1), "float32")), ValueError,
     ["images is an empty batch", r"shape=\(0, 8, 8, 1\)"]),
    ("encode_empty_batch", lambda: model().encode(np.zeros((0, 8, 8, 1), "float32")), ValueError,
     ["images is an empty batch"]),
    ("fit_zero_images", lambda: fit(compiled(), np.zeros((0, 8, 8, 1), "float32")), ValueError,
     ["x is an empty batch"]),
    ("fit_empty_dataset", lambda: fit(compiled(), dataset(np.zeros((0, 8, 8, 1), "float32"))), ValueError,
     ["x is empty", "0 batches"]),
    ("train_vqvae_empty_dataset", lambda: training.train_vqvae(dataset(np.zeros((0, 8, 8, 1), "float32")),
                                                               epochs=1, prior_epochs=1), ValueError,
     ["dataset is empty"]),
    ("fit_nan", lambda: fit(compiled(), with_nan(images(4))), ValueError, ["x contain", NAN_ROW]),
    ("fit_dataset_nan", lambda: fit(compiled(), dataset(with_nan(images(4)))), ValueError,
     ["x hold a batch", "Received: a batch failing the run-time check"]),
    ("sample_seed_string", lambda: tiny_transformer_prior().sample(1, seed="1"), ValueError, ["seed='1'"]),
    ("sample_temperature_string", lambda: tiny_transformer_prior().sample(1, seed=0, temperature="1.0"), ValueError,
     ["temperature must be a number", "temperature='1.0'"]),
    ("generate_seed_string", lambda: generator().generate(1, seed="0"), ValueError, ["seed='0'"]),
    ("generate_image_seed_string", lambda: generator().generate_image(images(1), seed="0"), ValueError,
     ["seed='0'"]),
    ("generate_image_strength_string", lambda: generator().generate_image(images(1), strength="0.5"), ValueError,
     ["strength='0.5'"]),
    ("upscale_strength_string", lambda: generator().upscale(images(size=4), factor=2, strength="0.5"), ValueError,
     ["strength='0.5'"]),
    ("vqgan_default_discriminator_16px", lambda: VQGAN(**TOKENIZER_ARGS, perceptual_weight=0.0, disc_filters=4).build(
        (None, 16, 16, 1)), ValueError, ["16×16 are too small", "disc_num_layers", "at least 24×24"]),
    ("tfds_offline_missing_module", lambda: offline_tfds(missing_module()), ImportError,
     ["source='tfds:mnist'", "pip install importlib_resources", "network"]),
    ("tfds_offline_no_network", lambda: offline_tfds(ConnectionError("Failed to resolve 'storage.googleapis.com'")),
     OSError, ["source='tfds:mnist' could not be downloaded", "needs a network once", "mnist5k"]),
]


@pytest.mark.parametrize("call, error, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for pattern in words:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"
    # The cause is one line (Keras frames errors raised in `call` with the layer and its arguments).
    assert any(all(re.search(p, line) for p in words) for line in message.splitlines()), message


def test_a_bright_model_range_image_is_not_rescaled():
    """One rule: float images are in [-1, 1] whatever their values; the generator no longer guesses [0, 1]."""
    bright = np.abs(images(1, seed=3))  # a valid [-1, 1] image that happens to be all non-negative
    np.testing.assert_array_equal(generator().encode(bright).numpy(), model_tokens(bright))
    np.testing.assert_array_equal(generator().prepare_images(bright).numpy(), bright)


def model_tokens(x):
    return generator().tokenizer.encode(x).numpy()


def test_uint8_images_are_converted_like_generate_image_does():
    raw = np.random.default_rng(4).integers(0, 256, (3, 8, 8, 1), dtype=np.uint8)
    expected = model_tokens(to_model_range(raw))
    np.testing.assert_array_equal(generator().encode(raw).numpy(), expected)
    # fit_prior's token grids, from an array and from a dataset of uint8 batches
    np.testing.assert_array_equal(generator().encode_dataset(raw), expected)
    np.testing.assert_array_equal(generator().encode_dataset(tf.data.Dataset.from_tensor_slices(raw).batch(2)),
                                  expected)


def test_fit_prior_without_a_step_leaves_the_prior_untrained():
    g = tiny_generator(prior_trained=False)
    g.fit_prior(images(4), epochs=1, batch_size=4, initial_epoch=1, verbose=0)  # Keras runs no epoch
    assert g.prior_trained is False
    g.fit_prior(images(4), epochs=1, batch_size=4, verbose=0)
    assert g.prior_trained is True


def test_load_model_warns_about_nan_weights(tmp_path):
    m = tiny_vqvae()
    m.build((None, 8, 8, 1))
    kernel = m.decoder.conv_out.kernel
    value = kernel.numpy()
    value.flat[0] = np.nan
    kernel.assign(value)
    path = tmp_path / "diverged.keras"
    m.save(path)
    # The loaded model names the weight by its path inside the model (the saved model's own name left out).
    inside = kernel.path.split("/", 1)[1]
    with pytest.warns(UserWarning, match=rf"1 weight\(s\) hold NaN or Inf values: {re.escape(inside)}"):
        load_model(path)
    good = tmp_path / "good.keras"
    model().save(good)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_model(good)
    assert not [w for w in caught if "NaN or Inf" in str(w.message)]


def test_jit_compiled_training_still_trains_on_good_data():
    """The host-side checks leave XLA training alone: the weights move and the loss is finite."""
    m = compiled(jit_compile=True)
    m.build((None, 8, 8, 1))
    before = [w.numpy().copy() for w in m.trainable_weights]
    for x in (images(4), dataset(images(4))):
        history = fit(m, x)
        assert m.jit_compile is True and np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(before, m.trainable_weights))
