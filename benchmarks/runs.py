# Copyright (c) sekd-mm contributors. All rights reserved.
"""The accuracy study's run bookkeeping (``benchmarks/accuracy_study.py``):
one ``tools/train.py`` run (:class:`Run`), what identifies it (a digest of
its resolved config, and of its teacher's weights), the record of finished
runs that is committed (:class:`Record`), the job runner
(:func:`run_all`) and what a finished run's MMEngine scalars give
(:func:`read_scalars`).

A run whose ``result.json`` holds the same command, the same config digest
(of the config file with its options applied, so that editing a config's
defaults also counts) and the same teacher is not run again; nor is a run
that the record holds under the same :attr:`Run.record_digest`.
"""
import hashlib
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

from methods import parse_cfg_options

from sekd_mm.apis import (RUNNER_KEYS, last_checkpoint, metrics_of, pipeline,
                          read_records, scalar_files, train_args, zero_metrics)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: The cfg-option that gives a distilled run its teacher's checkpoint.
TEACHER_OPTION = 'model.teacher_ckpt='


def log(msg: str) -> None:
    pipeline.log(msg, 'study')


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
        """The run's ``result.json`` if it holds the same command, config
        digest and teacher, else None."""
        if not osp.exists(self.result_file):
            return None
        with open(self.result_file, encoding='utf-8') as f:
            result = json.load(f)
        if (result.get('args'), result.get('config_digest'),
                result.get('teacher')) != (self.args, self.config_digest,
                                           self.teacher):
            return None
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
    the study did not write itself comes from. Entries no run asks for
    (e.g. of a method that no longer exists) are kept as they are."""

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
