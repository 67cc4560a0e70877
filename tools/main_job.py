# Copyright (c) sekd-mm contributors. All rights reserved.
"""The main job: teacher -> SEKD student, PKD student and the student
alone, on the embedded synthetic dataset, evaluated with COCO metrics.

    python tools/main_job.py [--work-dir work_dirs/main_job] [--seed 0]
        [--teacher-iters N] [--student-iters N] [--teacher-ckpt CKPT]
        [--num-train N] [--num-val N] [--img-scale N] [--threads N]

The defaults are the setting of the accuracy study's ``cpu`` preset
(``benchmarks/accuracy_study.py``, one seed): a RetinaNet R-34 teacher
trained for 1500 iterations, then an R-18 half-width student trained for
300 iterations with SEKD, with MMRazor's PKD and alone, on 1024 train / 512
val images at 96 px. Every stage runs the project's own tools
(``tools/train.py``, ``tools/test.py``) in a subprocess, exactly as a user
would, and keeps its logs and checkpoints under ``--work-dir``:

    teacher/            tools/train.py  configs/embedded/retinanet_r34_...
    sekd_student/       tools/train.py  configs/sekd/sekd_retinanet_r34_...
    pkd_student/        tools/train.py  configs/peers/pkd_retinanet_r34_...
    student_alone/      tools/train.py  configs/embedded/retinanet_r18-w32_...
    */metrics.json      tools/test.py --metrics-out (COCO bbox metrics)
    results.md, results.json   the comparison table
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

from sekd_mm.datasets import synthetic_cfg_options
from sekd_mm.engine import iter_schedule_options

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = dict(
    teacher='configs/embedded/retinanet_r34_synthetic.py',
    sekd_student='configs/sekd/sekd_retinanet_r34_retinanet_r18-w32_'
    'synthetic.py',
    pkd_student='configs/peers/pkd_retinanet_r34_retinanet_r18-w32_'
    'synthetic.py',
    student_alone='configs/embedded/retinanet_r18-w32_synthetic.py')
LABELS = dict(
    teacher='Teacher RetinaNet R-34 (FPN 128)',
    student_alone='Student R-18 w32 alone',
    sekd_student='Student R-18 w32 + SEKD',
    pkd_student='Student R-18 w32 + PKD (MMRazor)')
#: The accuracy study's ``cpu`` preset (benchmarks/accuracy_study.py).
DEFAULTS = dict(img_scale=96, num_train=1024, num_val=512,
                teacher_iters=1500, student_iters=300)
METRICS = [('AP', 'coco/bbox_mAP'), ('AP50', 'coco/bbox_mAP_50'),
           ('AP75', 'coco/bbox_mAP_75'), ('APs', 'coco/bbox_mAP_s'),
           ('APm', 'coco/bbox_mAP_m'), ('APl', 'coco/bbox_mAP_l')]
PROGRESS = ('Iter(train)', 'Iter(val)', 'bbox_mAP_copypaste', 'Error',
            'error:', 'Traceback')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/main_job')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--teacher-ckpt', help='use this teacher instead of training one')
    for key, value in DEFAULTS.items():
        parser.add_argument('--' + key.replace('_', '-'), type=int,
                            default=value, help=f'default {value}')
    parser.add_argument(
        '--data-root', default='data/sekd_synthetic_study/',
        help='where the synthetic dataset is generated')
    parser.add_argument(
        '--threads', type=int,
        help='torch threads of each step (default: OMP_NUM_THREADS, else '
        'all cores); steps run one at a time')
    return parser.parse_args(argv)


def log(msg: str, tool: str = 'main_job') -> None:
    print(f'[{tool} {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def run(cmd, log_file: str, tool: str = 'main_job') -> None:
    """Run a tool, keep its full output in ``log_file`` and show progress
    (``tool`` names the caller in the messages)."""
    log('$ ' + ' '.join(cmd), tool)
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    with open(log_file, 'w', encoding='utf-8') as out:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True)
        for line in proc.stdout:
            out.write(line)
            if any(key in line for key in PROGRESS):
                # drop MMEngine's '11/21 22:14:52 - mmengine - INFO - '
                print('    ' + line.rstrip().split(' - INFO - ')[-1][:150],
                      flush=True)
        rc = proc.wait()
    if rc != 0:
        raise SystemExit(f'[{tool}] step failed (exit {rc}); full log: '
                         f'{log_file}')


def common_options(args) -> list:
    return synthetic_cfg_options(
        data_root=args.data_root, img_scale=args.img_scale,
        num_train=args.num_train, num_val=args.num_val)


def cfg_args(opts) -> list:
    """``--cfg-options`` and its values, or nothing when there are none."""
    return ['--cfg-options', *opts] if opts else []


def last_checkpoint(work_dir: str) -> str:
    with open(osp.join(work_dir, 'last_checkpoint'), encoding='utf-8') as f:
        return f.read().strip()


def train(name: str, args, extra=()) -> str:
    work_dir = osp.join(args.work_dir, name)
    os.makedirs(work_dir, exist_ok=True)
    iters = args.teacher_iters if name == 'teacher' else args.student_iters
    cmd = [
        sys.executable, 'tools/train.py', CONFIGS[name], '--work-dir',
        work_dir, '--seed',
        str(args.seed)
    ] + threads_args(args.threads) + cfg_args(
        iter_schedule_options(iters) + common_options(args) + list(extra))
    run(cmd, osp.join(work_dir, 'train.log'))
    return last_checkpoint(work_dir)


def evaluate(name: str, ckpt: str, args) -> dict:
    """COCO metrics of ``ckpt`` from ``tools/test.py``; all 0 when no box
    passes the score threshold."""
    work_dir = osp.join(args.work_dir, name)
    os.makedirs(work_dir, exist_ok=True)  # a given teacher was not trained
    out = osp.join(work_dir, 'metrics.json')
    cmd = [
        sys.executable, 'tools/test.py', CONFIGS[name], ckpt, '--work-dir',
        osp.join(work_dir, 'test'), '--metrics-out', out
    ] + threads_args(args.threads) + cfg_args(common_options(args))
    run(cmd, osp.join(work_dir, 'test.log'))
    with open(out, encoding='utf-8') as f:
        return zero_if_empty(json.load(f), name)


def zero_if_empty(metrics: dict, name: str, tool: str = 'main_job') -> dict:
    """``metrics``, or every COCO metric at 0 when there are none: mmdet's
    CocoMetric returns nothing when no box passes the score threshold."""
    if metrics:
        return metrics
    log(f'{name}: no detections above the score threshold; AP = 0', tool)
    return {key: 0.0 for _, key in METRICS}


def threads_args(threads) -> list:
    """``--threads N`` for the tools, or nothing (their default)."""
    return [] if threads is None else ['--threads', str(threads)]


def table(results: dict, labels: dict = LABELS) -> str:
    """COCO metrics (x100) of the teacher and the students, then each
    distilled student minus the student alone (``labels``: row names)."""
    head = '| Model | ' + ' | '.join(m for m, _ in METRICS) + ' |'
    rows = [head, '|' + '---|' * (len(METRICS) + 1)]

    def fmt(v):
        return 'n/a' if v < 0 else f'{100 * v:.1f}'

    for name in ('teacher', 'student_alone', 'sekd_student', 'pkd_student'):
        if name in results:
            vals = [fmt(results[name][k]) for _, k in METRICS]
            rows.append(f'| {labels[name]} | ' + ' | '.join(vals) + ' |')
    for name, label in (('sekd_student', 'SEKD'), ('pkd_student', 'PKD')):
        if 'student_alone' not in results or name not in results:
            continue
        deltas = []
        for _, k in METRICS:
            a, b = results['student_alone'][k], results[name][k]
            deltas.append('n/a' if min(a, b) < 0 else f'{100 * (b - a):+.1f}')
        rows.append(f'| {label} - alone | ' + ' | '.join(deltas) + ' |')
    return '\n'.join(rows)


def write_report(work_dir: str, report: str, **fields) -> None:
    """``results.md`` (the report) and ``results.json`` (``fields``) in
    ``work_dir``."""
    with open(osp.join(work_dir, 'results.md'), 'w', encoding='utf-8') as f:
        f.write(report)
    with open(osp.join(work_dir, 'results.json'), 'w',
              encoding='utf-8') as f:
        json.dump(fields, f, indent=2)


def main(argv=None):
    args = parse_args(argv)
    args.work_dir = osp.abspath(args.work_dir)
    os.makedirs(args.work_dir, exist_ok=True)
    start = time.time()
    results = {}

    if args.teacher_ckpt:
        teacher_ckpt = osp.abspath(args.teacher_ckpt)
        log(f'[1/5] using teacher {teacher_ckpt}')
    else:
        log(f'[1/5] training the teacher ({args.teacher_iters} iterations)')
        teacher_ckpt = train('teacher', args)
    results['teacher'] = evaluate('teacher', teacher_ckpt, args)

    ckpts = {}
    log('[2/5] distilling the student with SEKD')
    ckpts['sekd_student'] = train('sekd_student', args,
                                  [f'model.teacher_ckpt={teacher_ckpt}'])
    log('[3/5] distilling the student with MMRazor\'s PKD')
    ckpts['pkd_student'] = train('pkd_student', args,
                                 [f'model.teacher_ckpt={teacher_ckpt}'])
    log('[4/5] training the same student alone (same seed and schedule)')
    ckpts['student_alone'] = train('student_alone', args)

    log('[5/5] evaluating the students with COCO metrics')
    for name, ckpt in ckpts.items():
        results[name] = evaluate(name, ckpt, args)

    text = table(results)
    minutes = (time.time() - start) / 60
    report = (f'# SEKD on the embedded synthetic dataset\n\n'
              f'COCO bbox metrics on {args.num_val} val images (x100), '
              f'seed {args.seed}; teacher {args.teacher_iters} iterations, '
              f'students {args.student_iters} iterations at '
              f'{args.img_scale} px; {minutes:.1f} min on this machine.\n\n'
              f'{text}\n')
    write_report(args.work_dir, report, results=results, seed=args.seed,
                 minutes=minutes)
    print('\n' + report, flush=True)
    log(f'done in {minutes:.1f} min; everything is in {args.work_dir}')


if __name__ == '__main__':
    main()
