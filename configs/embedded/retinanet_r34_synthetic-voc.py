# Teacher: RetinaNet R-34 on the VOC layout of the embedded dataset.
_base_ = [
    '../_base_/models/sekd_embedded_retinanet.py',
    '../_base_/datasets/sekd_synthetic_voc.py',
    '../_base_/schedules/sekd_embedded.py',
]
custom_imports = dict(imports=['sekd_mm'], allow_failed_imports=False)
model = _base_.teacher_model
