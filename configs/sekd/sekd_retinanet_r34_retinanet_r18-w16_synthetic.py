# SEKD: RetinaNet R-34 (FPN 128) -> R-18 at a quarter width (FPN 32),
# embedded COCO: the R-18 w32 config with the student and its connectors
# swapped (docs/method.md, "Students"); this student's same-choices search
# chose the same setting (configs/sekd/README.md).
_base_ = ['./sekd_retinanet_r34_retinanet_r18-w32_synthetic.py']

model = dict(
    architecture=dict(_delete_=True, **_base_.student_model_r18_w16),
    distiller=dict(sekd=dict(student_connectors=dict(in_channel=32))))
