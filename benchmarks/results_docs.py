# Copyright (c) sekd-mm contributors. All rights reserved.
"""The current accuracy tables of ``docs/results.md`` and ``README.md`` and
one figure per study, generated from the committed study results, so that
markdown, figures and JSON cannot disagree.

    python benchmarks/results_docs.py            # rewrite sections, figures
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
* ``tuning_<regime>_<detector>[_<student>].json`` (optional): the weight
  factor each method was reported at (tables older than the same-choices
  search; a newer table holds each row's choice itself).

Outputs:

* the text between ``<!-- generated: results_docs.py -->`` and
  ``<!-- end generated -->`` in ``docs/results.md`` (a summary table, then
  per study the per-seed table and SEKD's paired differences) and in
  ``README.md`` (the summary table and the overview figure); the rest of
  each file is left as it is;
* ``docs/figures/accuracy_study_<regime>_<detector>[_<student>].png`` (dAP
  over the
  student alone per method: each seed's point and the mean) and
  ``docs/figures/accuracy_study_current.png`` (every study side by side).

The output is deterministic: the same JSON gives the same markdown bytes,
and each PNG carries no date, only a ``Data`` text chunk with a digest of
the values it plots, which ``--check`` compares with the JSON.
"""
import argparse
import glob
import hashlib
import json
import os.path as osp
import re
import statistics
import struct
import sys
import zlib
from typing import Dict, List, NamedTuple, Optional, Sequence

from methods import DEFAULT_STUDENT, METHODS, STUDENTS, student_suffix

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RESULTS = osp.join('docs', 'results')
FIGURES = osp.join('docs', 'figures')
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


def load_study(table_path: str) -> Study:
    """A study from its table JSON and the runs record next to it; raises
    ``ValueError`` naming the row if the two disagree or a run is missing.
    """
    regime, detector, student = table_name(table_path)
    suffix = student_suffix(student)
    table = _load(table_path)
    runs_path = table_path[:-len('.json')] + '_runs.json'
    if not osp.exists(runs_path):
        raise ValueError(f'{table_path} has no runs record {runs_path}: '
                         'rerun the study with --record')
    runs = _load(runs_path)['runs']
    tuning_path = osp.join(osp.dirname(table_path),
                           f'tuning_{regime}_{detector}{suffix}.json')
    factors = _load(tuning_path)['factors'] if osp.exists(tuning_path) \
        else {}
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
                        chosen))
    return Study(regime, detector, seeds, table['num_val'],
                 table['student_iters'], ap(f'{prefix}teacher'), rows,
                 student)


def load_studies(results_dir: str) -> List[Study]:
    """Every reported table under ``results_dir``, short regime first,
    RetinaNet before Faster R-CNN, the default student first."""
    paths = [p for p in glob.glob(osp.join(results_dir, '*.json'))
             if TABLE.match(osp.basename(p))]
    if not paths:
        raise ValueError(f'no accuracy_study_<regime>_<detector>.json in '
                         f'{results_dir}')
    studies = [load_study(p) for p in paths]
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


def sections(studies: List[Study]) -> Dict[str, str]:
    """Generated text per markdown file of :data:`DOCS`."""
    return {'docs/results.md': results_section(studies),
            'README.md': readme_section(studies)}


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
def outdated(root: str = REPO) -> List[str]:
    """What ``--check`` reports: every markdown section and figure under
    ``root`` that differs from what the JSON gives (empty: all current)."""
    studies = load_studies(osp.join(root, RESULTS))
    problems = []
    for doc, section in sections(studies).items():
        path = osp.join(root, doc)
        with open(path, encoding='utf-8') as f:
            text = f.read()
        if replace_section(text, section, doc) != text:
            problems.append(f'{doc}: the generated section differs from '
                            'docs/results/*.json')
    for name, shown in figures(studies).items():
        path = osp.join(root, FIGURES, name)
        if not osp.exists(path):
            problems.append(f'{FIGURES}/{name} is missing')
        elif png_text(path).get('Data') != figure_digest(shown):
            problems.append(f'{FIGURES}/{name} plots other values than '
                            'docs/results/*.json')
    return problems


def write(root: str = REPO, force: bool = False) -> List[str]:
    """Rewrite every generated section under ``root``, and every figure
    whose data changed (all of them with ``force``); returns the paths
    written."""
    studies = load_studies(osp.join(root, RESULTS))
    texts = {}
    for doc, section in sections(studies).items():
        with open(osp.join(root, doc), encoding='utf-8') as f:
            text = f.read()
        texts[doc] = (text, replace_section(text, section, doc))
    written = []  # every file checked before the first is written
    for doc, (text, new) in texts.items():
        if new != text:
            with open(osp.join(root, doc), 'w', encoding='utf-8') as f:
                f.write(new)
            written.append(doc)
    for name, shown in figures(studies).items():
        path = osp.join(root, FIGURES, name)
        if force or not osp.exists(path) or \
                png_text(path).get('Data') != figure_digest(shown):
            write_figure(path, shown)
            written.append(osp.join(FIGURES, name))
    return written


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--check', action='store_true',
                        help='write nothing; exit 1 if a generated section '
                        'or figure is out of date')
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
