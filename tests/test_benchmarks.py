# Copyright (c) sekd-mm contributors. All rights reserved.
"""benchmarks/bench_cost.py run for real at tiny sizes (CPU, 1 thread):
one row per method with finite positive ratios, the student alone at 1.00,
the scaling tables with their slopes, and the --out / --plot / --json
files; plus every method's config loading with its options."""
import importlib
import json
import math
import os.path as osp
import re
import subprocess
import sys

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PY = sys.executable
METHODS = ['alone', 'sekd', 'pkd']


def bench_module(name='bench_cost'):
    path = osp.join(REPO, 'benchmarks')
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module(name)


def run(args, check=True):
    proc = subprocess.run([PY, 'benchmarks/bench_cost.py', *args],
                          cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f'bench_cost {args} failed ({proc.returncode})'
                             f':\n{proc.stdout[-3000:]}\n'
                             f'{proc.stderr[-5000:]}')
    return proc


def tables(text):
    """Markdown tables of ``text``: {header line: [row values, ...]}."""
    found, header, rows = {}, None, None
    for line in text.splitlines() + ['']:
        if line.startswith('|'):
            values = [c.strip() for c in line.strip().strip('|').split('|')]
            if header is None:
                header, rows = line, []
            elif not set(''.join(values)) <= set('-:'):
                rows.append(values)
        elif header is not None:
            found[header] = rows
            header = None
    return found


def table(text, header_part):
    matches = [rows for h, rows in tables(text).items() if header_part in h]
    assert len(matches) == 1, (header_part, text)
    return matches[0]


def positive(cell):
    value = float(cell)
    return math.isfinite(value) and value > 0


@pytest.fixture(scope='module')
def bench(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('bench_cost')
    files = dict(out=tmp / 'results.md', plot=tmp / 'scaling.png',
                 json=tmp / 'results.json',
                 ratios_json=tmp / 'new' / 'bench_cost_embedded.json')
    proc = run([
        '--part', 'all', '--size', 'embedded', '--methods', *METHODS,
        '--batch', '2', '--img', '64', '64', '--iters', '1', '--warmup', '1',
        '--threads', '1', '--channels', '16', '32', '--spatial', '8', '16',
        '--fixed-channels', '16', '--fixed-spatial', '8', '--reps', '1',
        *[a for k, v in files.items()
          for a in (f'--{k.replace("_", "-")}', str(v))]
    ])
    return dict(stdout=proc.stdout, stderr=proc.stderr, **files)


def test_methods_table(bench):
    rows = table(bench['stdout'], 'iteration time / alone')
    assert [r[0] for r in rows] == METHODS
    by_key = {r[0]: r for r in rows}
    assert by_key['alone'][2:4] == ['1.00', '1.00']
    for row in rows:
        assert positive(row[2]) and positive(row[3]), row
    # the teacher's weights and activations come on top of the student's
    for key in ('sekd', 'pkd'):
        assert float(by_key[key][3]) > 1.0, by_key[key]
    # both runs of the student alone are shown, and their drift
    assert len(by_key['alone'][4].split(' / ')) == 2
    assert re.search(r'Drift of the student alone.*time \d+\.\d+, memory '
                     r'\d+\.\d+', bench['stdout'])
    # the student alone ran first and last, each method in its process
    order = re.findall(r'\[bench_cost\] (\w+): [\d.]+ ms/iteration',
                       bench['stderr'])
    assert order == ['alone', 'sekd', 'pkd', 'alone']


def test_methods_raw_results(bench):
    raw = json.loads(bench['json'].read_text())
    results = raw['methods']
    assert sorted(results) == sorted(METHODS)
    assert len(results['alone']) == 2
    for runs in results.values():
        for r in runs:
            assert r['mem_bytes'] > 0 and r['time_median_s'] > 0
            assert r['threads'] == 1 and math.isfinite(r['loss'])
    sekd_keys = results['sekd'][0]['loss_keys']
    # one term per distilled level of the embedded SEKD config (P2-P4)
    levels = Config.fromfile(
        osp.join(REPO, 'configs/_base_/distill/sekd_embedded.py')
    ).sekd_distiller['sekd']['levels']
    assert len(levels) == 3
    for term in 'ves':
        keys = sorted(k.rsplit('.', 1)[-1] for k in sekd_keys
                      if f'loss_sekd_{term}_' in k)
        assert keys == sorted(f'loss_sekd_{term}_{lv}' for lv in levels)
    assert sum('loss_pkd_' in k for k in results['pkd'][0]['loss_keys']) == 5
    assert not any('distill' in k for k in results['alone'][0]['loss_keys'])


def test_ratios_json_matches_the_table(bench):
    ratios = json.loads(bench['ratios_json'].read_text())
    assert ratios['size'] == 'embedded'
    assert sorted(ratios['methods']) == sorted(METHODS)
    assert ratios['methods']['alone']['time_ratio'] == pytest.approx(1.0)
    rows = {row[0]: row for row in table(bench['stdout'],
                                         'iteration time / alone')}
    for key, row in ratios['methods'].items():
        assert f'{row["time_ratio"]:.2f}' == rows[key][2]
        assert f'{row["memory_ratio"]:.2f}' == rows[key][3]


def test_scaling_tables(bench):
    out = bench['stdout']
    for header, n in (('| C (HW = 8x8)', 2), ('| HW (C = 16)', 2)):
        rows = table(out, header)
        assert len(rows) == n
        for row in rows:
            assert positive(row[1]) and positive(row[2]), row
    for var in ('C', 'HW'):
        match = re.search(rf'slopes over {var} = .*: SEKD ~ {var}\^(\S+), '
                          rf'matmul ~ {var}\^(\S+), eigh ~ {var}\^(\S+)\.',
                          out)
        assert match, out
        assert all(math.isfinite(float(s)) for s in match.groups())


def test_output_files(bench):
    text = bench['out'].read_text()
    assert 'Command: `python benchmarks/bench_cost.py --part all' in text
    assert table(text, 'iteration time / alone')
    assert table(text, '| C (HW = 8x8)') and table(text, '| HW (C = 16)')
    assert bench['plot'].read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_unknown_method_is_refused():
    proc = run(['--part', 'methods', '--methods', 'alone', 'nope'],
               check=False)
    assert proc.returncode == 2
    assert 'nope' in proc.stderr and 'sekd' in proc.stderr


@pytest.mark.parametrize('size', ['embedded', 'coco'])
def test_every_method_config_loads_with_its_options(size):
    bench_cost = bench_module()
    for key, method in bench_cost.METHODS.items():
        # COCO: the mmdet:: student and the configs with options (loading
        # all of them costs seconds; test_tools builds every config)
        if size == 'coco' and not (method.options or not method.distills):
            continue
        cfg = bench_cost.load_config(method, size)
        assert cfg.model.get('teacher_ckpt') is None, key
        if method.distills:
            assert cfg.model.teacher_norm_eval is False, key
        for option, value in bench_cost.parse_cfg_options(
                method.options).items():
            node = cfg
            for part in option.split('.'):
                node = node[part]
            assert node == value, (key, option)


def test_losses_part_shares_of_a_sekd_iteration(tmp_path):
    """--part losses: each loss on RetinaNet's five FPN levels as a share
    of one COCO SEKD iteration, and relative to MGD."""
    out = tmp_path / 'losses.json'
    proc = run(['--part', 'losses', '--batch', '2', '--img', '128', '128',
                '--iters', '1', '--warmup', '1', '--reps', '1', '--k', '4',
                '--threads', '1', '--json', str(out)])
    rows = table(proc.stdout, 'share of one R-101 -> R-50 SEKD iteration')
    assert [r[0] for r in rows] == [
        'SEKD (V+E+S, k=4)', 'SEKD V only', 'PKDLoss',
        'ChannelWiseDivergence', 'MGDLoss + MGDConnector']
    for row in rows:
        assert row[1].endswith('%') and positive(row[1][:-1]), row
        assert positive(row[2][:-1]), row
    assert rows[-1][2] == '1.00x'
    assert '[bench_cost] sekd: ' in proc.stderr  # the reference process
    raw = json.loads(out.read_text())['losses']
    assert [s[2:] for s in raw['shapes']] == [[16, 16], [8, 8], [4, 4],
                                              [2, 2], [1, 1]]
    assert all(s[:2] == [2, 256] for s in raw['shapes'])
    assert raw['iteration_s'] == raw['iteration']['time_median_s'] > 0
    # the losses are timed on the COCO RetinaNet's FPN only
    proc = run(['--part', 'losses', '--size', 'embedded'], check=False)
    assert proc.returncode == 2 and '--size coco' in proc.stderr
