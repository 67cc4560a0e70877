# SEKD: Faster R-CNN R-101 (39.8 AP) -> Faster R-CNN R-50 (38.4 AP alone), COCO 2x.
_base_ = [
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_2x.py',
    'mmdet::_base_/default_runtime.py',
    '../_base_/distill/sekd_fpn256.py',
]
custom_imports = dict(imports=['sekd_mm'], allow_failed_imports=False)

teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/faster_rcnn_r101_fpn_2x_coco/faster_rcnn_r101_fpn_2x_coco_bbox_mAP-0.398_20200504_210455-1d2dac9c.pth'  # noqa: E501

model = dict(
    _scope_='mmrazor',
    type='DetFpnTeacherDistill',
    distill_warmup_iters=_base_.distill_warmup_iters,
    architecture=dict(cfg_path='mmdet::faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py', pretrained=False),
    teacher=dict(cfg_path='mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py', pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='SEKDDistiller',
        student_recorders=_base_.fpn_recorders,
        teacher_recorders=_base_.fpn_recorders,
        sekd=dict(levels=_base_.faster_rcnn_levels, **_base_.sekd_spec)))

optim_wrapper = dict(optimizer=dict(lr=0.02))  # Faster R-CNN's lr for 16 images/batch
# Evaluates the student, then the teacher (metrics prefixed `teacher.`).
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
