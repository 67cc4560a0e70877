# Copyright (c) sekd-mm contributors. All rights reserved.
"""The generated parts of the docs, from the committed study results: the
current accuracy tables of ``docs/results.md`` and ``README.md``, one
figure per study, and per method folder of ``configs/`` the results of its
README and its ``metafile.yml`` (with ``model-index.yml``), so that
markdown, metafiles, figures and JSON cannot disagree.

    python benchmarks/results_docs.py            # rewrite what is generated
    python benchmarks/results_docs.py --check    # exit 1 if out of date

Inputs, per study (``<regime>`` short | long, ``<detector>`` retinanet |
faster-rcnn, and ``[_<student>]`` for a student other than the default
one, ``--student`` of the study), all under ``docs/results/``:

* ``accuracy_study_<regime>_<detector>[_<student>].json``: the reported
  table that ``benchmarks/accuracy_study.py`` writes (methods, labels,
  seeds, means);
* ``accuracy_study_<regime>_<detector>[_<student>]_runs.json``: its
  ``--record`` of
  finished runs, which holds each seed's COCO metrics; the per-seed AP and
  the paired differences come from here, and must give the table's means
  (a :class:`ValueError` names the row otherwise);
* ``tuning_<regime>_<detector>[_<student>]_same-choices.json``: the
  record of the same-choices search whose chosen setting each row of a
  table carries (``tuning``); the generated docs name it as the place
  where the setting was measured, and the rows must carry its choices;
* ``tuning_<regime>_<detector>[_<student>].json``: the weight factor each
  row of an older table (one without the rows' ``tuning``: the long
  regime) was reported at; read only for such a table.

Outputs:

* the text between ``<!-- generated: results_docs.py -->`` and
  ``<!-- end generated -->`` in ``docs/results.md`` (a summary table, then
  per study the per-seed table and SEKD's paired differences), in
  ``README.md`` (the summary table and the overview figure) and in the
  README of each method folder of :data:`COLLECTIONS` (per config, the
  setting each reported row ran, where it was chosen, its AP and ΔAP);
  the rest of each file is left as it is;
* ``configs/<folder>/metafile.yml`` per method folder and
  ``model-index.yml``, which imports them, in MMRazor's format (for
  ``mim search``): per config its student and teacher, and the result of
  the same-choices table that reports it (the configs of COCO / VOC and
  the unreported ones have no ``Results``); written whole;
* ``docs/figures/accuracy_study_<regime>_<detector>[_<student>].png`` (dAP
  over the
  student alone per method: each seed's point and the mean) and
  ``docs/figures/accuracy_study_current.png`` (every study side by side).

The output is deterministic: the same JSON gives the same markdown bytes,
and each PNG carries no date, only a ``Data`` text chunk with a digest of
the values it plots, which ``--check`` compares with the JSON.
"""
import argparse
import contextlib
import glob
import hashlib
import json
import os
import os.path as osp
import re
import statistics
import struct
import sys
import zlib
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import protocol_replay  # the protocol replayed on the grids
import real_image_study  # the command's tables on real-image sets
import search_vs_grid  # the pruned search's table, where one is run
import yaml
from methods import DEFAULT_STUDENT, METHODS, STUDENTS, student_suffix

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RESULTS = 'docs/results'
FIGURES = 'docs/figures'
#: the markdown files holding a generated section, and what each holds
DOCS = ('docs/results.md', 'README.md')
BEGIN = '<!-- generated: results_docs.py -->'
END = '<!-- end generated -->'
OVERVIEW = 'accuracy_study_current.png'

TABLE = re.compile(r'^accuracy_study_(short|long)_(retinanet|faster-rcnn)'
                   r'(?:_(' + '|'.join(map(re.escape, STUDENTS)) +
                   r'))?\.json$')
REGIMES = ('short', 'long')
DETECTORS = {'retinanet': 'RetinaNet', 'faster-rcnn': 'Faster R-CNN'}
#: column order of the summary table: method families (a key without its
#: ``_no_small`` suffix); rows of other families follow in the JSON's order
FAMILIES = ('sekd', 'sekd_v', 'pkd', 'mgd', 'cwd', 'fitnet')
FAMILY_NAMES = dict(sekd='SEKD', sekd_v='SEKD V only', pkd='PKD', mgd='MGD',
                    cwd='CWD', fitnet='FitNet')
NO_SMALL = '_no_small'
#: marks a peer reported without its two smallest FPN levels
NO_SMALL_MARK = '†'


class Row(NamedTuple):
    """One method of a study: per-seed AP (COCO points) from the runs
    record, and the paired differences to the student alone."""
    key: str
    label: str
    factor: Optional[float]
    aps: List[float]
    deltas: List[float]
    #: the chosen setting of a same-choices search (the table's ``tuning``
    #: record): ``{'factor', 'levels', 'warmup'}``, else None
    chosen: Optional[dict] = None
    #: the config the row's runs are, as the table names it (SEKD's row of
    #: a same-choices table), else None
    config: Optional[str] = None

    @property
    def no_small(self) -> bool:
        """Distilled without the two smallest FPN levels."""
        if self.chosen:
            return self.chosen['levels'] == 'no_small'
        return self.key.endswith(NO_SMALL)

    @property
    def family(self) -> str:
        return self.key[:-len(NO_SMALL)] if self.key.endswith(NO_SMALL) \
            else self.key

    @property
    def distills(self) -> bool:
        return self.key != 'alone'

    @property
    def is_sekd(self) -> bool:
        return self.family.startswith('sekd')


class Study(NamedTuple):
    """One reported table
    (``accuracy_study_<regime>_<detector>[_<student>].json``)."""
    regime: str
    detector: str
    seeds: List[int]
    num_val: int
    student_iters: int
    teacher_ap: float
    rows: List[Row]
    student: str = DEFAULT_STUDENT
    #: the tuning record the rows' settings were chosen in (a path under
    #: the repository)
    tuning: str = ''
    #: the seeds the tuning record searched on
    tuning_seeds: Tuple[int, ...] = ()
    #: the weights digest of the teacher the rows were distilled from
    teacher_weights: str = ''

    @property
    def name(self) -> str:
        return (f'accuracy_study_{self.regime}_{self.detector}'
                f'{student_suffix(self.student)}')

    @property
    def title(self) -> str:
        student = '' if self.student == DEFAULT_STUDENT else \
            f' {STUDENTS[self.student]}'
        return (f'{DETECTORS[self.detector]}{student}, {self.regime} regime '
                f'({self.student_iters} student iterations)')

    @property
    def searched(self) -> bool:
        """Every tuned row carries the choice of a same-choices search (the
        fair protocol), not only a weight factor."""
        return all(r.chosen for r in self.rows if r.factor is not None)

    @property
    def anchor(self) -> str:
        """The link target of the study's section in ``docs/results.md``.
        """
        return re.sub(r'[^\w\- ]', '', self.title.lower()).replace(' ', '-')

    def row(self, key: str) -> Row:
        return next(r for r in self.rows if r.key == key)


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
def _mean_std(values: Sequence[float]) -> tuple:
    """Mean and sample standard deviation (0 for one value), as the study
    reports them."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.mean(values), std


def _tuned_as(key: str) -> str:
    """The method whose tuned factor ``key`` takes (``Method.tuned_as`` of
    ``benchmarks/methods.py``; the key itself when it has none)."""
    method = METHODS.get(key)
    return method.tuned_as if method is not None and method.tuned_as else key


def _load(path: str) -> dict:
    with open(path, encoding='utf-8') as f:
        return json.load(f)


def table_name(table_path: str) -> tuple:
    """``(regime, detector, student)`` of a table's file name
    (:data:`TABLE`; the student :data:`DEFAULT_STUDENT` where it names
    none)."""
    regime, detector, student = TABLE.match(osp.basename(table_path)).groups()
    return regime, detector, student or DEFAULT_STUDENT


def load_study(table_path: str, tuning_dir: Optional[str] = None) -> Study:
    """A study from its table JSON and the runs record next to it; raises
    ``ValueError`` naming the row if the two disagree or a run is missing.
    ``tuning_dir``: where its tuning record is (default: next to it).
    """
    regime, detector, student = table_name(table_path)
    suffix = student_suffix(student)
    table = _load(table_path)
    runs_path = table_path[:-len('.json')] + '_runs.json'
    if not osp.exists(runs_path):
        raise ValueError(f'{table_path} has no runs record {runs_path}: '
                         'rerun the study with --record')
    runs = _load(runs_path)['runs']
    tuning, tuning_seeds, factors = _tuning(
        table_path, table, tuning_dir or osp.dirname(table_path))
    prefix = '' if detector == 'retinanet' else f'{detector}/'

    def ap(run_key: str) -> float:
        if run_key not in runs:
            raise ValueError(f'{runs_path} has no run {run_key!r}, which '
                             f'{table_path} reports: rerun the study with '
                             '--record')
        return 100 * runs[run_key]['metrics']['coco/bbox_mAP']

    seeds = table['seeds']
    split = table['split']
    aps = {key: [ap(f'{prefix}{regime}-{split}{suffix}/{key}/seed{seed}')
                 for seed in seeds] for key in table['methods']}
    rows = []
    for key, entry in table['methods'].items():
        deltas = [a - b for a, b in zip(aps[key], aps['alone'])]
        for field, values in (('ap', aps[key]), ('delta_ap', deltas)):
            mean, std = _mean_std(values)
            if abs(mean - entry[f'{field}_mean']) > 1e-6 or \
                    abs(std - entry[f'{field}_std']) > 1e-6:
                raise ValueError(
                    f'{table_path}: {key} {field} {entry[field + "_mean"]:.3f}'
                    f' ± {entry[field + "_std"]:.3f}, but its runs in '
                    f'{runs_path} give {mean:.3f} ± {std:.3f}; rewrite the '
                    'table from the record (accuracy_study.py --report-only)')
        factor = None
        chosen = entry.get('tuning', {}).get('chosen')
        if chosen:
            factor = float(chosen['factor'])
        elif entry['tuned']:
            factor = float(factors.get(key, factors.get(_tuned_as(key), 1)))
        rows.append(Row(key, entry['label'], factor, aps[key], deltas,
                        chosen, entry.get('config')))
    return Study(regime, detector, seeds, table['num_val'],
                 table['student_iters'], ap(f'{prefix}teacher'), rows,
                 student, tuning, tuple(tuning_seeds),
                 runs[f'{prefix}teacher'].get('weights', ''))


def _tuning(table_path: str, table: dict, results: str) -> tuple:
    """The tuning record of a table (its path under the repository; the
    file is looked up in ``results``), its
    seeds and the weight factors of its rows that carry no chosen setting
    (empty for a table without tuned rows); raises
    ``ValueError`` if the record is missing or its choices are not the
    rows'."""
    regime, detector, student = table_name(table_path)
    name = f'tuning_{regime}_{detector}{student_suffix(student)}'
    chosen = {key: entry['tuning']['chosen']
              for key, entry in table['methods'].items()
              if entry.get('tuning', {}).get('chosen')}
    older = [key for key, entry in table['methods'].items()
             if entry['tuned'] and key not in chosen]
    if chosen and older:
        raise ValueError(f'{table_path}: rows {older} carry no chosen '
                         'setting while the others do; report every row '
                         'from one tuning.json (accuracy_study.py --tuned)')
    if not (chosen or older):
        return '', [], {}
    path = osp.join(results, f'{name}_same-choices.json' if chosen else
                    f'{name}.json')
    if not osp.exists(path):
        raise ValueError(f'{table_path} reports settings chosen in {path}, '
                         'which is missing: commit the tuning.json of the '
                         'search under that name')
    record = _load(path)
    for key, setting in chosen.items():
        if record['rows'].get(key, {}).get('chosen') != setting:
            raise ValueError(f'{table_path}: {key} ran {setting}, but {path}'
                             ' chose another setting for it; report the '
                             'table with --tuned ' + path)
    return (f'{RESULTS}/{osp.basename(path)}', record['seeds'],
            record.get('factors', {}))


def load_studies(results_dir: str,
                 tuning_dir: Optional[str] = None) -> List[Study]:
    """Every reported table under ``results_dir``, short regime first,
    RetinaNet before Faster R-CNN, the default student first;
    ``tuning_dir``: where their tuning records are (default: there too).
    """
    paths = [p for p in glob.glob(osp.join(results_dir, '*.json'))
             if TABLE.match(osp.basename(p))]
    if not paths:
        raise ValueError(f'no accuracy_study_<regime>_<detector>.json in '
                         f'{results_dir}')
    studies = [load_study(p, tuning_dir) for p in paths]
    order, students = list(DETECTORS), list(STUDENTS)
    return sorted(studies, key=lambda s: (REGIMES.index(s.regime),
                                          order.index(s.detector),
                                          students.index(s.student)))


# ---------------------------------------------------------------------------
# markdown
# ---------------------------------------------------------------------------
def _num(value: float, signed: bool = False, digits: int = 1) -> str:
    """``value`` rounded to ``digits``, never as ``-0.0``."""
    value = round(value, digits) + 0.0
    return f'{value:{"+" if signed else ""}.{digits}f}'


def _pm(values: Sequence[float], signed: bool = False,
        digits: int = 1) -> str:
    mean, std = _mean_std(values)
    return f'{_num(mean, signed, digits)} ± {_num(std, digits=digits)}'


def _setting(row: Row) -> str:
    """The weight (and, from a same-choices search, the levels and the
    warm-up) a row was reported at."""
    if row.factor is None:
        return ''
    text = f'x{row.factor:g}'
    if row.chosen:
        text += ', first three levels' if row.no_small else ', all levels'
        if row.chosen['warmup']:
            text += f", warm-up {row.chosen['warmup']}"
    return text


def _best_peer(study: Study) -> Row:
    peers = [r for r in study.rows if r.distills and not r.is_sekd]
    return max(peers, key=lambda r: statistics.mean(r.deltas))


def _ordered(study: Study) -> List[Row]:
    def rank(row: Row) -> int:
        if row.key == 'alone':
            return -1
        if row.family in FAMILIES:
            return FAMILIES.index(row.family)
        return len(FAMILIES)
    return sorted(study.rows, key=rank)  # stable: the JSON's order otherwise


def summary_table(studies: List[Study]) -> str:
    """ΔAP over the student alone (paired by seed) of every method family,
    one row per study, the best mean in bold."""
    head = ['setting', 'teacher AP', 'student alone AP'] + \
        [FAMILY_NAMES[f] for f in FAMILIES] + ['SEKD - best peer (paired)']
    lines = ['| ' + ' | '.join(head) + ' |',
             '|' + '---|' * len(head)]
    for study in studies:
        by_family = {r.family: r for r in study.rows}
        best = max((r for r in study.rows if r.distills),
                   key=lambda r: statistics.mean(r.deltas))
        cells = [study.title, f'{study.teacher_ap:.1f}',
                 _pm(study.row('alone').aps)]
        for family in FAMILIES:
            row = by_family.get(family)
            if row is None:
                cells.append('not run')
                continue
            cell = _pm(row.deltas, signed=True)
            if row.no_small:
                cell += f' {NO_SMALL_MARK}'
            cells.append(f'**{cell}**' if row is best else cell)
        peer = _best_peer(study)
        diff = [a - b for a, b in zip(study.row('sekd').aps, peer.aps)]
        cells.append(f'{_pm(diff, signed=True, digits=2)} '
                     f'({FAMILY_NAMES.get(peer.family, peer.label)})')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def _summary_note(studies: List[Study]) -> str:
    seeds = sorted({tuple(s.seeds) for s in studies})
    num_val = sorted({s.num_val for s in studies})
    return (
        'ΔAP over the student alone, mean ± std over seeds '
        f'{" / ".join(", ".join(map(str, s)) for s in seeds)} of the '
        f'differences paired by seed; {" / ".join(map(str, num_val))} val '
        'images of the embedded synthetic dataset; each method at the '
        'weight and level variant chosen on the tuning split. '
        f'{NO_SMALL_MARK} without the two smallest FPN levels. Generated '
        'by `python benchmarks/results_docs.py` from '
        '`docs/results/accuracy_study_*.json` and their `*_runs.json` '
        'records; do not edit by hand.\n')


def study_section(study: Study) -> str:
    """Per-seed table and SEKD's paired differences of one study."""
    seeds = ' / '.join(map(str, study.seeds))
    out = [f'### {study.title}\n',
           f'`docs/results/{study.name}.json`, runs '
           f'`docs/results/{study.name}_runs.json`; setting: the multiple '
           'of the config\'s loss weight (and, where a same-choices search '
           'chose them, the FPN levels and the warm-up) chosen on the '
           'tuning split.\n',
           f'| Method | setting | AP seeds {seeds} | AP | '
           'ΔAP vs alone (paired) | seeds better |',
           '|---|---|---|---|---|---|',
           f'| Teacher | | {study.teacher_ap:.1f} | | | |']
    for row in _ordered(study):
        per_seed = ' / '.join(_num(a) for a in row.aps)
        delta = better = ''
        if row.distills:
            delta = _pm(row.deltas, signed=True)
            better = f'{sum(d > 0 for d in row.deltas)}/{len(row.deltas)}'
        out.append(f'| {row.label} | {_setting(row)} | {per_seed} | '
                   f'{_pm(row.aps)} | {delta} | {better} |')
    out += ['', f'| comparison (same seed) | seeds {seeds} | mean ± std |',
            '|---|---|---|']
    sekd = study.row('sekd')
    for row in _ordered(study):
        if not row.distills or row is sekd:
            continue
        diff = [a - b for a, b in zip(sekd.aps, row.aps)]
        per_seed = ' / '.join(_num(d, signed=True) for d in diff)
        out.append(f'| {sekd.label} - {row.label} | {per_seed} | '
                   f'{_pm(diff, signed=True, digits=2)} |')
    out += ['', f'![{study.title}](figures/{study.name}.png)', '']
    return '\n'.join(out)


def results_section(studies: List[Study]) -> str:
    """The generated part of ``docs/results.md``."""
    parts = [summary_table(studies), _summary_note(studies)]
    parts += [study_section(s) for s in studies]
    return '\n'.join(parts)


def readme_section(studies: List[Study]) -> str:
    """The generated part of ``README.md``."""
    return '\n'.join([
        summary_table(studies), _summary_note(studies),
        f'![ΔAP per seed and method](docs/figures/{OVERVIEW})', ''])


def sections(studies: List[Study], root: str = REPO) -> Dict[str, str]:
    """Generated text per markdown file: :data:`DOCS` and the README of
    each method folder (whose configs are read under ``root``)."""
    out = {'docs/results.md': results_section(studies),
           'README.md': readme_section(studies)}
    for folder in FOLDERS:
        out[folder_readme(folder)] = folder_section(studies, root, folder)
    return out


def replace_section(text: str, section: str, path: str) -> str:
    """``text`` with the part between the markers replaced by ``section``.
    """
    if text.count(BEGIN) != 1 or text.count(END) != 1 or \
            text.index(BEGIN) > text.index(END):
        raise ValueError(f'{path} needs one line {BEGIN} and, below it, one '
                         f'line {END}: the generated section goes between')
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f'{head}{BEGIN}\n{section}{END}{tail}'


# ---------------------------------------------------------------------------
# method folders: README results, metafile.yml, model-index.yml
# ---------------------------------------------------------------------------
MMRAZOR_LOSSES = ('https://github.com/open-mmlab/mmrazor/blob/v1.0.0/'
                  'mmrazor/models/losses/')
#: the dataset the study's results were measured on
STUDY_DATA = 'embedded synthetic COCO (96 px)'
#: the training data of a config, by the type of its train dataset
DATASETS = dict(SyntheticCocoDataset='embedded synthetic COCO',
                SyntheticVOCDataset='embedded synthetic VOC',
                CocoDataset='COCO', VOCDataset='Pascal VOC 07+12')
MODEL_INDEX = 'model-index.yml'
GENERATED_YAML = ('# Generated by benchmarks/results_docs.py from '
                  'docs/results/*.json and\n# the configs; do not edit by '
                  'hand.\n')


class Collection(NamedTuple):
    """A method of a folder of ``configs/``, a ``Collections`` entry of its
    ``metafile.yml``."""
    name: str
    #: ``configs/<folder>``
    folder: str
    #: its configs are ``configs/<folder>/<prefix>_*.py``
    prefix: str
    #: the study rows that ran its configs (``benchmarks/methods.py``
    #: keys); the first is the method itself, the one its metafile reports
    keys: Tuple[str, ...]
    #: where it is implemented (a path in this repository, or a URL)
    code: str
    #: what a weight factor of the study multiplies
    unit: str
    #: ``(URL, title)`` of its paper
    paper: Optional[Tuple[str, str]] = None


COLLECTIONS = (
    Collection('SEKD', 'sekd', 'sekd', ('sekd', 'sekd_v'),
               'sekd_mm/models/distillers/sekd_distiller.py',
               "the design's weights",
               ('https://arxiv.org/abs/2405.08547',
                'Exploring Graph-based Knowledge: Multi-Level Feature '
                'Distillation via Channels Relational Graph')),
    Collection('PKD', 'peers', 'pkd', ('pkd', 'pkd_no_small'),
               MMRAZOR_LOSSES + 'pkd_loss.py', "MMRazor's weight",
               ('https://arxiv.org/abs/2207.02039',
                'PKD: General Distillation Framework for Object Detectors '
                'via Pearson Correlation Coefficient')),
    Collection('CWD', 'peers', 'cwd', ('cwd', 'cwd_no_small'),
               MMRAZOR_LOSSES + 'cwd.py', "MMRazor's weight",
               ('https://arxiv.org/abs/2011.13256',
                'Channel-wise Knowledge Distillation for Dense Prediction')),
    Collection('MGD', 'peers', 'mgd', ('mgd', 'mgd_no_small'),
               MMRAZOR_LOSSES + 'mgd_loss.py', "MMRazor's weight",
               ('https://arxiv.org/abs/2205.01529',
                'Masked Generative Distillation')),
    Collection('FitNets', 'peers', 'fitnet', ('fitnet', ),
               MMRAZOR_LOSSES + 'l2_loss.py', "MMRazor's weight",
               ('https://arxiv.org/abs/1412.6550',
                'FitNets: Hints for Thin Deep Nets')),
    Collection('EGA', 'ega', 'ega', ('ega', ),
               'sekd_mm/models/losses/ega_loss.py', "the config's weights"),
    Collection('SEKD + EGA', 'ega', 'sekd-ega', ('sekd_ega', ),
               'sekd_mm/models/distillers/sekd_distiller.py',
               "the config's weights"),
)
FOLDERS = tuple(dict.fromkeys(c.folder for c in COLLECTIONS))


def folder_readme(folder: str) -> str:
    return f'configs/{folder}/README.md'


def folder_metafile(folder: str) -> str:
    return f'configs/{folder}/metafile.yml'


class Reported(NamedTuple):
    """A row of a study that ran a config of a method folder."""
    study: Study
    row: Row
    collection: Collection

    @property
    def as_is(self) -> bool:
        """The runs are the config itself, as the table says (for SEKD's
        row of a same-choices table, ``tests/test_results_files.py`` checks
        the runs' digest)."""
        return self.row.config is not None

    @property
    def setting(self) -> str:
        """The weight, levels and warm-up the row ran."""
        row = self.row
        if row.factor is None:
            return 'as configured'
        parts = [f'x{row.factor:g} {self.collection.unit}']
        if row.chosen:
            parts.append('first three levels' if row.no_small else
                         'all levels')
            warmup = row.chosen['warmup']
            parts.append(f'warm-up {warmup}' if warmup else 'no warm-up')
        elif row.no_small:
            parts.append('first three levels')
        text = ', '.join(parts)
        return text + (' (the config as it is)' if self.as_is else
                       ' (as cfg-options)')


def folder_configs(root: str, folder: str) -> Dict[str, Collection]:
    """Every config of ``configs/<folder>`` (path under the repository,
    sorted) and its collection; ``ValueError`` for a config no collection
    of :data:`COLLECTIONS` claims."""
    out = {}
    for path in sorted(glob.glob(osp.join(root, 'configs', folder, '*.py'))):
        name = osp.basename(path)
        claims = [c for c in COLLECTIONS
                  if c.folder == folder and name.startswith(c.prefix + '_')]
        if not claims:
            raise ValueError(f'configs/{folder}/{name}: no collection of '
                             'benchmarks/results_docs.py COLLECTIONS has '
                             'its prefix; add one for its method')
        out[f'configs/{folder}/{name}'] = claims[0]
    return out


def reported(studies: List[Study], collection: Collection,
             config: str) -> List[Reported]:
    """The rows of ``studies`` that ran ``config`` of ``collection``."""
    out = []
    for study in studies:
        for row in study.rows:
            if row.key in collection.keys and row.key in METHODS and \
                    METHODS[row.key].config(study.detector,
                                            study.student) == config:
                out.append(Reported(study, row, collection))
    return out


def folder_section(studies: List[Study], root: str, folder: str) -> str:
    """The generated part of ``configs/<folder>/README.md``: one line per
    reported row of each config (a config no table reports gets one line
    saying so), then how to read them."""
    start = f'configs/{folder}'
    configs = folder_configs(root, folder)
    if not any(reported(studies, collection, config)
               for config, collection in configs.items()):
        return ('No config of this folder is in a reported table '
                '(`docs/results/accuracy_study_*.json`); `metafile.yml` '
                'lists them without results. Generated by `python '
                'benchmarks/results_docs.py`; do not edit by hand.\n')
    lines = ['| config | study | row | setting | chosen by | AP | '
             'ΔAP vs alone (paired) |', '|---|---|---|---|---|---|---|']
    for config, collection in configs.items():
        name = f'[{osp.basename(config)}]({osp.basename(config)})'
        found = reported(studies, collection, config)
        if not found:
            lines.append(f'| {name} | not in a reported table | | | | | |')
        for i, item in enumerate(found):
            study, row = item.study, item.row
            seeds = study.tuning_seeds
            chosen = (f'[{"search" if study.searched else "weight sweep"}]'
                      f'({osp.relpath(study.tuning, start)}), '
                      f'seed{"s" if len(seeds) > 1 else ""} '
                      f'{" / ".join(map(str, seeds))}')
            results = osp.relpath('docs/results.md', start)
            lines.append(
                f'| {name if i == 0 else ""} | [{study.regime} regime]'
                f'({results}#{study.anchor}) | {row.label} | {item.setting} '
                f'| {chosen} | {_pm(row.aps)} | '
                f'{_pm(row.deltas, signed=True)} |')
    seeds = sorted({tuple(s.seeds) for s in studies})
    note = (
        '\nAP: mean ± std over the reported seeds '
        f'{" / ".join(", ".join(map(str, s)) for s in seeds)}; ΔAP: over '
        'the student alone, paired by seed. Setting: the weight, FPN levels '
        'and warm-up the same-choices search chose (short regime; the long '
        'regime searched the weight only), applied as cfg-options unless '
        '"the config as it is". Generated by `python '
        'benchmarks/results_docs.py` from `docs/results/*.json`, as '
        '`metafile.yml` is; do not edit by hand.\n')
    return '\n'.join(lines) + '\n' + note


#: resolved configs by (digest of the ``configs`` folder, config path)
_RESOLVED: Dict[tuple, dict] = {}
#: what mmengine found in a package's metafiles, by (package path, config)
_METAINFO: Dict[tuple, object] = {}


def _configs_digest(root: str) -> str:
    """Digest of every file under ``root/configs`` (names and bytes)."""
    sha = hashlib.sha256()
    folder = osp.join(root, 'configs')
    for path in sorted(glob.glob(osp.join(folder, '**', '*.py'),
                                 recursive=True)):
        sha.update(osp.relpath(path, folder).encode() + b'\0')
        with open(path, 'rb') as f:
            sha.update(f.read() + b'\0')
    return sha.hexdigest()


@contextlib.contextmanager
def _metainfo_once():
    """While resolving configs, each ``package::path`` that mmengine looks
    up in the package's metafiles is looked up once: mmengine 0.10 parses
    every metafile of mmdet (about 100) for every ``mmdet::`` base of every
    config, which is most of the generator's time."""
    from mmengine.config import utils
    original = utils._get_cfg_metainfo

    def lookup(package_path: str, cfg_path: str) -> dict:
        key = (package_path, cfg_path)
        if key not in _METAINFO:
            try:
                _METAINFO[key] = original(package_path, cfg_path)
            except ValueError as error:  # a base config: not in metafiles
                _METAINFO[key] = str(error)
        if isinstance(_METAINFO[key], str):
            raise ValueError(_METAINFO[key])
        return _METAINFO[key]

    utils._get_cfg_metainfo = lookup
    try:
        yield
    finally:
        utils._get_cfg_metainfo = original


class Resolver:
    """The resolved dicts of the configs under ``root``, each resolved once
    per content of the ``configs`` folder (in this process)."""

    def __init__(self, root: str):
        self.root = root
        self.digest = _configs_digest(root)

    def __call__(self, config: str) -> dict:
        """The resolved dict of ``config`` (a path under the root)."""
        key = (self.digest, config)
        if key not in _RESOLVED:
            from mmengine.config import Config
            with _metainfo_once():
                _RESOLVED[key] = Config.fromfile(
                    osp.join(self.root, config),
                    import_custom_modules=False).to_dict()
        return _RESOLVED[key]


def _dump(value) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def plain_configs(resolve: Resolver) -> Dict[tuple, str]:
    """Every config outside the method folders and ``_base_`` (the
    teachers and students trained alone), by its model (as :func:`_dump`
    text) and its training data; ``ValueError`` if two share both."""
    out = {}
    root = resolve.root
    for path in sorted(glob.glob(osp.join(root, 'configs', '*', '*.py'))):
        config = osp.relpath(path, root).replace(osp.sep, '/')
        if config.split('/')[1] in FOLDERS + ('_base_', ):
            continue
        cfg = resolve(config)
        key = (_dump(cfg['model']), _train_data(cfg))
        if key in out:
            raise ValueError(f'{out[key]} and {config} train the same model '
                             'on the same data: keep one')
        out[key] = config
    return out


def _train_data(cfg: dict) -> str:
    """The training data of a resolved config (:data:`DATASETS`)."""
    dataset = cfg['train_dataloader']['dataset']
    while 'type' not in dataset or dataset['type'] not in DATASETS:
        inner = dataset.get('dataset', dataset.get('datasets'))
        if inner is None:
            raise ValueError(f'train dataset {dataset.get("type")!r} is '
                             'not in benchmarks/results_docs.py DATASETS: '
                             'add its name')
        dataset = inner[0] if isinstance(inner, list) else inner
    return DATASETS[dataset['type']]


def _side(model: dict, data: str, plain: Dict[tuple, str], config: str,
          side: str) -> dict:
    """``Config`` of the student (``architecture``) or the teacher: its
    ``cfg_path``, else the plain config that trains its model on ``data``.
    """
    if model.get('cfg_path'):
        return {'Config': model['cfg_path']}
    key = (_dump(model), data)
    if key not in plain:
        raise ValueError(f'{config}: no config outside the method folders '
                         f'trains its {side} on {data}; add that config')
    return {'Config': plain[key]}


def model_entry(studies: List[Study], resolve: Resolver, config: str,
                collection: Collection, plain: Dict[tuple, str]) -> dict:
    """The ``Models`` entry of ``config`` (MMRazor's layout): student and
    teacher, and the result of the same-choices table that reports the
    method's own row on it, with that table's teacher and student-alone
    AP."""
    cfg = resolve(config)
    model, data = cfg['model'], _train_data(cfg)
    student = _side(model['architecture'], data, plain, config, 'student')
    teacher = _side(model['teacher'], data, plain, config, 'teacher')
    if str(model.get('teacher_ckpt', '')).startswith('https://'):
        teacher['Weights'] = model['teacher_ckpt']
    metadata = {'Location': 'FPN', 'Training Data': data}
    entry = {'Name': osp.splitext(osp.basename(config))[0],
             'In Collection': collection.name, 'Metadata': metadata}
    found = [r for r in reported(studies, collection, config)
             if r.row.key == collection.keys[0] and r.study.searched]
    if len(found) > 1:
        raise ValueError(f'{config}: reported by {len(found)} same-choices '
                         'tables; a metafile entry holds one')
    if found:
        study, row, _ = found[0]
        student['Metrics'] = {'box AP': _round(study.row('alone').aps)}
        teacher['Metrics'] = {'box AP': round(study.teacher_ap, 1)}
        metadata.update({
            'Setting': found[0].setting, 'Tuning Record': study.tuning,
            'Table': f'{RESULTS}/{study.name}.json',
            'Seeds': ', '.join(map(str, study.seeds))})
        entry['Results'] = [{'Task': 'Object Detection',
                             'Dataset': STUDY_DATA,
                             'Metrics': {'box AP': _round(row.aps)}}]
    metadata.update({'Student': student, 'Teacher': teacher})
    entry['Config'] = config
    return entry


def _round(values: Sequence[float]) -> float:
    return round(statistics.mean(values), 1) + 0.0


class _Dumper(yaml.SafeDumper):
    """Lists indented under their key, as in MMRazor's metafiles."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _yaml(data: dict) -> str:
    return GENERATED_YAML + yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
        default_flow_style=False, width=1 << 16)


def metafile(studies: List[Study], resolve: Resolver, folder: str) -> str:
    """``configs/<folder>/metafile.yml``: its collections and one model
    per config."""
    configs = folder_configs(resolve.root, folder)
    plain = plain_configs(resolve)
    collections = []
    for collection in COLLECTIONS:
        if collection.folder != folder:
            continue
        mine = [c for c, owner in configs.items() if owner is collection]
        data = sorted({_train_data(resolve(c)) for c in mine})
        entry = {'Name': collection.name,
                 'Metadata': {'Training Data': data}}
        if collection.paper:
            entry['Paper'] = {'URL': collection.paper[0],
                              'Title': collection.paper[1]}
        entry['README'] = folder_readme(folder)
        entry['Code'] = {'URL': collection.code}
        collections.append(entry)
    models = [model_entry(studies, resolve, c, owner, plain)
              for c, owner in configs.items()]
    return _yaml({'Collections': collections, 'Models': models})


def model_index() -> str:
    """``model-index.yml``: every method folder's metafile, for ``mim
    search``."""
    return _yaml({'Import': [folder_metafile(f) for f in FOLDERS]})


def whole_files(studies: List[Study], root: str) -> Dict[str, str]:
    """The generated files, written whole: path -> text."""
    resolve = Resolver(root)
    out = {folder_metafile(f): metafile(studies, resolve, f)
           for f in FOLDERS}
    out[MODEL_INDEX] = model_index()
    for name in sorted(os.listdir(osp.join(root, RESULTS))):
        if real_image_study.TABLE.match(name):
            data = _load(osp.join(root, RESULTS, name))
            out[f'{RESULTS}/{name[:-len(".json")]}.md'] = \
                real_image_study.markdown(data)
    results = osp.join(root, RESULTS)
    own_dir = osp.join(results, search_vs_grid.OWN_TEACHER)
    # the reported split run again on a search's own teacher (where the
    # search's teacher is not the grid's), with the grids' tuning records
    own = load_studies(own_dir, results) if osp.isdir(own_dir) else []
    for module, table in (
            (search_vs_grid, search_vs_grid.comparison(results, studies, own)),
            (protocol_replay, protocol_replay.comparison(results, studies))):
        if table is not None:
            out[module.TABLE_JSON] = json.dumps(table, indent=2) + '\n'
            out[module.TABLE_MD] = module.markdown(table)
    return out


# ---------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------
def _plotted(study: Study) -> dict:
    return dict(title=study.title, teacher_ap=round(study.teacher_ap, 3),
                seeds=study.seeds,
                rows=[[r.label, [round(d, 3) for d in r.deltas]]
                      for r in _ordered(study) if r.distills])


def figure_digest(studies: List[Study]) -> str:
    """Digest of the values a figure of ``studies`` plots."""
    data = json.dumps([_plotted(s) for s in studies], sort_keys=True,
                      ensure_ascii=True)
    return hashlib.sha256(data.encode()).hexdigest()[:16]


def _short(label: str) -> str:
    """A method's label as a tick label."""
    for long, short in ((' without the two smallest FPN levels',
                         f' {NO_SMALL_MARK}'), (' (MSE)', ''),
                        (' (beta = gamma = 0)', '')):
        label = label.replace(long, short)
    return label


def _plot_panel(ax, study: Study) -> None:
    markers = 'osD^v<>'
    rows = [r for r in _ordered(study) if r.distills]
    for x, row in enumerate(rows):
        for i, (seed, delta) in enumerate(zip(study.seeds, row.deltas)):
            offset = (i - (len(study.seeds) - 1) / 2) * 0.12
            ax.scatter(x + offset, delta, s=22, color=f'C{i % 10}',
                       marker=markers[i % len(markers)], zorder=3,
                       label=f'seed {seed}' if x == 0 else None)
        mean = statistics.mean(row.deltas)
        ax.hlines(mean, x - 0.3, x + 0.3, color='black', linewidth=2,
                  zorder=2, label='mean' if x == 0 else None)
        ax.annotate(_num(mean, signed=True), (x - 0.32, mean), fontsize=7,
                    ha='right', va='center')
    ax.axhline(0, color='grey', linewidth=0.8)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([_short(r.label) for r in rows], rotation=30,
                       ha='right', fontsize=8)
    ax.set_xlim(-0.9, len(rows) - 0.5)
    alone = statistics.mean(study.row('alone').aps)
    ax.set_title(f'{study.title}\nteacher {study.teacher_ap:.1f} AP, '
                 f'student alone {alone:.1f} AP', fontsize=9)
    ax.set_ylabel('ΔAP over the student alone', fontsize=8)
    ax.grid(axis='y', alpha=0.3)
    ax.legend(fontsize=7, loc='lower left')


def write_figure(path: str, studies: List[Study]) -> None:
    """One panel per study, saved without a date; the ``Data`` text chunk
    holds :func:`figure_digest`."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    fig, axes = plt.subplots(1, len(studies),
                             figsize=(4.6 * len(studies), 3.8), squeeze=False)
    for ax, study in zip(axes[0], studies):
        _plot_panel(ax, study)
    fig.text(0.005, 0.005, f'{NO_SMALL_MARK} without the two smallest FPN '
             'levels; bars: mean over seeds', fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=100, metadata={
        'Software': None, 'Source': 'benchmarks/results_docs.py',
        'Data': figure_digest(studies)})
    plt.close(fig)


def figures(studies: List[Study]) -> Dict[str, List[Study]]:
    """Figure file name -> the studies it plots."""
    out = {f'{s.name}.png': [s] for s in studies}
    out[OVERVIEW] = studies
    return out


def png_text(path: str) -> Dict[str, str]:
    """The ``tEXt`` / ``iTXt`` / ``zTXt`` chunks of a PNG file."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise ValueError(f'{path} is not a PNG file')
    out, pos = {}, 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b'tEXt':
            key, _, value = body.partition(b'\0')
            out[key.decode('latin-1')] = value.decode('latin-1')
        elif kind == b'zTXt':
            key, _, value = body.partition(b'\0')
            out[key.decode('latin-1')] = zlib.decompress(
                value[1:]).decode('latin-1')
        elif kind == b'iTXt':
            key, _, rest = body.partition(b'\0')
            compressed, rest = rest[0], rest[2:]
            _, _, rest = rest.partition(b'\0')  # language
            _, _, value = rest.partition(b'\0')  # translated keyword
            if compressed:
                value = zlib.decompress(value)
            out[key.decode('latin-1')] = value.decode('utf-8')
    return out


# ---------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------
def _read(path: str) -> Optional[str]:
    """The text of ``path``, None if it does not exist."""
    if not osp.exists(path):
        return None
    with open(path, encoding='utf-8') as f:
        return f.read()


def generated(root: str, studies: List[Study]) -> Dict[str, tuple]:
    """Every generated text file under ``root``: path -> (its text, None
    if missing; the text the JSON gives)."""
    out = {}
    for doc, section in sections(studies, root).items():
        text = _read(osp.join(root, doc))
        if text is None:
            raise ValueError(f'{doc} is missing: create it with one line '
                             f'{BEGIN} and, below it, one line {END}')
        out[doc] = (text, replace_section(text, section, doc))
    for path, text in whole_files(studies, root).items():
        out[path] = (_read(osp.join(root, path)), text)
    return out


def outdated(root: str = REPO) -> List[str]:
    """What ``--check`` reports: every generated section, metafile and
    figure under ``root`` that differs from what the JSON gives (empty:
    all current)."""
    studies = load_studies(osp.join(root, RESULTS))
    problems = []
    for path, (text, new) in generated(root, studies).items():
        if text is None:
            problems.append(f'{path} is missing')
        elif text != new and path.endswith('.md'):
            problems.append(f'{path}: the generated section differs from '
                            'docs/results/*.json')
        elif text != new:
            problems.append(f'{path} differs from what docs/results/*.json '
                            'and the configs give')
    for name, shown in figures(studies).items():
        path = osp.join(root, FIGURES, name)
        if not osp.exists(path):
            problems.append(f'{FIGURES}/{name} is missing')
        elif png_text(path).get('Data') != figure_digest(shown):
            problems.append(f'{FIGURES}/{name} plots other values than '
                            'docs/results/*.json')
    return problems


def write(root: str = REPO, force: bool = False) -> List[str]:
    """Rewrite every generated section and file under ``root``, and every
    figure whose data changed (all of them with ``force``); returns the
    paths written."""
    studies = load_studies(osp.join(root, RESULTS))
    written = []  # every file is generated before the first is written
    for path, (text, new) in generated(root, studies).items():
        if new != text:
            with open(osp.join(root, path), 'w', encoding='utf-8') as f:
                f.write(new)
            written.append(path)
    for name, shown in figures(studies).items():
        path = osp.join(root, FIGURES, name)
        if force or not osp.exists(path) or \
                png_text(path).get('Data') != figure_digest(shown):
            write_figure(path, shown)
            written.append(f'{FIGURES}/{name}')
    return written


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--check', action='store_true',
                        help='write nothing; exit 1 if a generated section, '
                        'metafile or figure is out of date')
    parser.add_argument('--force', action='store_true',
                        help='redraw every figure, even one whose data did '
                        'not change')
    parser.add_argument('--root', default=REPO,
                        help='repository root (default: this checkout)')
    args = parser.parse_args(argv)
    if args.check:
        problems = outdated(args.root)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print('Run: python benchmarks/results_docs.py', file=sys.stderr)
        return 1 if problems else 0
    for path in write(args.root, args.force):
        print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
