# SEKD: RetinaNet R-34 (FPN 128) -> MobileNetV2 (FPN 64), embedded COCO:
# the R-18 w32 config with the student swapped (docs/method.md,
# "Students"), and without the distillation warm-up. The same-choices
# search on this student (tuning seeds 100 / 101, 2026-12-04) chose 3x,
# p2-p4 and no warm-up: 8.4 / 10.4 AP (with the warm-up 8.55 on average;
# V only at its own best, 1x p2-p4 with the warm-up, 7.3 / 8.0; CWD 0.3x
# all levels 11.3 and FitNet 1x p2-p4 10.2 on average). Reported seeds 0-2
# (2026-12-05): SEKD +5.7 +- 1.9 AP over the student alone, level with V
# only (+0.03 +- 1.62) and behind CWD (+8.4 +- 1.6) and FitNet (+7.1 +- 0.6):
# for this student the data recommend CWD (configs/README.md).
_base_ = ['./sekd_retinanet_r34_retinanet_r18-w32_synthetic.py']

model = dict(architecture=dict(_delete_=True, **_base_.student_model_mbv2),
             distill_warmup_iters=0)
