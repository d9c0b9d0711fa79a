"""Small nn.Modules, one idea per file; each takes plain keyword-only arguments, never a spec."""
from spaces.blocks.bottleneck import Bottleneck
from spaces.blocks.convs import ConvUnit, spatiotemporal_conv
from spaces.blocks.gating import SelfGating
from spaces.blocks.head import ClassifierHead
from spaces.blocks.inception import InceptionMixed
from spaces.blocks.pool import downsample_pool
from spaces.blocks.stem import conv_stem_layer
from spaces.blocks.excite import SqueezeExcitation
from spaces.blocks.tosa import D21DLayer, TOSABlock

__all__ = ["Bottleneck", "ConvUnit", "spatiotemporal_conv", "SelfGating", "ClassifierHead", "InceptionMixed",
           "downsample_pool", "conv_stem_layer", "D21DLayer", "SqueezeExcitation", "TOSABlock"]
