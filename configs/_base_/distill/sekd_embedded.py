# SEKD on the embedded models (teacher FPN 128, student FPN 64, a 1x1
# connector per level), on the first three FPN levels, with the
# distillation warm-up: the choices of the same-choices search
# (configs/sekd/README.md). The design and weights: sekd_fpn256.py.
_base_ = ['./sekd_fpn256.py']

sekd_distiller = dict(
    type='SEKDDistiller',
    student_recorders=_base_.fpn_recorders,
    teacher_recorders=_base_.fpn_recorders,
    sekd=dict(
        # the first three FPN levels (the last two maps are 2 x 2 and
        # 1 x 1 at 96 px); the COCO / VOC configs keep all five
        levels=('p2', 'p3', 'p4'),
        # a linear 1x1 conv: MMRazor's default ReLU would clip the
        # student's maps to >= 0 while the teacher's FPN maps are signed
        student_connectors=dict(
            type='ConvModuleConnector',
            in_channel=64,
            out_channel=128,
            act_cfg=None),
        **_base_.sekd_spec))
# over the embedded schedule's LR warm-up
distill_warmup_iters = 100
