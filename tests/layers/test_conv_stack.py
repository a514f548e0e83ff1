import keras
import numpy as np
import pytest

from vqkeras.layers import Decoder
from vqkeras.layers import Encoder
from vqkeras.layers import ResBlock


def _sublayer_policies(layer):
    return {sub.name: sub.dtype_policy.name for sub in layer._flatten_layers(include_self=False)}


@pytest.mark.parametrize("make", [
    lambda **kw: ResBlock(8, **kw),
    lambda **kw: Encoder(4, base_channels=8, channel_multipliers=(1, 2), num_res_blocks=1, **kw),
    lambda **kw: Decoder(1, base_channels=8, channel_multipliers=(1, 2), num_res_blocks=1, **kw),
])
def test_sublayers_follow_the_parent_policy_not_the_global_one_at_build_time(make):
    layer = make(dtype="mixed_bfloat16")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")  # the global policy changes between construction and build
    try:
        x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
        y = layer(x)
    finally:
        keras.config.set_dtype_policy(previous)
    policies = _sublayer_policies(layer)
    assert policies and set(policies.values()) == {"mixed_bfloat16"}, policies
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights)  # variables stay float32


def test_zero_residual_blocks_per_level_keeps_the_middle_blocks_and_shapes():
    encoder = Encoder(4, base_channels=8, channel_multipliers=(1, 2, 4), num_res_blocks=0)
    decoder = Decoder(1, base_channels=8, channel_multipliers=(1, 2, 4), num_res_blocks=0)
    x = np.random.default_rng(0).normal(size=(2, 12, 12, 1)).astype("float32")
    z = encoder(x)
    assert z.shape == (2, 3, 3, 4)
    assert decoder(z).shape == (2, 12, 12, 1)
    names = [layer.name for layer in encoder.body]
    assert "mid_res_1" in names and "mid_res_2" in names and not any(n.startswith("res_") for n in names)
    assert sum(isinstance(layer, ResBlock) for layer in decoder.body) == 2 + 3  # middle pair + one per level


@pytest.mark.parametrize("value", [-1, -3])
def test_negative_residual_blocks_are_rejected_with_the_value(value):
    with pytest.raises(ValueError, match=f"num_res_blocks=.*{value}"):
        Encoder(4, base_channels=8, num_res_blocks=value)


@pytest.mark.parametrize("make", [
    lambda **kw: ResBlock(8, **kw),
    lambda **kw: Encoder(4, base_channels=8, channel_multipliers=(1, 2), num_res_blocks=1, use_attention=False, **kw),
    lambda **kw: Decoder(1, base_channels=8, channel_multipliers=(1, 2), num_res_blocks=1, use_attention=False, **kw),
])
def test_normalization_none_drops_every_group_norm_and_round_trips_its_config(make):
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
    grouped, plain = make(), make(normalization="none")
    assert plain(x).shape == grouped(x).shape
    kinds = lambda layer: {type(sub).__name__ for sub in layer._flatten_layers(include_self=False)}  # noqa: E731
    assert "GroupNorm" in kinds(grouped) and "GroupNorm" not in kinds(plain)
    assert len(plain.weights) < len(grouped.weights)  # the norms' gammas and betas are gone
    clone = type(plain).from_config(plain.get_config())
    assert clone.normalization == "none" and clone(x).shape == plain(x).shape


def test_residual_block_without_normalization_matches_numpy():
    """`x + conv2(swish(conv1(swish(x))))` with 3×3 'same' convolutions, computed in NumPy."""
    block = ResBlock(3, normalization="none")
    x = np.random.default_rng(1).normal(size=(1, 5, 5, 3)).astype("float32")
    y = block(x).numpy()

    def conv(h, layer):
        kernel, bias = (w.numpy() for w in layer.weights)
        padded = np.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))
        out = np.zeros(h.shape[:3] + (kernel.shape[-1],), "float64")
        for i in range(3):
            for j in range(3):
                out += padded[:, i:i + h.shape[1], j:j + h.shape[2]] @ kernel[i, j]
        return out + bias

    swish = lambda h: h / (1 + np.exp(-h))  # noqa: E731
    np.testing.assert_allclose(y, x + conv(swish(conv(swish(x), block.conv1)), block.conv2), atol=1e-5)


@pytest.mark.parametrize("value", ["batch", None, "Group"])
def test_unknown_normalization_is_rejected_with_the_value(value):
    with pytest.raises(ValueError, match=f"normalization=.*{value}"):
        Encoder(4, base_channels=8, normalization=value)
    with pytest.raises(ValueError, match=f"normalization=.*{value}"):
        ResBlock(4, normalization=value)


def test_pixel_shuffle_decoder_keeps_shapes_and_never_runs_a_wide_convolution_at_full_resolution():
    kwargs = dict(base_channels=4, channel_multipliers=(1, 4, 4), num_res_blocks=0, use_attention=False,
                  normalization="none")
    nearest, shuffle = Decoder(1, **kwargs), Decoder(1, upsample="pixel_shuffle", **kwargs)
    z = np.random.default_rng(0).normal(size=(2, 3, 3, 8)).astype("float32")
    assert nearest(z).shape == shuffle(z).shape == (2, 12, 12, 1)
    up_1 = {layer.name: layer for layer in shuffle.body}["up_1"]
    # `up_1` runs at 6×6 (the lower resolution) to 4 · C_0 = 16 channels; `nearest` runs it at 12×12 with C_1 = 16.
    assert up_1.kernel.shape == (3, 3, 16, 16)
    assert [type(layer).__name__ for layer in shuffle.body].count("PixelShuffle") == 2
    assert "UpSampling2D" not in {type(layer).__name__ for layer in shuffle.body}
    clone = Decoder.from_config(shuffle.get_config())
    assert clone.upsample == "pixel_shuffle" and clone(z).shape == (2, 12, 12, 1)
    assert Decoder.from_config(nearest.get_config()).upsample == "nearest"


def test_pixel_shuffle_upsampling_matches_numpy():
    """`up_l` then `PixelShuffle(2)`: a 3×3 'same' convolution at the lower resolution, then depth to space."""
    decoder = Decoder(1, base_channels=2, channel_multipliers=(1, 2), num_res_blocks=0, use_attention=False,
                      normalization="none", upsample="pixel_shuffle")
    z = np.random.default_rng(3).normal(size=(1, 3, 3, 4)).astype("float32")
    decoder(z)
    layers = {layer.name: layer for layer in decoder.body}
    h = np.random.default_rng(4).normal(size=(1, 3, 3, 4)).astype("float32")  # level-1 features (C_1 = 4)
    kernel, bias = (w.numpy() for w in layers["up_1"].weights)
    padded = np.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))
    conv = sum(padded[:, i:i + 3, j:j + 3] @ kernel[i, j] for i in range(3) for j in range(3)) + bias
    expected = np.zeros((1, 6, 6, 2), "float32")  # 4 · C_0 = 8 channels → C_0 = 2 at twice the size
    for p in range(2):
        for q in range(2):
            expected[:, p::2, q::2, :] = conv[..., (2 * p + q) * 2:(2 * p + q + 1) * 2]
    got = layers["pixel_shuffle_1"](layers["up_1"](h)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("value", ["bilinear", None, "Nearest"])
def test_unknown_upsample_is_rejected_with_the_value(value):
    with pytest.raises(ValueError, match=f"upsample=.*{value}"):
        Decoder(1, base_channels=8, upsample=value)


def test_patch_size_runs_no_convolution_at_full_resolution_and_multiplies_the_factor():
    kwargs = dict(base_channels=4, channel_multipliers=(2, 2), num_res_blocks=0, use_attention=False,
                  normalization="none", patch_size=2)
    encoder, decoder = Encoder(8, **kwargs), Decoder(1, upsample="pixel_shuffle", **kwargs)
    assert encoder.factor == decoder.factor == 4
    x = np.random.default_rng(0).normal(size=(2, 12, 12, 1)).astype("float32")
    z = encoder(x)
    assert z.shape == (2, 3, 3, 8) and encoder.compute_output_shape((2, 12, 12, 1)) == (2, 3, 3, 8)
    assert decoder(z).shape == (2, 12, 12, 1) and decoder.compute_output_shape(z.shape) == (2, 12, 12, 1)
    assert encoder.body[0].kernel.shape == (3, 3, 4, 4)  # conv_in reads the 2×2 patches as 4 channels at 6×6
    assert decoder.conv_out.kernel.shape == (3, 3, 8, 4)  # conv_out writes 2² · 1 channels at 6×6
    for stack in (encoder, decoder):
        clone = type(stack).from_config(stack.get_config())
        assert clone.patch_size == 2 and clone.factor == 4


def test_patch_size_is_space_to_depth_before_the_encoder_and_depth_to_space_after_the_decoder_in_numpy():
    """`x[b, 2i + p, 2j + q, c] ↔ h[b, i, j, (2p + q)·C + c]`: a patch-2 stack equals a patch-1 stack with the same
    weights on (or followed by) the NumPy rearrangement."""
    kwargs = dict(base_channels=2, channel_multipliers=(1, 2), num_res_blocks=0, use_attention=False,
                  normalization="none")

    def to_patches(images):
        b, h, w, c = images.shape
        out = np.zeros((b, h // 2, w // 2, 4 * c), "float32")
        for p in range(2):
            for q in range(2):
                out[..., (2 * p + q) * c:(2 * p + q + 1) * c] = images[:, p::2, q::2, :]
        return out

    def from_patches(patches):
        b, h, w, c4 = patches.shape
        c = c4 // 4
        out = np.zeros((b, 2 * h, 2 * w, c), "float32")
        for p in range(2):
            for q in range(2):
                out[:, p::2, q::2, :] = patches[..., (2 * p + q) * c:(2 * p + q + 1) * c]
        return out

    x = np.random.default_rng(5).normal(size=(2, 8, 8, 3)).astype("float32")
    patched, plain = Encoder(4, patch_size=2, **kwargs), Encoder(4, **kwargs)
    z = patched(x).numpy()
    plain(to_patches(x))
    plain.set_weights(patched.get_weights())
    np.testing.assert_allclose(z, plain(to_patches(x)).numpy(), atol=1e-5)

    patched, plain = Decoder(3, patch_size=2, **kwargs), Decoder(12, **kwargs)
    y = patched(z).numpy()
    plain(z)
    plain.set_weights(patched.get_weights())
    np.testing.assert_allclose(y, from_patches(plain(z).numpy()), atol=1e-5)


@pytest.mark.parametrize("value", [0, -2, 1.5, "2", True])
def test_invalid_patch_size_is_rejected_with_the_value(value):
    with pytest.raises(ValueError, match=f"patch_size=.*{value}"):
        Encoder(4, base_channels=8, patch_size=value)
