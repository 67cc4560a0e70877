# Copyright (c) sekd-mm contributors. All rights reserved.
"""``sekd-mm distill --check-only`` (``tools/distill_dataset.py``, in
process and as a user runs it) on broken copies of a small
COCO (and VOC) folder: each defect is answered with one message that names
it (an annotation that points at no image: a warning), no traceback,
nothing written, and the data folder, read-only while it is checked, left
unchanged."""
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sekd_mm.datasets import image_size

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLASSES = ('cat', 'dog')
SIZE = 32
BOXES = ([2, 3, 12, 10], [14, 12, 10, 14])  # one per class, x y w h
DROP = object()  # remove the key


# --- a small valid dataset -------------------------------------------------
def _image(path: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (SIZE, SIZE, 3),
                                 np.uint8)).save(path)


def make_coco(root: str) -> str:
    """annotations/instances_{train,val}.json, train/ (0.png, 1.jpg, 2.jpg:
    annotation ids 1-6) and val/ (0.jpg, 1.jpg); two boxes per image."""
    os.makedirs(osp.join(root, 'annotations'))
    for split, names in (('train', ('0.png', '1.jpg', '2.jpg')),
                         ('val', ('0.jpg', '1.jpg'))):
        os.makedirs(osp.join(root, split))
        images, anns = [], []
        for i, name in enumerate(names, 1):
            _image(osp.join(root, split, name), i)
            images.append(dict(id=i, file_name=name, width=SIZE,
                               height=SIZE))
            for cat, box in enumerate(BOXES, 1):
                anns.append(dict(id=len(anns) + 1, image_id=i,
                                 category_id=cat, bbox=list(box),
                                 area=box[2] * box[3], iscrowd=0))
        with open(osp.join(root, 'annotations', f'instances_{split}.json'),
                  'w') as f:
            json.dump(dict(images=images, annotations=anns, categories=[
                dict(id=i, name=c) for i, c in enumerate(CLASSES, 1)]), f)
    return root


def make_voc(root: str) -> str:
    """Annotations/, JPEGImages/ and ImageSets/Main/{train,val}.txt (ids
    000000-000002 and 000003-000004); two objects per image."""
    for sub in ('Annotations', 'JPEGImages', 'ImageSets/Main'):
        os.makedirs(osp.join(root, sub))
    for split, ids in (('train', range(3)), ('val', range(3, 5))):
        names = [f'{i:06d}' for i in ids]
        for k, name in enumerate(names):
            _image(osp.join(root, 'JPEGImages', f'{name}.jpg'), k)
            objs = ''.join(
                f'<object><name>{c}</name><difficult>0</difficult><bndbox>'
                f'<xmin>{x + 1}</xmin><ymin>{y + 1}</ymin><xmax>{x + w}'
                f'</xmax><ymax>{y + h}</ymax></bndbox></object>'
                for c, (x, y, w, h) in zip(CLASSES, BOXES))
            with open(osp.join(root, 'Annotations', f'{name}.xml'),
                      'w') as f:
                f.write(f'<annotation><filename>{name}.jpg</filename><size>'
                        f'<width>{SIZE}</width><height>{SIZE}</height>'
                        f'<depth>3</depth></size>{objs}</annotation>')
        with open(osp.join(root, 'ImageSets/Main', f'{split}.txt'),
                  'w') as f:
            f.write('\n'.join(names) + '\n')
    return root


# --- ways to break it -----------------------------------------------------
def _json(change, split='train'):
    def breaker(root):
        path = osp.join(root, 'annotations', f'instances_{split}.json')
        with open(path) as f:
            coco = json.load(f)
        change(coco)
        with open(path, 'w') as f:
            json.dump(coco, f)  # NaN is written as NaN, as Python's json does
    return breaker


def _set(section, i, key, value, split='train'):
    """Set (``DROP``: remove) ``key`` of record ``i`` of ``section``."""
    def change(coco):
        if value is DROP:
            del coco[section][i][key]
        else:
            coco[section][i][key] = value
    return _json(change, split)


def _replace(section, i, value, split='train'):
    def change(coco):
        coco[section][i] = value
    return _json(change, split)


def _all_boxes(value):
    def change(coco):
        for ann in coco['annotations']:
            ann['bbox'] = list(value)
    return _json(change)


def _truncate(rel, keep=0.5):
    def breaker(root):
        path = osp.join(root, rel)
        with open(path, 'rb') as f:
            data = f.read()
        with open(path, 'wb') as f:
            f.write(data[:int(len(data) * keep)])
    return breaker


def _write(rel, data: bytes):
    def breaker(root):
        with open(osp.join(root, rel), 'wb') as f:
            f.write(data)
    return breaker


def _folder(rel):
    def breaker(root):
        os.remove(osp.join(root, rel))
        os.makedirs(osp.join(root, rel))
    return breaker


def _xml(img_id, old, new):
    def breaker(root):
        path = osp.join(root, 'Annotations', f'{img_id}.xml')
        with open(path) as f:
            text = f.read()
        assert old in text
        with open(path, 'w') as f:
            f.write(text.replace(old, new, 1))
    return breaker


# --- running the check as the tool does ------------------------------------
def snapshot(root: str) -> dict:
    """Every path under ``root`` with its mode, size, mtime and content
    hash."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for path in [dirpath] + [osp.join(dirpath, f) for f in files]:
            st = os.stat(path)
            digest = ''
            if osp.isfile(path):
                with open(path, 'rb') as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            out[osp.relpath(path, root)] = (st.st_mode, st.st_size,
                                            st.st_mtime_ns, digest)
    return out


def _writable(root: str, on: bool) -> None:
    for dirpath, _, files in os.walk(root):
        for path in [dirpath] + [osp.join(dirpath, f) for f in files]:
            mode = os.stat(path).st_mode
            os.chmod(path, mode | 0o200 if on else mode & ~0o222)


def check_only(root: str, work: str, capsys, *extra) -> tuple:
    """Run ``sekd-mm distill --check-only`` in this process (its ``main``:
    no process start-up) on ``root`` made read-only, assert the folder is
    unchanged after, and return ``(error, stdout)``: the message it exits
    with ('' when it passed) and what it printed."""
    from sekd_mm.cli import distill
    before = snapshot(root)
    _writable(root, False)
    try:
        distill.main(['--data-root', root, '--work-dir', work,
                              '--check-only', *extra])
        error = ''
    except SystemExit as err:
        error = str(err.code)
    finally:
        _writable(root, True)
    assert snapshot(root) == before
    return error, capsys.readouterr().out


# (breaker, the words the message must have, an error (else a warning))
COCO_CASES = {
    # the five of the report
    'bbox-of-5-numbers': (_set('annotations', 0, 'bbox', [2, 3, 12, 10, 5]),
                          ['bbox that is not 4 numbers',
                           'annotation 1: [2, 3, 12, 10, 5]'], True),
    'bbox-of-strings': (_set('annotations', 2, 'bbox', ['2', '3', '9', '9']),
                        ['bbox that is not 4 numbers',
                         "annotation 3: ['2', '3', '9', '9']"], True),
    'duplicated-image-id': (_set('images', 1, 'id', 1),
                            ['duplicated image ids',
                             'image id 1: 0.png and 1.jpg'], True),
    'annotation-points-at-no-image': (
        _set('annotations', 4, 'image_id', 99),
        ['1 annotations point at no image', 'annotation ids 5',
         'image_id 99'], False),
    'truncated-jpeg': (_truncate('train/1.jpg'),
                       ['do not decode', 'truncated', '1.jpg'], True),
    # the others a user produces the same way
    'truncated-png': (_truncate('train/0.png'), ['do not decode', '0.png'],
                      True),
    'jpeg-without-its-last-bytes': (_truncate('val/1.jpg', 0.97),
                                    ['do not decode', '1.jpg'], True),
    'not-an-image': (_write('train/2.jpg', b'<html>not found</html>'),
                     ['do not decode', '2.jpg'], True),
    'empty-image-file': (_write('val/0.jpg', b''), ['do not decode', '0.jpg'],
                         True),
    'file-name-is-a-folder': (_folder('train/2.jpg'),
                              ['are folders, not image files', '2.jpg'],
                              True),
    'bbox-of-3-numbers': (_set('annotations', 1, 'bbox', [1, 2, 3]),
                          ['bbox that is not 4 numbers',
                           'annotation 2: [1, 2, 3]'], True),
    'bbox-null': (_set('annotations', 0, 'bbox', None),
                  ['bbox that is not 4 numbers', 'annotation 1: None'],
                  True),
    'bbox-nan': (_set('annotations', 0, 'bbox', [1, 2, float('nan'), 4]),
                 ['bbox that is not 4 numbers',
                  'annotation 1: [1, 2, nan, 4]'], True),
    'bbox-bool': (_set('annotations', 0, 'bbox', [1, 2, True, 4]),
                  ['bbox that is not 4 numbers'], True),
    'bbox-dict': (_set('annotations', 0, 'bbox', dict(x=1)),
                  ['bbox that is not 4 numbers'], True),
    'no-bbox': (_set('annotations', 3, 'bbox', DROP),
                ['annotations have no "bbox"', 'annotation ids 4'], True),
    'no-image-id': (_set('annotations', 0, 'image_id', DROP),
                    ['annotations have no "image_id"'], True),
    'no-category-id': (_set('annotations', 0, 'category_id', DROP),
                       ['annotations have no "category_id"'], True),
    'no-annotation-id': (_set('annotations', 1, 'id', DROP),
                         ['annotations have no "id"', 'annotations[1]'],
                         True),
    'no-area': (_set('annotations', 0, 'area', DROP),
                ['annotations have no "area"'], True),
    'area-of-string': (_set('annotations', 0, 'area', '120'),
                       ['"area" that is not a number'], True),
    'iscrowd-of-string': (_set('annotations', 0, 'iscrowd', '0'),
                          ['"iscrowd" other than 0 or 1'], True),
    'val-without-iscrowd': (_set('annotations', 0, 'iscrowd', DROP, 'val'),
                            ['annotations have no "iscrowd"',
                             'COCO evaluation'], True),
    'image-id-of-list': (_set('annotations', 0, 'image_id', [1]),
                         ['non-integer "image_id"',
                          'annotation 1: image_id [1]'], True),
    'category-id-unknown': (_set('annotations', 0, 'category_id', '1'),
                            ['category_id that is not in its categories',
                             'annotation ids 1'], True),
    'annotation-not-an-object': (_replace('annotations', 2, [1, 2, 3, 4]),
                                 ['entries of "annotations" are not objects',
                                  'annotations[2]'], True),
    'duplicated-annotation-id': (_set('annotations', 3, 'id', 1),
                                 ['duplicated annotation ids (1)'], True),
    'duplicated-category-id': (_set('categories', 1, 'id', 1),
                               ['duplicated category ids (1)'], True),
    'duplicated-category-name': (_set('categories', 1, 'name', 'cat'),
                                 ['duplicated category names (cat)'], True),
    'category-without-name': (_set('categories', 0, 'name', DROP),
                              ['categories have no "name"'], True),
    'categories-not-a-list': (_json(lambda c: c.update(categories=dict(
        cat=1))), ['has no categories'], True),
    'image-without-width': (_set('images', 0, 'width', DROP),
                            ['no valid "width" and "height"'], True),
    'image-of-zero-height': (_set('images', 2, 'height', 0),
                             ['no valid "width" and "height"',
                              'image 3: 32 x 0'], True),
    'image-width-of-string': (_set('images', 0, 'width', '32'),
                              ['no valid "width" and "height"'], True),
    'image-without-file-name': (_set('images', 1, 'file_name', DROP),
                                ['images have no "file_name"',
                                 'image ids 2'], True),
    'image-without-id': (_set('images', 1, 'id', DROP),
                         ['images have no integer "id"', 'images[1]'], True),
    'images-empty': (_json(lambda c: c.update(images=[])),
                     ['"images" is empty'], True),
    'no-usable-box': (_all_boxes([1, 1, 0, 5]),
                      ['train split has no usable box',
                       '6 boxes have zero or negative size'], True),
    'image-size-differs': (_set('images', 2, 'width', 64),
                           ['images are not the size their record gives',
                            '2.jpg: json 64x32, file 32x32'], False),
    'file-listed-twice': (_set('images', 2, 'file_name', '1.jpg'),
                          ['listed under more than one image id (1.jpg)'],
                          False),
}

VOC_CASES = {
    'voc-xml-unparsable': (_xml('000001', '</annotation>', ''),
                           ['000001.xml is not valid XML'], True),
    'voc-size-not-numbers': (_xml('000003', '<width>32', '<width>wide'),
                             ["<size> that is not two numbers",
                              "000003.xml: 'wide' x '32'"], True),
    'voc-box-not-numbers': (_xml('000002', '<xmin>3</xmin>',
                                 '<xmin>3px</xmin>'),
                            ['no <bndbox> of 4 numbers',
                             '000002.xml object 1'], True),
    'voc-no-bndbox': (_xml('000004', '<xmin>15</xmin>', ''),
                      ['no <bndbox> of 4 numbers', '000004.xml object 2'],
                      True),
    'voc-object-without-name': (_xml('000003', '<name>dog</name>',
                                     '<name> </name>'),
                                ['objects have no <name>',
                                 '000003.xml object 2'], True),
    'voc-truncated-image': (_truncate('JPEGImages/000004.jpg'),
                            ['do not decode', '000004.jpg'], True),
}


@pytest.mark.parametrize('layout', ('coco', 'voc'))
def test_valid_dataset_passes_without_warnings(layout, tmp_path, capsys):
    make = make_coco if layout == 'coco' else make_voc
    root = make(str(tmp_path / 'data'))
    error, out = check_only(root, str(tmp_path / 'w'), capsys)
    assert error == ''
    assert 'WARNING' not in out
    assert (tmp_path / 'w' / 'configs' / 'sekd_student.py').exists()


@pytest.mark.parametrize('case', list(COCO_CASES) + list(VOC_CASES))
def test_broken_dataset_is_named(case, tmp_path, capsys):
    breaker, words, is_error = {**COCO_CASES, **VOC_CASES}[case]
    make = make_voc if case.startswith('voc-') else make_coco
    root = make(str(tmp_path / 'data'))
    breaker(root)
    error, out = check_only(root, str(tmp_path / 'w'), capsys)
    said = error if is_error else out
    assert error if is_error else not error, (error, out)
    for word in words:
        assert word in said, said
    if is_error:
        assert not (tmp_path / 'w' / 'configs').exists()
    else:
        assert 'WARNING' in out


def test_voc_without_size_reads_the_image(tmp_path, capsys):
    root = make_voc(str(tmp_path / 'data'))
    _xml('000000', f'<width>{SIZE}</width><height>{SIZE}</height>', '')(root)
    error, out = check_only(root, str(tmp_path / 'w'), capsys)
    assert error == '' and 'WARNING' not in out


def test_work_dir_inside_the_data_folder_stops(tmp_path, capsys):
    root = make_coco(str(tmp_path / 'data'))
    error, _ = check_only(root, osp.join(root, 'work'), capsys)
    assert 'is inside --data-root' in error
    assert not osp.exists(osp.join(root, 'work'))


def test_all_defects_of_a_file_are_named_at_once(tmp_path, capsys):
    root = make_coco(str(tmp_path / 'data'))
    for breaker, _, _ in (COCO_CASES['bbox-of-5-numbers'],
                          COCO_CASES['bbox-of-strings'],
                          COCO_CASES['duplicated-image-id'],
                          COCO_CASES['no-area']):
        breaker(root)
    error, _ = check_only(root, str(tmp_path / 'w'), capsys)
    assert 'instances_train.json has 3 problems' in error
    for words in ('2 annotations have a bbox that is not 4 numbers',
                  'duplicated image ids', 'annotations have no "area"'):
        assert words in error


@pytest.mark.parametrize('suffix', ('jpg', 'png'))
@pytest.mark.parametrize('keep', (0.1, 0.5, 0.9))
def test_image_size_fails_on_truncated_files(suffix, keep, tmp_path):
    path = str(tmp_path / f'a.{suffix}')
    _image(path, 0)
    assert image_size(path) == (SIZE, SIZE)
    _truncate(path, keep)('/')
    assert image_size(path) is None


def test_image_size_applies_exif_rotation(tmp_path):
    """cv2, and so mmcv's loader, turns the image by its EXIF
    orientation."""
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees
    Image.new('RGB', (40, 20)).save(tmp_path / 'r.jpg', exif=exif.tobytes())
    assert image_size(str(tmp_path / 'r.jpg')) == (20, 40)


@pytest.mark.parametrize('cases', (
    ('bbox-of-5-numbers', 'bbox-of-strings', 'duplicated-image-id'),
    ('truncated-jpeg', ), ('annotation-points-at-no-image', )))
def test_tool_answers_without_traceback(cases, tmp_path):
    """The tool itself, as a user runs it, on the five defects of the
    report (the first three in one file: they are named at once): a
    message that names each (an error; a warning for the annotation that
    points at no image) and no traceback."""
    root = make_coco(str(tmp_path / 'data'))
    for case in cases:
        COCO_CASES[case][0](root)
    proc = subprocess.run(
        [sys.executable, 'tools/distill_dataset.py', '--data-root', root,
         '--work-dir', str(tmp_path / 'w'), '--check-only'], cwd=REPO,
        capture_output=True, text=True, timeout=600)
    assert 'Traceback' not in proc.stdout + proc.stderr, proc.stderr
    for case in cases:
        _, words, is_error = COCO_CASES[case]
        assert (proc.returncode != 0) == is_error, proc.stderr
        said = proc.stderr if is_error else proc.stdout
        for word in words:
            assert word in said, said
