# SEKD spec shared by every SEKD config: the COCO / VOC ones (teacher and
# student FPN 256) and, through sekd_embedded.py, the embedded ones. A
# config overrides a key by setting it, e.g. sekd=dict(beta=0, gamma=0)
# for the vertex term alone. The weights were chosen on the embedded study;
# they carry over to COCO / VOC because L_V, L_E and L_S depend neither on
# the FPN's activation scale nor on the map size, and the detection losses
# start at the same size there (docs/method.md, "Scale of the terms").
fpn_recorders = dict(fpn=dict(type='ModuleOutputs', source='neck'))
retinanet_levels = ('p3', 'p4', 'p5', 'p6', 'p7')
faster_rcnn_levels = ('p2', 'p3', 'p4', 'p5', 'p6')
sekd_spec = dict(
    student_recorder='fpn',
    teacher_recorder='fpn',
    # the shipped design (SEKDDesign, sekd_mm/models/utils/crg.py): the
    # weights of L_V, L_E, L_S, attention off, k eigenvectors in one group
    alpha=1.5,
    beta=2.25,
    gamma=2.25,
    tau=0.5,
    spatial_attention=False,
    channel_attention=False,
    k=8,
    groups=1)
# the distillation losses ramp up over the LR warm-up of mmdet's COCO
# schedules (500 iterations; VOC's schedule has none, the same ramp is used)
distill_warmup_iters = 500

find_unused_parameters = True
# Refuse a missing or mismatched teacher before the first step.
custom_hooks = [dict(type='TeacherCheckHook')]
