# MGD with alpha_mgd rescaled to the embedded feature maps. MGDLoss sums the
# squared error over C x H x W (then divides by the batch), so its published
# alpha_mgd = 2e-5 was set for COCO-sized maps: RetinaNet P3-P7 at 800x1333
# hold ~5.7M elements per image, the embedded P2-P6 at 96 px ~98k, 58x
# fewer. 2e-5 x 58 ~ 1e-3 keeps MGD's per-element weight of COCO here.
_base_ = ['./mgd_retinanet_r34_retinanet_r18-w32_synthetic.py']
model = dict(
    distiller=dict(
        distill_losses={
            f'loss_mgd_{level}': dict(alpha_mgd=1e-3)
            for level in ('p2', 'p3', 'p4', 'p5', 'p6')
        }))
