# EGA (Embedding Graph Alignment): an instance graph over the images of the
# batch. Nodes: pooled FPN levels through EGAEmbedding heads (the teacher's
# frozen, a fixed random projection, so its graph cannot drift); edges:
# Pearson correlations. L_FGA = L_node + lambda_edge * L_edge, each logged.
ega_lambda_edge = 1.0
ega_losses = dict(
    loss_ega_node=dict(type='EGANodeLoss', loss_weight=1.0),
    loss_ega_edge=dict(type='EGAEdgeLoss', loss_weight=ega_lambda_edge))
_ega_inputs = dict(
    preds_S=dict(from_student=True, recorder='fpn', connector='ega_student'),
    preds_T=dict(from_student=False, recorder='fpn', connector='ega_teacher'))
ega_loss_forward_mappings = dict(
    loss_ega_node=_ega_inputs, loss_ega_edge=_ega_inputs)


def _ega_connectors(student_channels, teacher_channels):
    return dict(
        ega_student=dict(
            type='EGAEmbedding',
            in_channels=student_channels,
            num_levels=5,
            embed_dim=128),
        ega_teacher=dict(
            type='EGAEmbedding',
            in_channels=teacher_channels,
            num_levels=5,
            embed_dim=128,
            frozen=True))


# embedded models: student FPN 64, teacher FPN 128; COCO/VOC: 256 both
ega_connectors_embedded = _ega_connectors(64, 128)
ega_connectors_fpn256 = _ega_connectors(256, 256)
