# SEKD + EGA: RetinaNet R-34 -> R-18 half width on the embedded dataset.
# Train the teacher first:
#   python tools/train.py configs/embedded/retinanet_r34_synthetic.py
_base_ = [
    '../embedded/retinanet_r18-w32_synthetic.py',
    '../_base_/distill/sekd_embedded.py',
    '../_base_/distill/ega.py',
]

teacher_ckpt = 'work_dirs/retinanet_r34_synthetic/iter_600.pth'
fpn_recorders = dict(fpn=dict(type='ModuleOutputs', source='neck'))

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='FpnTeacherDistill',
    architecture=_base_.student_model,
    teacher=_base_.teacher_model,
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        type='SEKDDistiller',
        student_recorders=fpn_recorders,
        teacher_recorders=fpn_recorders,
        sekd=_base_.sekd_distiller['sekd'],
        connectors=_base_.ega_connectors_embedded,
        distill_losses=_base_.ega_losses,
        loss_forward_mappings=_base_.ega_loss_forward_mappings))

find_unused_parameters = True
custom_hooks = [dict(type='TeacherCheckHook')]
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
