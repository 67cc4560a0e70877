# Copyright (c) sekd-mm contributors. All rights reserved.
from .crg import (ATTENTION_SOURCES, VERTEX_MODES, CRGAttention, CRGPair,
                  Spectrum, TeacherAttention, batch_teacher_spectra,
                  box_attention, channel_adjacency, check_pair, level_pairs,
                  spatial_log_softmax, standardize_channels)
from .spectral import band_projectors, normalized_laplacian, split_bands

__all__ = [
    'ATTENTION_SOURCES', 'VERTEX_MODES', 'CRGAttention', 'CRGPair',
    'Spectrum', 'TeacherAttention', 'batch_teacher_spectra', 'box_attention',
    'channel_adjacency', 'check_pair', 'level_pairs', 'spatial_log_softmax',
    'standardize_channels', 'band_projectors', 'normalized_laplacian',
    'split_bands'
]
