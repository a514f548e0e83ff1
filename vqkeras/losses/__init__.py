"""Losses: perceptual distance, adversarial objectives and their schedule, code regularisers."""

from vqkeras.losses.adversarial import adaptive_weight
from vqkeras.losses.adversarial_schedule import AdversarialSchedule
from vqkeras.losses.adversarial import get_disc_loss
from vqkeras.losses.adversarial import get_gen_loss
from vqkeras.losses.adversarial import hinge_d_loss
from vqkeras.losses.adversarial import hinge_g_loss
from vqkeras.losses.adversarial import non_saturating_d_loss
from vqkeras.losses.adversarial import non_saturating_g_loss
from vqkeras.losses.adversarial import r1_penalty
from vqkeras.losses.adversarial import vanilla_d_loss
from vqkeras.losses.adversarial import vanilla_g_loss
from vqkeras.losses.code_entropy import CodeEntropy
from vqkeras.losses.perceptual_loss import PerceptualLoss
