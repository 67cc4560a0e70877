# SEKD spec shared by the COCO / VOC configs (teacher and student FPN 256).
# alpha/beta/gamma are our defaults, not tuned on COCO (see README).
fpn_recorders = dict(fpn=dict(type='ModuleOutputs', source='neck'))
retinanet_levels = ('p3', 'p4', 'p5', 'p6', 'p7')
faster_rcnn_levels = ('p2', 'p3', 'p4', 'p5', 'p6')
sekd_spec = dict(
    student_recorder='fpn',
    teacher_recorder='fpn',
    alpha=1.0,
    beta=1.0,
    gamma=1.0,
    tau=0.5,
    k=8,
    mode='residual',
    groups=1)

find_unused_parameters = True
# Refuse a missing or mismatched teacher before the first step.
custom_hooks = [dict(type='TeacherCheckHook')]
