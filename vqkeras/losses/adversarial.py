"""Adversarial losses for GAN training: small pure functions on logits.

All functions take discriminator *logits* (any shape, e.g. PatchGAN maps of
shape `(batch, h, w, 1)`), average over every element and return a float32
scalar. They compute in float32 whatever the inputs' dtype.

| name               | discriminator loss `L_D`                             | generator loss `L_G`        |
|--------------------|------------------------------------------------------|-----------------------------|
| `"hinge"`          | `½·(mean relu(1 − D(x)) + mean relu(1 + D(x̂)))`      | `−mean D(x̂)`                |
| `"vanilla"`        | `½·(mean softplus(−D(x)) + mean softplus(D(x̂)))`     | `−mean softplus(D(x̂))`      |
| `"non_saturating"` | same as `"vanilla"`                                  | `mean softplus(−D(x̂))`      |

`softplus(−l) = −log σ(l)`, so the vanilla discriminator loss is the binary
cross-entropy with labels 1 (real) and 0 (fake). The vanilla generator loss
is the original minimax one, `mean log(1 − σ(D(x̂)))`; the non-saturating
one is `−mean log σ(D(x̂))` (Goodfellow et al. 2014, sec. 3).
"""

import tensorflow as tf
from keras import ops


def _f32(x):
    return ops.cast(x, "float32")


def hinge_d_loss(real_logits, fake_logits):
    """Hinge discriminator loss (Lim & Ye 2017; Esser et al. 2021, eq. 5).

    `L_D = ½·(mean relu(1 − D(x)) + mean relu(1 + D(x̂)))`

    Args:
        real_logits: Tensor. Discriminator logits on real images.
        fake_logits: Tensor. Discriminator logits on reconstructions.

    Returns:
        Float32 scalar.
    """
    loss_real = ops.mean(ops.relu(1.0 - _f32(real_logits)))
    loss_fake = ops.mean(ops.relu(1.0 + _f32(fake_logits)))
    return 0.5 * (loss_real + loss_fake)


def hinge_g_loss(fake_logits):
    """Hinge generator loss: `L_G = −mean D(x̂)`.

    Args:
        fake_logits: Tensor. Discriminator logits on generated images.

    Returns:
        Float32 scalar.
    """
    return -ops.mean(_f32(fake_logits))


def vanilla_d_loss(real_logits, fake_logits):
    """Vanilla (binary cross-entropy) discriminator loss.

    `L_D = ½·(mean softplus(−D(x)) + mean softplus(D(x̂)))`, i.e. the BCE of
    `σ(D)` against label 1 for real and 0 for fake images.

    Args:
        real_logits: Tensor. Discriminator logits on real images.
        fake_logits: Tensor. Discriminator logits on generated images.

    Returns:
        Float32 scalar.
    """
    loss_real = ops.mean(ops.softplus(-_f32(real_logits)))
    loss_fake = ops.mean(ops.softplus(_f32(fake_logits)))
    return 0.5 * (loss_real + loss_fake)


def vanilla_g_loss(fake_logits):
    """Minimax (saturating) generator loss.

    `L_G = mean log(1 − σ(D(x̂))) = −mean softplus(D(x̂))`

    Args:
        fake_logits: Tensor. Discriminator logits on generated images.

    Returns:
        Float32 scalar.
    """
    return -ops.mean(ops.softplus(_f32(fake_logits)))


def non_saturating_d_loss(real_logits, fake_logits):
    """Discriminator loss paired with the non-saturating generator loss.

    Identical to `vanilla_d_loss`:
    `L_D = ½·(mean softplus(−D(x)) + mean softplus(D(x̂)))`.
    """
    return vanilla_d_loss(real_logits, fake_logits)


def non_saturating_g_loss(fake_logits):
    """Non-saturating generator loss (Goodfellow et al. 2014, sec. 3).

    `L_G = −mean log σ(D(x̂)) = mean softplus(−D(x̂))`

    Args:
        fake_logits: Tensor. Discriminator logits on generated images.

    Returns:
        Float32 scalar.
    """
    return ops.mean(ops.softplus(-_f32(fake_logits)))


_LOSSES = {
    "hinge": (hinge_d_loss, hinge_g_loss),
    "vanilla": (vanilla_d_loss, vanilla_g_loss),
    "non_saturating": (non_saturating_d_loss, non_saturating_g_loss),
}


def _lookup(name):
    key = str(name).lower().replace("-", "_")
    if key not in _LOSSES:
        raise ValueError(
            f"Unknown adversarial loss {name!r}. Expected one of "
            f"{sorted(_LOSSES)} ('non-saturating' is also accepted). "
            f"Received: name={name!r}"
        )
    return _LOSSES[key]


def get_disc_loss(name):
    """Returns the discriminator loss `fn(real_logits, fake_logits)`.

    Args:
        name: String. `"hinge"`, `"vanilla"` or `"non_saturating"`
            (`"non-saturating"` also works).

    Raises:
        ValueError: for any other name.
    """
    return _lookup(name)[0]


def get_gen_loss(name):
    """Returns the generator loss `fn(fake_logits)` for the same names."""
    return _lookup(name)[1]


def r1_penalty(discriminator, real_images, training=True):
    """R1 gradient penalty on real images (Mescheder et al. 2018, eq. 9).

    `R1 = mean_i ‖∇_x Σ_p D(x_i)_p‖²`, where the sum runs over the patch
    logits `p` of image `i`. Multiply by `γ/2` (e.g. a `r1_weight`) before
    adding it to the discriminator loss. The result is differentiable with
    respect to the discriminator's weights, so call it inside the
    discriminator's `GradientTape` (TensorFlow backend).

    Args:
        discriminator: Callable (e.g. a `keras.Model`) mapping images to
            logits.
        real_images: Tensor of real images.
        training: Boolean. Passed to the discriminator.

    Returns:
        Float32 scalar.
    """
    x = tf.convert_to_tensor(real_images)
    if not x.dtype.is_floating:
        x = tf.cast(x, "float32")
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = discriminator(x, training=training)
        total = tf.reduce_sum(tf.cast(logits, "float32"))
    grads = tf.cast(tape.gradient(total, x), "float32")
    per_example = tf.reduce_sum(
        tf.reshape(tf.square(grads), (tf.shape(grads)[0], -1)), axis=1
    )
    return tf.reduce_mean(per_example)


def _global_norm(grads):
    if isinstance(grads, (list, tuple)):
        squares = [ops.sum(ops.square(_f32(g))) for g in grads if g is not None]
        if not squares:
            raise ValueError("adaptive_weight received no gradients.")
        return ops.sqrt(ops.sum(ops.stack(squares)))
    return ops.sqrt(ops.sum(ops.square(_f32(grads))))


def adaptive_weight(nll_grads, g_grads, max_value=1e4, delta=1e-4):
    """Adaptive adversarial weight of VQ-GAN (Esser et al. 2021, eq. 7).

    `λ = stop_gradient(clip(‖∇L_nll‖ / (‖∇L_G‖ + δ), 0, max_value))`

    where both gradients are taken with respect to the same weights (the
    decoder's last layer). The caller multiplies `λ` by its
    `disc_weight`.

    Args:
        nll_grads: Tensor or list of tensors. Gradient of the reconstruction
            (+ perceptual) loss; a list is treated as one vector (global
            norm).
        g_grads: Tensor or list of tensors. Gradient of the generator's
            adversarial loss.
        max_value: Float. Upper clip value.
        delta: Float. Added to the denominator for stability.

    Returns:
        Float32 scalar without gradient.
    """
    weight = _global_norm(nll_grads) / (_global_norm(g_grads) + delta)
    weight = ops.clip(weight, 0.0, max_value)
    return ops.stop_gradient(weight)
