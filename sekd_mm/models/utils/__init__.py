# Copyright (c) sekd-mm contributors. All rights reserved.
from .crg import (SHIPPED, CRGAttention, CRGPair, SEKDDesign, Spectrum,
                  batch_teacher_spectra, channel_adjacency, check_pair,
                  level_pairs, normalized_laplacian, split_bands,
                  standardize_channels)
from .pearson import (compute_dtype, no_autocast, pearson_matrix,
                      standardize_rows)

__all__ = [
    'SHIPPED', 'CRGAttention', 'CRGPair', 'SEKDDesign', 'Spectrum',
    'batch_teacher_spectra', 'channel_adjacency', 'check_pair',
    'compute_dtype', 'level_pairs', 'no_autocast', 'normalized_laplacian',
    'pearson_matrix', 'split_bands', 'standardize_channels',
    'standardize_rows'
]
