"""Pretrained backbones that work offline (used by perceptual and FID losses)."""

from vqkeras.backbones.efficientnet_lite0 import DEFAULT_FEATURE_LAYERS
from vqkeras.backbones.efficientnet_lite0 import block_output_name
from vqkeras.backbones.efficientnet_lite0 import efficientnet_lite0
from vqkeras.backbones.imagenet import preprocess_input
from vqkeras.backbones.mobilenet_v2 import DEFAULT_FEATURE_LAYERS as MOBILENET_V2_FEATURE_LAYERS
from vqkeras.backbones.mobilenet_v2 import mobilenet_v2
from vqkeras.backbones.torch_checkpoint import RestrictedUnpickler
from vqkeras.backbones.torch_checkpoint import load_torch_checkpoint
from vqkeras.backbones.torch_checkpoint import load_torch_state_dict
