# MMRazor's own FPN feature-distillation losses, the peers SEKD is compared
# with (benchmarks/accuracy_study.py, benchmarks/bench_cost.py): one loss per
# FPN level, named `loss_<method>_<level>` like SEKD's terms. `sekd-mm
# distill` builds any pair's peers with `_peer_distiller` and `_LOSSES` of
# this file (sekd_mm/apis/pair.py runs it). Weights:
# - PKD, CWD, MGD: MMRazor's published RetinaNet configs
#   (configs/distill/mmdet/{pkd,cwd,mgd}/ in mmrazor 1.0.0): PKDLoss
#   loss_weight 10, ChannelWiseDivergence tau 1 / loss_weight 10, MGDLoss
#   alpha_mgd 2e-5 with MGDConnector lambda_mgd 0.65.
# - FitNet: a plain mean-squared error (MMRazor's L2Loss without feature
#   normalisation, averaged over elements), weight 1.
# Every level is distilled (MMRazor's PKD RetinaNet config uses the first 4).
# When the student's channels differ from the teacher's, a linear 1x1
# ConvModuleConnector (act_cfg=None) maps the student's map to the teacher's
# width, as for SEKD (MGD has its own generative connector instead).
_RECORDERS = dict(fpn=dict(type='ModuleOutputs', source='neck'))

_LOSSES = dict(
    fitnet=(dict(type='L2Loss', normalize=False, div_element=True,
                 loss_weight=1.0), ('s_feature', 't_feature')),
    pkd=(dict(type='PKDLoss', loss_weight=10.0), ('preds_S', 'preds_T')),
    cwd=(dict(type='ChannelWiseDivergence', tau=1.0, loss_weight=10.0),
         ('preds_S', 'preds_T')),
    mgd=(dict(type='MGDLoss', alpha_mgd=2e-5), ('preds_S', 'preds_T')),
)


def _linear_connector(student_channels, teacher_channels):
    # linear: FPN maps are signed (MMRazor's default ReLU would clip them)
    return dict(type='ConvModuleConnector', in_channel=student_channels,
                out_channel=teacher_channels, act_cfg=None)


def _peer_distiller(method, levels, student_channels, teacher_channels):
    loss, (arg_s, arg_t) = _LOSSES[method]
    losses, mappings, connectors = {}, {}, {}
    for i, level in enumerate(levels):
        name = f'loss_{method}_{level}'
        student = dict(from_student=True, recorder='fpn', data_idx=i)
        if method == 'mgd':
            connectors[f'{level}_mgd'] = dict(
                type='MGDConnector',
                student_channels=student_channels,
                teacher_channels=teacher_channels,
                lambda_mgd=0.65)
            student['connector'] = f'{level}_mgd'
        elif student_channels != teacher_channels:
            connectors[f'{level}_s'] = _linear_connector(
                student_channels, teacher_channels)
            student['connector'] = f'{level}_s'
        losses[name] = dict(loss)  # each level its own dict
        mappings[name] = {
            arg_s: student,
            arg_t: dict(from_student=False, recorder='fpn', data_idx=i)
        }
    return dict(
        type='ConfigurableDistiller',
        student_recorders=_RECORDERS,
        teacher_recorders=_RECORDERS,
        connectors=connectors,
        distill_losses=losses,
        loss_forward_mappings=mappings)


# Embedded models: P2-P6, student FPN 64 -> teacher FPN 128.
peers_embedded = {
    m: _peer_distiller(m, ('p2', 'p3', 'p4', 'p5', 'p6'), 64, 128)
    for m in _LOSSES
}
# The quarter-width R-18 student (FPN 32 -> teacher FPN 128).
peers_embedded_w16 = {
    m: _peer_distiller(m, ('p2', 'p3', 'p4', 'p5', 'p6'), 32, 128)
    for m in _LOSSES
}
# COCO RetinaNet R-101 -> R-50: P3-P7, FPN 256 both.
peers_retinanet_fpn256 = {
    m: _peer_distiller(m, ('p3', 'p4', 'p5', 'p6', 'p7'), 256, 256)
    for m in _LOSSES
}
