# EGA alone: RetinaNet R-34 -> R-18 half width on the embedded dataset: the SEKD
# config's teacher, student, schedule and checks, with the distiller swapped.
# Train the teacher first:
#   python tools/train.py configs/embedded/retinanet_r34_synthetic.py
_base_ = [
    '../sekd/sekd_retinanet_r34_retinanet_r18-w32_synthetic.py',
    '../_base_/distill/ega.py',
]

fpn_recorders = dict(fpn=dict(type='ModuleOutputs', source='neck'))
model = dict(
    distill_warmup_iters=0,  # EGA alone: no warm-up
    distiller=dict(
        _delete_=True,
        type='ConfigurableDistiller',
        student_recorders=fpn_recorders,
        teacher_recorders=fpn_recorders,
        connectors=_base_.ega_connectors_embedded,
        distill_losses=_base_.ega_losses,
        loss_forward_mappings=_base_.ega_loss_forward_mappings))
