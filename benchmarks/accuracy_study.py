# Copyright (c) sekd-mm contributors. All rights reserved.
"""Accuracy study: SEKD, its ablations, EGA and MMRazor's detection
distillers side by side on the embedded synthetic dataset.

    python benchmarks/accuracy_study.py [--preset cpu|large]
        [--detector retinanet|faster-rcnn] [--student r18-w32|r18-w16|mbv2]
        [--split tune|report]
        [--regime short|long]
        [--seeds 0 1 2] [--methods alone sekd pkd ...] [--jobs N]
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
student alone), ``results.json`` and ``accuracy_study.png``. A run whose
``result.json`` holds the same command and the same resolved config (a
digest of the config file with its options applied, so that editing a
config's defaults also counts) is not run again, so an interrupted study
continues where it stopped, and changing a setting (or the teacher) reruns
what depends on it. Runs finished before the digest was recorded (before
2026-11-22) are matched on the command alone.

``--regime long`` trains every student 4x longer (:data:`REGIMES`), long
enough for the student alone to pass half the teacher's AP.

``--preset cpu`` (the default) fits in under an hour on 2 CPU cores;
``--preset large`` is the same study at full image size with 4x the data and
5x the iterations, for a GPU machine.

Tuning and reporting are separate (docs/results.md, "Protocol"):

* ``--split tune`` evaluates on a val set generated with another data seed
  (:data:`TUNE_DATA_SEED`, same size) and defaults to seeds 100, ...;
  ``--factors 0.3 1 3`` runs every method at each multiple of its loss
  weights (``benchmarks/methods.py``, :func:`weight_options`) and writes
  ``tuning.json``: the factor with the best mean AP, per method.
  ``--factors 0.3 1 3 sekd=1,3,10`` gives SEKD its own grid of the same
  size (e.g. one centred where its loss ratio to the detection loss lies).
* ``--split tune --search`` is the fair protocol (``benchmarks/tuning.py``):
  every tuned row gets the same factor grid, extended until its best value
  lies inside, then the same levels and warm-up choices at its best factor;
  ``tuning.json`` holds each row's ``tuning`` record (seeds, grid, chosen
  setting, the mean AP of every setting). Give it two or more seeds.
* ``--split report`` (the default) runs seeds 0, 1, 2 on the reported val
  set; ``--tuned tuning.json`` applies the chosen factors (and, from a
  ``--search``, the chosen levels and warm-up). Besides
  ``results.md`` it writes ``accuracy_study_<regime>_<detector>.json``.

A teacher is identified by a digest of its weights
(:func:`weights_digest`), not by its command: the same command gave a
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
and if it comes out different, every distilled run is run again.

Runs of a split live in ``<work-dir>/<regime>-<split>/<method>/seed<S>``;
the teacher (``<work-dir>/teacher``) is shared. Faster R-CNN's runs and
teacher live under ``<work-dir>/faster-rcnn/``.
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

from methods import (DEFAULT_STUDENT, DETECTORS, METHODS, STUDENTS, Method,
                     parse_cfg_options, select, student_suffix, teacher_config,
                     weight_options)
from tuning import (FACTOR_GRID, Setting, next_settings, setting_key,
                    tuning_record)

from sekd_mm.apis import (METRICS, RUNNER_KEYS, last_checkpoint, metrics_of,
                          pipeline, read_records, scalar_files,
                          synthetic_options, train_args, zero_metrics)
from sekd_mm.engine import iter_schedule_options

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
    parser.add_argument('--factors', nargs='+', default=['1'],
                        help='multiples of each method\'s loss weights; '
                        'METHOD=F,F,... gives one method its own grid '
                        '(e.g. 0.3 1 3 sekd=1,3,10)')
    parser.add_argument('--tuned',
                        help='tuning.json of a tune split: its factors (and '
                        'levels and warm-up, from --search)')
    parser.add_argument('--search', action='store_true',
                        help='with --split tune: the fair protocol of '
                        'benchmarks/tuning.py for every tuned method')
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


def log(msg: str) -> None:
    pipeline.log(msg, 'study')


class Run:
    """One ``tools/train.py`` run and its result."""

    def __init__(self, name: str, seed: int, config: str, work_dir: str,
                 options: List[str], teacher: str = '') -> None:
        self.name, self.seed, self.work_dir = name, seed, work_dir
        #: what identifies the teacher (:func:`weights_digest`) in
        #: :attr:`record_digest`, in place of its checkpoint's path
        self.teacher = teacher
        self.args = train_args(config, work_dir, seed, options)
        self.result_file = osp.join(work_dir, 'result.json')
        self.proc: Optional[subprocess.Popen] = None
        self.start = 0.0
        self.config, self.options = config, list(options)
        self._digest: Optional[str] = None
        self._record_digest: Optional[str] = None
        self._resolved = None

    @property
    def config_digest(self) -> str:
        """Digest of the config with the run's options applied."""
        if self._digest is None:
            self._digest = digest_of(self.resolved)
        return self._digest

    @property
    def resolved(self):
        """The run's config with its options applied (resolved once)."""
        if self._resolved is None:
            self._resolved = resolve_config(self.config, self.options)
        return self._resolved

    @property
    def warmup_iters(self) -> int:
        """The distillation losses' warm-up of the run's config
        (``model.distill_warmup_iters``; 0 without)."""
        return int(self.resolved.get('model', {}).get(
            'distill_warmup_iters', 0) or 0)

    @property
    def record_digest(self) -> str:
        """:attr:`config_digest`, but with the teacher's checkpoint path
        (which depends on the machine) replaced by :attr:`teacher`."""
        if self._record_digest is None:
            options = [f'{TEACHER_OPTION}teacher:{self.teacher}'
                       if o.startswith(TEACHER_OPTION) else o
                       for o in self.options]
            self._record_digest = config_digest(self.config, options)
        return self._record_digest

    def cached(self) -> Optional[dict]:
        if not osp.exists(self.result_file):
            return None
        with open(self.result_file, encoding='utf-8') as f:
            result = json.load(f)
        if result.get('args') != self.args:
            return None
        if result.get('config_digest', self.config_digest) != \
                self.config_digest:
            return None  # same command, but the config has changed
        if result.get('teacher', self.teacher) != self.teacher:
            return None  # another teacher at the same path
        # what the logs give is read again (a fix of read_scalars applies
        # to runs that finished before it)
        result.update(read_scalars(self.work_dir, self.warmup_iters))
        return result

    def launch(self, threads: int) -> None:
        os.makedirs(self.work_dir, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED='1',
                   OMP_NUM_THREADS=str(threads),
                   MKL_NUM_THREADS=str(threads))
        self.log_file = osp.join(self.work_dir, 'train.log')
        self.out = open(self.log_file, 'w', encoding='utf-8')
        self.start = time.time()
        self.proc = subprocess.Popen([sys.executable, *self.args], cwd=REPO,
                                     env=env, stdout=self.out,
                                     stderr=subprocess.STDOUT)

    def finish(self) -> dict:
        """Parse the run's MMEngine scalars into ``result.json``."""
        self.out.close()
        if self.proc.returncode != 0:
            raise RuntimeError(f'{self.name} seed {self.seed} failed (exit '
                               f'{self.proc.returncode}); log: '
                               f'{self.log_file}')
        result = dict(args=self.args, config_digest=self.config_digest,
                      teacher=self.teacher, seconds=time.time() - self.start,
                      **read_scalars(self.work_dir, self.warmup_iters))
        result['checkpoint'] = last_checkpoint(self.work_dir)
        with open(self.result_file, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=2)
        return result


TEACHER_OPTION = 'model.teacher_ckpt='


class Record:
    """Finished runs of a study kept in a JSON file (``--record``), keyed
    by the run's directory relative to the work dir
    (``<regime>-<split>/<method>/seed<S>``, ``teacher``)::

        {"runs": {KEY: {"digest", "metrics", "sec_per_iter",
                        "distill_over_task", "distill_over_task_on",
                        "seconds", "checkpoint",
                        "weights"? (the teacher), "note"?}}}

    Work dirs are not kept between machines; the record is, so that a
    study is reported, and continued, without running again what it
    holds. An entry is used only under the same :attr:`Run.record_digest`
    (same config, options and teacher); ``note`` says where an entry that
    the study did not write itself comes from."""

    def __init__(self, path: Optional[str], work_dir: str) -> None:
        self.path, self.work_dir = path, work_dir
        self.runs: Dict[str, dict] = {}
        self.added: set = set()  # keys this study ran (see save)
        if path and osp.exists(path):
            with open(path, encoding='utf-8') as f:
                self.runs = json.load(f)['runs']

    def key(self, run: Run) -> str:
        return osp.relpath(run.work_dir, self.work_dir)

    def get(self, run: Run) -> Optional[dict]:
        entry = self.runs.get(self.key(run))
        if not entry or entry['digest'] != run.record_digest:
            return None
        return dict(entry, recorded=True,
                    checkpoint=osp.join(osp.abspath(run.work_dir),
                                        entry.get('checkpoint', '')))

    def add(self, run: Run, result: dict) -> None:
        if result.get('recorded'):
            return
        key = self.key(run)
        self.runs[key] = dict(
            digest=run.record_digest, metrics=result['metrics'],
            sec_per_iter=result['sec_per_iter'],
            distill_over_task=result['distill_over_task'],
            distill_over_task_on=result.get('distill_over_task_on'),
            seconds=result.get('seconds'),
            checkpoint=osp.basename(result.get('checkpoint', '')),
            **{k: result[k] for k in ('weights', ) if k in result})
        self.added.add(key)

    def save(self) -> None:
        """Write the file again: what it holds now (another study may
        share it, e.g. one per split or per group of methods) updated with
        the runs this study added, under a lock, replaced atomically."""
        if not self.path:
            return
        import fcntl
        os.makedirs(osp.dirname(osp.abspath(self.path)), exist_ok=True)
        with open(self.path + '.lock', 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if osp.exists(self.path):
                with open(self.path, encoding='utf-8') as f:
                    on_disk = json.load(f)['runs']
                self.runs = dict(on_disk, **{k: self.runs[k]
                                             for k in self.added})
            tmp = f'{self.path}.{os.getpid()}.tmp'
            with open(tmp, 'w', encoding='utf-8') as f:
                json.dump(dict(runs=dict(sorted(self.runs.items()))), f,
                          indent=1)
                f.write('\n')
            os.replace(tmp, self.path)


def weights_digest(checkpoint: str) -> str:
    """SHA-256 (16 hex digits) of a checkpoint's ``state_dict`` (names,
    dtypes, shapes and values; not its meta or optimizer state): what
    identifies a teacher. The same command does not give the same teacher
    on every machine (the study's teacher, retrained with the same command
    on another CPU on 2026-11-30, had 41.4 AP, not 42.5)."""
    import torch

    import sekd_mm.compat as compat
    compat.allow_mmengine_checkpoints()
    state = torch.load(checkpoint, map_location='cpu', weights_only=True)
    state = state.get('state_dict', state)
    sha = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().contiguous()
        sha.update(f'{name}:{tensor.dtype}:{tuple(tensor.shape)};'.encode())
        sha.update(tensor.view(-1).view(torch.uint8).numpy().tobytes()
                   if tensor.numel() else b'')
    return sha.hexdigest()[:16]


def resolve_config(config: str, options: List[str]):
    """``config`` (relative to the repository or absolute) with the
    cfg-``options`` applied, as ``tools/train.py`` resolves it."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.merge_from_dict(parse_cfg_options(options))
    return cfg


def digest_of(cfg) -> str:
    """SHA-256 (16 hex digits) of a resolved config's :data:`RUNNER_KEYS`
    (the bases' helper variables configure nothing: a peer's run does not
    change when a variable of SEKD's base file does)."""
    runner = {k: v for k, v in cfg.to_dict().items() if k in RUNNER_KEYS}
    text = json.dumps(runner, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def config_digest(config: str, options: List[str]) -> str:
    """:func:`digest_of` the resolved ``config`` with ``options``."""
    return digest_of(resolve_config(config, options))


def distill_over_task(rec: dict) -> float:
    """Distillation terms over the detector's losses in one logged record
    (Faster R-CNN also logs ``acc``, in %, which is not a loss)."""
    distill = sum(v for k, v in rec.items() if k.startswith('distill.'))
    task = sum(v for k, v in rec.items()
               if k.startswith(('student.', 'loss_')) and 'loss' in k)
    return distill / task if task else 0.0


def read_scalars(work_dir: str, warmup_iters: int = 0) -> dict:
    """COCO metrics of the final evaluation, seconds per iteration, and the
    share of distillation in the loss: over the first logged iterations
    (``distill_over_task``) and at the first logged iteration at which
    every distillation weight is on, i.e. past ``warmup_iters``
    (``distill_over_task_on``; the same for a method without warm-up)."""
    files = scalar_files(work_dir)
    if not files:
        raise RuntimeError(f'no MMEngine scalars under {work_dir}')
    records = read_records(files[-1])
    train = [rec for rec in records
             if 'loss' in rec and 'coco/bbox_mAP' not in rec]
    # mmdet's CocoMetric logs nothing when no box passes score_thr
    metrics = metrics_of(records) or zero_metrics()
    on = [rec for rec in train if rec.get('iter', 0) > warmup_iters]
    times = [rec['time'] for rec in train[1:]] or [0.0]
    return dict(metrics=metrics, sec_per_iter=statistics.mean(times),
                distill_over_task=distill_over_task(train[0] if train
                                                    else {}),
                distill_over_task_on=distill_over_task(on[0] if on else {}))


def finished(run: Run, record: Optional[Record]) -> Optional[dict]:
    """The run's result from its work dir, else from the record."""
    return run.cached() or (record.get(run) if record else None)


def run_all(runs: List[Run], jobs: int, threads: Optional[int] = None,
            record: Optional[Record] = None) -> Dict[tuple, dict]:
    """Run what is not finished (:func:`finished`), ``jobs`` at a time
    with ``threads`` torch threads each (default: cores / jobs); returns
    the results of every run that finished, keyed by (name, seed), and
    adds each new one to ``record`` (saved as it goes)."""
    results, todo = {}, []
    for run in runs:
        cached = finished(run, record)
        if cached:
            results[(run.name, run.seed)] = cached
        else:
            todo.append(run)
    if len(todo) < len(runs):
        recorded = sum(bool(r.get('recorded')) for r in results.values())
        log(f'{len(runs) - len(todo)} run(s) already done (result.json; '
            f'{recorded} of them from the record)')
    threads = threads or max(1, (os.cpu_count() or 1) // max(jobs, 1))
    running, failed, done = [], [], 0
    while todo or running:
        while todo and len(running) < jobs:
            run = todo.pop(0)
            run.launch(threads)
            running.append(run)
            log(f'start {run.name} seed {run.seed} ({threads} threads): '
                f'{run.log_file}')
        time.sleep(1.0)
        for run in [r for r in running if r.proc.poll() is not None]:
            running.remove(run)
            done += 1
            try:
                res = run.finish()
            except RuntimeError as err:
                failed.append(str(err))
                log(f'FAILED {err}')
                continue
            results[(run.name, run.seed)] = res
            if record:
                record.add(run, res)
                record.save()
            ap = 100 * res['metrics']['coco/bbox_mAP']
            log(f'[{done}/{done + len(todo) + len(running)}] {run.name} '
                f'seed {run.seed}: AP {ap:.1f} in {res["seconds"]:.0f} s')
    if failed:
        raise SystemExit('[study] failed runs:\n' + '\n'.join(failed))
    return results


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
        cells = [summarize([r['metrics'].get(k) for r in res])
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
        cells += [delta, better, f'{share:.2f}' if share else '',
                  f'{share_on:.2f}' if share_on else '',
                  f'{speed:.2f}' if speed else '']
        rows.append(f'| {method.label} | ' + ' | '.join(cells) + ' |')
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


def tuned_settings(args) -> Dict[str, Setting]:
    """``--tuned``'s setting of every method that has one (its own, or its
    ``tuned_as`` method's): a ``--search``'s chosen factor, levels and
    warm-up, or an older tuning.json's factor (levels and warm-up as
    configured, ``None``); empty without ``--tuned``."""
    tuning = read_tuned(args)
    if not tuning:
        return {}
    chosen = {name: Setting(factor, None, None)
              for name, factor in tuning['factors'].items()}
    for name, row in tuning.get('rows', {}).items():
        chosen[name] = Setting(**row['chosen'])
    out = {}
    for name, method in select(None).items():
        source = name if name in chosen else method.tuned_as
        if source in chosen:
            out[name] = chosen[source]
    return out


def read_tuned(args) -> dict:
    """The ``--tuned`` tuning.json (empty without ``--tuned``)."""
    if not args.tuned:
        return {}
    with open(args.tuned, encoding='utf-8') as f:
        return json.load(f)


def config_of(method: Method, args) -> str:
    """``method``'s config for the study's detector and student."""
    return method.config(args.detector, args.student)


def at_setting(method: Method, setting: Setting, args) -> Method:
    """``method`` at ``setting``: its levels and warm-up (kept as
    configured where None, or where the method has no level choice), then
    its loss weights times the factor."""
    levels = setting.levels if method.level_key else None
    method = method.setting(levels=levels, warmup=setting.warmup)
    return method._replace(options=tuple(
        weight_options(method, config_of(method, args), setting.factor)))


def factor_grid(factors: List[str], name: str) -> List[float]:
    """The weight factors ``--factors`` gives method ``name``: its own
    ``name=F,F,...`` grid if it has one, else the plain numbers."""
    plain, own = [], {}
    for item in factors:
        key, sep, grid = item.partition('=')
        try:
            values = [float(v) for v in (grid if sep else key).split(',')]
        except ValueError:
            raise SystemExit(f'[study] --factors {item!r}: expected a '
                             f'number or METHOD=F,F,... (e.g. sekd=1,3,10)')
        if sep:
            own[key] = values
        else:
            plain += values
    unknown = set(own) - set(METHODS)
    if unknown:
        raise SystemExit(f'[study] --factors names unknown methods '
                         f'{sorted(unknown)}; known: {sorted(METHODS)}')
    return own.get(name, plain or [1.0])


def variants(args, methods: Dict[str, Method]) -> Dict[str, Method]:
    """The runs' methods: each at every ``--factors`` multiple of its loss
    weights (key ``name@x<factor>`` unless 1), or at the factor that
    ``--tuned`` chose for it (or, for an ablation, for its ``tuned_as``
    method; key ``name``)."""
    tuned = tuned_settings(args)
    out = {}
    for name, method in methods.items():
        if not method.distills:
            out[name] = method
            continue
        if args.tuned:
            out[name] = at_setting(
                method, tuned.get(name, Setting(1.0, None, None)), args)
            continue
        for factor in factor_grid(args.factors, name):
            key = name if factor == 1 else f'{name}@x{factor:g}'
            label = method.label if key == name else \
                f'{method.label} x{factor:g}'
            out[key] = at_setting(method, Setting(factor, None, None),
                                  args)._replace(label=label)
    return out


def searched(args, methods: Dict[str, Method],
             settings: Dict[str, List[Setting]]) -> Dict[str, Method]:
    """The runs' methods of a ``--search``: every tuned method at each of
    its settings (key :func:`~tuning.setting_key`), the others as they
    are."""
    out = {}
    for name, method in methods.items():
        if name not in settings:
            out[name] = method
            continue
        for setting in settings[name]:
            key = setting_key(name, setting)
            out[key] = at_setting(method, setting, args)._replace(
                label=f'{method.label} {key[len(name) + 1:]}')
    return out


def mean_aps(results: Dict[tuple, dict], keys, seeds) -> Dict[str, float]:
    """Mean AP (x100) over ``seeds`` of each key that finished on all."""
    out = {}
    for key in keys:
        res = [results.get((key, s)) for s in seeds]
        if all(res):
            out[key] = 100 * statistics.mean(
                r['metrics']['coco/bbox_mAP'] for r in res)
    return out


def run_search(args, methods: Dict[str, Method], checkpoint: str,
               teacher_id: str, record: Optional['Record']):
    """The fair protocol (:mod:`tuning`) on the tuning seeds: rounds of
    runs until every tuned method's search is complete (with
    ``--report-only``: as far as the finished runs go). Returns the runs'
    methods, the results and each tuned method's settings."""
    settings = {
        name: [Setting(f) for f in FACTOR_GRID]
        for name, method in methods.items() if method.distills
    }
    while True:
        current = searched(args, methods, settings)
        runs = student_runs(args, current, checkpoint, teacher_id)
        if args.report_only:  # where the search stands: finished runs only
            results = {(r.name, r.seed): res for r in runs
                       if (res := finished(r, record))}
        else:
            log(f'search: {len(runs)} student runs, {args.jobs} at a time')
            results = run_all(runs, args.jobs, args.threads, record)
        aps = mean_aps(results, current, args.seeds)
        added = {
            name: next_settings(
                {s: aps.get(setting_key(name, s)) for s in tried},
                levels=bool(methods[name].level_key))
            for name, tried in settings.items()
        }
        if not any(added.values()):
            return current, results, settings
        for name, new in added.items():
            if new:
                log(f'search: {name} next: ' + ', '.join(
                    setting_key(name, s) for s in new))
            settings[name] += new


def write_search(path: str, results: Dict[tuple, dict],
                 settings: Dict[str, List[Setting]],
                 seeds: List[int]) -> dict:
    """``tuning.json`` of a ``--search``: each tuned row's ``tuning``
    record (:func:`~tuning.tuning_record`) and, for ``--tuned``, its chosen
    factor."""
    rows = {}
    for name, tried in settings.items():
        aps = mean_aps(results, [setting_key(name, s) for s in tried], seeds)
        by_setting = {s: aps[setting_key(name, s)] for s in tried
                      if setting_key(name, s) in aps}
        if by_setting:
            rows[name] = tuning_record(by_setting, seeds)
    tuning = dict(
        split='tune', protocol='search (benchmarks/tuning.py)', seeds=seeds,
        factors={n: r['chosen']['factor'] for n, r in rows.items()},
        rows=rows)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(tuning, f, indent=2)
    return tuning


def weight_tuning(path: str) -> dict:
    """The weight-grid ``tuning.json`` at ``path`` (empty where there is
    none); a search's (:func:`write_search`) there is an error, which
    :func:`main` raises before any run: a weight grid would overwrite its
    choices."""
    if not osp.exists(path):
        return {}
    with open(path, encoding='utf-8') as f:
        before = json.load(f)
    if 'rows' in before:
        raise SystemExit(
            f'[study] {path} holds a --search\'s choices: give this weight '
            'grid its own --work-dir, add --search to extend the search, or '
            '--tuned to run chosen settings')
    return before


def write_tuning(path: str, results: Dict[tuple, dict],
                 methods: Dict[str, Method], seeds: List[int]) -> dict:
    """Per method, the weight factor with the best mean AP over ``seeds``.
    A ``tuning.json`` already there for the same seeds keeps the factors
    it holds that this study did not run (methods tuned in another call);
    a search's (:func:`write_search`) is an error: this would overwrite its
    choices.
    """
    before = weight_tuning(path)
    aps: Dict[str, Dict[str, float]] = \
        before['ap'] if before.get('seeds') == seeds else {}
    for key in methods:
        res = [results[(key, s)] for s in seeds if (key, s) in results]
        if not res:
            continue
        base, _, factor = key.partition('@x')
        aps.setdefault(base, {})[factor or '1'] = 100 * statistics.mean(
            r['metrics']['coco/bbox_mAP'] for r in res)
    best = {base: float(max(ap, key=ap.get)) for base, ap in aps.items()
            if len(ap) > 1}
    tuning = dict(split='tune', seeds=seeds, factors=best, ap=aps)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(tuning, f, indent=2)
    return tuning


def write_table_json(path: str, args, methods: Dict[str, Method],
                     results: Dict[tuple, dict], tuned: List[str]) -> None:
    """The study's table in the schema of docs/results/ (AP x100): per
    method its mean, spread and per-seed AP, its paired gain over the
    student alone, and (from a ``--search``'s ``--tuned``) its ``tuning``
    record; the ``sekd`` row names the config its runs used."""
    seeds = args.seeds
    tuning = read_tuned(args).get('rows', {})
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


def teacher_weights(teacher: dict) -> str:
    """The teacher's :func:`weights_digest` (recorded, or computed once
    from its checkpoint and kept in its ``result.json``)."""
    if 'weights' not in teacher:
        if not osp.exists(teacher['checkpoint']):
            raise SystemExit(f'[study] the teacher\'s weights are not '
                             f'recorded and {teacher["checkpoint"]} is '
                             f'gone: run the study without --record once')
        teacher['weights'] = weights_digest(teacher['checkpoint'])
        result_file = osp.join(osp.dirname(teacher['checkpoint']),
                               'result.json')
        if osp.exists(result_file):
            with open(result_file, encoding='utf-8') as f:
                saved = json.load(f)
            saved['weights'] = teacher['weights']
            with open(result_file, 'w', encoding='utf-8') as f:
                json.dump(saved, f, indent=2)
    return teacher['weights']


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


def main(argv=None) -> None:
    args = parse_args(argv)
    os.chdir(REPO)
    start = time.time()
    weight_grid = args.split == 'tune' and not (args.search or args.tuned)
    if weight_grid:
        weight_tuning(osp.join(split_dir_of(args), 'tuning.json'))

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
        if not args.report_only and not osp.exists(checkpoint):
            teacher, teacher_id = retrain_teacher(args, teacher_job, record,
                                                  teacher_id)
        # run_search records each run as it finishes
        methods, results, settings = run_search(
            args, select(args.methods), checkpoint, teacher_id, record)
        runs = []
    else:
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
    if args.search:
        tuning = write_search(osp.join(split_dir, 'tuning.json'), results,
                              settings, args.seeds)
        text += '\nChosen per row: ' + json.dumps(
            {n: r['chosen'] for n, r in tuning['rows'].items()}) + '\n'
    elif weight_grid:
        tuning = write_tuning(osp.join(split_dir, 'tuning.json'), results,
                              methods, args.seeds)
        text += '\nBest weight factor per method: ' + json.dumps(
            tuning['factors']) + '\n'
    else:
        tuned = list(tuned_settings(args))
        write_table_json(
            osp.join(split_dir,
                     f'accuracy_study_{args.regime}_{args.detector}'
                     f'{student_suffix(args.student)}.json'),
            args, methods, results, tuned)
    print('\n' + text, flush=True)
    log(f'done in {(time.time() - start) / 60:.1f} min; report, plot and '
        f'runs in {split_dir}')


if __name__ == '__main__':
    main()
