"""The sampling settings of a token prior as one serializable object."""

import collections

import keras
import tensorflow as tf

from vqkeras.priors import sampling

# The settings as the graph samplers take them: float32/int32 scalars, `top_k = 0`, `top_p = 1` and
# `guidance_scale = 0` meaning "off".
SamplerTensors = collections.namedtuple("SamplerTensors", ["temperature", "top_k", "top_p", "guidance_scale"])


@keras.saving.register_keras_serializable(package="vqkeras")
class Sampler:
    """How a prior turns its logits `l` into a token: temperature, top-k, top-p (nucleus) and guidance.

    At each draw the logits become `l' = (1 + w) log p − w log q` when a guide prior `q` is given (`w` =
    `guidance_scale`, `sampling.guided_logits`), then `softmax(l' / T)` is cut to the `top_k` most likely tokens, then
    to the smallest set with probability mass `≥ top_p`, and one token is drawn from what is left
    (`sampling.filter_logits`). The seed is not part of the sampler: the same sampler with the same seed gives the
    same tokens, on every path (`prior.sample`, `ImageGenerator.generate`, the SavedModel's `generate` signature).

    Python numbers are validated here; tensors (a SavedModel signature's inputs) pass through unchecked, and
    `top_k = 0`, `top_p = 1` and `guidance_scale = 0` switch their step off there.

    Args:
        temperature: Float `> 0`. `T < 1` sharpens the distribution, `T > 1` flattens it. Defaults to `1.0`.
        top_k: Optional integer `≥ 1` (at most the prior's `K`, checked when sampling). `None` keeps all tokens.
        top_p: Optional float in `(0, 1]`. `None` keeps all tokens.
        guidance_scale: Optional float `w ≥ 0`, for sampling with a guide prior. `None` with a guide means `1.0`.

    Example:

    >>> sampler = vqkeras.samplers.Sampler(temperature=0.9, top_k=100)
    >>> grids = prior.sample(16, sampler, seed=0)
    >>> images = generator.generate(16, sampler=sampler, seed=0)
    >>> Sampler.from_config(sampler.get_config()) == sampler
    True
    """

    def __init__(self, temperature=1.0, top_k=None, top_p=None, guidance_scale=None):
        sampling.validate_temperature(temperature)
        sampling.validate_top_k(top_k)
        sampling.validate_top_p(top_p)
        if guidance_scale is not None:
            sampling.validate_guidance_scale(guidance_scale)
        self.temperature = _as_python(temperature, float)
        self.top_k = _as_python(top_k, int)
        self.top_p = _as_python(top_p, float)
        self.guidance_scale = _as_python(guidance_scale, float)

    def check_vocabulary(self, num_embeddings):
        """Raises `ValueError` unless `top_k` fits a vocabulary of `num_embeddings` tokens."""
        sampling.validate_top_k(self.top_k, num_embeddings)

    def tensors(self, guidance_scale=None):
        """The settings as `SamplerTensors` for the graph samplers (`guidance_scale` overrides the sampler's)."""
        scale = self.guidance_scale if guidance_scale is None else guidance_scale
        return SamplerTensors(
            temperature=tf.cast(self.temperature, tf.float32),
            top_k=tf.cast(0 if self.top_k is None else self.top_k, tf.int32),
            top_p=tf.cast(1.0 if self.top_p is None else self.top_p, tf.float32),
            guidance_scale=tf.cast(0.0 if scale is None else scale, tf.float32),
        )

    def get_config(self):
        return {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p,
                "guidance_scale": self.guidance_scale}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return type(other) is type(self) and other.get_config() == self.get_config()

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({settings})"


def _as_python(value, kind):
    """A validated Python number as a plain `kind`; `None` and tensors unchanged."""
    if value is None or tf.is_tensor(value):
        return value
    return kind(value)
