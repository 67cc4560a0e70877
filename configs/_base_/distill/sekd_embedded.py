# SEKD on the five FPN levels (P2-P6) of the embedded models: teacher FPN 128
# channels, student FPN 64 channels (a 1x1 ConvModule connector per level).
# The design and weights were chosen on the accuracy study's tuning split
# (docs/results.md, "Design log"; docs/method.md says what each key does).
sekd_distiller = dict(
    type='SEKDDistiller',
    student_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
    teacher_recorders=dict(fpn=dict(type='ModuleOutputs', source='neck')),
    sekd=dict(
        student_recorder='fpn',
        teacher_recorder='fpn',
        levels=('p2', 'p3', 'p4', 'p5', 'p6'),
        # alpha = PKD's published scale (PKDLoss weight 10 on half the same
        # MSE); beta, gamma: each graph term at a third of the vertex term
        # at the start (unweighted, summed over levels, trained teacher:
        # L_V 14.4, L_E 0.96, L_S 0.93)
        alpha=5.0,
        beta=25.0,
        gamma=25.0,
        tau=0.5,
        k=8,
        mode='residual',
        attention='teacher',
        vertex='standard',
        vertex_tau=1.0,
        center_edges=True,
        graph='image',
        spatial_attention=True,
        channel_attention=True,
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
