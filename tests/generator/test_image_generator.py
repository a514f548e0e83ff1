import keras
import numpy as np
import pytest

import vqkeras
from tests.tiny_models import images
from tests.tiny_models import tiny_generator
from tests.tiny_models import tiny_transformer_prior
from tests.tiny_models import tiny_vqgan
from tests.tiny_models import tiny_vqvae
from vqkeras.models import VQVAE
from vqkeras.models import ImageGenerator
from vqkeras.priors import PixelCNNPrior
from vqkeras.priors import TransformerPrior


def test_generate_needs_a_trained_prior_then_is_seeded():
    generator = tiny_generator(prior_trained=False)
    with pytest.raises(ValueError, match="fit_prior"):
        generator.generate(2, seed=0)
    generator.fit_prior(images(8), epochs=1, batch_size=4, verbose=0)
    first = generator.generate(3, seed=5).numpy()
    assert first.shape == (3, 8, 8, 1) and first.min() >= -1 and first.max() <= 1
    np.testing.assert_array_equal(first, generator.generate(3, seed=5).numpy())
    assert not np.array_equal(first, generator.generate(3, seed=6).numpy())


def test_mismatched_prior_is_rejected():
    with pytest.raises(ValueError, match="num_embeddings"):
        ImageGenerator(tiny_vqvae(), tiny_transformer_prior(num_embeddings=32))


def test_generate_face_needs_face_data():
    generator = tiny_generator()
    with pytest.raises(ValueError, match=r"use generate\(\).*dataset_name=None"):
        generator.generate_face(1)
    faces = tiny_generator(dataset_name="orl_faces")
    assert faces.generate_face(2, seed=0).shape == (2, 8, 8, 1)


@pytest.mark.parametrize("prior_cls", [TransformerPrior, PixelCNNPrior])
def test_generate_image_changes_more_tokens_with_more_strength(prior_cls):
    generator = tiny_generator(prior_cls)
    style = images(1)[0]
    fractions = []
    for strength in (0.0, 0.3, 0.7, 1.0):
        out, style_tokens, tokens = generator.generate_image(
            style, strength=strength, num_images=16, seed=0, return_tokens=True
        )
        assert out.shape == (16, 8, 8, 1)
        fractions.append(float(np.mean(tokens != style_tokens[None])))
    assert fractions[0] == 0.0
    assert fractions[0] < fractions[1] < fractions[2] < fractions[3], fractions
    # Strength 0 reproduces the style image's reconstruction.
    out = generator.generate_image(style, strength=0.0, seed=1)
    np.testing.assert_allclose(out.numpy()[0], np.clip(generator.tokenizer(style[None]).numpy()[0], -1, 1), atol=1e-5)


def test_generate_image_input_handling():
    generator = tiny_generator()
    with pytest.raises(ValueError, match=r"style_image must have 1 channel"):
        generator.generate_image(np.zeros((8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="strength=1.5"):
        generator.generate_image(images(1)[0], strength=1.5)
    # Another size is resized; uint8 is converted.
    big = np.random.default_rng(0).integers(0, 256, (20, 20, 1), dtype=np.uint8)
    assert generator.generate_image(big, seed=0).shape == (1, 8, 8, 1)


def test_keras_round_trip_gives_the_same_samples(tmp_path):
    generator = tiny_generator(prior_trained=False, dataset_name="mnist5k")
    generator.fit_prior(images(8), epochs=1, batch_size=4, verbose=0)
    path = tmp_path / "generator.keras"
    generator.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert loaded.dataset_name == "mnist5k" and loaded.prior_trained
    np.testing.assert_array_equal(loaded.generate(3, seed=2).numpy(), generator.generate(3, seed=2).numpy())


def test_train_vqvae_returns_a_working_generator(recwarn):
    generator = vqkeras.train_vqvae(
        images(16),
        image_size=8,
        epochs=1,
        prior_epochs=1,
        batch_size=8,
        verbose=0,
        num_embeddings=16,
        latent_dim=8,
        base_channels=8,
        channel_multipliers=(1, 2),
        num_res_blocks=0,
        prior_kwargs=dict(embed_dim=16, num_layers=1, num_heads=2),
        guide_fraction=0.5,
    )
    assert isinstance(generator, ImageGenerator) and generator.prior_trained
    # The datasets are shuffled already: Keras' "shuffle=True was passed, but will be ignored" is not shown.
    assert not [w for w in recwarn if "shuffle" in str(w.message)]
    assert generator.grid_shape == (4, 4)
    assert generator.generate(2, seed=0).shape == (2, 8, 8, 1)
    assert generator.guide is not None and generator.generate(2, seed=0, guidance_scale=0.5).shape == (2, 8, 8, 1)
    with pytest.raises(ValueError, match="guide_fraction must be in \\(0, 1\\). Received: guide_fraction=1"):
        vqkeras.train_vqvae(images(4), image_size=8, guide_fraction=1)


def test_to_inference_keeps_sampling_and_drops_training_state(tmp_path):
    generator = ImageGenerator(tiny_vqgan(), tiny_transformer_prior(), dataset_name="orl_faces")
    generator.fit_prior(images(8), epochs=1, batch_size=4, verbose=0)
    clean = generator.to_inference()
    assert type(clean.tokenizer) is VQVAE and clean.dataset_name == "orl_faces" and clean.prior_trained
    x = images(2)
    np.testing.assert_allclose(clean(x).numpy(), generator(x).numpy(), atol=1e-5)
    np.testing.assert_array_equal(clean.generate_tokens(2, seed=3).numpy(), generator.generate_tokens(2, seed=3).numpy())
    generator.save(tmp_path / "full.keras")
    clean.save(tmp_path / "clean.keras")
    assert weight_groups(tmp_path / "full.keras") >= {"optimizer", "discriminator"}
    assert not weight_groups(tmp_path / "clean.keras") & {"optimizer", "discriminator", "discriminator_optimizer"}
    assert (tmp_path / "clean.keras").stat().st_size < (tmp_path / "full.keras").stat().st_size


def weight_groups(path):
    """Names of the second-level groups (per sub-model) in a .keras file's weights."""
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as weights:
        return {name for group in weights["layers"].values() for name in group.keys()}
