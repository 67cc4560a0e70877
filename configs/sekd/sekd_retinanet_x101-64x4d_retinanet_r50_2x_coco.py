# SEKD: RetinaNet X-101-64x4d (41.0 AP) -> RetinaNet R-50 (37.4 AP alone), COCO 2x.
# The R-101 config with the X-101 teacher most peers report.
_base_ = ['./sekd_retinanet_r101_retinanet_r50_2x_coco.py']

teacher_ckpt = 'https://download.openmmlab.com/mmdetection/v2.0/retinanet/retinanet_x101_64x4d_fpn_1x_coco/retinanet_x101_64x4d_fpn_1x_coco_20200130-366f5af1.pth'  # noqa: E501

model = dict(
    teacher=dict(
        cfg_path='mmdet::retinanet/retinanet_x101-64x4d_fpn_1x_coco.py'),
    teacher_ckpt=teacher_ckpt)
