# SEKD: RetinaNet R-34 (FPN 128) -> R-18 at a quarter width (FPN 32),
# embedded COCO: the R-18 w32 config with the student and its connectors
# swapped (docs/method.md, "Students"). The same-choices search on this
# student chose the half-width student's setting again (3x, p2-p4, warm-up
# 100; tuning seeds 100 / 101: 5.6 / 5.4 AP, V only 5.1 / 5.4, PKD 5.2 / 4.4).
# Reported seeds 0-2 (2026-12-04): SEKD +3.3 +- 0.5 AP over the student
# alone, level with V only (-0.17 +- 0.21) and with PKD (+0.03 +- 0.12).
_base_ = ['./sekd_retinanet_r34_retinanet_r18-w32_synthetic.py']

model = dict(
    architecture=dict(_delete_=True, **_base_.student_model_r18_w16),
    distiller=dict(sekd=dict(student_connectors=dict(in_channel=32))))
