"""`benchmarks/pretrained.py --train-step` times the same losses on both sides: its PyTorch step (taming's modules,
`NLayerDiscriminator`) gives vqkeras' `VQGAN` generator loss on the same weights."""

import importlib
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from vqkeras.convert import from_taming
from vqkeras.models import VQGAN
from vqkeras.models import PatchDiscriminator
from vqkeras.presets import get_preset

torch = pytest.importorskip("torch")
taming_discriminator = pytest.importorskip("taming.modules.discriminator.model")

from tests.convert.test_taming_reference import _images  # noqa: E402
from tests.convert.test_taming_reference import _random_model  # noqa: E402
from tests.convert.test_taming_reference import _reduced  # noqa: E402
from tests.convert.test_taming_reference import _save_lightning_checkpoint  # noqa: E402

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "benchmarks")
RESOLUTION = 32


@pytest.fixture
def pretrained(monkeypatch):
    monkeypatch.syspath_prepend(BENCHMARKS)
    return importlib.import_module("pretrained")


def _copy_discriminator(source, target):
    """`NLayerDiscriminator` weights (and running statistics) into a built `PatchDiscriminator`, in layer order; the
    source's BatchNorm epsilon becomes the target's (Keras' default is 1e-3, PyTorch's 1e-5)."""
    convs = [m for m in source.main if isinstance(m, torch.nn.Conv2d)]
    norms = [m for m in source.main if isinstance(m, torch.nn.BatchNorm2d)]
    target_convs = [conv for _, conv, _, _ in target.blocks] + [target.logits_conv]
    target_norms = [norm for _, _, norm, _ in target.blocks if norm is not None]
    assert len(convs) == len(target_convs) and len(norms) == len(target_norms)
    for conv, layer in zip(convs, target_convs):
        kernel = conv.weight.detach().permute(2, 3, 1, 0).numpy()
        layer.set_weights([kernel] if conv.bias is None else [kernel, conv.bias.detach().numpy()])
    for norm, layer in zip(norms, target_norms):
        norm.eps = layer.epsilon
        layer.set_weights([t.detach().numpy() for t in (norm.weight, norm.bias, norm.running_mean, norm.running_var)])


def test_torch_training_step_has_the_vqgan_generator_loss(pretrained, tmp_path):
    config = _reduced(get_preset("taming_openimages_f8_256")["config"])
    model = _random_model(config, RESOLUTION).train()
    converted = from_taming(_save_lightning_checkpoint(model, tmp_path / "last.ckpt"), config=config)
    torch.manual_seed(3)
    discriminator = taming_discriminator.NLayerDiscriminator(input_nc=3, ndf=8, n_layers=2)
    discriminator.apply(taming_discriminator.weights_init)
    with torch.no_grad():  # running statistics far from (0, 1), so the discriminator's mode shows in the loss
        for norm in (m for m in discriminator.main if isinstance(m, torch.nn.BatchNorm2d)):
            norm.running_mean.uniform_(-0.5, 0.5)
            norm.running_var.uniform_(0.5, 2.0)
    ours = PatchDiscriminator(num_layers=2, filters=8, norm="batch")
    ours.build((None, RESOLUTION, RESOLUTION, 3))
    _copy_discriminator(discriminator, ours)
    gan = VQGAN(backbone=converted.backbone, discriminator=ours, reconstruction_loss="l1", perceptual_weight=0.0,
                disc_start=0, disc_weight=pretrained.DISC_WEIGHT, disc_loss="hinge")
    gan.compile(optimizer=keras.optimizers.Adam(), discriminator_optimizer=keras.optimizers.Adam(), jit_compile=False)
    gan.build_for_training((None, RESOLUTION, RESOLUTION, 3))
    images = _images(RESOLUTION)
    _, expected = gan.generator_gradients(tf.constant(images.permute(0, 2, 3, 1).numpy()), 1.0)
    assert float(expected["generator_adv_loss"]) != 0 and float(expected["adaptive_weight"]) > 0

    generator_step, train_step = pretrained.torch_training_steps(model, discriminator.train(), images)
    before = [p.detach().clone() for p in model.parameters()]
    loss, reconstructions = generator_step()
    np.testing.assert_allclose(reconstructions.permute(0, 2, 3, 1).numpy(), expected["reconstructions"].numpy(),
                               atol=1e-4, rtol=0)
    np.testing.assert_allclose(float(loss), float(expected["loss"]), rtol=1e-4)
    assert all(not p.requires_grad or not torch.equal(p, q) for p, q in zip(model.parameters(), before))
    assert discriminator.training and all(p.requires_grad for p in discriminator.parameters())
    # The whole step also updates the discriminator (every kernel; the logits' bias gets no gradient while every
    # hinge term is active, `−1/N` per real patch against `+1/N` per fake one).
    kernels = [m.weight for m in discriminator.main if isinstance(m, torch.nn.Conv2d)]
    kernels_before = [k.detach().clone() for k in kernels]
    train_step()
    assert not any(torch.equal(k, q) for k, q in zip(kernels, kernels_before))
