# Copyright (c) sekd-mm contributors. All rights reserved.
"""Tests of the synthetic shapes dataset (generator, layouts, mmdet I/O)."""
import json
import os
import os.path as osp
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from sekd_mm.datasets import synthetic
from sekd_mm.datasets.synthetic import (CLASSES, DEFAULT_ARGS, META_FILE,
                                        ensure_synthetic_dataset,
                                        generate_synthetic_dataset)

SMALL = dict(num_train=16, num_val=8, img_size=128, seed=0, max_objects=8)


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic') / 'data')
    info = generate_synthetic_dataset(root, **SMALL)
    return info


def _load(path):
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def _read_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def _annotation_files(root):
    files = [
        'annotations/instances_train.json', 'annotations/instances_val.json',
        'VOCdevkit/VOC2007/ImageSets/Main/trainval.txt',
        'VOCdevkit/VOC2007/ImageSets/Main/test.txt', META_FILE
    ]
    ann_dir = osp.join(root, 'VOCdevkit/VOC2007/Annotations')
    files += [
        'VOCdevkit/VOC2007/Annotations/' + name
        for name in sorted(os.listdir(ann_dir))
    ]
    return files


def _pixels(path):
    return np.asarray(Image.open(path).convert('RGB'))


def _coco_xyxy_by_image(coco):
    boxes = {img['id']: [] for img in coco['images']}
    for ann in coco['annotations']:
        x, y, w, h = ann['bbox']
        boxes[ann['image_id']].append(
            (ann['category_id'] - 1, x, y, x + w, y + h))
    return boxes


def test_default_args_shared():
    assert DEFAULT_ARGS == dict(
        num_train=256, num_val=64, img_size=128, seed=0, max_objects=8)
    assert CLASSES == ('circle', 'square', 'triangle', 'ring', 'cross')


def test_determinism(dataset, tmp_path):
    root = dataset['root']
    again = str(tmp_path / 'again')
    generate_synthetic_dataset(again, **SMALL)
    files = _annotation_files(root)
    assert files == _annotation_files(again)
    for rel in files:
        assert _read_bytes(osp.join(root, rel)) == _read_bytes(
            osp.join(again, rel)), rel
    for rel in ('train/000001.jpg', 'train/000016.jpg', 'val/000017.jpg',
                'val/000024.jpg'):
        np.testing.assert_array_equal(
            _pixels(osp.join(root, rel)), _pixels(osp.join(again, rel)))

    # The train split does not depend on the size of the val split.
    fewer_val = str(tmp_path / 'fewer_val')
    generate_synthetic_dataset(fewer_val, **dict(SMALL, num_val=2))
    assert _read_bytes(osp.join(root, 'train/000005.jpg')) == _read_bytes(
        osp.join(fewer_val, 'train/000005.jpg'))
    assert (_load(dataset['coco_train_ann'])['annotations'] == _load(
        osp.join(fewer_val, 'annotations/instances_train.json'))
            ['annotations'])

    # Another seed gives other data.
    other = str(tmp_path / 'other')
    generate_synthetic_dataset(other, **dict(SMALL, seed=1))
    for split in ('train', 'val'):
        rel = f'annotations/instances_{split}.json'
        assert (_load(osp.join(root, rel))['annotations'] != _load(
            osp.join(other, rel))['annotations'])
    assert not np.array_equal(
        _pixels(osp.join(root, 'train/000001.jpg')),
        _pixels(osp.join(other, 'train/000001.jpg')))


def test_layout_and_sanity(dataset):
    root = dataset['root']
    size = SMALL['img_size']
    assert dataset['num_train'] == 16 and dataset['num_val'] == 8
    assert dataset['classes'] == CLASSES
    meta = _load(osp.join(root, META_FILE))
    assert meta['args'] == SMALL

    train = _load(dataset['coco_train_ann'])
    val = _load(dataset['coco_val_ann'])
    assert [c['name'] for c in train['categories']] == list(CLASSES)
    assert [c['id'] for c in train['categories']] == [1, 2, 3, 4, 5]
    assert [img['id'] for img in train['images']] == list(range(1, 17))
    assert [img['id'] for img in val['images']] == list(range(17, 25))

    voc = osp.join(root, 'VOCdevkit', 'VOC2007')
    with open(osp.join(voc, 'ImageSets/Main/trainval.txt')) as f:
        assert f.read().split() == [f'{i:06d}' for i in range(1, 17)]
    with open(osp.join(voc, 'ImageSets/Main/test.txt')) as f:
        assert f.read().split() == [f'{i:06d}' for i in range(17, 25)]

    sides = []
    for coco, split in ((train, 'train'), (val, 'val')):
        ann_ids = [ann['id'] for ann in coco['annotations']]
        assert len(set(ann_ids)) == len(ann_ids)
        boxes = _coco_xyxy_by_image(coco)
        for img in coco['images']:
            assert img['width'] == img['height'] == size
            name = img['file_name']
            assert name == f'{img["id"]:06d}.jpg'
            pixels = _pixels(osp.join(root, split, name))
            assert pixels.shape == (size, size, 3)
            np.testing.assert_array_equal(
                pixels, _pixels(osp.join(voc, 'JPEGImages', name)))
            assert 1 <= len(boxes[img['id']]) <= SMALL['max_objects']

            # The VOC file describes the same boxes, shifted by one pixel
            # (see the module docstring) and inside the image.
            tree = ET.parse(osp.join(voc, 'Annotations', name[:-4] + '.xml'))
            assert tree.find('filename').text == name
            assert int(tree.find('size/width').text) == size
            voc_boxes = []
            for obj in tree.findall('object'):
                assert obj.find('difficult').text == '0'
                bnd = [
                    int(obj.find('bndbox/' + k).text)
                    for k in ('xmin', 'ymin', 'xmax', 'ymax')
                ]
                assert 1 <= min(bnd) and max(bnd) <= size
                label = CLASSES.index(obj.find('name').text)
                voc_boxes.append((label, *(c - 1 for c in bnd)))
            assert voc_boxes == boxes[img['id']]

            for _, x1, y1, x2, y2 in boxes[img['id']]:
                assert 0 <= x1 < x2 <= size and 0 <= y1 < y2 <= size
                assert all(float(c).is_integer() for c in (x1, y1, x2, y2))
                assert min(x2 - x1, y2 - y1) >= 4
                sides.append(max(x2 - x1, y2 - y1))
        for ann in coco['annotations']:
            assert ann['iscrowd'] == 0
            assert ann['area'] == ann['bbox'][2] * ann['bbox'][3]
            assert len(ann['segmentation'][0]) == 8

    assert {ann['category_id'] for ann in train['annotations']} == {
        1, 2, 3, 4, 5
    }
    assert min(sides) < 16 and max(sides) > 64


def test_ensure_reuses_and_checks(tmp_path):
    root = str(tmp_path / 'data')
    args = dict(num_train=4, num_val=2, seed=3)
    assert ensure_synthetic_dataset(root, **args) == root
    meta = _load(osp.join(root, META_FILE))
    assert meta['args'] == dict(DEFAULT_ARGS, **args)
    assert sorted(os.listdir(tmp_path)) == ['data']  # no temporary left

    watched = [osp.join(root, META_FILE), osp.join(root, 'train/000001.jpg')]
    mtimes = [os.stat(p).st_mtime_ns for p in watched]
    assert ensure_synthetic_dataset(root, **args) == root
    assert [os.stat(p).st_mtime_ns for p in watched] == mtimes

    with pytest.raises(RuntimeError, match='left untouched') as err:
        ensure_synthetic_dataset(root, **dict(args, seed=4))
    assert 'delete' not in str(err.value).lower()
    assert [os.stat(p).st_mtime_ns for p in watched] == mtimes
    with pytest.raises(TypeError):
        ensure_synthetic_dataset(root, num_images=3)

    # A folder that is not a synthetic dataset is never overwritten ...
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'keep.txt').write_text('mine')
    with pytest.raises(RuntimeError, match='meta.json') as err:
        ensure_synthetic_dataset(str(foreign), **args)
    # the message points at mmdet's CocoDataset, never at deleting
    assert "type='CocoDataset'" in str(err.value)
    assert 'delete' not in str(err.value).lower()
    assert os.listdir(foreign) == ['keep.txt']
    assert (foreign / 'keep.txt').read_text() == 'mine'
    # ... but an empty one is filled.
    empty = tmp_path / 'empty'
    empty.mkdir()
    ensure_synthetic_dataset(str(empty), **args)
    assert _load(str(empty / META_FILE))['args'] == meta['args']


def test_ensure_concurrent_processes(tmp_path):
    """Two processes (like two DDP ranks) ensure the same root at once."""
    root = str(tmp_path / 'data')
    # The module is self-contained: load it by path, which keeps the
    # processes light (no import of the whole ``sekd_mm`` package).
    code = ('import importlib.util, sys\n'
            'spec = importlib.util.spec_from_file_location('
            '"synthetic", sys.argv[1])\n'
            'mod = importlib.util.module_from_spec(spec)\n'
            'spec.loader.exec_module(mod)\n'
            'mod.ensure_synthetic_dataset(sys.argv[2], num_train=12, '
            'num_val=4)\n')
    cmd = [sys.executable, '-c', code, synthetic.__file__, root]
    procs = [
        subprocess.Popen(cmd, stderr=subprocess.PIPE) for _ in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    assert sorted(os.listdir(tmp_path)) == ['data']
    assert _load(osp.join(root, META_FILE))['args']['num_train'] == 12
    assert len(os.listdir(osp.join(root, 'train'))) == 12


# ---------------------------------------------------------------------------
# MMDetection readers and metrics
# ---------------------------------------------------------------------------


def _train_pipeline():
    return [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=(128, 128), keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs')
    ]


def _test_pipeline():
    return [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(128, 128), keep_ratio=True),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(
            type='PackDetInputs',
            meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                       'scale_factor'))
    ]


def _coco_dataset(root, split, pipeline, test_mode):
    from mmdet.datasets import CocoDataset
    return CocoDataset(
        data_root=root,
        ann_file=f'annotations/instances_{split}.json',
        data_prefix=dict(img=f'{split}/'),
        metainfo=dict(classes=CLASSES),
        filter_cfg=None if test_mode else dict(
            filter_empty_gt=True, min_size=32),
        test_mode=test_mode,
        pipeline=pipeline)


def _voc_dataset(root, split, pipeline, test_mode):
    from mmdet.datasets import VOCDataset
    ann_file = 'trainval.txt' if split == 'train' else 'test.txt'
    return VOCDataset(
        data_root=osp.join(root, 'VOCdevkit') + '/',
        ann_file='VOC2007/ImageSets/Main/' + ann_file,
        data_prefix=dict(sub_data_root='VOC2007/'),
        metainfo=dict(classes=CLASSES),
        filter_cfg=None if test_mode else dict(
            filter_empty_gt=True, min_size=32),
        test_mode=test_mode,
        pipeline=pipeline)


def test_mmdet_coco_and_voc_readers_agree(dataset):
    from mmdet.utils import register_all_modules
    register_all_modules()
    root = dataset['root']
    for split, test_mode in (('train', False), ('val', True)):
        coco = _coco_dataset(root, split, _train_pipeline(), test_mode)
        voc = _voc_dataset(root, split, _train_pipeline(), test_mode)
        num = dataset[f'num_{split}']
        assert len(coco) == len(voc) == num
        for i in range(num):
            coco_info = coco.get_data_info(i)
            voc_info = voc.get_data_info(i)
            assert osp.basename(coco_info['img_path']) == osp.basename(
                voc_info['img_path'])
            assert int(voc_info['img_id']) == coco_info['img_id']
            assert (coco_info['height'], coco_info['width']) == (
                voc_info['height'], voc_info['width'])
            coco_gt = [(ins['bbox_label'], [float(c) for c in ins['bbox']],
                        ins['ignore_flag'])
                       for ins in coco_info['instances']]
            voc_gt = [(ins['bbox_label'], [float(c) for c in ins['bbox']],
                       ins['ignore_flag']) for ins in voc_info['instances']]
            assert coco_gt == voc_gt and len(coco_gt) >= 1

        for ds in (coco, voc):
            item = ds[0]
            inputs, sample = item['inputs'], item['data_samples']
            assert tuple(inputs.shape) == (3, 128, 128)
            bboxes = sample.gt_instances.bboxes
            assert bboxes.shape[1] == 4
            assert bboxes.shape[0] == len(ds.get_data_info(0)['instances'])
            assert sample.gt_instances.labels.max() < len(CLASSES)
            assert float(bboxes.tensor.min()) >= 0
            assert float(bboxes.tensor.max()) <= 128


def _gt_as_predictions(dataset, shift=0.0):
    """Pack every image with its ground truth as predictions (score 1).

    ``shift`` moves the predicted boxes right by that many pixels.
    """
    import torch
    from mmengine.structures import InstanceData
    samples = []
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        gt = sample.gt_instances
        # Predictions are in original image coordinates.
        scale = gt.bboxes.tensor.new_tensor(sample.scale_factor * 2)
        sample.pred_instances = InstanceData(
            bboxes=gt.bboxes.tensor / scale + torch.tensor(
                [shift, 0.0, shift, 0.0]),
            labels=gt.labels.clone(),
            scores=torch.ones(len(gt.labels)))
        samples.append(sample.to_dict())
    return samples


def test_mmdet_metrics_score_ground_truth_perfectly(dataset):
    from mmdet.evaluation import CocoMetric, VOCMetric
    from mmdet.utils import register_all_modules
    register_all_modules()
    root = dataset['root']
    num_val = dataset['num_val']

    def coco_map(shift):
        metric = CocoMetric(ann_file=dataset['coco_val_ann'], metric='bbox')
        metric.dataset_meta = dict(classes=CLASSES)
        metric.process({}, _gt_as_predictions(coco, shift))
        return metric.evaluate(num_val)

    def voc_map(shift, eval_mode):
        metric = VOCMetric(metric='mAP', eval_mode=eval_mode)
        metric.dataset_meta = dict(classes=CLASSES)
        metric.process({}, _gt_as_predictions(voc, shift))
        return metric.evaluate(num_val)['pascal_voc/mAP']

    coco = _coco_dataset(root, 'val', _test_pipeline(), True)
    results = coco_map(0.0)
    assert abs(results['coco/bbox_mAP'] - 1.0) < 1e-6
    assert abs(results['coco/bbox_mAP_50'] - 1.0) < 1e-6
    # Control: boxes off by 3 pixels do not score perfectly.
    assert coco_map(3.0)['coco/bbox_mAP'] < 0.9

    voc = _voc_dataset(root, 'val', _test_pipeline(), True)
    for eval_mode in ('11points', 'area'):
        assert abs(voc_map(0.0, eval_mode) - 1.0) < 1e-6
    assert voc_map(3.0, 'area') < 0.99
