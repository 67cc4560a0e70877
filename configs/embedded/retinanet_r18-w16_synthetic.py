# Student: RetinaNet R-18 at a quarter width (FPN 32, a quarter of the
# teacher's 128) on the embedded synthetic dataset, trained alone.
_base_ = ['./retinanet_r34_synthetic.py']
model = dict(_delete_=True, **_base_.student_model_r18_w16)
