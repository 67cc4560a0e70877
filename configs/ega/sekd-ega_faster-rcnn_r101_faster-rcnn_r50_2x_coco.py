# SEKD + EGA: Faster R-CNN R-101 -> R-50, COCO 2x (the SEKD config plus EGA).
_base_ = ['../sekd/sekd_faster-rcnn_r101_faster-rcnn_r50_2x_coco.py', '../_base_/distill/ega.py']

model = dict(
    distiller=dict(
        connectors=_base_.ega_connectors_fpn256,
        distill_losses=_base_.ega_losses,
        loss_forward_mappings=_base_.ega_loss_forward_mappings))
