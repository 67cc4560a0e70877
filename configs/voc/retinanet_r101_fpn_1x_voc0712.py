# Teacher for the VOC configs: mmdet's retinanet R-50 VOC07+12 config with an
# ImageNet-pretrained R-101 backbone (mmdet ships no VOC R-101 checkpoint);
# train it first: python tools/train.py configs/voc/retinanet_r101_fpn_1x_voc0712.py
_base_ = ['mmdet::pascal_voc/retinanet_r50_fpn_1x_voc0712.py']
custom_imports = dict(imports=['sekd_mm'], allow_failed_imports=False)
model = dict(
    _scope_='mmdet',
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet101')))
