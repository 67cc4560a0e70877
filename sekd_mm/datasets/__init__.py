# Copyright (c) sekd-mm contributors. All rights reserved.
from .checks import (DatasetError, box_warnings, check_coco, check_outside,
                     image_size, voc_classes, voc_ids, voc_to_coco)
from .synthetic import (CLASSES, DEFAULT_ARGS, ensure_synthetic_dataset,
                        generate_synthetic_dataset)
from .synthetic_dataset import (SyntheticCocoDataset, SyntheticVOCDataset,
                                synthetic_cfg_options)

__all__ = [
    'DatasetError', 'box_warnings', 'check_coco', 'check_outside',
    'image_size', 'voc_classes', 'voc_ids', 'voc_to_coco', 'CLASSES',
    'DEFAULT_ARGS', 'generate_synthetic_dataset', 'ensure_synthetic_dataset',
    'SyntheticCocoDataset', 'SyntheticVOCDataset', 'synthetic_cfg_options'
]
