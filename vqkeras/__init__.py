"""vqkeras: vector-quantized image models (VQ-VAE, VQ-GAN) for Keras 3.

"VQ" is vector quantization: an encoder maps an image to a grid of vectors, each snapped to its nearest entry in a
learned codebook, and a decoder maps the grid back.
"""

__version__ = "0.1.0"

from vqkeras import backbones
from vqkeras import data
from vqkeras import layers
from vqkeras import losses
from vqkeras import models
from vqkeras import priors
from vqkeras import utils
from vqkeras.generator import train_vqgan
from vqkeras.generator import train_vqvae
