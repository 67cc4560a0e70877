# EGA alone: RetinaNet R-101 -> R-50, COCO 2x.
_base_ = ['../sekd/sekd_retinanet_r101_retinanet_r50_2x_coco.py', '../_base_/distill/ega.py']

model = dict(
    distill_warmup_iters=0,  # EGA alone: no warm-up
    distiller=dict(
        _delete_=True,
        type='ConfigurableDistiller',
        student_recorders=_base_.fpn_recorders,
        teacher_recorders=_base_.fpn_recorders,
        connectors=_base_.ega_connectors_fpn256,
        distill_losses=_base_.ega_losses,
        loss_forward_mappings=_base_.ega_loss_forward_mappings))
