# Student: RetinaNet R-18 at half width (FPN 64) on the embedded synthetic
# dataset, trained alone (the baseline SEKD must beat).
_base_ = ['./retinanet_r34_synthetic.py']
model = _base_.student_model
