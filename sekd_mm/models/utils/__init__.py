# Copyright (c) sekd-mm contributors. All rights reserved.
from .crg import (CRGPair, Spectrum, TeacherAttention, channel_adjacency,
                  check_pair, level_pairs)
from .spectral import band_projectors, normalized_laplacian, split_bands

__all__ = [
    'CRGPair', 'Spectrum', 'TeacherAttention', 'channel_adjacency',
    'check_pair', 'level_pairs', 'band_projectors', 'normalized_laplacian',
    'split_bands'
]
