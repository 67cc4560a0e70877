# SEKD: RetinaNet R-101 (38.9 AP) -> RetinaNet R-50 (37.4 AP alone), COCO 2x.
_base_ = [
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_2x.py',
    'mmdet::_base_/default_runtime.py',
    '../_base_/distill/sekd_fpn256.py',
]
custom_imports = dict(imports=['sekd_mm'], allow_failed_imports=False)

teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_r101_fpn_2x_coco/retinanet_r101_fpn_2x_coco_20200131-5560aee8.pth'  # noqa: E501

model = dict(
    _scope_='mmrazor',
    type='DetFpnTeacherDistill',
    distill_warmup_iters=_base_.distill_warmup_iters,
    architecture=dict(cfg_path='mmdet::retinanet/retinanet_r50_fpn_2x_coco.py', pretrained=False),
    teacher=dict(cfg_path='mmdet::retinanet/retinanet_r101_fpn_2x_coco.py', pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='SEKDDistiller',
        student_recorders=_base_.fpn_recorders,
        teacher_recorders=_base_.fpn_recorders,
        sekd=dict(levels=_base_.retinanet_levels, **_base_.sekd_spec)))

optim_wrapper = dict(optimizer=dict(lr=0.01))  # RetinaNet's lr for 16 images/batch
# Evaluates the student, then the teacher (metrics prefixed `teacher.`).
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
