# Copyright (c) sekd-mm contributors. All rights reserved.
"""sekd-mm distill (sekd_mm/cli/distill.py) on small datasets written by
the tests: a 1-class COCO folder and a 2-class VOC folder end to end (every
stage, a few iterations, run from a folder outside the checkout), and each
bad input stopped with its message before training, the user's folder left
byte-for-byte unchanged."""
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PY = sys.executable
SMALL_RUN = ['--teacher-iters', '2', '--iters', '2', '--img-scale', '64',
             '--batch-size', '2', '--threads', '1']


def _boxes(rng, n_obj, size, n_classes):
    out = []
    for _ in range(n_obj):
        w, h = rng.integers(12, size // 2, 2)
        x, y = rng.integers(0, size - w), rng.integers(0, size - h)
        out.append((int(x), int(y), int(w), int(h),
                    int(rng.integers(n_classes))))
    return out


def _image(path, boxes, size):
    img = np.full((size, size, 3), 40, np.uint8)
    for x, y, w, h, c in boxes:
        img[y:y + h, x:x + w] = (200, 60 + 120 * c, 90)
    Image.fromarray(img).save(path)


def make_coco(root, classes=('widget', ), n=(6, 4), size=64, seed=0):
    """A COCO-layout folder: annotations/instances_{train,val}.json,
    train/, val/."""
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, 'annotations'))
    for split, count in zip(('train', 'val'), n):
        os.makedirs(osp.join(root, split))
        images, anns = [], []
        for i in range(count):
            boxes = _boxes(rng, 2, size, len(classes))
            _image(osp.join(root, split, f'{i}.jpg'), boxes, size)
            images.append(dict(id=i + 1, file_name=f'{i}.jpg', width=size,
                               height=size))
            for x, y, w, h, c in boxes:
                anns.append(dict(id=len(anns) + 1, image_id=i + 1,
                                 category_id=c + 1, bbox=[x, y, w, h],
                                 area=w * h, iscrowd=0))
        with open(osp.join(root, 'annotations', f'instances_{split}.json'),
                  'w') as f:
            json.dump(dict(images=images, annotations=anns, categories=[
                dict(id=i + 1, name=c) for i, c in enumerate(classes)]), f)
    return str(root)


def make_voc(root, classes=('dog', 'cat'), n=(6, 4), size=64, seed=1):
    """A VOC-layout folder: Annotations/, JPEGImages/, ImageSets/Main/."""
    rng = np.random.default_rng(seed)
    for sub in ('Annotations', 'JPEGImages', 'ImageSets/Main'):
        os.makedirs(osp.join(root, sub))
    k = 0
    for split, count in zip(('train', 'val'), n):
        ids = []
        for _ in range(count):
            img_id = f'{k:06d}'
            k += 1
            ids.append(img_id)
            boxes = _boxes(rng, 2, size, len(classes))
            boxes[0] = boxes[0][:4] + (0, )  # every class in train
            boxes[1] = boxes[1][:4] + (1, )
            _image(osp.join(root, 'JPEGImages', f'{img_id}.jpg'), boxes,
                   size)
            objs = ''.join(
                f'<object><name>{classes[c]}</name><difficult>0</difficult>'
                f'<bndbox><xmin>{x + 1}</xmin><ymin>{y + 1}</ymin>'
                f'<xmax>{x + w}</xmax><ymax>{y + h}</ymax></bndbox></object>'
                for x, y, w, h, c in boxes)
            with open(osp.join(root, 'Annotations', f'{img_id}.xml'),
                      'w') as f:
                f.write(f'<annotation><filename>{img_id}.jpg</filename>'
                        f'<size><width>{size}</width><height>{size}</height>'
                        f'<depth>3</depth></size>{objs}</annotation>')
        with open(osp.join(root, 'ImageSets/Main', f'{split}.txt'),
                  'w') as f:
            f.write('\n'.join(ids) + '\n')
    return str(root)


def folder_hash(root) -> str:
    """Hash of every path and file content under ``root``."""
    h = hashlib.sha256()
    for dirpath, dirnames, files in sorted(os.walk(root)):
        dirnames.sort()
        h.update(osp.relpath(dirpath, root).encode())
        for name in sorted(files):
            h.update(name.encode())
            with open(osp.join(dirpath, name), 'rb') as f:
                h.update(f.read())
    return h.hexdigest()


def tool(*args, cwd):
    """Run the command as a user would, from the folder ``cwd``."""
    proc = subprocess.run([PY, '-m', 'sekd_mm.cli.distill', *args], cwd=cwd,
                          capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise AssertionError(f'failed ({proc.returncode}):\n'
                             f'{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}')
    return proc


def tool_in_process(*args) -> str:
    """Run the command's ``main`` here (no process start-up: the bad-input
    cases stop before training) and return its ``SystemExit`` message, or
    '' when it returned."""
    from sekd_mm.cli import distill
    try:
        distill.main(list(args))
    except SystemExit as err:
        return str(err.code)
    return ''


def num_classes_of(cfg_model) -> list:
    """Every ``num_classes`` value in a model config."""
    out = []
    if isinstance(cfg_model, dict):
        for key, value in cfg_model.items():
            out += [value] if key == 'num_classes' else num_classes_of(value)
    elif isinstance(cfg_model, (list, tuple)):
        for item in cfg_model:
            out += num_classes_of(item)
    return out


@pytest.mark.parametrize('layout,detector,classes', [
    ('coco', 'retinanet', ('widget', )),
    ('voc', 'faster-rcnn', ('cat', 'dog')),
])
def test_end_to_end(layout, detector, classes, tmp_path):
    make = make_coco if layout == 'coco' else make_voc
    root = make(str(tmp_path / 'data'), classes=classes[::-1])
    before = folder_hash(root)
    work = tmp_path / 'work'
    proc = tool('--data-root', 'data', '--detector', detector, '--work-dir',
                'work', *SMALL_RUN, cwd=tmp_path)
    assert folder_hash(root) == before
    for row in ('| Student R-18 w32 + SEKD |', '| SEKD - alone |',
                '| PKD - alone |', '| Student R-18 w32 alone |'):
        assert row in proc.stdout
    results = json.loads((work / 'results.json').read_text())
    assert tuple(results['classes']) == tuple(sorted(classes)) \
        if layout == 'voc' else tuple(classes[::-1])
    for stage in ('teacher', 'sekd_student', 'pkd_student',
                  'student_alone'):
        assert 'coco/bbox_mAP' in results['results'][stage]
        cfg = Config.fromfile(str(work / 'configs' / f'{stage}.py'))
        assert set(num_classes_of(cfg.model.to_dict())) == {len(classes)}
        assert len(num_classes_of(cfg.model.to_dict())) >= 1
        for loader in ('train_dataloader', 'val_dataloader'):
            assert tuple(cfg[loader].dataset.metainfo.classes) == \
                tuple(results['classes'])
    assert folder_hash(root) == before
    if layout == 'voc':
        return  # the COCO case reruns a derived config and the README's
    # a derived config reruns through tools/train.py unchanged
    rerun = subprocess.run(
        [PY, 'tools/train.py', str(work / 'configs' / 'sekd_student.py'),
         '--work-dir', str(tmp_path / 'rerun'), '--threads', '1'], cwd=REPO,
        capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert (tmp_path / 'rerun' / 'iter_2.pth').exists()
    readme_plain_config(root, classes, results['checkpoints']['teacher'],
                        tmp_path)
    assert folder_hash(root) == before


def readme_plain_config(root, classes, teacher, tmp_path):
    """The README's plain-config route ("Your own dataset"), pointed at
    this dataset and teacher, trains through tools/train.py."""
    with open(osp.join(REPO, 'README.md'), encoding='utf-8') as f:
        readme = f.read()
    block = readme.split('**The plain-config route**')[1]
    block = block.split('```python\n')[1].split('```')[0]
    for old, new in [
        ("'../configs/", repr(osp.join(REPO, 'configs')).rstrip("'") + '/'),
        ("('person', 'bicycle')", repr(tuple(classes))),
        ('data/my_dataset/', root + '/'),
        ('/abs/path/to/teacher/iter_1500.pth', teacher),
        ('max_iters=3000, val_interval=1000', 'max_iters=2, val_interval=2'),
    ]:
        assert old in block, old
        block = block.replace(old, new)
    config = tmp_path / 'sekd_my_dataset.py'
    config.write_text(block)
    proc = subprocess.run(
        [PY, 'tools/train.py', str(config), '--work-dir',
         str(tmp_path / 'plain'), '--threads', '1'], cwd=REPO,
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'TeacherCheckHook: teacher weights match' in proc.stdout + \
        proc.stderr
    assert (tmp_path / 'plain' / 'iter_2.pth').exists()


def _coco_bad(root, problem):
    make_coco(root)
    ann = osp.join(root, 'annotations', 'instances_train.json')
    with open(ann) as f:
        coco = json.load(f)
    if problem == 'not-json':
        with open(ann, 'w') as f:
            f.write('<xml/>')
    elif problem == 'missing-ann':
        os.remove(ann)
    elif problem == 'no-categories':
        coco['categories'] = []
    elif problem == 'missing-images':
        os.remove(osp.join(root, 'train', '0.jpg'))
        os.remove(osp.join(root, 'train', '1.jpg'))
    elif problem == 'bad-category':
        coco['annotations'][0]['category_id'] = 7
    if problem in ('no-categories', 'bad-category'):
        with open(ann, 'w') as f:
            json.dump(coco, f)


@pytest.mark.parametrize('problem,message', [
    ('missing-ann', 'instances_train.json not found'),
    ('not-json', 'is not a JSON file'),
    ('no-categories', 'has no categories'),
    ('missing-images', '2 of the 6 images listed'),
    ('bad-category', 'category_id that is not in its categories'),
])
def test_bad_coco_input_stops_before_training(problem, message, tmp_path):
    root = str(tmp_path / 'data')
    _coco_bad(root, problem)
    before = folder_hash(root)
    error = tool_in_process('--data-root', root, '--work-dir',
                            str(tmp_path / 'w'), *SMALL_RUN)
    assert message in error
    assert 'delete' not in error.lower()
    assert not (tmp_path / 'w' / 'teacher').exists()
    assert folder_hash(root) == before


def test_bad_boxes_are_counted_and_dropped(tmp_path, capsys):
    root = make_coco(str(tmp_path / 'data'))
    ann = osp.join(root, 'annotations', 'instances_train.json')
    with open(ann) as f:
        coco = json.load(f)
    coco['annotations'][0]['bbox'][2] = 0  # zero width
    coco['annotations'][1]['bbox'][3] = -5  # negative height
    coco['annotations'][2]['bbox'][:2] = [500, 500]  # outside the image
    coco['annotations'][3]['bbox'][0] = 60  # extends past the right edge
    with open(ann, 'w') as f:
        json.dump(coco, f)
    before = folder_hash(root)
    assert tool_in_process('--data-root', root, '--work-dir',
                           str(tmp_path / 'w'), '--check-only') == ''
    out = capsys.readouterr().out
    assert 'train: 3 boxes have zero or negative size or lie outside their ' \
        'image and are dropped (annotation ids 1, 2, 3)' in out
    assert 'train: 1 boxes extend past their image and are kept' in out
    assert (tmp_path / 'w' / 'configs' / 'sekd_student.py').exists()
    assert folder_hash(root) == before


def test_voc_without_imagesets_stops(tmp_path):
    root = make_voc(str(tmp_path / 'data'))
    import shutil
    shutil.rmtree(osp.join(root, 'ImageSets'))
    before = folder_hash(root)
    error = tool_in_process('--data-root', root, '--work-dir',
                            str(tmp_path / 'w'), '--check-only')
    assert 'has no ImageSets/Main' in error
    assert folder_hash(root) == before


def test_teacher_of_another_detector_stops(tmp_path):
    root = make_coco(str(tmp_path / 'data'))
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.zeros(1)}),
               tmp_path / 'other.pth')
    error = tool_in_process('--data-root', root, '--work-dir',
                            str(tmp_path / 'w'), '--teacher-ckpt',
                            str(tmp_path / 'other.pth'), *SMALL_RUN)
    assert 'does not hold the weights of the teacher.py teacher' in error


@pytest.mark.parametrize('meta', [True, False])
def test_teacher_of_another_class_count_stops(meta, tmp_path):
    """A 5-class teacher for a 1-class dataset, with fine-tuning turned
    off: named by its recorded classes, or (no meta) by its classifier's
    shape (tests/test_distill_pair.py fine-tunes one)."""
    from mmengine.registry import DefaultScope
    from mmrazor.registry import MODELS
    root = make_coco(str(tmp_path / 'data'))
    cfg = Config.fromfile(osp.join(
        REPO, 'configs/embedded/retinanet_r34_synthetic.py'))
    with DefaultScope.overwrite_default_scope('mmdet'):
        teacher = MODELS.build(cfg.model)
    ckpt = dict(state_dict=teacher.state_dict())
    if meta:
        ckpt['meta'] = dict(dataset_meta=dict(classes=tuple('abcde')))
    torch.save(ckpt, tmp_path / 'teacher.pth')
    before = folder_hash(root)
    error = tool_in_process('--data-root', root, '--work-dir',
                            str(tmp_path / 'w'), '--teacher-ckpt',
                            str(tmp_path / 'teacher.pth'),
                            '--no-teacher-finetune', *SMALL_RUN)
    expected = ("was trained on classes ('a', 'b', 'c', 'd', 'e')" if meta
                else 'was trained for another class count')
    assert expected in error
    assert 'leave out --no-teacher-finetune' in error
    assert not (tmp_path / 'w').exists()
    assert folder_hash(root) == before
