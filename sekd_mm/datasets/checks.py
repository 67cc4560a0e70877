# Copyright (c) sekd-mm contributors. All rights reserved.
"""Check a user's COCO- or VOC-format dataset before anything trains.

Nothing here writes into, moves or removes anything in the dataset folder:
the checks only read it, and :func:`voc_to_coco` writes its COCO json where
it is told (the tool's work dir).
"""
import json
import math
import os
import os.path as osp
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from PIL import Image

#: How many offending names an error or warning quotes.
SHOW = 5
#: How :func:`image_size` decodes: a JPEG at 1/8 scale (libjpeg's DCT
#: scaling still reads all of its coded data, so a truncated file fails, at
#: half the cost of a full decode), other formats in full. Measured on
#: 2026-12-03 on a 2-core CPU (one process): about 11 s per 10,000 640x480
#: JPEGs (110 KB each), 60 s per 10,000 640x480 PNGs, under 1 s per 10,000
#: 64x64 images. Pillow's ``verify()`` alone, which reads only the header
#: of a JPEG, passes a JPEG cut to half its bytes.
DECODE_FLAG = cv2.IMREAD_REDUCED_COLOR_8
#: EXIF orientations that swap an image's width and height when cv2 (and so
#: mmcv's default loader) applies them.
_TRANSPOSED = (5, 6, 7, 8)
#: The fix each missing annotation key names.
_ANN_KEYS = dict(
    id='give each annotation a unique integer id',
    image_id='set it to the id of the image the box is on',
    category_id='set it to the id of the box\'s category',
    bbox='give each box as [x, y, width, height] in pixels',
    area='mmdet reads it to drop empty boxes: set it to the box width * '
    'height (or the mask area)',
    iscrowd='the COCO evaluation reads it: set it to 0 (1: a crowd region, '
    'ignored)')


class DatasetError(ValueError):
    """The dataset cannot be trained on as given; the message says why and
    what to change."""


def _first(items: Sequence, n: int = SHOW, sep: str = ', ') -> str:
    shown = sep.join(str(i) for i in items[:n])
    return shown + (f' (and {len(items) - n} more)' if len(items) > n else '')


def _short(value, n: int = 40) -> str:
    """``repr(value)``, cut to ``n`` characters."""
    text = repr(value)
    return text if len(text) <= n else text[:n - 3] + '...'


def _is_number(value) -> bool:
    """A finite JSON number: an int or float, not a bool, NaN or inf."""
    return isinstance(value, (int, float)) and \
        not isinstance(value, bool) and math.isfinite(value)


def _is_id(value) -> bool:
    """A COCO id: an int (or a str), not a bool, float, list or null."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _duplicated(values: Iterable) -> list:
    """The values that occur more than once, in order of first occurrence."""
    return [v for v, count in Counter(values).items() if count > 1]


def _report(where: str, problems: List[str]) -> str:
    if len(problems) == 1:
        return f'{where}: {problems[0]}'
    return f'{where} has {len(problems)} problems:\n' + '\n'.join(
        f'  - {p}' for p in problems)


def check_outside(work_dir: str, data_root: str) -> None:
    """Raise :class:`DatasetError` when ``work_dir`` is ``data_root`` or
    inside it: the data folder is only read, never written."""
    work, root = osp.realpath(work_dir), osp.realpath(data_root)
    if work == root or work.startswith(root.rstrip(os.sep) + os.sep):
        raise DatasetError(
            f'--work-dir {work} is inside --data-root {root}; the data '
            'folder is only read, never written: give a --work-dir outside '
            'it.')


def image_size(path: str) -> Optional[Tuple[int, int]]:
    """Whether ``path`` decodes, and its size as mmcv's default loader sees
    it (``cv2.imdecode``, EXIF orientation applied).

    Decodes with :data:`DECODE_FLAG`, which catches a truncated JPEG or PNG
    (cv2 then returns nothing, and mmdet's ``LoadImageFromFile`` fails), a
    corrupt header and a file that is no image; the size is read from the
    header.

    Returns:
        tuple | None: ``(width, height)`` in pixels, or None when the file
        does not decode (or cannot be read).
    """
    try:
        data = np.fromfile(path, np.uint8)
        if not data.size or cv2.imdecode(data, DECODE_FLAG) is None:
            return None
    except (OSError, cv2.error):
        return None
    try:
        with Image.open(path) as img:
            width, height = img.size
            if img.format == 'JPEG' and \
                    img.getexif().get(0x0112) in _TRANSPOSED:
                width, height = height, width
        return width, height
    except Exception:  # a format cv2 reads and Pillow does not
        height, width = cv2.imdecode(data, cv2.IMREAD_COLOR).shape[:2]
        return width, height


def _load_coco(ann_file: str) -> Dict:
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
    except OSError as err:
        raise DatasetError(f'{ann_file} cannot be read ({err}).') from err
    missing = [k for k in ('images', 'annotations') if
               not isinstance(coco, dict) or
               not isinstance(coco.get(k), list)]
    if missing:
        raise DatasetError(f'{ann_file} is not a COCO annotation file: no '
                           f'{" or ".join(missing)} list.')
    cats = coco.get('categories')
    if not cats or not isinstance(cats, list):
        raise DatasetError(
            f'{ann_file} has no categories: COCO json needs a "categories" '
            'list of {"id", "name"}, one per class; the class names are read '
            'from it.')
    return coco


def _check_categories(cats: list, problems: List[str]) -> None:
    not_dict, no_id, no_name = [], [], []
    for i, cat in enumerate(cats):
        if not isinstance(cat, dict):
            not_dict.append(f'categories[{i}]: {_short(cat)}')
            continue
        if not _is_id(cat.get('id')):
            no_id.append(f'categories[{i}]: {_short(cat.get("id"))}')
        name = cat.get('name')
        if not isinstance(name, str) or not name.strip():
            no_name.append(f'categories[{i}]: {_short(name)}')
    if not_dict:
        problems.append(
            f'{len(not_dict)} entries of "categories" are not objects '
            f'({_first(not_dict)}); each category is {{"id": 1, "name": '
            '"cat"}.')
    if no_id:
        problems.append(
            f'{len(no_id)} categories have no integer "id" '
            f'({_first(no_id)}); give each category a unique id.')
    if no_name:
        problems.append(
            f'{len(no_name)} categories have no "name" ({_first(no_name)}); '
            'give each category its class name.')
    good = [c for c in cats if isinstance(c, dict)]
    for key in ('id', 'name'):
        dup = _duplicated(c.get(key) for c in good
                          if isinstance(c.get(key), (int, str)))
        if dup:
            problems.append(
                f'{len(dup)} duplicated category {key}s ({_first(dup)}): '
                'mmdet maps each class name to one category id; give each '
                'category its own id and name, and point category_id at '
                'them.')


def _check_images(records: list, problems: List[str]) -> Dict:
    """The well-formed image records by id; ``problems`` gets the rest."""
    if not records:
        problems.append('"images" is empty: list each image as {"id", '
                        '"file_name", "width", "height"}.')
    not_dict, no_id, no_file, bad_size, good = [], [], [], [], []
    for i, img in enumerate(records):
        if not isinstance(img, dict):
            not_dict.append(f'images[{i}]: {_short(img)}')
            continue
        ok = _is_id(img.get('id'))
        name = img['id'] if ok else f'images[{i}]'
        if not ok:
            no_id.append(f'{name}: {_short(img.get("id"), 20)}')
        if not isinstance(img.get('file_name'), str) or \
                not img['file_name'].strip():
            no_file.append(name)
            ok = False
        if not all(_is_number(img.get(k)) and img[k] > 0
                   for k in ('width', 'height')):
            bad_size.append(f'image {name}: {_short(img.get("width"), 12)}'
                            f' x {_short(img.get("height"), 12)}')
            ok = False
        if ok:
            good.append(img)
    if not_dict:
        problems.append(
            f'{len(not_dict)} entries of "images" are not objects '
            f'({_first(not_dict)}); each image is {{"id", "file_name", '
            '"width", "height"}.')
    if no_id:
        problems.append(
            f'{len(no_id)} images have no integer "id" '
            f'({_first(no_id, sep="; ")}); give each image a unique id.')
    if no_file:
        problems.append(
            f'{len(no_file)} images have no "file_name" (image ids '
            f'{_first(no_file)}); give each image its file name, relative '
            'to the image folder.')
    if bad_size:
        problems.append(
            f'{len(bad_size)} images have no valid "width" and "height" '
            f'({_first(bad_size, sep="; ")}); set both to the image size in '
            'pixels (positive numbers).')
    by_id = defaultdict(list)
    for img in good:
        by_id[img['id']].append(img['file_name'])
    dup = [f'image id {i}: {" and ".join(files[:3])}'
           for i, files in by_id.items() if len(files) > 1]
    if dup:
        problems.append(
            f'{len(dup)} duplicated image ids ({_first(dup, sep="; ")}): '
            'mmdet keeps one image per id and gives it the boxes of all of '
            'them, so boxes land on the wrong image. Give '
            'each image a unique id and point each annotation\'s image_id '
            'at its image.')
    return {img['id']: img for img in good}


def _check_annotations(records: list, evaluated: bool,
                       problems: List[str]) -> List[Dict]:
    """The well-formed annotation records; ``problems`` gets the rest."""
    keys = [k for k in _ANN_KEYS if evaluated or k != 'iscrowd']
    not_dict, bad_bbox, bad_area, bad_crowd, good = [], [], [], [], []
    missing, bad_id = defaultdict(list), defaultdict(list)
    for i, ann in enumerate(records):
        if not isinstance(ann, dict):
            not_dict.append(f'annotations[{i}]: {_short(ann)}')
            continue
        name = ann['id'] if _is_id(ann.get('id')) else f'annotations[{i}]'
        label = f'annotation {name}' if _is_id(ann.get('id')) else name
        ok = True
        for key in keys:
            if key not in ann:
                missing[key].append(name)
                ok = False
        for key in ('id', 'image_id', 'category_id'):
            if key in ann and not _is_id(ann[key]):
                bad_id[key].append(f'{label}: {key} {_short(ann[key], 20)}')
                ok = False
        bbox = ann.get('bbox')
        if 'bbox' in ann and not (isinstance(bbox, list) and len(bbox) == 4
                                  and all(_is_number(v) for v in bbox)):
            bad_bbox.append(f'{label}: {_short(bbox)}')
            ok = False
        if 'area' in ann and not _is_number(ann['area']):
            bad_area.append(f'{label}: {_short(ann["area"], 20)}')
            ok = False
        if 'iscrowd' in ann and ann['iscrowd'] not in (0, 1):
            bad_crowd.append(f'{label}: {_short(ann["iscrowd"], 20)}')
            ok = False
        if ok:
            good.append(ann)
    if not_dict:
        problems.append(
            f'{len(not_dict)} entries of "annotations" are not objects '
            f'({_first(not_dict)}); each box is {{"id", "image_id", '
            '"category_id", "bbox", "area", "iscrowd"}.')
    for key, names in missing.items():
        problems.append(f'{len(names)} annotations have no "{key}" '
                        f'(annotation ids {_first(names)}); {_ANN_KEYS[key]}.')
    for key, names in bad_id.items():
        problems.append(
            f'{len(names)} annotations have a non-integer "{key}" '
            f'({_first(names, sep="; ")}); {_ANN_KEYS[key]}.')
    if bad_bbox:
        problems.append(
            f'{len(bad_bbox)} annotations have a bbox that is not 4 numbers '
            f'[x, y, width, height] ({_first(bad_bbox, sep="; ")}); write '
            'each bbox as 4 JSON numbers in pixels (not strings, '
            'true/false, null or NaN).')
    if bad_area:
        problems.append(
            f'{len(bad_area)} annotations have an "area" that is not a '
            f'number ({_first(bad_area, sep="; ")}); '
            f'{_ANN_KEYS["area"]}.')
    if bad_crowd:
        problems.append(
            f'{len(bad_crowd)} annotations have an "iscrowd" other than 0 '
            f'or 1 ({_first(bad_crowd, sep="; ")}); set it to 0 (1: a crowd '
            'region, ignored).')
    dup = _duplicated(ann['id'] for ann in records
                      if isinstance(ann, dict) and _is_id(ann.get('id')))
    if dup:
        problems.append(
            f'{len(dup)} duplicated annotation ids ({_first(dup)}): mmdet '
            'needs each annotation id once; renumber the annotations.')
    return good


def _check_files(images: Dict, img_dir: str,
                 problems: List[str]) -> List[str]:
    """Check every image file decodes; return the images whose size is not
    the json's (``'file: json WxH, file WxH'``)."""
    absent, folders, broken, resized = [], [], [], []
    sizes = {}
    level = cv2.setLogLevel(2)  # cv2's own warnings: the error says it
    try:
        for img in images.values():
            path = osp.join(img_dir, img['file_name'])
            if osp.isdir(path):
                folders.append(img['file_name'])
            elif not osp.isfile(path):
                absent.append(img['file_name'])
            else:
                if path not in sizes:
                    sizes[path] = image_size(path)
                if sizes[path] is None:
                    broken.append(img['file_name'])
                elif sizes[path] != (img['width'], img['height']):
                    resized.append(
                        f'{img["file_name"]}: json {img["width"]}x'
                        f'{img["height"]}, file {sizes[path][0]}x'
                        f'{sizes[path][1]}')
    finally:
        cv2.setLogLevel(level)
    if absent:
        where = img_dir if osp.isdir(img_dir) else \
            f'{img_dir} (no such folder)'
        problems.append(
            f'{len(absent)} of the {len(images)} images listed are not in '
            f'{where}: {_first(absent)}. Check the image folder '
            '(--train-img / --val-img) and the file names.')
    if folders:
        problems.append(
            f'{len(folders)} images listed are folders, not image files '
            f'({_first(folders)}); each file_name names an image file '
            f'relative to {img_dir}.')
    if broken:
        problems.append(
            f'{len(broken)} of the {len(images)} images listed do not '
            f'decode (truncated, corrupt or not an image): {_first(broken)} '
            f'in {img_dir}. mmdet cannot load them: copy or export them '
            'again, or remove their image records and annotations.')
    return resized


def check_coco(ann_file: str, img_dir: str,
               classes: Optional[Sequence[str]] = None,
               evaluated: bool = False) -> Dict:
    """Check a COCO json and its image folder the way mmdet's
    ``CocoDataset`` (and, when ``evaluated``, pycocotools' ``COCOeval``)
    will read them. The folder is only read.

    Errors (:class:`DatasetError`): the file is missing or not COCO json;
    ``categories`` absent or empty; then every malformed record at once,
    each kind in one line naming the first few ids and the fix: categories
    without an id or name, or duplicated; image records not objects,
    without an id, ``file_name`` or a positive numeric ``width`` and
    ``height``, or with a duplicated id; annotations not objects, without
    ``id``, ``image_id``, ``category_id``, ``bbox`` or ``area`` (and
    ``iscrowd`` when ``evaluated``), with a ``bbox`` that is not 4 finite
    numbers, a non-numeric ``area``, an ``iscrowd`` other than 0/1, or a
    duplicated id; ``images`` empty. Then ``classes`` given (e.g. the train
    split's) and different; a ``category_id`` that is not a category;
    images missing from ``img_dir``, listed as a folder, or that do not
    decode (:func:`image_size`).

    Warnings (counted in the summary, see :func:`box_warnings`): boxes
    that mmdet's ``CocoDataset`` drops (width or height < 1, area <= 0, or
    no overlap with the image) in ``dropped``; boxes that extend past the
    image (kept as given) in ``outside``; annotations whose ``image_id``
    matches no image (ignored) in ``orphans``; images whose decoded size
    is not the json's ``width`` x ``height`` in ``resized``; file names
    listed for more than one image in ``repeated``.

    Args:
        ann_file (str): The COCO json.
        img_dir (str): The folder its images' ``file_name`` are relative to.
        classes (Sequence[str], optional): Classes the file must have, in
            this order.
        evaluated (bool): The split is evaluated with ``COCOeval``, which
            also needs ``iscrowd`` in every annotation.

    Returns:
        dict: ``classes`` (tuple of category names, in the order of
        ``categories``), ``num_images``, ``num_annotations``,
        ``num_boxes`` (the boxes mmdet keeps), ``dropped``, ``outside``,
        ``orphans`` (lists of annotation ids), ``orphan_image_ids``,
        ``resized`` and ``repeated`` (lists of file names).
    """
    coco = _load_coco(ann_file)
    cats, problems = coco['categories'], []
    _check_categories(cats, problems)
    images = _check_images(coco['images'], problems)
    anns = _check_annotations(coco['annotations'], evaluated, problems)
    if problems:
        raise DatasetError(_report(ann_file, problems))
    names = tuple(c['name'] for c in cats)
    if classes is not None and tuple(classes) != names:
        raise DatasetError(f'{ann_file} has categories {names}, the train '
                           f'split {tuple(classes)}: both splits need the '
                           'same categories in the same order.')
    cat_ids = {c['id'] for c in cats}
    bad_cat = [ann['id'] for ann in anns if ann['category_id'] not in cat_ids]
    if bad_cat:
        raise DatasetError(
            f'{len(bad_cat)} annotations in {ann_file} have a category_id '
            f'that is not in its categories (annotation ids '
            f'{_first(bad_cat)}); set it to one of the category ids '
            f'{_first(sorted(cat_ids, key=str))}.')
    resized = _check_files(images, img_dir, problems)
    if problems:
        raise DatasetError(_report(ann_file, problems))
    dropped, outside, orphans, orphan_image_ids = [], [], [], []
    for ann in anns:
        img = images.get(ann['image_id'])
        if img is None:
            orphans.append(ann['id'])
            if ann['image_id'] not in orphan_image_ids:
                orphan_image_ids.append(ann['image_id'])
            continue
        x, y, w, h = ann['bbox']
        iw = max(0, min(x + w, img['width']) - max(x, 0))
        ih = max(0, min(y + h, img['height']) - max(y, 0))
        if w < 1 or h < 1 or ann['area'] <= 0 or iw * ih == 0:
            dropped.append(ann['id'])
        elif x < 0 or y < 0 or x + w > img['width'] or \
                y + h > img['height']:
            outside.append(ann['id'])
    repeated = _duplicated(img['file_name'] for img in images.values())
    return dict(classes=names, num_images=len(images),
                num_annotations=len(anns),
                num_boxes=len(anns) - len(dropped) - len(orphans),
                dropped=dropped, outside=outside, orphans=orphans,
                orphan_image_ids=orphan_image_ids, resized=resized,
                repeated=repeated)


def box_warnings(summary: Dict, name: str) -> List[str]:
    """Warnings about what :func:`check_coco` counted (boxes, annotations
    that point at no image, image sizes), one line each."""
    out = []
    if summary.get('orphans'):
        out.append(
            f'{name}: {len(summary["orphans"])} annotations point at no '
            'image (their image_id matches no image id) and are ignored '
            f'(annotation ids {_first(summary["orphans"])}; image_id '
            f'{_first(summary["orphan_image_ids"])}). Add those images to '
            '"images" or fix the image_id.')
    if summary['dropped']:
        out.append(f'{name}: {len(summary["dropped"])} boxes have zero or '
                   'negative size or lie outside their image and are '
                   f'dropped (annotation ids {_first(summary["dropped"])}).')
    if summary['outside']:
        out.append(f'{name}: {len(summary["outside"])} boxes extend past '
                   'their image and are kept as given (annotation ids '
                   f'{_first(summary["outside"])}).')
    if summary.get('resized'):
        out.append(
            f'{name}: {len(summary["resized"])} images are not the size '
            f'their record gives ({_first(summary["resized"], 3)}); mmdet '
            'keeps and clips the boxes by the record\'s width and height: '
            'set them to the image size (after EXIF rotation).')
    if summary.get('repeated'):
        out.append(
            f'{name}: {len(summary["repeated"])} image files are listed '
            f'under more than one image id ({_first(summary["repeated"])}); '
            'each listing trains as a separate image.')
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
    try:
        with open(path, encoding='utf-8') as f:
            ids = [line.split()[0] for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        raise DatasetError(f'{path} cannot be read as a text list of image '
                           f'ids, one a line ({err}).') from err
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
        raise DatasetError(f'{path} is not valid XML ({err}); fix or '
                           're-export this annotation.') from err
    except OSError as err:
        raise DatasetError(f'{path} cannot be read ({err}).') from err


def _voc_size(xml: ET.Element) -> Optional[Tuple[int, int]]:
    """``<size>``'s ``(width, height)``; ``(0, 0)`` when it is missing or
    zero (the image is then read, as mmdet's ``XMLDataset`` does); None
    when it is not two non-negative numbers."""
    try:
        size = [float(xml.findtext(f'size/{k}') or 0)
                for k in ('width', 'height')]
    except ValueError:
        return None
    if not all(math.isfinite(v) and v >= 0 for v in size):
        return None
    return (0, 0) if not all(size) else (int(size[0]), int(size[1]))


def _voc_box(obj: ET.Element) -> Optional[List[float]]:
    """``<bndbox>``'s ``[xmin, ymin, xmax, ymax]``; None when it is missing
    or not 4 finite numbers."""
    try:
        box = [float(obj.findtext(f'bndbox/{k}'))
               for k in ('xmin', 'ymin', 'xmax', 'ymax')]
    except (TypeError, ValueError):
        return None
    return box if all(math.isfinite(v) for v in box) else None


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
        DatasetError: a missing or unparsable XML; then, all at once:
            missing or undecodable images, a ``<size>`` that is not numbers,
            objects without a name, of a class not in ``classes``, or
            without a ``<bndbox>`` of 4 numbers (the first few named).
    """
    ids = voc_ids(root, split)
    cat = {name: i + 1 for i, name in enumerate(classes)}
    images, anns = [], []
    absent, broken, bad_size, unnamed, unknown, bad_box = ([] for _ in
                                                           range(6))
    for img_id in ids:
        xml = _parse_xml(root, img_id)
        file_name = osp.join('JPEGImages',
                             xml.findtext('filename') or f'{img_id}.jpg')
        if not osp.isfile(osp.join(root, file_name)):
            absent.append(file_name)
            continue
        size = _voc_size(xml)
        if size is None:
            bad_size.append(f'{img_id}.xml: {xml.findtext("size/width")!r}'
                            f' x {xml.findtext("size/height")!r}')
            continue
        if not all(size):
            size = image_size(osp.join(root, file_name))
            if size is None:
                broken.append(file_name)
                continue
        image_id = len(images) + 1
        images.append(dict(id=image_id, file_name=file_name, width=size[0],
                           height=size[1]))
        for k, obj in enumerate(xml.findall('object'), 1):
            name = (obj.findtext('name') or '').strip()
            box = _voc_box(obj)
            if not name:
                unnamed.append(f'{img_id}.xml object {k}')
            elif name not in cat:
                unknown.append(f'{name!r} in {img_id}')
            elif box is None:
                bad_box.append(f'{img_id}.xml object {k}')
            else:
                w, h = box[2] - box[0], box[3] - box[1]
                anns.append(dict(
                    id=len(anns) + 1, image_id=image_id,
                    category_id=cat[name], bbox=[box[0] - 1, box[1] - 1, w,
                                                 h],
                    area=max(w, 0) * max(h, 0),
                    iscrowd=int(obj.findtext('difficult') == '1')))
    problems = []
    if absent:
        problems.append(f'{len(absent)} images are missing: '
                        f'{_first(absent)}.')
    if broken:
        problems.append(f'{len(broken)} images do not decode (truncated, '
                        f'corrupt or not an image: {_first(broken)}); copy '
                        'them again or drop their ids from the split list.')
    if bad_size:
        problems.append(f'{len(bad_size)} annotations have a <size> that is '
                        f'not two numbers ({_first(bad_size)}); give '
                        '<width> and <height> in pixels.')
    if unnamed:
        problems.append(f'{len(unnamed)} objects have no <name> '
                        f'({_first(unnamed)}); give each its class name.')
    if unknown:
        problems.append(
            f'{len(unknown)} objects have a class the train split does not '
            f'have ({_first(unknown)}); classes: {tuple(classes)}.')
    if bad_box:
        problems.append(
            f'{len(bad_box)} objects have no <bndbox> of 4 numbers <xmin>, '
            f'<ymin>, <xmax>, <ymax> ({_first(bad_box)}); give each box its '
            'pixel corners.')
    if problems:
        raise DatasetError(_report(f'The {split} split of {root}',
                                   problems))
    with open(out_file, 'w', encoding='utf-8') as f:
        json.dump(dict(images=images, annotations=anns, categories=[
            dict(id=i, name=n) for n, i in cat.items()]), f)
    return out_file
