# Copyright (c) sekd-mm contributors. All rights reserved.
"""mmdet datasets over the embedded synthetic data, generated on first use.

They are mmdet's own :class:`~mmdet.datasets.CocoDataset` and
:class:`~mmdet.datasets.VOCDataset`, unchanged, plus one call to
:func:`~sekd_mm.datasets.ensure_synthetic_dataset` before loading, so that a
config (or ``mim train``) works on a fresh machine without a data step.
"""
import os.path as osp
from typing import List, Optional

from mmdet.datasets import CocoDataset, VOCDataset
from mmdet.registry import DATASETS

from .synthetic import CLASSES, DEFAULT_ARGS, ensure_synthetic_dataset

PALETTE = [(220, 20, 60), (0, 130, 200), (60, 180, 75), (245, 130, 48),
           (145, 30, 180)]


@DATASETS.register_module()
class SyntheticCocoDataset(CocoDataset):
    """COCO layout of the synthetic dataset.

    Args:
        synthetic (dict, optional): Generation arguments of
            :func:`~sekd_mm.datasets.ensure_synthetic_dataset`
            (``num_train``, ``num_val``, ``img_size``, ``seed``,
            ``max_objects``); the dataset is generated into ``data_root``.
        **kwargs: :class:`~mmdet.datasets.CocoDataset` arguments.
    """

    METAINFO = dict(classes=CLASSES, palette=PALETTE)

    def __init__(self, *args, synthetic: Optional[dict] = None,
                 **kwargs) -> None:
        if not kwargs.get('data_root'):
            raise ValueError('SyntheticCocoDataset needs data_root (the '
                             'folder to generate the dataset into)')
        ensure_synthetic_dataset(kwargs['data_root'], **(synthetic or {}))
        super().__init__(*args, **kwargs)


@DATASETS.register_module()
class SyntheticVOCDataset(VOCDataset):
    """Pascal VOC layout of the synthetic dataset.

    ``data_root`` is ``<root>/VOCdevkit/``; the dataset is generated into
    ``<root>``.

    Args:
        synthetic (dict, optional): see :class:`SyntheticCocoDataset`.
        **kwargs: :class:`~mmdet.datasets.VOCDataset` arguments.
    """

    METAINFO = dict(classes=CLASSES, palette=PALETTE)

    def __init__(self, *args, synthetic: Optional[dict] = None,
                 **kwargs) -> None:
        data_root = osp.normpath(kwargs.get('data_root') or '')
        if osp.basename(data_root) != 'VOCdevkit':
            raise ValueError('SyntheticVOCDataset needs data_root='
                             f"'<root>/VOCdevkit/', got {data_root!r}")
        ensure_synthetic_dataset(osp.dirname(data_root), **(synthetic or {}))
        super().__init__(*args, **kwargs)


#: Where ``Resize`` sits in the train / test pipelines of
#: ``configs/_base_/datasets/sekd_synthetic_{coco,voc}.py``.
RESIZE_STEP = dict(train=2, test=1)


def synthetic_cfg_options(data_root: Optional[str] = None,
                          img_scale: Optional[int] = None,
                          **synthetic: int) -> List[str]:
    """``--cfg-options`` that point an embedded (COCO layout) config at
    another synthetic dataset.

    Args:
        data_root (str, optional): where the dataset is (generated on first
            use); also moves the COCO evaluators' annotation file.
        img_scale (int, optional): square input size of the train and test
            pipelines (the images keep their generated size on disk).
        **synthetic: generation arguments, e.g. ``num_train=1024``.

    Returns:
        list[str]: ``key=value`` strings for ``tools/train.py``.
    """
    unknown = set(synthetic) - set(DEFAULT_ARGS)
    if unknown:
        raise TypeError(f'unknown synthetic dataset arguments {unknown}; '
                        f'valid: {sorted(DEFAULT_ARGS)}')
    opts = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = f'{loader}.dataset'
        opts += [f'{dataset}.synthetic.{k}={v}' for k, v in synthetic.items()]
        if data_root:
            opts.append(f'{dataset}.data_root={data_root}')
        if img_scale:
            step = RESIZE_STEP['train' if loader == 'train_dataloader' else
                               'test']
            opts.append(f'{dataset}.pipeline.{step}.scale='
                        f'({img_scale},{img_scale})')
    if data_root:
        ann = osp.join(data_root, 'annotations/instances_val.json')
        opts += [f'val_evaluator.ann_file={ann}',
                 f'test_evaluator.ann_file={ann}']
    return opts
