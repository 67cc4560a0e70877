# PKD (MMRazor's PKDLoss, weight 10) on the embedded dataset, the same
# teacher/student/schedule as configs/sekd/sekd_retinanet_r34_retinanet_
# r18-w32_synthetic.py. The FitNet/CWD/MGD configs inherit this one.
# Train the teacher first:
#   python tools/train.py configs/embedded/retinanet_r34_synthetic.py
_base_ = [
    '../embedded/retinanet_r18-w32_synthetic.py',
    '../_base_/distill/peers.py',
]

teacher_ckpt = 'work_dirs/retinanet_r34_synthetic/iter_600.pth'
model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='FpnTeacherDistill',
    architecture=_base_.student_model,
    teacher=_base_.teacher_model,
    teacher_ckpt=teacher_ckpt,
    distiller=_base_.peers_embedded['pkd'])

find_unused_parameters = True
custom_hooks = [dict(type='TeacherCheckHook')]
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
