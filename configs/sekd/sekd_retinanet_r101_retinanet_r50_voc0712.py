# SEKD: retinanet R-101 -> retinanet R-50 on Pascal VOC 07+12 (mmdet's VOC schedule:
# 4 epochs over the dataset repeated 3 times), evaluated on VOC2007 test.
# Train the teacher first:
#   python tools/train.py configs/voc/retinanet_r101_fpn_1x_voc0712.py
_base_ = [
    '../voc/retinanet_r101_fpn_1x_voc0712.py',
    '../_base_/distill/sekd_fpn256.py',
]

teacher_ckpt = 'work_dirs/retinanet_r101_fpn_1x_voc0712/epoch_4.pth'

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='DetFpnTeacherDistill',
    distill_warmup_iters=_base_.distill_warmup_iters,
    architecture=dict(
        cfg_path='mmdet::pascal_voc/retinanet_r50_fpn_1x_voc0712.py',
        pretrained=False),
    teacher=_base_.model,
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='SEKDDistiller',
        student_recorders=_base_.fpn_recorders,
        teacher_recorders=_base_.fpn_recorders,
        sekd=dict(levels=_base_.retinanet_levels, **_base_.sekd_spec)))

val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
