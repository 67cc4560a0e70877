# Student: RetinaNet R-18 half width on the VOC layout, trained alone.
_base_ = ['./retinanet_r34_synthetic-voc.py']
model = _base_.student_model
