# SEKD spec shared by every SEKD config: the COCO / VOC ones (teacher and
# student FPN 256) and, through sekd_embedded.py, the embedded ones.
# The design and weights are those chosen on the embedded accuracy study's
# tuning split (docs/results.md, "Design log"; candidate sekd_g03_batch at
# 0.3x); they were not tuned on COCO (see README). The teacher's attention
# concentrated the loss on a few channels and lowered AP in every form
# measured (tau 0.5, 2, 4; spatial only), so it is off; the options stay.
# Why the same weights carry over to COCO: with standardised
# vertices and Pearson edges, L_V, L_E and L_S do not depend on the FPN's
# activation scale or map size (L_V is 2 (1 - Pearson) per channel), and a
# RetinaNet / Faster R-CNN detection loss starts at 1-2 on COCO as on the
# embedded set, so these weights keep the ratio the winning setting had:
# distillation terms at about 10x the detection loss at the start.
fpn_recorders = dict(fpn=dict(type='ModuleOutputs', source='neck'))
retinanet_levels = ('p3', 'p4', 'p5', 'p6', 'p7')
faster_rcnn_levels = ('p2', 'p3', 'p4', 'p5', 'p6')
sekd_spec = dict(
    student_recorder='fpn',
    teacher_recorder='fpn',
    alpha=1.5,
    beta=2.25,
    gamma=2.25,
    tau=0.5,
    k=8,
    mode='residual',
    groups=1,
    attention='teacher',
    vertex='standard',
    vertex_tau=1.0,
    center_edges=True,
    # one graph per level over the (per-GPU) batch
    graph='batch',
    spatial_attention=False,
    channel_attention=False,
    # FGD-style foreground weight of attention='gt' (box attention)
    gt_fg_weight=2.0,
    # The SEKD weights ramp up linearly over the learning rate's warm-up
    # (mmdet's COCO schedules: 500 iterations; VOC's schedule has no LR
    # warm-up, the same 500 iterations are used there). On the embedded
    # study's tuning split a ramp over its LR warm-up (100 iterations)
    # added +0.3 / +0.4 AP on two seeds, and with the small levels left out
    # (sekd_embedded.py) +1.05 AP over the session-3 design (docs/results.md,
    # design log, session 6).
    warmup_iters=500)

find_unused_parameters = True
# Refuse a missing or mismatched teacher before the first step.
custom_hooks = [dict(type='TeacherCheckHook')]
