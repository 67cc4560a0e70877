# PKD: RetinaNet R-101 -> R-50 on COCO 2x, the same setting as
# configs/sekd/sekd_retinanet_r101_retinanet_r50_2x_coco.py (FitNet, CWD and
# MGD inherit this config and swap the distiller).
_base_ = ['../sekd/sekd_retinanet_r101_retinanet_r50_2x_coco.py',
          '../_base_/distill/peers.py']
# MMRazor's published setting: no warm-up of the distillation loss
model = dict(
    distill_warmup_iters=0,
    distiller=dict(_delete_=True, **_base_.peers_retinanet_fpn256['pkd']))
