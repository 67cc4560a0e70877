# SEKD spec shared by the COCO / VOC configs (teacher and student FPN 256).
# The design and weights are those chosen on the embedded accuracy study's
# tuning split (docs/results.md, "Design log"); they were not tuned on
# COCO (see README).
fpn_recorders = dict(fpn=dict(type='ModuleOutputs', source='neck'))
retinanet_levels = ('p3', 'p4', 'p5', 'p6', 'p7')
faster_rcnn_levels = ('p2', 'p3', 'p4', 'p5', 'p6')
sekd_spec = dict(
    student_recorder='fpn',
    teacher_recorder='fpn',
    alpha=5.0,
    beta=25.0,
    gamma=25.0,
    tau=0.5,
    k=8,
    mode='residual',
    groups=1,
    attention='teacher',
    vertex='standard',
    vertex_tau=1.0,
    center_edges=True,
    graph='image',
    spatial_attention=True,
    channel_attention=True)

find_unused_parameters = True
# Refuse a missing or mismatched teacher before the first step.
custom_hooks = [dict(type='TeacherCheckHook')]
