# Student: Faster R-CNN R-18 half width (FPN 64), trained alone.
_base_ = ['./faster-rcnn_r34_synthetic.py']
model = _base_.student_model
