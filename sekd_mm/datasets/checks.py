# Copyright (c) sekd-mm contributors. All rights reserved.
"""Check a user's COCO- or VOC-format dataset before anything trains.

Nothing here writes into, moves or removes anything in the dataset folder:
the checks only read it, and :func:`voc_to_coco` writes its COCO json where
it is told (the tool's work dir).
"""
import json
import os
import os.path as osp
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence

#: How many offending names an error or warning quotes.
SHOW = 5


class DatasetError(ValueError):
    """The dataset cannot be trained on as given; the message says why and
    what to change."""


def _first(items: Sequence, n: int = SHOW) -> str:
    shown = ', '.join(str(i) for i in items[:n])
    return shown + (f' (and {len(items) - n} more)' if len(items) > n else '')


def check_coco(ann_file: str, img_dir: str,
               classes: Optional[Sequence[str]] = None) -> Dict:
    """Check a COCO json and its image folder the way mmdet's
    ``CocoDataset`` will read them.

    Errors (:class:`DatasetError`): the file is missing or not COCO json;
    ``categories`` absent or empty; an annotation's ``category_id`` that is
    not a category; images listed but missing from ``img_dir`` (the first
    few named); ``classes`` given (e.g. the train split's) and different.

    Boxes that mmdet's ``CocoDataset`` drops (width or height < 1, area <= 0,
    or no overlap with the image) are counted in ``dropped`` and boxes that
    extend past the image (kept as given) in ``outside``; they are warnings,
    not errors.

    Args:
        ann_file (str): The COCO json.
        img_dir (str): The folder its images' ``file_name`` are relative to.
        classes (Sequence[str], optional): Classes the file must have, in
            this order.

    Returns:
        dict: ``classes`` (tuple of category names, in the order of
        ``categories``), ``num_images``, ``num_boxes``, ``dropped`` and
        ``outside`` (lists of annotation ids).
    """
    if not osp.isfile(ann_file):
        raise DatasetError(f'Annotation file {ann_file} not found. Give the '
                           'COCO json of this split (--train-ann / '
                           '--val-ann, relative to --data-root or absolute).')
    try:
        with open(ann_file, encoding='utf-8') as f:
            coco = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DatasetError(f'{ann_file} is not a JSON file ({err}); a COCO '
                           'annotation file is expected.') from err
    missing = [k for k in ('images', 'annotations') if
               not isinstance(coco, dict) or
               not isinstance(coco.get(k), list)]
    if missing:
        raise DatasetError(f'{ann_file} is not a COCO annotation file: no '
                           f'{" or ".join(missing)} list.')
    cats = coco.get('categories')
    if not cats:
        raise DatasetError(
            f'{ann_file} has no categories: COCO json needs a "categories" '
            'list of {"id", "name"}, one per class; the class names are read '
            'from it.')
    names = tuple(c['name'] for c in cats)
    if classes is not None and tuple(classes) != names:
        raise DatasetError(f'{ann_file} has categories {names}, the train '
                           f'split {tuple(classes)}: both splits need the '
                           'same categories in the same order.')
    cat_ids = {c['id'] for c in cats}
    images = {img['id']: img for img in coco['images']}
    absent = [img['file_name'] for img in coco['images']
              if not osp.isfile(osp.join(img_dir, img['file_name']))]
    if absent:
        raise DatasetError(
            f'{len(absent)} of the {len(images)} images listed in '
            f'{ann_file} are not in {img_dir}: {_first(absent)}. Check the '
            'image folder (--train-img / --val-img).')
    dropped, outside, bad_cat = [], [], []
    for ann in coco['annotations']:
        if ann.get('category_id') not in cat_ids:
            bad_cat.append(ann.get('id'))
            continue
        img = images.get(ann.get('image_id'))
        x, y, w, h = ann['bbox']
        if img is None:
            dropped.append(ann.get('id'))
            continue
        iw = max(0, min(x + w, img['width']) - max(x, 0))
        ih = max(0, min(y + h, img['height']) - max(y, 0))
        if w < 1 or h < 1 or ann.get('area', w * h) <= 0 or iw * ih == 0:
            dropped.append(ann.get('id'))
        elif x < 0 or y < 0 or x + w > img['width'] or \
                y + h > img['height']:
            outside.append(ann.get('id'))
    if bad_cat:
        raise DatasetError(
            f'{len(bad_cat)} annotations in {ann_file} have a category_id '
            f'that is not in its categories (annotation ids '
            f'{_first(bad_cat)}).')
    return dict(classes=names, num_images=len(images),
                num_boxes=len(coco['annotations']) - len(dropped),
                dropped=dropped, outside=outside)


def box_warnings(summary: Dict, name: str) -> List[str]:
    """Warnings about the boxes :func:`check_coco` counted."""
    out = []
    if summary['dropped']:
        out.append(f'{name}: {len(summary["dropped"])} boxes have zero or '
                   'negative size or lie outside their image and are '
                   f'dropped (annotation ids {_first(summary["dropped"])}).')
    if summary['outside']:
        out.append(f'{name}: {len(summary["outside"])} boxes extend past '
                   'their image and are kept as given (annotation ids '
                   f'{_first(summary["outside"])}).')
    return out


def voc_ids(root: str, split: str) -> List[str]:
    """Image ids of ``ImageSets/Main/<split>.txt`` under ``root``."""
    main = osp.join(root, 'ImageSets', 'Main')
    if not osp.isdir(main):
        raise DatasetError(
            f'{root} has no ImageSets/Main: a VOC folder (e.g. '
            'VOCdevkit/VOC2007) needs ImageSets/Main/<split>.txt listing '
            'the image ids of each split, Annotations/<id>.xml and '
            'JPEGImages/.')
    path = osp.join(main, f'{split}.txt')
    if not osp.isfile(path):
        raise DatasetError(f'{path} not found; the splits here are: '
                           f'{_first(_splits(main))}.')
    with open(path, encoding='utf-8') as f:
        ids = [line.split()[0] for line in f if line.strip()]
    if not ids:
        raise DatasetError(f'{path} lists no image ids.')
    return ids


def _splits(main: str) -> List[str]:
    return sorted(f[:-4] for f in os.listdir(main) if f.endswith('.txt'))


def voc_classes(root: str, ids: Sequence[str]) -> tuple:
    """The sorted object names of the VOC annotations of ``ids``."""
    names = set()
    for img_id in ids:
        for obj in _parse_xml(root, img_id).findall('object'):
            names.add(obj.findtext('name', '').strip())
    names.discard('')
    if not names:
        raise DatasetError(f'The annotations of {root} name no objects: '
                           'no classes to train on.')
    return tuple(sorted(names))


def _parse_xml(root: str, img_id: str) -> ET.Element:
    path = osp.join(root, 'Annotations', f'{img_id}.xml')
    if not osp.isfile(path):
        raise DatasetError(f'{path} not found (image id {img_id!r} of the '
                           'split list has no annotation).')
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as err:
        raise DatasetError(f'{path} is not valid XML ({err}).') from err


def voc_to_coco(root: str, split: str, classes: Sequence[str],
                out_file: str) -> str:
    """Write the VOC split ``split`` of ``root`` as COCO json to
    ``out_file`` (outside the dataset folder), so that the COCO pipeline
    and metric apply unchanged.

    Images are ``JPEGImages/<filename>`` relative to ``root``; boxes are
    converted as mmdet's ``XMLDataset`` reads them (1-based pixel corners
    to ``[x, y, w, h]``); ``difficult`` objects become ``iscrowd`` (ignored
    in training and evaluation, as mmdet's VOC metric ignores them).

    Raises:
        DatasetError: missing XML or image (the first few named), an object
            whose class is not in ``classes``.
    """
    ids = voc_ids(root, split)
    cat = {name: i + 1 for i, name in enumerate(classes)}
    images, anns, absent, unknown = [], [], [], []
    for img_id in ids:
        xml = _parse_xml(root, img_id)
        file_name = osp.join('JPEGImages',
                             xml.findtext('filename') or f'{img_id}.jpg')
        if not osp.isfile(osp.join(root, file_name)):
            absent.append(file_name)
            continue
        width = int(float(xml.findtext('size/width') or 0))
        height = int(float(xml.findtext('size/height') or 0))
        if not width or not height:
            from PIL import Image
            with Image.open(osp.join(root, file_name)) as im:
                width, height = im.size
        image_id = len(images) + 1
        images.append(dict(id=image_id, file_name=file_name, width=width,
                           height=height))
        for obj in xml.findall('object'):
            name = obj.findtext('name', '').strip()
            if name not in cat:
                unknown.append(f'{name!r} in {img_id}')
                continue
            box = [float(obj.findtext(f'bndbox/{k}') or 0)
                   for k in ('xmin', 'ymin', 'xmax', 'ymax')]
            w, h = box[2] - box[0], box[3] - box[1]
            anns.append(dict(
                id=len(anns) + 1, image_id=image_id, category_id=cat[name],
                bbox=[box[0] - 1, box[1] - 1, w, h], area=max(w, 0) *
                max(h, 0), iscrowd=int(obj.findtext('difficult') == '1')))
    if absent:
        raise DatasetError(
            f'{len(absent)} images of the {split} split are missing from '
            f'{root}: {_first(absent)}.')
    if unknown:
        raise DatasetError(
            f'{len(unknown)} objects of the {split} split have a class the '
            f'train split does not have ({_first(unknown)}); classes: '
            f'{tuple(classes)}.')
    with open(out_file, 'w', encoding='utf-8') as f:
        json.dump(dict(images=images, annotations=anns, categories=[
            dict(id=i, name=n) for n, i in cat.items()]), f)
    return out_file
