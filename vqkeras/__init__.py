"""vqkeras: vector-quantized image models (VQ-VAE, VQ-GAN) for Keras 3.

"VQ" is vector quantization: an encoder maps an image to a grid of vectors, each snapped to its nearest entry in a
learned codebook, and a decoder maps the grid back.
"""

__version__ = "0.1.0"

from vqkeras._startup import set_tensorflow_log_level as _set_tensorflow_log_level

_set_tensorflow_log_level()  # before TensorFlow loads: it reads the level once (the command line hides its logs)

from vqkeras import backbones
from vqkeras import callbacks
from vqkeras import convert
from vqkeras import data
from vqkeras import export
from vqkeras import layers
from vqkeras import losses
from vqkeras import metrics
from vqkeras import models
from vqkeras import optimizers
from vqkeras import presets
from vqkeras import priors
from vqkeras import quantizers
from vqkeras import samplers
from vqkeras import utils
from vqkeras.generator import train_vqgan
from vqkeras.generator import train_vqvae
