# CWD on the embedded dataset, student MobileNetV2 (FPN 64).
_base_ = ['./pkd_retinanet_r34_retinanet_mbv2_synthetic.py']
model = dict(distiller=dict(_delete_=True, **_base_.peers_embedded['cwd']))
