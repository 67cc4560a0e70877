# Copyright (c) sekd-mm contributors. All rights reserved.
from .crg_base import BaseCRGLoss
from .crg_edge_loss import CRGEdgeLoss
from .crg_spectral_loss import CRGSpectralLoss
from .crg_vertex_loss import CRGVertexLoss
from .ega_loss import BaseEGALoss, EGAEdgeLoss, EGALoss, EGANodeLoss

__all__ = [
    'BaseCRGLoss', 'CRGVertexLoss', 'CRGEdgeLoss', 'CRGSpectralLoss',
    'BaseEGALoss', 'EGAEdgeLoss', 'EGANodeLoss', 'EGALoss'
]
