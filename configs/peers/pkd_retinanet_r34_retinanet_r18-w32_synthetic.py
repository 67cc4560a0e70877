# PKD (MMRazor's PKDLoss, weight 10) on the embedded dataset: the SEKD
# config's teacher, student, schedule and checks, with the distiller
# swapped (FitNet/CWD/MGD inherit this config and swap it again).
# Train the teacher first:
#   python tools/train.py configs/embedded/retinanet_r34_synthetic.py
_base_ = [
    '../sekd/sekd_retinanet_r34_retinanet_r18-w32_synthetic.py',
    '../_base_/distill/peers.py',
]
model = dict(distiller=dict(_delete_=True, **_base_.peers_embedded['pkd']))
