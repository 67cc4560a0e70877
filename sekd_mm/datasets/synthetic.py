# Copyright (c) sekd-mm contributors. All rights reserved.
"""A small deterministic synthetic object-detection dataset.

The dataset is generated on the fly from a seed (pure numpy + Pillow, no
download needed) and written in two layouts that MMDetection reads out of
the box:

* COCO::

    root/train/000001.jpg ...
    root/val/000257.jpg ...
    root/annotations/instances_train.json
    root/annotations/instances_val.json

* Pascal VOC::

    root/VOCdevkit/VOC2007/JPEGImages/000001.jpg ...   (hard links)
    root/VOCdevkit/VOC2007/Annotations/000001.xml ...
    root/VOCdevkit/VOC2007/ImageSets/Main/trainval.txt (train ids)
    root/VOCdevkit/VOC2007/ImageSets/Main/test.txt     (val ids)

Each image shows 1 to ``max_objects`` shapes of five classes (see
:data:`CLASSES`) in random colours, sizes (log-uniform from a few pixels to
80% of the image side), rotations and fills (solid, stripes, noise) on a
textured background with clutter (lines and soft blobs) that is not
annotated.

Box conventions. All boxes are integer-valued and tight around the drawn
pixels: an object covering pixel columns ``c0..c1`` and rows ``r0..r1``
(0-based, inclusive) has the COCO box ``[c0, r0, c1 + 1 - c0, r1 + 1 - r0]``,
i.e. ``x1, y1, x2, y2 = c0, r0, c1 + 1, r1 + 1`` in MMDetection's
continuous ``xyxy`` format. MMDetection's VOC reader
(``XMLDataset._parse_instance_info``) subtracts 1 from *all four* VOC
coordinates, so the VOC files store ``x1 + 1, y1 + 1, x2 + 1, y2 + 1``;
``CocoDataset`` and ``VOCDataset`` then yield identical boxes. Objects are
never drawn on the last pixel row and column, so ``x2 <= width - 1`` and
the VOC ``xmax`` never exceeds the image width.

Run ``python -m sekd_mm.datasets.synthetic --root data/synthetic`` to
create the dataset from the command line.
"""
import argparse
import colorsys
import json
import math
import os
import os.path as osp
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple
from xml.sax.saxutils import escape

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ('circle', 'square', 'triangle', 'ring', 'cross')

#: Default generation arguments, shared by :func:`generate_synthetic_dataset`
#: and :func:`ensure_synthetic_dataset` (and the command line).
DEFAULT_ARGS: Dict[str, int] = dict(
    num_train=256, num_val=64, img_size=128, seed=0, max_objects=8)

#: Bump whenever the generated content changes for the same arguments.
VERSION = 1

META_FILE = 'meta.json'
MIN_BOX_SIZE = 4  # objects whose box is smaller on a side are dropped
MIN_OBJECT_SIZE = 6.0  # smallest nominal object size in pixels
MAX_OBJECT_FRAC = 0.8  # largest nominal object size / image side
MIN_VISIBLE_FRAC = 0.5  # occluded objects keep at least this much visible
JPEG_QUALITY = 95
_SPLIT_CODES = {'train': 0, 'val': 1}


def _check_args(num_train: int, num_val: int, img_size: int, seed: int,
                max_objects: int) -> None:
    """Validate the generation arguments (raises ``ValueError``)."""
    for name, value in (('num_train', num_train), ('num_val', num_val),
                        ('img_size', img_size), ('seed', seed),
                        ('max_objects', max_objects)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f'{name} must be an int, got {value!r}')
    if num_train < 1 or num_val < 0:
        raise ValueError('need num_train >= 1 and num_val >= 0, got '
                         f'{num_train} and {num_val}')
    if num_train + num_val > 999999:
        raise ValueError('at most 999999 images (6-digit ids)')
    if img_size < 32:
        raise ValueError(f'img_size must be >= 32, got {img_size}')
    if seed < 0:
        raise ValueError(f'seed must be >= 0, got {seed}')
    if max_objects < 1:
        raise ValueError(f'max_objects must be >= 1, got {max_objects}')


def _normalize_args(kwargs: Dict[str, Any]) -> Dict[str, int]:
    """Merge ``kwargs`` into :data:`DEFAULT_ARGS` and validate them."""
    unknown = sorted(set(kwargs) - set(DEFAULT_ARGS))
    if unknown:
        raise TypeError(f'unknown synthetic dataset argument(s) {unknown}; '
                        f'expected a subset of {sorted(DEFAULT_ARGS)}')
    args = dict(DEFAULT_ARGS)
    args.update(kwargs)
    _check_args(**args)
    return args


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def _random_color(rng: np.random.Generator) -> np.ndarray:
    """A saturated, fairly bright RGB colour as floats in [0, 255]."""
    h = rng.random()
    s = rng.uniform(0.55, 1.0)
    v = rng.uniform(0.45, 1.0)
    return np.array(colorsys.hsv_to_rgb(h, s, v), np.float64) * 255


def _render_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth random gradient with clutter lines and soft blobs.

    Args:
        rng (np.random.Generator): Random generator of the image.
        size (int): Image side in pixels.

    Returns:
        np.ndarray: Float64 array of shape ``(size, size, 3)``.
    """
    grid = rng.integers(2, 5)
    low = rng.uniform(50, 205, size=(grid, grid, 3)).astype(np.uint8)
    bg = Image.fromarray(low).resize((size, size), Image.BILINEAR)

    draw = ImageDraw.Draw(bg)
    for _ in range(int(rng.integers(1, 6))):
        pts = rng.uniform(-0.1 * size, 1.1 * size, size=4).tolist()
        colour = tuple(int(c) for c in rng.integers(30, 226, size=3))
        draw.line(pts, fill=colour, width=int(rng.integers(1, 3)))
    out = np.asarray(bg, np.float64).copy()

    coords = np.arange(size, dtype=np.float64) + 0.5
    for _ in range(int(rng.integers(0, 4))):
        cx, cy = rng.uniform(0, size, size=2)
        sx, sy = rng.uniform(0.03, 0.15, size=2) * size
        amp = rng.uniform(-45, 45, size=3)
        gx = np.exp(-0.5 * ((coords - cx) / sx)**2)
        gy = np.exp(-0.5 * ((coords - cy) / sy)**2)
        out += np.outer(gy, gx)[..., None] * amp
    return out


def _shape_mask(cls: str, u: np.ndarray, v: np.ndarray, size: float,
                theta: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of a shape centred at the origin.

    Args:
        cls (str): One of :data:`CLASSES`.
        u (np.ndarray): x offsets of the pixel centres, shape ``(1, W)``.
        v (np.ndarray): y offsets of the pixel centres, shape ``(H, 1)``.
        size (float): Nominal extent of the shape in pixels.
        theta (float): Rotation in radians.
        rng (np.random.Generator): Random generator (shape proportions).

    Returns:
        np.ndarray: Boolean mask of shape ``(H, W)``.
    """
    half = size / 2
    cos, sin = math.cos(theta), math.sin(theta)
    ur = u * cos + v * sin
    vr = v * cos - u * sin
    if cls == 'circle':
        return u**2 + v**2 <= half**2
    if cls == 'ring':
        inner = half * rng.uniform(0.45, 0.7)
        r2 = u**2 + v**2
        return (r2 <= half**2) & (r2 >= inner**2)
    if cls == 'square':
        side = size / (abs(cos) + abs(sin))
        return np.maximum(np.abs(ur), np.abs(vr)) <= side / 2
    if cls == 'cross':
        t = size * rng.uniform(0.26, 0.4) / 2
        au, av = np.abs(ur), np.abs(vr)
        return ((au <= t) & (av <= half)) | ((av <= t) & (au <= half))
    if cls == 'triangle':
        # Counter-clockwise vertices on the circumcircle, plus a little
        # jitter so that triangles are not all equilateral.
        angles = theta - math.pi / 2 + np.arange(3) * (2 * math.pi / 3)
        angles = angles + rng.uniform(-0.25, 0.25, size=3)
        px, py = half * np.cos(angles), half * np.sin(angles)
        mask = np.ones(np.broadcast_shapes(u.shape, v.shape), bool)
        for i in range(3):
            x0, y0 = px[i], py[i]
            x1, y1 = px[(i + 1) % 3], py[(i + 1) % 3]
            mask &= (x1 - x0) * (v - y0) - (y1 - y0) * (u - x0) >= 0
        return mask
    raise ValueError(f'unknown class {cls!r}')


def _fill(rng: np.random.Generator, colour: np.ndarray, u: np.ndarray,
          v: np.ndarray) -> np.ndarray:
    """Object texture: solid colour, stripes or noise.

    Returns:
        np.ndarray: Float64 array of shape ``(H, W, 3)``.
    """
    shape = np.broadcast_shapes(u.shape, v.shape) + (3, )
    mode = rng.choice(4)  # 0, 1: solid; 2: stripes; 3: noise
    if mode == 2:
        phi = rng.uniform(0, math.pi)
        period = rng.uniform(3, 8)
        other = colour * rng.uniform(0.35, 0.65)
        phase = (u * math.cos(phi) + v * math.sin(phi)) / period
        on = np.sin(2 * math.pi * phase) > 0
        return np.where(on[..., None], colour, other)
    out = np.broadcast_to(colour, shape).copy()
    if mode == 3:
        out += rng.normal(0, 28, size=shape)
    return out


def _bbox_of(mask: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
    """Tight ``(x1, y1, x2, y2)`` box of a mask (exclusive ends)."""
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size == 0:
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    return (int(cols[0]), int(rows[0]), int(cols[-1]) + 1,
            int(rows[-1]) + 1)


def _render_image(rng: np.random.Generator, size: int,
                  max_objects: int) -> Tuple[np.ndarray, List[dict]]:
    """Render one image and its objects.

    Args:
        rng (np.random.Generator): Random generator of the image.
        size (int): Image side in pixels.
        max_objects (int): Maximum number of objects.

    Returns:
        tuple[np.ndarray, list[dict]]: The uint8 RGB image and its objects,
        each a dict with ``label`` (0-based), ``bbox`` (``x1, y1, x2, y2``
        ints, exclusive ends) and ``truncated`` (bool).
    """
    img = _render_background(rng, size)
    # Objects may cover everything but the last row and column (see the
    # module docstring: it keeps VOC ``xmax``/``ymax`` <= the image size).
    limit = size - 1
    num = int(rng.integers(1, max_objects + 1))
    log_lo = math.log(MIN_OBJECT_SIZE)
    log_hi = math.log(MAX_OBJECT_FRAC * size)
    sizes = np.sort(np.exp(rng.uniform(log_lo, log_hi, size=num)))[::-1]

    owner = np.full((size, size), -1, np.int16)
    objects: List[dict] = []
    attempts = 0
    queue = list(sizes)
    while queue or not objects:
        if queue:
            obj_size = float(queue.pop(0))
        else:
            # Every image needs an object: fall back to a medium one.
            obj_size = float(rng.uniform(0.2, 0.4) * size)
        attempts += 1
        label = int(rng.integers(len(CLASSES)))
        placed = None
        for _ in range(12):
            placed = _try_place(rng, img, owner, objects, label, obj_size,
                                size, limit)
            if placed is not None:
                break
        if placed is None:
            if attempts > 100 and not objects:
                raise RuntimeError('could not place any object')
            continue
        mask, fill, obj = placed
        img[mask] = fill[mask]
        owner[mask] = len(objects)
        objects.append(obj)

    sigma = rng.uniform(2, 10)
    img += rng.normal(0, sigma, size=img.shape)
    img = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    for obj in objects:
        del obj['area']
    return img, objects


def _try_place(
        rng: np.random.Generator, img: np.ndarray, owner: np.ndarray,
        objects: List[dict], label: int, obj_size: float, size: int,
        limit: int) -> Optional[Tuple[np.ndarray, np.ndarray, dict]]:
    """Sample where and how to draw an object; check it against the others.

    The new object is accepted when its box is at least
    :data:`MIN_BOX_SIZE` pixels on each side and, for each object already
    placed, the part left visible keeps at least :data:`MIN_VISIBLE_FRAC`
    of its pixels and exactly the same tight box.

    Returns:
        tuple | None: ``(mask, fill, object)`` with full-image ``mask`` and
        ``fill``, or None when the sample is rejected.
    """
    margin = 0.2 * obj_size  # up to ~30% of an object may leave the image
    cx = rng.uniform(margin, size - margin)
    cy = rng.uniform(margin, size - margin)
    theta = 0.0
    if CLASSES[label] in ('square', 'cross') and rng.random() < 0.5:
        theta = rng.uniform(-0.35, 0.35)
    elif CLASSES[label] == 'triangle':
        theta = rng.uniform(-math.pi, math.pi)

    # Window of the whole (unclipped) shape, in image pixel coordinates.
    reach = obj_size / 2 * math.sqrt(2) + 1
    x0, x1 = math.floor(cx - reach), math.ceil(cx + reach) + 1
    y0, y1 = math.floor(cy - reach), math.ceil(cy + reach) + 1
    u = (np.arange(x0, x1, dtype=np.float64) + 0.5 - cx)[None, :]
    v = (np.arange(y0, y1, dtype=np.float64) + 0.5 - cy)[:, None]
    local = _shape_mask(CLASSES[label], u, v, obj_size, theta, rng)

    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x1, limit), min(y1, limit)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    clipped = local[cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0]
    total = int(local.sum())
    visible = int(clipped.sum())
    if visible == 0:
        return None
    mask = np.zeros((size, size), bool)
    mask[cy0:cy1, cx0:cx1] = clipped
    bbox = _bbox_of(mask)
    assert bbox is not None
    if min(bbox[2] - bbox[0], bbox[3] - bbox[1]) < MIN_BOX_SIZE:
        return None

    for k, other in enumerate(objects):
        ox1, oy1, ox2, oy2 = other['bbox']
        if (ox1 >= bbox[2] or bbox[0] >= ox2 or oy1 >= bbox[3]
                or bbox[1] >= oy2):
            continue
        remaining = (owner == k) & ~mask
        if remaining.sum() < MIN_VISIBLE_FRAC * other['area']:
            return None
        if _bbox_of(remaining) != other['bbox']:
            return None

    # A colour that stands out from the background under the object.
    region = img[mask].mean(axis=0)
    colour = _random_color(rng)
    for _ in range(8):
        if np.linalg.norm(colour - region) >= 90:
            break
        colour = _random_color(rng)
    fu = (np.arange(size, dtype=np.float64) + 0.5 - cx)[None, :]
    fv = (np.arange(size, dtype=np.float64) + 0.5 - cy)[:, None]
    fill = _fill(rng, colour, fu, fv)
    obj = dict(
        label=label, bbox=bbox, truncated=visible < total, area=visible)
    return mask, fill, obj


# ---------------------------------------------------------------------------
# Writers
# ---------------------------------------------------------------------------


def _voc_xml(name: str, size: int, objects: Sequence[dict]) -> str:
    """Pascal VOC annotation of one image (see module docstring)."""
    lines = [
        '<annotation>',
        '\t<folder>VOC2007</folder>',
        f'\t<filename>{name}.jpg</filename>',
        '\t<source>',
        '\t\t<database>sekd_mm synthetic shapes</database>',
        '\t</source>',
        '\t<size>',
        f'\t\t<width>{size}</width>',
        f'\t\t<height>{size}</height>',
        '\t\t<depth>3</depth>',
        '\t</size>',
        '\t<segmented>0</segmented>',
    ]
    for obj in objects:
        # MMDetection subtracts 1 from all four coordinates.
        x1, y1, x2, y2 = (c + 1 for c in obj['bbox'])
        lines += [
            '\t<object>',
            f'\t\t<name>{escape(CLASSES[obj["label"]])}</name>',
            '\t\t<pose>Unspecified</pose>',
            f'\t\t<truncated>{int(obj["truncated"])}</truncated>',
            '\t\t<difficult>0</difficult>',
            '\t\t<bndbox>',
            f'\t\t\t<xmin>{x1}</xmin>',
            f'\t\t\t<ymin>{y1}</ymin>',
            f'\t\t\t<xmax>{x2}</xmax>',
            f'\t\t\t<ymax>{y2}</ymax>',
            '\t\t</bndbox>',
            '\t</object>',
        ]
    lines.append('</annotation>')
    return '\n'.join(lines) + '\n'


def _write_text(path: str, text: str) -> None:
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        f.write(text)


def _link_or_copy(src: str, dst: str) -> None:
    if osp.lexists(dst):
        os.remove(dst)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def generate_synthetic_dataset(
        root: str,
        num_train: int = DEFAULT_ARGS['num_train'],
        num_val: int = DEFAULT_ARGS['num_val'],
        img_size: int = DEFAULT_ARGS['img_size'],
        seed: int = DEFAULT_ARGS['seed'],
        max_objects: int = DEFAULT_ARGS['max_objects']) -> Dict[str, Any]:
    """Generate the synthetic dataset in COCO and VOC layouts under ``root``.

    The output only depends on the arguments: the same arguments give
    byte-identical annotation files and identical image pixels. Every image
    draws from its own generator seeded with ``(seed, split, index)``, so
    the train images do not depend on ``num_val`` and vice versa. Train
    images get ids ``1..num_train`` and val images continue from
    ``num_train + 1``; file names are the 6-digit zero-padded ids.

    Files already in ``root`` are overwritten; prefer
    :func:`ensure_synthetic_dataset`, which generates once and reuses.

    Args:
        root (str): Output directory (created if needed).
        num_train (int): Number of training images.
        num_val (int): Number of validation images.
        img_size (int): Side of the square images in pixels.
        seed (int): Random seed.
        max_objects (int): Maximum objects per image (at least one each).

    Returns:
        dict: Paths and counts: ``root``, ``coco_train_ann``,
        ``coco_val_ann``, ``coco_train_img``, ``coco_val_img``,
        ``voc_root`` (the ``VOCdevkit`` folder), ``voc_trainval``,
        ``voc_test``, ``num_train``, ``num_val``, ``num_train_objects``,
        ``num_val_objects``, ``img_size`` and ``classes``.
    """
    args = dict(num_train=num_train, num_val=num_val, img_size=img_size,
                seed=seed, max_objects=max_objects)
    _check_args(**args)

    ann_dir = osp.join(root, 'annotations')
    voc_dir = osp.join(root, 'VOCdevkit', 'VOC2007')
    voc_img_dir = osp.join(voc_dir, 'JPEGImages')
    voc_ann_dir = osp.join(voc_dir, 'Annotations')
    voc_set_dir = osp.join(voc_dir, 'ImageSets', 'Main')
    for d in (ann_dir, voc_img_dir, voc_ann_dir, voc_set_dir,
              osp.join(root, 'train'), osp.join(root, 'val')):
        os.makedirs(d, exist_ok=True)

    categories = [
        dict(id=i + 1, name=name, supercategory='shape')
        for i, name in enumerate(CLASSES)
    ]
    info: Dict[str, Any] = dict(root=root)
    splits = (('train', num_train, 1, 'trainval'),
              ('val', num_val, num_train + 1, 'test'))
    for split, count, first_id, voc_set in splits:
        images, annotations, names = [], [], []
        for index in range(count):
            img_id = first_id + index
            name = f'{img_id:06d}'
            rng = np.random.default_rng([seed, _SPLIT_CODES[split], index])
            pixels, objects = _render_image(rng, img_size, max_objects)
            img_path = osp.join(root, split, name + '.jpg')
            Image.fromarray(pixels).save(
                img_path, format='JPEG', quality=JPEG_QUALITY)
            _link_or_copy(img_path, osp.join(voc_img_dir, name + '.jpg'))
            _write_text(
                osp.join(voc_ann_dir, name + '.xml'),
                _voc_xml(name, img_size, objects))
            names.append(name)
            images.append(
                dict(
                    id=img_id,
                    file_name=name + '.jpg',
                    width=img_size,
                    height=img_size))
            for obj in objects:
                x1, y1, x2, y2 = obj['bbox']
                w, h = x2 - x1, y2 - y1
                annotations.append(
                    dict(
                        id=len(annotations) + 1,
                        image_id=img_id,
                        category_id=obj['label'] + 1,
                        bbox=[float(x1), float(y1),
                              float(w), float(h)],
                        area=float(w * h),
                        iscrowd=0,
                        segmentation=[[
                            float(c)
                            for c in (x1, y1, x2, y1, x2, y2, x1, y2)
                        ]]))
        coco = dict(
            info=dict(
                description='sekd_mm synthetic shapes',
                version=str(VERSION),
                **args),
            licenses=[],
            images=images,
            annotations=annotations,
            categories=categories)
        ann_path = osp.join(ann_dir, f'instances_{split}.json')
        _write_text(ann_path, json.dumps(coco, separators=(',', ':')) + '\n')
        set_path = osp.join(voc_set_dir, voc_set + '.txt')
        _write_text(set_path, ''.join(n + '\n' for n in names))
        info[f'coco_{split}_ann'] = ann_path
        info[f'coco_{split}_img'] = osp.join(root, split)
        info[f'voc_{voc_set}'] = set_path
        info[f'num_{split}'] = count
        info[f'num_{split}_objects'] = len(annotations)

    meta = dict(
        version=VERSION,
        args=args,
        classes=list(CLASSES),
        num_train_objects=info['num_train_objects'],
        num_val_objects=info['num_val_objects'])
    _write_text(osp.join(root, META_FILE), json.dumps(meta, indent=2) + '\n')
    info.update(
        voc_root=osp.join(root, 'VOCdevkit'),
        img_size=img_size,
        classes=CLASSES)
    return info


def _read_meta(root: str) -> Optional[dict]:
    path = osp.join(root, META_FILE)
    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def _meta_matches(meta: Optional[dict], args: Dict[str, int]) -> bool:
    return (meta is not None and meta.get('version') == VERSION
            and meta.get('args') == args)


def _mismatch_error(root: str, meta: Optional[dict],
                    args: Dict[str, int]) -> RuntimeError:
    # Never advise deleting: the folder may be the user's own data.
    if meta is None:
        return RuntimeError(
            f'{root!r} exists and is not a synthetic dataset made by sekd_mm '
            f'(no {META_FILE}); it is left untouched. For your own COCO-'
            "format data use mmdet's CocoDataset, e.g. dataset=dict("
            "type='CocoDataset', data_root=..., metainfo=dict(classes=(...)"
            ')); to generate the synthetic dataset, point data_root at a new '
            'or empty folder.')
    return RuntimeError(
        f'{root!r} holds the synthetic dataset version '
        f'{meta.get("version")} with arguments {meta.get("args")}; wanted '
        f'version {VERSION} with arguments {args}. It is left untouched: '
        'point data_root at a new or empty folder for these arguments.')


def ensure_synthetic_dataset(root: str, **kwargs: int) -> str:
    """Generate the synthetic dataset under ``root`` unless already there.

    When ``root/meta.json`` records the same arguments (and generator
    version) nothing is done. Otherwise the dataset is generated into a
    temporary sibling folder that is then renamed to ``root`` in one step,
    so that ``root`` is either absent or complete. When several processes
    (e.g. the ranks of a distributed job) race, the first rename wins and
    the others drop their copy and use it.

    Args:
        root (str): Dataset folder.
        **kwargs: Generation arguments overriding :data:`DEFAULT_ARGS`
            (``num_train``, ``num_val``, ``img_size``, ``seed``,
            ``max_objects``).

    Returns:
        str: ``root``.

    Raises:
        RuntimeError: If ``root`` exists but holds another dataset (or
            anything else than an empty folder).
        TypeError: If an unknown argument is given.
    """
    args = _normalize_args(kwargs)
    root = osp.normpath(root)
    if osp.exists(root):
        meta = _read_meta(root)
        if _meta_matches(meta, args):
            return root
        if meta is not None or not osp.isdir(root) or os.listdir(root):
            raise _mismatch_error(root, meta, args)

    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(
        prefix=f'{osp.basename(root)}.tmp-{os.getpid()}-', dir=parent)
    try:
        generate_synthetic_dataset(tmp, **args)
        try:
            # Atomic; also replaces an empty folder at ``root``.
            os.rename(tmp, root)
        except OSError as err:
            # Another process got there first; use its copy if it matches.
            meta = _read_meta(root)
            if not _meta_matches(meta, args):
                raise _mismatch_error(root, meta, args) from err
    finally:
        if osp.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command line: ``python -m sekd_mm.datasets.synthetic --root DIR``."""
    parser = argparse.ArgumentParser(
        description='Generate the synthetic shapes detection dataset '
        '(COCO and Pascal VOC layouts).')
    parser.add_argument('--root', required=True, help='output folder')
    for key, value in DEFAULT_ARGS.items():
        parser.add_argument(
            '--' + key.replace('_', '-'),
            type=int,
            default=value,
            help=f'default: {value}')
    parser.add_argument(
        '--force',
        action='store_true',
        help='write into --root even if it holds other data (files are '
        'overwritten, nothing is deleted)')
    opts = parser.parse_args(argv)
    args = {key: getattr(opts, key) for key in DEFAULT_ARGS}
    if opts.force:
        info = generate_synthetic_dataset(opts.root, **args)
        print(f'generated {info["num_train"]} train and {info["num_val"]} '
              f'val images in {opts.root}')
    else:
        try:
            root = ensure_synthetic_dataset(opts.root, **args)
        except (RuntimeError, ValueError) as err:
            parser.exit(2, f'error: {err}\n')
        print(f'synthetic dataset ready in {root}')


if __name__ == '__main__':
    main()
