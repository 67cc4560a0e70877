# PKD on the embedded dataset with the student MobileNetV2 (FPN 64): the SEKD
# config of that student with the distiller swapped, as for R-18 w32.
_base_ = [
    '../sekd/sekd_retinanet_r34_retinanet_mbv2_synthetic.py',
    '../_base_/distill/peers.py',
]
# MMRazor's published setting: no warm-up of the distillation loss
model = dict(
    distill_warmup_iters=0,
    distiller=dict(_delete_=True, **_base_.peers_embedded['pkd']))
