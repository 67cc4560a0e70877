# PKD (MMRazor's PKDLoss, weight 10) on the embedded dataset: the SEKD
# config's teacher, student, schedule and checks, with the distiller
# swapped (FitNet/CWD/MGD inherit this config and swap it again).
# Train the teacher first:
#   python tools/train.py configs/embedded/retinanet_r34_synthetic.py
_base_ = [
    '../sekd/sekd_retinanet_r34_retinanet_r18-w32_synthetic.py',
    '../_base_/distill/peers.py',
]
# MMRazor's published setting: no warm-up of the distillation loss
model = dict(
    distill_warmup_iters=0,
    distiller=dict(_delete_=True, **_base_.peers_embedded['pkd']))
