# FitNet on the embedded dataset (see _base_/distill/peers.py for its weights).
_base_ = ['./pkd_retinanet_r34_retinanet_r18-w32_synthetic.py']
model = dict(distiller=dict(_delete_=True, **_base_.peers_embedded['fitnet']))
