# Copyright (c) sekd-mm contributors. All rights reserved.
"""The committed result tables under docs/results/ keep the schema that
issue #10 fixed, and each JSON table says what its markdown table says."""
import glob
import json
import os.path as osp
import re
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RESULTS = osp.join(REPO, 'docs', 'results')
sys.path.insert(0, osp.join(REPO, 'benchmarks'))

from methods import METHODS  # noqa: E402

sys.path.pop(0)

TABLE = re.compile(r'accuracy_study_(short|long)_(retinanet|faster-rcnn)'
                   r'\.json$')
TABLES = sorted(p for p in glob.glob(osp.join(RESULTS, '*.json'))
                if TABLE.search(p))
COSTS = sorted(glob.glob(osp.join(RESULTS, 'bench_cost_*.json')))


def test_the_tables_are_there():
    names = {osp.basename(p) for p in TABLES}
    assert {'accuracy_study_short_retinanet.json',
            'accuracy_study_short_faster-rcnn.json',
            'accuracy_study_long_retinanet.json'} <= names
    assert {osp.basename(p) for p in COSTS} == {
        'bench_cost_embedded.json', 'bench_cost_coco.json'}


@pytest.mark.parametrize('path', TABLES, ids=osp.basename)
def test_accuracy_table_schema(path):
    with open(path, encoding='utf-8') as f:
        table = json.load(f)
    regime, detector = TABLE.search(path).groups()
    assert table['regime'] == regime
    assert table['detector'] == detector
    assert len(table['seeds']) >= 3 and table['num_val'] >= 512
    methods = table['methods']
    assert 'alone' in methods and 'sekd' in methods
    for key, row in methods.items():
        assert key in METHODS, f'{key} is not a key of benchmarks/methods.py'
        assert row['label'] == METHODS[key].label
        assert isinstance(row['tuned'], bool)
        # AP in COCO points (x100), not fractions
        assert 1 < row['ap_mean'] <= 100 and row['ap_std'] >= 0
        assert row['delta_ap_std'] >= 0
    assert methods['alone']['delta_ap_mean'] == 0
    assert methods['sekd']['delta_ap_mean'] == pytest.approx(
        methods['sekd']['ap_mean'] - methods['alone']['ap_mean'], abs=1e-6)


@pytest.mark.parametrize('path', TABLES, ids=osp.basename)
def test_accuracy_table_matches_its_markdown(path):
    """Every row of the JSON is the row of the same label in the .md next
    to it, with the same AP and paired ΔAP (as the study prints them)."""
    with open(path, encoding='utf-8') as f:
        methods = json.load(f)['methods']
    with open(path[:-len('.json')] + '.md', encoding='utf-8') as f:
        rows = {cells[1].strip(): cells for cells in
                (line.split('|') for line in f if line.startswith('| '))}
    for key, row in methods.items():
        assert row['label'] in rows, f'{key}: no markdown row'
        cells = rows[row['label']]
        assert cells[2].strip() == f'{row["ap_mean"]:.1f} ± ' \
                                   f'{row["ap_std"]:.1f}'
        if key != 'alone':
            assert cells[8].strip() == f'{row["delta_ap_mean"]:+.1f} ± ' \
                                       f'{row["delta_ap_std"]:.1f}'


@pytest.mark.parametrize('path', COSTS, ids=osp.basename)
def test_cost_table_schema(path):
    with open(path, encoding='utf-8') as f:
        methods = json.load(f)['methods']
    alone = methods['alone']
    assert (alone['time_ratio'], alone['memory_ratio']) == (1.0, 1.0)
    for key, row in methods.items():
        assert key in METHODS
        assert row['time_ratio'] > 0 and row['memory_ratio'] > 0
    assert 'sekd' in methods and 'pkd' in methods
