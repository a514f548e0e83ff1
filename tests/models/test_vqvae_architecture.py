"""Architecture options for pretrained tokenizers: attention inside levels, `z_channels` apart from the code size;
and the shipped `.keras` files load and give the outputs they gave before these options existed."""


import keras
import numpy as np
import pytest

from vqkeras.layers.decoder import Decoder
from vqkeras.layers.encoder import Encoder
from vqkeras.quantizers.vector_quantizer import VectorQuantizer
from vqkeras.models.vqvae import VQVAE



def _layer_names(stack):
    return [layer.name for layer in stack.body]


def test_attention_after_every_residual_block_of_the_chosen_levels():
    encoder = Encoder(8, base_channels=32, channel_multipliers=(1, 2, 2), num_res_blocks=2, attention_levels=(2,))
    decoder = Decoder(3, base_channels=32, channel_multipliers=(1, 2, 2), num_res_blocks=2, attention_levels=(2,))
    assert _layer_names(encoder) == [
        "conv_in", "res_0_0", "res_0_1", "down_0", "res_1_0", "res_1_1", "down_1",
        "res_2_0", "attn_2_0", "res_2_1", "attn_2_1", "mid_res_1", "mid_attention", "mid_res_2"]
    assert _layer_names(decoder)[:9] == [
        "conv_in", "mid_res_1", "mid_attention", "mid_res_2",
        "res_2_0", "attn_2_0", "res_2_1", "attn_2_1", "res_2_2"]
    assert "attn_2_2" in _layer_names(decoder) and not any(n.startswith("attn_1") for n in _layer_names(decoder))
    z = encoder(np.zeros((1, 16, 16, 3), "float32"))
    assert z.shape == (1, 4, 4, 8)
    assert decoder(z).shape == (1, 16, 16, 3)
    assert Encoder.from_config(encoder.get_config()).attention_levels == (2,)


def test_default_has_no_attention_inside_levels():
    encoder = Encoder(8, base_channels=32, channel_multipliers=(1, 2))
    assert encoder.attention_levels == () and not any(n.startswith("attn_") for n in _layer_names(encoder))


@pytest.mark.parametrize("levels", [(3,), (-1,), (1, 1), (True,), "1", (0.5,)])
def test_bad_attention_levels_name_the_argument(levels):
    with pytest.raises(ValueError, match=r"attention_levels must be .* Received: attention_levels="):
        Encoder(8, base_channels=32, channel_multipliers=(1, 2, 2), attention_levels=levels)


@pytest.mark.parametrize("z_channels", [0, 2.5, True, "8"])
def test_bad_z_channels_names_the_argument(z_channels):
    with pytest.raises(ValueError, match="z_channels must be a positive integer or None. Received: z_channels="):
        VQVAE(z_channels=z_channels)


def test_z_channels_apart_from_the_code_size_round_trips(tmp_path):
    # LlamaGen's layout at small size: 64-channel latents, l2-normalised 8-d codes.
    model = VQVAE(num_embeddings=32, latent_dim=8, z_channels=64, base_channels=32, channel_multipliers=(1, 2),
                  num_res_blocks=1, attention_levels=(1,),
                  quantizer=VectorQuantizer(32, 8, l2_normalize=True, name="quantizer"))
    images = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    reconstructions = model(images).numpy()
    assert model.encoder.conv_out.kernel.shape == (3, 3, 64, 64)
    assert model.pre_quant.kernel.shape == (1, 1, 64, 8)
    assert model.post_quant.kernel.shape == (1, 1, 8, 64)
    assert model.decoder.body[0].kernel.shape == (3, 3, 64, 64)
    # The codes the decoder sees are unit vectors.
    codes = model.quantizer.get_codebook_entries(model.encode(images)).numpy()
    np.testing.assert_allclose(np.linalg.norm(codes, axis=-1), 1.0, rtol=1e-5)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.z_channels == 64 and loaded.attention_levels == (1,)
    np.testing.assert_array_equal(loaded(images).numpy(), reconstructions)
    np.testing.assert_array_equal(loaded.encode(images).numpy(), model.encode(images).numpy())


def test_default_z_channels_is_the_code_size():
    model = VQVAE(num_embeddings=16, latent_dim=8, base_channels=32, channel_multipliers=(1, 2), num_res_blocks=1)
    model.build((None, 8, 8, 3))
    assert model.z_channels == 8
    assert model.pre_quant.kernel.shape == (1, 1, 8, 8) and model.post_quant.kernel.shape == (1, 1, 8, 8)
