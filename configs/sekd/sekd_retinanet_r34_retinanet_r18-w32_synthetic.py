# SEKD: RetinaNet R-34 (FPN 128) -> R-18 half width (FPN 64), embedded COCO.
# Train the teacher first:
#   python tools/train.py configs/embedded/retinanet_r34_synthetic.py
_base_ = [
    '../embedded/retinanet_r18-w32_synthetic.py',
    '../_base_/distill/sekd_embedded.py',
]

# relative to the directory you run from (the repository root when you follow
# the command above); set an absolute path, or --cfg-options
# model.teacher_ckpt=PATH, otherwise.
teacher_ckpt = 'work_dirs/retinanet_r34_synthetic/iter_600.pth'

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='DetFpnTeacherDistill',
    distill_warmup_iters=_base_.distill_warmup_iters,
    architecture=_base_.student_model,
    teacher=_base_.teacher_model,
    teacher_ckpt=teacher_ckpt,
    # weights 3x the design's, chosen by the same-choices search
    # (configs/sekd/README.md)
    distiller=dict(
        _base_.sekd_distiller,
        sekd=dict(_base_.sekd_distiller.sekd, alpha=4.5, beta=6.75,
                  gamma=6.75)))

# Evaluates the student, then the teacher (metrics prefixed `teacher.`).
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
