# Copyright (c) sekd-mm contributors. All rights reserved.
"""Accuracy study: SEKD, its vertex term alone, EGA and MMRazor's detection
distillers side by side on the embedded synthetic dataset.

    python benchmarks/accuracy_study.py [--preset cpu|large]
        [--detector retinanet|faster-rcnn] [--student r18-w32|r18-w16|mbv2]
        [--split tune|report] [--search [--storage URL] [--max-iters N]
                               | --tuned TUNING_JSON]
        [--regime short|long]
        [--seeds 0 1 2] [--methods alone sekd pkd ...] [--jobs N]
        [--threads N] [--record RUNS_JSON]
        [--work-dir work_dirs/accuracy_study] [--teacher-ckpt CKPT]
        [--teacher-iters N] [--student-iters N] [--num-train N]
        [--num-val N] [--img-scale N] [--report-only]

One teacher (RetinaNet R-34, FPN 128; ``--detector faster-rcnn``: the
Faster R-CNN R-34) is trained once, for a longer schedule than the
students, and cached; then every method in ``benchmarks/methods.py`` trains
the same student (R-18 at half width, FPN 64, same detector) with the same
schedule on every seed, through ``tools/train.py`` exactly as a user would
run it, and is evaluated with COCO metrics on the val split. Runs go
``--jobs`` at a time, each with ``cores / jobs`` threads. ``--student``
trains another RetinaNet student instead (``methods.STUDENTS``: R-18 at a
quarter width, or MobileNetV2) from the same teacher; its runs land in
``<regime>-<split>_<student>``.

Everything lands in ``--work-dir``: ``teacher/``, ``<method>/seed<S>/``
(config, log, checkpoint and ``result.json``), and the report:
``results.md`` (mean +- std over seeds and the paired difference to the
student alone), ``results.json`` and ``accuracy_study.png``. A finished run
is not run again while its command, its resolved config and its teacher
are unchanged (``benchmarks/runs.py``), so an interrupted study continues
where it stopped, and changing a setting (or the teacher) reruns what
depends on it.

``--regime long`` trains every student 4x longer (:data:`REGIMES`), long
enough for the student alone to pass half the teacher's AP.

``--preset cpu`` (the default) fits in under an hour on 2 CPU cores;
``--preset large`` is the same study at full image size with 4x the data and
5x the iterations, for a GPU machine.

Tuning and reporting are separate (docs/results.md, "Protocol"):

* ``--split tune --search`` is the fair protocol on a val set generated
  with another data seed (:data:`TUNE_DATA_SEED`, same size), run by the
  package's pruned search (``sekd_mm.search``, the engine of ``sekd-mm
  distill --search``; :func:`run_search`): every tuned row gets the same
  factor grid of its loss weights, extended until its best value lies
  inside, then the same levels and warm-up choices at its best factor, on
  the first seed; the best settings on the other seeds; losing trainings
  stopped early by successive halving on the tuning AP. Its Optuna journal
  and ``search.json`` (every trial, the chosen row, the cost) live in
  ``<split dir>/search/``: the same command resumes it, another process is
  a second worker, ``--storage URL`` shares it between machines. It
  defaults to seed 100: give it two or more.
* ``--split report`` (the default) runs seeds 0, 1, 2 on the reported val
  set; ``--tuned FILE`` applies each row's chosen factor, levels and
  warm-up (a row without a choice runs its config as it is): FILE is a
  search's ``search.json`` (the rows it confirmed on every seed, each at
  its best setting) or a committed ``tuning_*.json`` (every row's choice,
  made by the exhaustive grid of this protocol until 2026-12-07; see the
  design log). Besides
  ``results.md`` it writes
  ``accuracy_study_<regime>_<detector>[_<student>].json``.

A teacher is identified by a digest of its weights
(:func:`~runs.weights_digest`), not by its command: the same command gave a
teacher of 41.4 AP on one machine and 42.5 on others, and a distilled run
is reused only under the teacher it was distilled from.

``--record FILE`` keeps every finished run (its metrics and a digest of its
resolved config, with the teacher's checkpoint path replaced by the
teacher's weight digest) in a JSON file that can be committed, e.g.
``docs/results/accuracy_study_<regime>_<detector>_runs.json``. A run that
is not in the work dir but is in the record under the same digest is taken
from the record instead of being run again, so a study is reported, and
continued, on a machine where the work dir of an earlier run is gone;
the teacher is trained again only if a distilled run still has to run,
and if it comes out different, every distilled run is run again. The
committed records also hold the runs of the graph candidates of
2026-12-03 to 2026-12-05, whose methods the tag
``graph-candidates-2026-12-05`` still builds; no run of this code asks for
them.

Runs of a split live in ``<work-dir>/<regime>-<split>/<method>/seed<S>``;
the teacher (``<work-dir>/teacher``) is shared. Faster R-CNN's runs and
teacher live under ``<work-dir>/faster-rcnn/``.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import time
from typing import Dict, List, Optional

from methods import (DEFAULT_STUDENT, DETECTORS, METHODS, REMOVED_TAG,
                     STUDENTS, Method, select, student_suffix, teacher_config,
                     weight_options)
from runs import (TEACHER_OPTION, Record, Run, finished, log, run_all,
                  teacher_weights)

from sekd_mm.apis import METRICS, synthetic_options
from sekd_mm.engine import iter_schedule_options
from sekd_mm.search import Row, Setting, search
from sekd_mm.search.methods import same_choices

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRESETS = dict(
    cpu=dict(img_scale=96, num_train=1024, num_val=512, teacher_iters=1500,
             student_iters=300, jobs=2),
    large=dict(img_scale=128, num_train=4096, num_val=512,
               teacher_iters=7500, student_iters=1500, jobs=1))
#: Student schedules, as multiples of the preset's ``student_iters``.
#: ``short`` (300 iterations on the cpu preset) mostly measures early
#: learning: the student alone reaches 3-4 AP where the teacher has 42.5.
#: ``long`` is 4x: the student alone, measured on the tuning split under a
#: 3000-iteration schedule evaluated every 300, passed half the teacher's
#: AP between iterations 900 (20.4 AP) and 1200 (29.3 AP); see
#: docs/results.md, "Long regime".
REGIMES = dict(short=1, long=4)
#: Data seed of the tuning split's val set (the reported one uses 0).
TUNE_DATA_SEED = 1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--preset', choices=sorted(PRESETS), default='cpu')
    parser.add_argument('--split', choices=('tune', 'report'),
                        default='report')
    parser.add_argument('--regime', choices=sorted(REGIMES),
                        default='short',
                        help='student schedule: the preset\'s student-iters '
                        'x ' + ', '.join(f'{k} {v}' for k, v in
                                         REGIMES.items()) +
                        ' (--student-iters overrides it)')
    parser.add_argument('--detector', choices=DETECTORS,
                        default='retinanet',
                        help='the embedded R-34 -> R-18 w32 pair to distil')
    parser.add_argument('--student', choices=STUDENTS, default=DEFAULT_STUDENT,
                        help='the student of every row (RetinaNet only for '
                        'the others): ' + ', '.join(
                            f'{k} {v}' for k, v in STUDENTS.items()))
    parser.add_argument('--seeds', type=int, nargs='+',
                        help='default: 0 1 2 (report), 100 (tune)')
    parser.add_argument('--tuned',
                        help='search.json of a --search (or a committed '
                        'tuning_*.json): each row\'s chosen factor, levels '
                        'and warm-up')
    parser.add_argument('--search', action='store_true',
                        help='with --split tune: the fair protocol, by the '
                        'package\'s pruned search (sekd_mm.search), for '
                        'every tuned method')
    parser.add_argument('--storage', help='with --search: Optuna storage '
                        'URL shared by its workers (default: the journal in '
                        'the split\'s search/ dir)')
    parser.add_argument('--max-iters', type=int, help='with --search: '
                        'budget in training iterations')
    parser.add_argument('--dataset', default='synthetic',
                        help='name of the dataset, written into the table '
                        'JSON (default: synthetic)')
    parser.add_argument('--methods', nargs='+', help='default: all')
    parser.add_argument('--work-dir', default='work_dirs/accuracy_study')
    parser.add_argument('--data-root', default='data/sekd_synthetic_study/')
    parser.add_argument('--teacher-ckpt',
                        help='use this teacher instead of training one')
    for key in PRESETS['cpu']:
        parser.add_argument('--' + key.replace('_', '-'), type=int,
                            help='override the preset')
    parser.add_argument('--threads', type=int,
                        help='torch threads per run (default: cores / jobs)')
    parser.add_argument('--report-only', action='store_true',
                        help='only rebuild the report from finished runs')
    parser.add_argument('--record',
                        help='JSON record of finished runs: read (runs '
                        'found there are not run again) and updated')
    args = parser.parse_args(argv)
    if args.search and args.split != 'tune':
        parser.error('--search tunes: use it with --split tune')
    if args.search and args.tuned:
        parser.error('--search and --tuned exclude each other')
    if args.search and (args.record or args.report_only):
        parser.error('--search keeps its trainings in its Optuna storage '
                     'and writes search.json as it goes: drop --record and '
                     '--report-only')
    if not args.search and (args.storage or args.max_iters):
        parser.error('--storage and --max-iters are options of --search')
    if args.tuned:
        try:
            read_tuned(args.tuned)
        except (OSError, ValueError) as e:
            parser.error(str(e))
    try:
        for method in select(args.methods).values():
            method.config(args.detector, args.student)
    except ValueError as e:
        parser.error(str(e))
    if args.seeds is None:
        args.seeds = [0, 1, 2] if args.split == 'report' else [100]
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            if key == 'student_iters':
                value *= REGIMES[args.regime]
            setattr(args, key, value)
    return args


def paired_deltas(results: Dict[tuple, dict], name: str,
                  seeds: List[int]) -> List[float]:
    """AP of ``name`` minus the student alone's, per seed that both ran."""
    return [results[(name, s)]['metrics']['coco/bbox_mAP'] -
            results[('alone', s)]['metrics']['coco/bbox_mAP']
            for s in seeds if (name, s) in results and ('alone', s) in results]


def summarize(values: List[Optional[float]]) -> str:
    if any(v is None or v < 0 for v in values):
        # COCO gives -1 where no object has that size; a recorded run may
        # hold AP only (Record)
        return 'n/a'
    mean = 100 * statistics.mean(values)
    if len(values) < 2:
        return f'{mean:.1f}'
    return f'{mean:.1f} ± {100 * statistics.stdev(values):.1f}'


def mean_of(values: List[Optional[float]]) -> Optional[float]:
    """Mean of the values that are known (None if none is)."""
    known = [v for v in values if v is not None]
    return statistics.mean(known) if known else None


def report(args, methods: dict, results: Dict[tuple, dict],
           teacher: dict, minutes: float,
           out_dir: Optional[str] = None) -> str:
    """The markdown table; also writes results.json and the plot into
    ``out_dir`` (default ``args.work_dir``)."""
    out_dir = out_dir or args.work_dir
    seeds = args.seeds
    head = ['Method'] + [m for m, _ in METRICS] + [
        'ΔAP vs alone (paired)', 'seeds better', 'distill / task loss '
        'at start', 'distill / task once on', 's / iter'
    ]
    rows = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    tm = teacher['metrics']
    rows.append('| Teacher R-34 (FPN 128, cached) | ' + ' | '.join(
        summarize([tm[k]]) for _, k in METRICS) + ' | | | | | |')
    summary = {}
    for name, method in methods.items():
        res = [results[(name, s)] for s in seeds if (name, s) in results]
        if not res:
            continue
        values = [summarize([r['metrics'].get(k) for r in res])
                  for _, k in METRICS]
        paired = paired_deltas(results, name, seeds)
        if name == 'alone' or not paired:
            delta, better = '', ''
        else:
            delta = f'{100 * statistics.mean(paired):+.1f}'
            if len(paired) > 1:
                delta += f' ± {100 * statistics.stdev(paired):.1f}'
            better = f'{sum(d > 0 for d in paired)}/{len(paired)}'
        share = mean_of([r.get('distill_over_task') for r in res])
        share_on = mean_of([r.get('distill_over_task_on') for r in res])
        speed = mean_of([r.get('sec_per_iter') for r in res])
        values += [delta, better, f'{share:.2f}' if share else '',
                   f'{share_on:.2f}' if share_on else '',
                   f'{speed:.2f}' if speed else '']
        rows.append(f'| {method.label} | ' + ' | '.join(values) + ' |')
        summary[name] = dict(
            label=method.label,
            ap=[r['metrics']['coco/bbox_mAP'] for r in res],
            seeds=[s for s in seeds if (name, s) in results],
            paired_delta_ap=paired)
    table = '\n'.join(rows)
    recorded = sorted(f'{n}/seed{s}' + (f' ({r["note"]})' if r.get('note')
                                        else '')
                      for (n, s), r in results.items() if r.get('recorded'))
    if recorded:
        table += ('\n\nTaken from the record (`--record`), not run here: ' +
                  '; '.join(recorded) + '. n/a: a metric that not every '
                  'seed\'s run holds (or COCO\'s -1).')
    det = dict(retinanet='RetinaNet').get(args.detector, 'Faster R-CNN')
    text = (
        f'# Accuracy study on the embedded synthetic dataset\n\n'
        f'COCO bbox metrics (x100) on {args.num_val} val images of the '
        f'{args.split} split, mean ± std '
        f'over seeds {", ".join(map(str, seeds))}; student {det} '
        f'{STUDENTS[args.student]}, {args.student_iters} iterations of '
        f'batch 8 at '
        f'{args.img_scale} px; teacher {det} R-34 (FPN 128), '
        f'{args.teacher_iters} iterations; {args.num_train} train images. '
        f'ΔAP is the mean ± std over seeds of (method - student alone) '
        f'on the same seed. Distill / task loss at start: over the first '
        f'logged iterations, while the distillation losses still ramp up '
        f'(`distill_warmup_iters`; 0 for a method without). Once '
        f'on: at the first logged iteration past the warm-up (the same as '
        f'at start for a method without one). '
        f'{minutes:.1f} min on this machine for the runs not cached.'
        f'\n\n{table}\n')
    with open(osp.join(out_dir, 'results.json'), 'w',
              encoding='utf-8') as f:
        json.dump(dict(settings=vars(args), teacher=teacher['metrics'],
                       methods=summary,
                       runs={f'{n}/seed{s}': r['metrics']
                             for (n, s), r in results.items()}),
                  f, indent=2)
    plot(osp.join(out_dir, 'accuracy_study.png'), summary,
         tm['coco/bbox_mAP'], args)
    return text


def plot(path: str, summary: dict, teacher_ap: float, args) -> None:
    """Top: AP per method (bar = mean, whisker = std, dots = seeds).
    Bottom: the paired AP difference to the student alone, per seed."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    names = list(summary)
    labels = [summary[n]['label'] for n in names]
    colours = ['tab:gray' if n == 'alone' else 'tab:blue' if n.startswith(
        ('sekd', 'ega')) else 'tab:orange' for n in names]
    fig, axes = plt.subplots(2, 1, figsize=(2.0 + 0.75 * len(names), 7.5),
                             sharex=True)
    panels = ((axes[0], 'ap', 'COCO AP (val)'),
              (axes[1], 'paired_delta_ap', 'AP - student alone (same seed)'))
    for ax, key, ylabel in panels:
        for i, name in enumerate(names):
            vals = [100 * v for v in summary[name][key]]
            if not vals:
                continue
            err = statistics.stdev(vals) if len(vals) > 1 else 0.0
            ax.bar(i, statistics.mean(vals), color=colours[i], alpha=0.6,
                   yerr=err, capsize=4)
            ax.scatter([i] * len(vals), vals, color='black', s=10, zorder=3)
        ax.axhline(0, color='black', lw=0.8)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(labels, rotation=35, ha='right')
        ax.set_ylabel(ylabel)
        ax.grid(axis='y', alpha=0.3)
    if 'alone' in summary:
        axes[0].axhline(100 * statistics.mean(summary['alone']['ap']),
                        color='tab:gray', ls='--', lw=1)
    fig.suptitle(
        f'Embedded study, {len(args.seeds)} seeds (bar: mean, whisker: '
        f'std, dots: seeds)\nteacher {100 * teacher_ap:.1f} AP; student '
        f'{STUDENTS[args.student]}, {args.student_iters} iterations at '
        f'{args.img_scale} px',
        fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def data_options(args) -> List[str]:
    """cfg-options of the study's dataset; on the tuning split the val and
    test loaders read a val set generated with :data:`TUNE_DATA_SEED`."""
    opts = synthetic_options(args)
    if args.split == 'report':
        return opts
    root = args.data_root.rstrip('/') + f'_tune{TUNE_DATA_SEED}/'
    for loader in ('val_dataloader', 'test_dataloader'):
        dataset = f'{loader}.dataset'
        opts += [f'{dataset}.data_root={root}',
                 f'{dataset}.synthetic.seed={TUNE_DATA_SEED}',
                 f'{dataset}.synthetic.num_train=1']
    ann = osp.join(root, 'annotations/instances_val.json')
    return opts + [f'val_evaluator.ann_file={ann}',
                   f'test_evaluator.ann_file={ann}']


def study_dir(args, name: str) -> str:
    """``name`` (``teacher`` or ``<regime>-<split>``) for RetinaNet, and
    ``<detector>/<name>`` for the other detectors."""
    if args.detector == 'retinanet':
        return name
    return osp.join(args.detector, name)


def read_tuned(path: Optional[str]) -> Dict[str, dict]:
    """The tuned rows of ``--tuned`` (method -> its record, with the
    ``chosen`` setting; empty without ``--tuned``): a search's
    ``search.json`` gives each row it confirmed on every seed
    (``candidates``, best first) at its best setting, with that setting's
    per-seed tuning values; a committed ``tuning_*.json`` gives its
    ``rows``. ``ValueError`` for a file that holds neither: the weight
    grids that wrote such files (before 2026-12-03) are gone."""
    if not path:
        return {}
    with open(path, encoding='utf-8') as f:
        tuning = json.load(f)
    if 'candidates' in tuning:
        rows = {}
        for cand in tuning['candidates']:
            rows.setdefault(cand['method'], dict(
                chosen=cand['setting'], values=cand['values'],
                mean=cand['mean'], search=tuning['study']))
        return rows
    if 'rows' not in tuning:
        raise ValueError(
            f'--tuned {path} holds no search\'s choices ("candidates" or '
            '"rows"); give the search.json of a --split tune --search (the '
            f'weight grids that wrote such files are at the tag '
            f'{REMOVED_TAG})')
    return tuning['rows']


def tuned_settings(args) -> Dict[str, Setting]:
    """``--tuned``'s chosen setting (factor, levels, warm-up) of every
    method of :data:`~methods.METHODS` that has one (its own, or its
    ``tuned_as`` method's); a row of a method that no longer exists is
    ignored. Empty without ``--tuned``."""
    chosen = {name: Setting(**row['chosen'])
              for name, row in read_tuned(args.tuned).items()}
    out = {}
    for name, method in METHODS.items():
        source = name if name in chosen else method.tuned_as
        if source in chosen:
            out[name] = chosen[source]
    return out


def config_of(method: Method, args) -> str:
    """``method``'s config for the study's detector and student."""
    return method.config(args.detector, args.student)


def at_setting(method: Method, setting: Setting, args) -> Method:
    """``method`` at ``setting``: its levels (kept as configured where the
    method has no level choice) and warm-up, then its loss weights times
    the factor."""
    levels = setting.levels if method.level_key else None
    method = method.setting(levels=levels, warmup=setting.warmup)
    return method._replace(options=tuple(
        weight_options(method, config_of(method, args), setting.factor)))


def variants(args, methods: Dict[str, Method]) -> Dict[str, Method]:
    """The runs' methods outside a ``--search`` (key ``name``): each at the
    setting that ``--tuned`` chose for it (or, for an ablation, for its
    ``tuned_as`` method), else as configured."""
    tuned = tuned_settings(args)
    return {name: at_setting(method, tuned[name], args)
            if method.distills and name in tuned else method
            for name, method in methods.items()}


def search_space(methods: Dict[str, Method]) -> Dict[str, Row]:
    """Every distilling row with the same choices: the factor grid, and the
    levels (where the method has a level choice) and warm-up choices."""
    return same_choices({name: bool(method.level_key)
                         for name, method in methods.items()
                         if method.distills})


def run_search(args, checkpoint: str) -> dict:
    """The fair protocol on the tuning split: the package's pruned search
    (:func:`sekd_mm.search.search`, one worker) over the distilling rows of
    ``--methods``, each trial a run of the row's config at a setting
    (:func:`at_setting`) on the study's data, schedule and teacher
    ``checkpoint``. Returns its result (``search.json`` in
    ``<split dir>/search``)."""
    methods = select(args.methods)
    common = iter_schedule_options(args.student_iters) + data_options(
        args) + [TEACHER_OPTION + checkpoint, 'val_cfg.type=ValLoop']

    def configure(name: str, setting: Setting):
        method = at_setting(methods[name], setting, args)
        return config_of(method, args), common + list(method.options)

    work_dir = osp.join(split_dir_of(args), 'search')
    space = search_space(methods)
    log(f'search: rows {", ".join(space)}, seeds {args.seeds}, '
        f'{args.student_iters} iterations a trial; {work_dir}')
    return search(space, configure, work_dir,
                  trial_iters=args.student_iters, seeds=args.seeds,
                  storage=args.storage, max_iters=args.max_iters,
                  threads=args.threads or os.cpu_count() or 1,
                  tool='study')


def write_table_json(path: str, args, methods: Dict[str, Method],
                     results: Dict[tuple, dict], tuned: List[str]) -> None:
    """The study's table in the schema of docs/results/ (AP x100): per
    method its mean, spread and per-seed AP, its paired gain over the
    student alone, and (from a ``--search``'s ``--tuned``) its ``tuning``
    record; the ``sekd`` row names the config its runs used."""
    seeds = args.seeds
    tuning = read_tuned(args.tuned)
    rows = {}
    for name, method in methods.items():
        aps = [100 * results[(name, s)]['metrics']['coco/bbox_mAP']
               for s in seeds if (name, s) in results]
        deltas = [100 * d for d in paired_deltas(results, name, seeds)]
        if not aps:
            continue

        def std(v):
            return statistics.stdev(v) if len(v) > 1 else 0.0

        rows[name] = dict(
            label=method.label, ap_mean=statistics.mean(aps), ap_std=std(aps),
            delta_ap_mean=statistics.mean(deltas) if deltas else None,
            delta_ap_std=std(deltas) if deltas else None,
            tuned=name in tuned, seeds_run=[s for s in seeds
                                            if (name, s) in results],
            ap_per_seed={str(s): 100 * results[(name, s)]['metrics'][
                'coco/bbox_mAP'] for s in seeds if (name, s) in results})
        if name in tuning:
            rows[name]['tuning'] = tuning[name]
        if name == 'sekd':
            rows[name]['config'] = config_of(method, args)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(dict(regime=args.regime, detector=args.detector,
                       student=args.student, dataset=args.dataset,
                       seeds=seeds,
                       num_val=args.num_val, split=args.split,
                       student_iters=args.student_iters, methods=rows),
                  f, indent=2)


def split_dir_of(args) -> str:
    """``<work-dir>/[<detector>/]<regime>-<split>[_<student>]``: the
    split's runs (the teacher is shared by every student)."""
    return osp.join(args.work_dir, study_dir(
        args, f'{args.regime}-{args.split}{student_suffix(args.student)}'))


def teacher_run(args) -> Run:
    """The study's teacher run (trained once, shared by every split)."""
    return Run('teacher', 0, teacher_config(args.detector),
               osp.join(args.work_dir, study_dir(args, 'teacher')),
               iter_schedule_options(args.teacher_iters) +
               synthetic_options(args))


def student_runs(args, methods: Dict[str, Method], checkpoint: str,
                 teacher_id: str) -> List[Run]:
    """Every method on every seed, distilled from ``checkpoint``; seed by
    seed, so that a study stopped part-way (its machine's time ended)
    leaves whole seeds to report, and within a seed the longer distilled
    runs first, so that the student alone fills the gaps."""
    split_dir = split_dir_of(args)
    student = iter_schedule_options(args.student_iters) + data_options(args)
    runs = []
    for seed in args.seeds:
        for name, method in methods.items():
            options = student + list(method.options)
            if method.distills:
                options += [TEACHER_OPTION + checkpoint,
                            # the student only; the teacher is evaluated once
                            'val_cfg.type=ValLoop']
            runs.append(
                Run(name, seed, config_of(method, args),
                    osp.join(split_dir, name, f'seed{seed}'), options,
                    teacher=teacher_id))
    runs.sort(key=lambda r: (r.seed, not methods[r.name].distills))
    return runs


def retrain_teacher(args, job: Run, record: Optional[Record],
                    teacher_id: str) -> tuple:
    """The record's teacher without its checkpoint: train it again. Returns
    the teacher and its id; when it comes out different from the recorded
    one, the runs distilled from that one no longer match and run again."""
    teacher = train_teacher(args, job, record)
    new_id = teacher_weights(teacher)
    if new_id != teacher_id:
        log(f'the teacher trained here (AP '
            f'{100 * teacher["metrics"]["coco/bbox_mAP"]:.1f}) is not '
            f'the recorded one: every distilled run is run again')
    return teacher, new_id


def train_teacher(args, job: Run, record: Optional[Record]) -> dict:
    """Train the teacher (not taken from the record, whose entry has no
    checkpoint) and record it."""
    log(f'teacher: {args.teacher_iters} iterations (trained once, then '
        f'reused from {job.work_dir})')
    teacher = run_all([job], jobs=1)[('teacher', 0)]
    teacher_weights(teacher)
    if record:
        record.add(job, teacher)
        record.save()
    return teacher


def main(argv=None) -> Optional[dict]:
    """Run the study; returns the search's result with ``--search`` (also
    in ``<split dir>/search/search.json``), else None."""
    args = parse_args(argv)
    os.chdir(REPO)
    start = time.time()
    teacher_job = teacher_run(args)
    record = Record(args.record, args.work_dir) if args.record else None
    if args.teacher_ckpt:
        teacher = dict(checkpoint=osp.abspath(args.teacher_ckpt),
                       metrics={k: -1 for _, k in METRICS})
        teacher_id = 'given:' + teacher['checkpoint']
        log(f'teacher: {teacher["checkpoint"]} (given, not evaluated)')
    else:
        teacher = finished(teacher_job, record)
        if teacher is None and not args.report_only:
            teacher = train_teacher(args, teacher_job, record)
        if teacher is None:
            raise SystemExit('[study] no finished teacher in the work dir '
                             'or the record')
        teacher_id = teacher_weights(teacher)
    checkpoint = teacher['checkpoint']
    split_dir = split_dir_of(args)
    if args.search:
        if not osp.exists(checkpoint):  # its result.json outlived it
            checkpoint = train_teacher(args, teacher_job, None)['checkpoint']
        # the search keeps its own trainings (Optuna storage), no record
        result = run_search(args, checkpoint)
        chosen = result['chosen']
        print('\nChosen: ' + (json.dumps(dict(
            method=chosen['method'], setting=chosen['setting'],
            tuning_ap=round(100 * chosen['mean'], 2))) if chosen else
            'none yet') + f'; done: {result["done"]}; cost: '
            f'{result["cost"]["iters"]} training iterations in '
            f'{result["cost"]["trainings"]} trainings '
            f'({result["cost"]["pruned"]} pruned)', flush=True)
        log(f'done in {(time.time() - start) / 60:.1f} min; '
            f'{osp.join(split_dir, "search", "search.json")}')
        return result
    methods = variants(args, select(args.methods))
    runs = student_runs(args, methods, checkpoint, teacher_id)
    todo = [r for r in runs if not finished(r, record)]
    if not args.report_only and not osp.exists(checkpoint) and any(
            methods[r.name].distills for r in todo):
        teacher, teacher_id = retrain_teacher(args, teacher_job, record,
                                              teacher_id)
        runs = student_runs(args, methods, checkpoint, teacher_id)
    if args.report_only:
        results = {(r.name, r.seed): finished(r, record) for r in runs}
        results = {k: v for k, v in results.items() if v}
    else:
        log(f'{len(runs)} student runs, {args.jobs} at a time')
        results = run_all(runs, args.jobs, args.threads, record)
    if record:
        for run in [teacher_job] * (not args.teacher_ckpt) + runs:
            res = teacher if run is teacher_job else \
                results.get((run.name, run.seed))
            if res:
                record.add(run, res)
        record.save()

    os.makedirs(split_dir, exist_ok=True)
    text = report(args, methods, results, teacher,
                  (time.time() - start) / 60, split_dir)
    with open(osp.join(split_dir, 'results.md'), 'w',
              encoding='utf-8') as f:
        f.write(text)
    tuned = list(tuned_settings(args))
    write_table_json(
        osp.join(split_dir, f'accuracy_study_{args.regime}_{args.detector}'
                 f'{student_suffix(args.student)}.json'),
        args, methods, results, tuned)
    print('\n' + text, flush=True)
    log(f'done in {(time.time() - start) / 60:.1f} min; report, plot and '
        f'runs in {split_dir}')
    return None


if __name__ == '__main__':
    main()
