"""CodeEntropy: a code regulariser, `λ·H(p̄)` of the batch's mean soft code assignment."""

import keras

from vqkeras.utils.validation import check_float


@keras.saving.register_keras_serializable(package="vqkeras")
class CodeEntropy:
    """Code regulariser `λ·H(p̄)`: the entropy of the batch's mean soft code assignment (`BaseQuantizer.code_entropy`).

    `λ > 0` concentrates the codes on fewer entries: a lower rate, so a prior models the token grids more easily, for
    some reconstruction error. `λ < 0` spreads them (a diversity term). A task (`VQVAE`, `VQGAN`) adds the term to its
    quantizer's loss `L_vq`.

    Args:
        weight: Float `λ`.
        temperature: Float `τ > 0` of the soft assignments, or `None` (the batch's mean gap between the squared
            distances to the nearest and the second-nearest code). Defaults to `None`.

    Call arguments:
        quantizer: A quantizer with code distances (`VectorQuantizerEMA`, `VectorQuantizer`).
        latents: The quantizer's inputs `z`.

    Returns:
        The float32 scalar `λ·H(p̄)`.

    Example:

    >>> vqvae = vqkeras.models.VQVAE(image_channels=1, code_regularizer=CodeEntropy(0.3, temperature=20.0))
    """

    def __init__(self, weight, temperature=None):
        self.weight = check_float("weight", weight)
        self.temperature = check_float("temperature", temperature, minimum=0, exclusive_minimum=True,
                                       allow_none=True)

    def check_quantizer(self, quantizer):
        """Raises a `ValueError` if `quantizer` has no code distances to regularise."""
        if not hasattr(quantizer, "soft_assignments"):
            raise ValueError(
                "CodeEntropy needs a quantizer with code distances (VectorQuantizerEMA or VectorQuantizer); "
                f"{type(quantizer).__name__} has none. Received: CodeEntropy(weight={self.weight!r}) with "
                f"quantizer={type(quantizer).__name__}"
            )

    def __call__(self, quantizer, latents):
        return self.weight * quantizer.code_entropy(latents, self.temperature)

    def get_config(self):
        return {"weight": self.weight, "temperature": self.temperature}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
