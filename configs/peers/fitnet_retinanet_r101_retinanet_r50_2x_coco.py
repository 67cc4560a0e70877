# FitNet: RetinaNet R-101 -> R-50 on COCO 2x (weights: _base_/distill/peers.py).
_base_ = ['./pkd_retinanet_r101_retinanet_r50_2x_coco.py']
model = dict(distiller=dict(_delete_=True, **_base_.peers_retinanet_fpn256['fitnet']))
