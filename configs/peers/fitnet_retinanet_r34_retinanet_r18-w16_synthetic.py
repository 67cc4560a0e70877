# FitNet on the embedded dataset, student R-18 at a quarter width
# (FPN 32).
_base_ = ['./pkd_retinanet_r34_retinanet_r18-w16_synthetic.py']
model = dict(
    distiller=dict(_delete_=True, **_base_.peers_embedded_w16['fitnet']))
