# Copyright (c) sekd-mm contributors. All rights reserved.
from .crg import (SHIPPED, CRGAttention, CRGPair, SEKDDesign, Spectrum,
                  batch_teacher_spectra, box_mask, channel_adjacency,
                  check_pair, crg_cka, level_pairs, normalized_laplacian,
                  pearson_matrix, split_bands, standardize_channels,
                  standardize_rows)

__all__ = [
    'SHIPPED', 'CRGAttention', 'CRGPair', 'SEKDDesign', 'Spectrum',
    'batch_teacher_spectra', 'box_mask', 'channel_adjacency', 'check_pair',
    'crg_cka', 'level_pairs', 'normalized_laplacian', 'pearson_matrix',
    'split_bands', 'standardize_channels', 'standardize_rows'
]
