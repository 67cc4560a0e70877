# Student: RetinaNet MobileNetV2 (FPN 64) on the embedded synthetic
# dataset, trained alone.
_base_ = ['./retinanet_r34_synthetic.py']
model = dict(_delete_=True, **_base_.student_model_mbv2)
