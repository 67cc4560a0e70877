# SEKD on the five FPN levels (P2-P6) of the embedded models: teacher FPN 128
# channels, student FPN 64 channels (a 1x1 ConvModule connector per level).
sekd_distiller = dict(
    type='SEKDDistiller',
    student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
    teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
    sekd=dict(
        student_recorder='fpn',
        teacher_recorder='fpn',
        levels=('p2', 'p3', 'p4', 'p5', 'p6'),
        # L_V is a raw-activation MSE (~100 summed over levels at init, vs
        # a detection loss of ~2); L_E and L_S are O(1) (docs/method.md).
        alpha=0.05,
        beta=1.0,
        gamma=1.0,
        tau=0.5,
        k=8,
        mode='residual',
        # a linear 1x1 conv: MMRazor's default ReLU would clip the
        # student's maps to >= 0 while the teacher's FPN maps are signed
        student_connectors=dict(
            type='ConvModuleConnector',
            in_channel=64,
            out_channel=128,
            act_cfg=None)))

find_unused_parameters = True
# Refuse a missing or mismatched teacher before the first step.
custom_hooks = [dict(type='TeacherCheckHook')]
