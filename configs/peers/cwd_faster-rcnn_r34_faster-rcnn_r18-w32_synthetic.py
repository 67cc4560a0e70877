# CWD for the embedded Faster R-CNN pair (see _base_/distill/peers.py for its
# weights).
_base_ = ['./pkd_faster-rcnn_r34_faster-rcnn_r18-w32_synthetic.py']
model = dict(distiller=dict(_delete_=True, **_base_.peers_embedded['cwd']))
