# Embedded synthetic dataset, Pascal VOC layout (VOCdevkit/VOC2007), 128 px,
# read by SyntheticVOCDataset (an unchanged mmdet VOCDataset) and scored
# with VOCMetric.
_base_ = ['./sekd_synthetic_coco.py']

dataset_type = 'SyntheticVOCDataset'
data_root = 'data/sekd_synthetic/VOCdevkit/'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='VOC2007/ImageSets/Main/trainval.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=4, bbox_min_size=4),
        pipeline={{_base_.train_pipeline}},
        backend_args=None))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        ann_file='VOC2007/ImageSets/Main/test.txt',
        data_prefix=dict(sub_data_root='VOC2007/'),
        test_mode=True,
        pipeline={{_base_.test_pipeline}},
        backend_args=None))
test_dataloader = val_dataloader

val_evaluator = dict(
    _delete_=True, type='VOCMetric', metric='mAP', eval_mode='area')
test_evaluator = val_evaluator
