"""`train_vqgan`'s two tokenizer phases: the first trains the architecture with the reconstruction loss only."""

import keras
import numpy as np

import vqkeras


def test_code_regularisers_wait_for_the_second_phase(tmp_path):
    images = np.random.default_rng(0).uniform(-1, 1, (8, 8, 8, 1)).astype("float32")
    generator = vqkeras.train_vqgan(
        images, image_size=8, batch_size=8, reconstruction_epochs=1, epochs=1, prior_epochs=1, num_embeddings=8,
        latent_dim=4, base_channels=8, channel_multipliers=(1, 2), num_res_blocks=0, use_attention=False,
        disc_filters=8, disc_num_layers=1, perceptual_weight=0.0, code_entropy_weight=0.3,
        code_entropy_temperature=5.0, prior_kwargs=dict(embed_dim=8, num_layers=1, num_heads=1), verbose=0,
        backup_dir=str(tmp_path))
    first = keras.models.load_model(tmp_path / "reconstruction.keras", safe_mode=True)
    assert first.code_entropy_weight == 0.0  # from scratch the term would collapse the codebook
    assert (generator.tokenizer.code_entropy_weight, generator.tokenizer.code_entropy_temperature) == (0.3, 5.0)
