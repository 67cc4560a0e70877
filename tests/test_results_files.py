# Copyright (c) sekd-mm contributors. All rights reserved.
"""The committed result tables under docs/results/ keep the schema that
issue #10 fixed, each JSON table says what its markdown table and its runs
record say, and what benchmarks/results_docs.py generates from the JSON is
current: the tables and figures of docs/results.md and README.md, and the
method folders' READMEs, metafiles and model-index.yml."""
import glob
import json
import os.path as osp
import re
import shutil
import statistics
import sys

import pytest
import yaml

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RESULTS = osp.join(REPO, 'docs', 'results')
sys.path.insert(0, osp.join(REPO, 'benchmarks'))

import results_docs  # noqa: E402
from methods import METHODS  # noqa: E402

sys.path.pop(0)

TABLES = sorted(p for p in glob.glob(osp.join(RESULTS, '*.json'))
                if results_docs.TABLE.match(osp.basename(p)))
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
    regime, detector, student = results_docs.table_name(path)
    assert table['regime'] == regime
    assert table['detector'] == detector
    # tables older than --student name none: the default one
    assert table.get('student', results_docs.DEFAULT_STUDENT) == student
    assert len(table['seeds']) >= 3 and table['num_val'] >= 512
    methods = table['methods']
    assert 'alone' in methods and 'sekd' in methods
    with open(osp.join(REPO, 'docs', 'design_log.md'),
              encoding='utf-8') as f:
        log = f.read()
    for key, row in methods.items():
        # a row of a candidate removed since (reproducible from its tag) is
        # named in the design log
        assert key in METHODS or f'`{key}' in log, \
            f'{key}: neither a key of benchmarks/methods.py nor in the log'
        if key in METHODS:
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


@pytest.mark.parametrize('path', TABLES, ids=osp.basename)
def test_accuracy_table_matches_its_runs_record(path):
    """Every seed of every row is a run of the record next to the table,
    and the table's AP and paired ΔAP are those runs' mean and std."""
    with open(path, encoding='utf-8') as f:
        table = json.load(f)
    runs_path = path[:-len('.json')] + '_runs.json'
    with open(runs_path, encoding='utf-8') as f:
        runs = json.load(f)['runs']
    regime, detector, student = results_docs.table_name(path)
    prefix = '' if detector == 'retinanet' else f'{detector}/'
    suffix = results_docs.student_suffix(student)
    assert f'{prefix}teacher' in runs

    def aps(key):
        out = []
        for seed in table['seeds']:
            run = (f'{prefix}{regime}-{table["split"]}{suffix}/{key}/'
                   f'seed{seed}')
            assert run in runs, f'{osp.basename(runs_path)} lacks {run}'
            out.append(100 * runs[run]['metrics']['coco/bbox_mAP'])
        return out

    alone = aps('alone')
    for key, row in table['methods'].items():
        assert row['seeds_run'] == table['seeds'], key
        ap = aps(key)
        delta = [a - b for a, b in zip(ap, alone)]
        for name, values in (('ap', ap), ('delta_ap', delta)):
            assert row[f'{name}_mean'] == pytest.approx(
                statistics.mean(values), abs=1e-6), (key, name)
            assert row[f'{name}_std'] == pytest.approx(
                statistics.stdev(values), abs=1e-6), (key, name)


def test_generated_docs_are_current():
    """`python benchmarks/results_docs.py --check` passes: the tables of
    docs/results.md, README.md and the method folders' READMEs, the
    metafiles, model-index.yml and the figures come from the JSON."""
    assert results_docs.outdated() == []
    assert results_docs.main(['--check']) == 0


def _copy_docs(root):
    """The files results_docs.py reads and writes, under ``root``."""
    for rel in ('docs/results.md', 'README.md', results_docs.MODEL_INDEX):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(osp.join(REPO, rel), root / rel)
    shutil.copytree(osp.join(REPO, 'configs'), root / 'configs')
    shutil.copytree(RESULTS, root / results_docs.RESULTS)
    shutil.copytree(osp.join(REPO, results_docs.FIGURES),
                    root / results_docs.FIGURES)


@pytest.mark.parametrize('doc', ('docs/results.md', 'README.md',
                                 'configs/sekd/README.md'))
def test_check_fails_on_an_edited_number(tmp_path, doc):
    """A number edited by hand in a generated table is caught."""
    _copy_docs(tmp_path)
    assert results_docs.main(['--check', '--root', str(tmp_path)]) == 0
    path = tmp_path / doc
    text = path.read_text(encoding='utf-8')
    begin = text.index(results_docs.BEGIN)
    head, section = text[:begin], text[begin:]
    with open(osp.join(RESULTS, 'accuracy_study_short_retinanet.json'),
              encoding='utf-8') as f:
        sekd = json.load(f)['methods']['sekd']
    shown = f"{sekd['delta_ap_mean']:+.1f} ± {sekd['delta_ap_std']:.1f}"
    wrong = f"{sekd['delta_ap_mean'] + 0.1:+.1f} ± {sekd['delta_ap_std']:.1f}"
    edited = section.replace(shown, wrong, 1)
    assert edited != section, f'{doc}: no SEKD ΔAP in its generated table'
    path.write_text(head + edited, encoding='utf-8')
    assert results_docs.outdated(str(tmp_path)) == [
        f'{doc}: the generated section differs from docs/results/*.json']
    assert results_docs.main(['--check', '--root', str(tmp_path)]) == 1


def test_check_fails_on_an_edited_json(tmp_path):
    """A changed run makes the table disagree with its record, and a
    changed table (rewritten from the record) leaves the markdown and the
    figures out of date."""
    _copy_docs(tmp_path)
    runs_path = tmp_path / results_docs.RESULTS / \
        'accuracy_study_short_retinanet_runs.json'
    runs = json.loads(runs_path.read_text(encoding='utf-8'))
    runs['runs']['short-report/sekd/seed0']['metrics']['coco/bbox_mAP'] += \
        0.01
    runs_path.write_text(json.dumps(runs), encoding='utf-8')
    with pytest.raises(ValueError, match='sekd ap'):
        results_docs.outdated(str(tmp_path))

    table_path = tmp_path / results_docs.RESULTS / \
        'accuracy_study_short_retinanet.json'
    table = json.loads(table_path.read_text(encoding='utf-8'))

    def aps(key):
        return [100 * runs['runs'][f'short-report/{key}/seed{seed}'][
            'metrics']['coco/bbox_mAP'] for seed in table['seeds']]

    ap, alone = aps('sekd'), aps('alone')
    delta = [a - b for a, b in zip(ap, alone)]
    row = table['methods']['sekd']
    row['ap_mean'], row['ap_std'] = statistics.mean(ap), statistics.stdev(ap)
    row['delta_ap_mean'] = statistics.mean(delta)
    row['delta_ap_std'] = statistics.stdev(delta)
    table_path.write_text(json.dumps(table), encoding='utf-8')
    problems = results_docs.outdated(str(tmp_path))
    assert 'docs/results.md: the generated section differs from ' \
           'docs/results/*.json' in problems
    assert any('accuracy_study_short_retinanet.png plots other values' in p
               for p in problems)


METAFILES = sorted(glob.glob(osp.join(REPO, 'configs', '*', 'metafile.yml')))


def _yaml(path):
    with open(path, encoding='utf-8') as f:
        return yaml.safe_load(f)


def _rel(path):
    return osp.relpath(path, REPO).replace(osp.sep, '/')


def test_model_index_imports_every_metafile():
    index = _yaml(osp.join(REPO, results_docs.MODEL_INDEX))
    assert sorted(index['Import']) == [_rel(p) for p in METAFILES]
    assert {'configs/sekd/metafile.yml', 'configs/peers/metafile.yml'} <= \
        set(index['Import'])


def test_mim_search_reads_the_model_index():
    """``mim search``'s own reading (openmim, which tools/setup_env.sh
    installs): one row per config, the reported box AP as its column."""
    search = pytest.importorskip('mim.commands.search')
    from modelindex.load_model_index import load
    table = search.convert2df(
        load(osp.join(REPO, results_docs.MODEL_INDEX))).T
    configs = [glob.glob(osp.join(osp.dirname(m), '*.py')) for m in METAFILES]
    assert sorted(table.loc['config']) == sorted(
        _rel(p) for folder in configs for p in folder)
    sekd = table['sekd_retinanet_r34_retinanet_r18-w32_synthetic']
    assert sekd['model'] == 'sekd'
    assert sekd[f'{results_docs.STUDY_DATA.lower()}/box_ap'] > 0


@pytest.mark.parametrize('path', METAFILES,
                         ids=lambda p: osp.basename(osp.dirname(p)))
def test_metafile_names_existing_files(path):
    """MMRazor's layout; every file a metafile names exists, and every
    config of its folder is one model of it."""
    meta = _yaml(path)
    collections = {c['Name']: c for c in meta['Collections']}
    for collection in collections.values():
        assert osp.exists(osp.join(REPO, collection['README']))
        code = collection['Code']['URL']
        assert code.startswith('https://') or osp.exists(osp.join(REPO, code))
        assert collection['Metadata']['Training Data']
    names = [m['Name'] for m in meta['Models']]
    assert len(set(names)) == len(names)
    assert sorted(m['Config'] for m in meta['Models']) == sorted(
        _rel(p) for p in glob.glob(osp.join(osp.dirname(path), '*.py')))
    for model in meta['Models']:
        assert model['In Collection'] in collections
        assert model['Name'] == osp.basename(model['Config'])[:-len('.py')]
        for side in ('Student', 'Teacher'):
            config = model['Metadata'][side]['Config']
            assert config.startswith('mmdet::') or \
                osp.exists(osp.join(REPO, config)), config
        for result in model.get('Results', []):
            assert result['Task'] == 'Object Detection'
            assert 0 < result['Metrics']['box AP'] <= 100


def test_metafile_reports_the_shipped_sekd_configs():
    """Each same-choices table's SEKD row, the config as it is, is that
    config's result in the metafile, with the table's teacher and student
    alone; the COCO configs, never trained here, have no result."""
    models = {m['Name']: m for m in _yaml(
        osp.join(REPO, 'configs', 'sekd', 'metafile.yml'))['Models']}
    reported = 0
    for path in TABLES:
        with open(path, encoding='utf-8') as f:
            methods = json.load(f)['methods']
        if 'config' not in methods['sekd']:
            continue
        model = models[osp.basename(methods['sekd']['config'])[:-3]]
        meta = model['Metadata']
        assert model['Results'][0]['Metrics']['box AP'] == round(
            methods['sekd']['ap_mean'], 1)
        assert meta['Student']['Metrics']['box AP'] == round(
            methods['alone']['ap_mean'], 1)
        assert meta['Setting'].endswith('(the config as it is)')
        assert meta['Table'] == _rel(path)
        assert osp.exists(osp.join(REPO, meta['Tuning Record']))
        reported += 1
    assert reported >= 4
    for name, model in models.items():
        if name.endswith('_coco'):
            assert 'Results' not in model, name


def test_check_fails_on_an_edited_metafile(tmp_path):
    """A metafile edited by hand, or a missing model-index.yml, is caught;
    writing restores both."""
    _copy_docs(tmp_path)
    with open(osp.join(RESULTS, 'accuracy_study_short_retinanet.json'),
              encoding='utf-8') as f:
        ap = json.load(f)['methods']['sekd']['ap_mean']
    path = tmp_path / 'configs' / 'sekd' / 'metafile.yml'
    text = path.read_text(encoding='utf-8')
    shown = f'box AP: {round(ap, 1)}'
    assert shown in text
    path.write_text(text.replace(shown, f'box AP: {round(ap + 0.1, 1)}', 1),
                    encoding='utf-8')
    (tmp_path / results_docs.MODEL_INDEX).unlink()
    assert results_docs.outdated(str(tmp_path)) == [
        'configs/sekd/metafile.yml differs from what docs/results/*.json '
        'and the configs give', 'model-index.yml is missing']
    assert results_docs.main(['--check', '--root', str(tmp_path)]) == 1
    assert results_docs.write(str(tmp_path)) == [
        'configs/sekd/metafile.yml', 'model-index.yml']
    assert path.read_text(encoding='utf-8') == text
    assert results_docs.main(['--check', '--root', str(tmp_path)]) == 0


def test_design_log_is_ordered_by_date_then_candidate():
    """docs/design_log.md: its candidate index is sorted by date, then
    candidate name, and its sections by date."""
    with open(osp.join(REPO, 'docs', 'design_log.md'),
              encoding='utf-8') as f:
        text = f.read()
    index = text.split('| date | candidate (run key) |')[1].split('\n\n')[0]
    rows = [line.split(' | ')[:2] for line in index.splitlines()[2:]]
    assert len(rows) > 20
    keys = [(date.strip('| '), name.replace('`', '').lower())
            for date, name in rows]
    assert keys == sorted(keys)
    dates = re.findall(r'^## (\d{4}-\d\d-\d\d)$', text, re.M)
    assert dates == sorted(set(dates)) and len(dates) >= 4
    assert {date for date, _ in keys} <= set(dates)


@pytest.mark.parametrize('detector,student', (
    ('retinanet', 'r18-w32'), ('faster-rcnn', 'r18-w32'),
    ('retinanet', 'r18-w16'), ('retinanet', 'mbv2')))
def test_fair_table_reports_what_the_configs_ship(detector, student):
    """The same-choices tables (short regime) hold the fields of the fair
    protocol, and their SEKD runs are the shipped config itself: the
    record's digest of every reported SEKD seed is that of the ``config``
    the row names, run with no cfg-option of its own (only the study's
    schedule, data and teacher)."""
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    import accuracy_study
    sys.path.pop(0)
    path = osp.join(RESULTS, f'accuracy_study_short_{detector}'
                    f'{results_docs.student_suffix(student)}.json')
    with open(path, encoding='utf-8') as f:
        table = json.load(f)
    assert table['detector'] == detector
    assert table.get('student', results_docs.DEFAULT_STUDENT) == student
    with open(path[:-len('.json')] + '_runs.json', encoding='utf-8') as f:
        runs = json.load(f)['runs']
    assert table['dataset'] == 'synthetic'
    rows = table['methods']
    for key, row in rows.items():
        assert set(row['ap_per_seed']) == {str(s) for s in table['seeds']}
        if key != 'alone':
            tuning = row['tuning']
            assert len(tuning['seeds']) >= 2 and tuning['chosen']
            assert len(tuning['grid']['factor']) >= 4, key
    sekd = rows['sekd']
    shipped = METHODS['sekd']._replace(options=())
    assert sekd['config'] == shipped.config(detector, student)
    args = accuracy_study.parse_args([
        '--split', table['split'], '--regime', table['regime'],
        '--detector', detector, '--student', student, '--methods', 'sekd',
        '--num-val', str(table['num_val']),
        '--student-iters', str(table['student_iters']),
        '--seeds', *map(str, table['seeds'])])
    reported = accuracy_study.student_runs(
        args, {'sekd': shipped}, 'CHECKPOINT',
        runs[osp.relpath(accuracy_study.teacher_run(args).work_dir,
                         args.work_dir)]['weights'])
    assert len(reported) == len(table['seeds'])
    for run in reported:
        key = osp.relpath(run.work_dir, args.work_dir)
        assert runs[key]['digest'] == run.record_digest, key
