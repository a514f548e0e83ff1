"""Quality metrics: PSNR, SSIM, codebook usage and perplexity, FID and KID, Gram-matrix style distance."""

from vqkeras.metrics.evaluate import evaluate_model
from vqkeras.metrics.feature_extractors import EfficientNetLite0Features
from vqkeras.metrics.feature_extractors import FeatureExtractor
from vqkeras.metrics.feature_extractors import InceptionV3Features
from vqkeras.metrics.feature_extractors import WeightsUnavailableError
from vqkeras.metrics.feature_extractors import compute_features
from vqkeras.metrics.frechet import feature_statistics
from vqkeras.metrics.frechet import frechet_distance
from vqkeras.metrics.generative import fid
from vqkeras.metrics.generative import kid
from vqkeras.metrics.kernel_distance import kernel_inception_distance
from vqkeras.metrics.reconstruction import codebook_stats
from vqkeras.metrics.reconstruction import psnr
from vqkeras.metrics.reconstruction import ssim
from vqkeras.metrics.style_distance import StyleDistance
