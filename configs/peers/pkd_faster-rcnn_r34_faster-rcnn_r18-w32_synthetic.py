# PKD (MMRazor's PKDLoss, weight 10) for the embedded Faster R-CNN pair:
# the SEKD config's teacher, student, schedule and checks, with the
# distiller swapped (FitNet/CWD/MGD inherit this config and swap it again).
# The Faster R-CNNs have the RetinaNets' FPN (P2-P6, 64 -> 128 channels), so
# the distillers of _base_/distill/peers.py apply unchanged.
# Train the teacher first:
#   python tools/train.py configs/embedded/faster-rcnn_r34_synthetic.py
_base_ = [
    '../sekd/sekd_faster-rcnn_r34_faster-rcnn_r18-w32_synthetic.py',
    '../_base_/distill/peers.py',
]
# MMRazor's published setting: no warm-up of the distillation loss
model = dict(
    distill_warmup_iters=0,
    distiller=dict(_delete_=True, **_base_.peers_embedded['pkd']))
