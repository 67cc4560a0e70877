# Teacher and student RetinaNets for the embedded 128 px dataset, trained
# from scratch (no pretrained weights: nothing is downloaded). FPN levels
# P2-P6 (strides 4-64) so that 6-100 px objects spread over all levels.
# Class count (5 here): a config built on these sets it once, with
# `model.bbox_head.num_classes=N` for a plain detector or `model.num_classes=N`
# for a distillation (DetFpnTeacherDistill sets the student and the
# teacher). `teacher_model`/`student_model` are copied into `model` when a
# config is read, so overriding them in a derived config changes nothing.
det_data_preprocessor = dict(
    type='mmdet.DetDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_size_divisor=32)


def _resnet(depth, base):
    """A ResNet of ``base`` stem channels and its four stages' widths."""
    return dict(
        type='ResNet',
        depth=depth,
        base_channels=base,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        style='pytorch',
        init_cfg=None), [base, base * 2, base * 4, base * 8]


def _mobilenet_v2():
    """MobileNetV2 (width 1) at strides 4-32: the outputs of its stages 2,
    3, 5 and 7 (24, 32, 96 and 320 channels)."""
    return dict(
        type='MobileNetV2',
        out_indices=(1, 2, 4, 6),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None), [24, 32, 96, 320]


def _retinanet(backbone, fpn):
    backbone, widths = backbone
    return dict(
        _scope_='mmdet',
        type='RetinaNet',
        data_preprocessor=det_data_preprocessor,
        backbone=backbone,
        neck=dict(
            type='FPN',
            in_channels=widths,
            out_channels=fpn,
            start_level=0,
            add_extra_convs='on_input',
            num_outs=5),
        bbox_head=dict(
            type='RetinaHead',
            num_classes=5,
            in_channels=fpn,
            stacked_convs=2,
            feat_channels=fpn,
            anchor_generator=dict(
                type='AnchorGenerator',
                octave_base_scale=4,
                scales_per_octave=3,
                ratios=[0.5, 1.0, 2.0],
                strides=[4, 8, 16, 32, 64]),
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[.0, .0, .0, .0],
                target_stds=[1.0, 1.0, 1.0, 1.0]),
            loss_cls=dict(
                type='FocalLoss',
                use_sigmoid=True,
                gamma=2.0,
                alpha=0.25,
                loss_weight=1.0),
            loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
        train_cfg=dict(
            assigner=dict(
                type='MaxIoUAssigner',
                pos_iou_thr=0.5,
                neg_iou_thr=0.4,
                min_pos_iou=0,
                ignore_iof_thr=-1),
            sampler=dict(type='PseudoSampler'),
            allowed_border=-1,
            pos_weight=-1,
            debug=False),
        test_cfg=dict(
            nms_pre=1000,
            min_bbox_size=0,
            score_thr=0.05,
            nms=dict(type='nms', iou_threshold=0.5),
            max_per_img=100))


teacher_model = _retinanet(_resnet(depth=34, base=64), fpn=128)
student_model = _retinanet(_resnet(depth=18, base=32), fpn=64)
# The students where the teacher's vertices cannot be matched as easily
# (docs/method.md, "Students"): R-18 at a quarter of its width with a
# quarter of the teacher's FPN channels (32), and another backbone family
# (MobileNetV2, FPN 64 like the default student).
student_model_r18_w16 = _retinanet(_resnet(depth=18, base=16), fpn=32)
student_model_mbv2 = _retinanet(_mobilenet_v2(), fpn=64)
