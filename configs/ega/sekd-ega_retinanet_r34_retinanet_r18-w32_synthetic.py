# SEKD + EGA: RetinaNet R-34 -> R-18 half width on the embedded dataset: the SEKD
# config with the EGA losses added to its SEKDDistiller.
# Train the teacher first:
#   python tools/train.py configs/embedded/retinanet_r34_synthetic.py
_base_ = [
    '../sekd/sekd_retinanet_r34_retinanet_r18-w32_synthetic.py',
    '../_base_/distill/ega.py',
]

model = dict(
    distiller=dict(
        connectors=_base_.ega_connectors_embedded,
        distill_losses=_base_.ega_losses,
        loss_forward_mappings=_base_.ega_loss_forward_mappings))
