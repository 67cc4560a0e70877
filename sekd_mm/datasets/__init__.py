# Copyright (c) sekd-mm contributors. All rights reserved.
from .synthetic import (CLASSES, DEFAULT_ARGS, ensure_synthetic_dataset,
                        generate_synthetic_dataset)
from .synthetic_dataset import (SyntheticCocoDataset, SyntheticVOCDataset,
                                synthetic_cfg_options)

__all__ = [
    'CLASSES', 'DEFAULT_ARGS', 'generate_synthetic_dataset',
    'ensure_synthetic_dataset', 'SyntheticCocoDataset', 'SyntheticVOCDataset',
    'synthetic_cfg_options'
]
