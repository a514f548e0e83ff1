"""Token priors: autoregressive models over grids of code indices, and their sampling filters."""

from vqkeras.priors import sampling
from vqkeras.priors.base_prior import BasePrior
from vqkeras.priors.self_attention import SelfAttention
from vqkeras.priors.transformer_block import TransformerBlock
from vqkeras.priors.transformer_prior import TransformerPrior
from vqkeras.priors.gated_pixelcnn_block import GatedPixelCNNBlock
from vqkeras.priors.pixelcnn_prior import PixelCNNPrior
from vqkeras.priors.maskgit_prior import MaskGITPrior
from vqkeras.priors.guide_snapshot import GuideSnapshot
