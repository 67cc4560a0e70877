# SEKD on the five FPN levels (P2-P6) of the embedded models: teacher FPN 128
# channels, student FPN 64 channels (a 1x1 ConvModule connector per level).
# The design and weights are the shared SEKD spec (sekd_fpn256.py), chosen
# on the accuracy study's tuning split (docs/results.md, "Design log").
_base_ = ['./sekd_fpn256.py']

sekd_distiller = dict(
    type='SEKDDistiller',
    student_recorders=_base_.fpn_recorders,
    teacher_recorders=_base_.fpn_recorders,
    sekd=dict(
        levels=('p2', 'p3', 'p4', 'p5', 'p6'),
        # a linear 1x1 conv: MMRazor's default ReLU would clip the
        # student's maps to >= 0 while the teacher's FPN maps are signed
        student_connectors=dict(
            type='ConvModuleConnector',
            in_channel=64,
            out_channel=128,
            act_cfg=None),
        **_base_.sekd_spec))
