# SEKD: RetinaNet R-34 (FPN 128) -> MobileNetV2 (FPN 64), embedded COCO:
# the R-18 w32 config with the student swapped (docs/method.md,
# "Students") and no distillation warm-up, chosen by this student's
# same-choices search (configs/sekd/README.md, which also lists the peers
# that did better on this student).
_base_ = ['./sekd_retinanet_r34_retinanet_r18-w32_synthetic.py']

model = dict(architecture=dict(_delete_=True, **_base_.student_model_mbv2),
             distill_warmup_iters=0)
