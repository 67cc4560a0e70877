# Copyright (c) sekd-mm contributors. All rights reserved.
"""The main job: teacher -> SEKD student, PKD student and the student
alone, on the embedded synthetic dataset, evaluated with COCO metrics.

    sekd-mm main-job [--work-dir work_dirs/main_job] [--seed 0]
        [--teacher-iters N] [--student-iters N] [--teacher-ckpt CKPT]
        [--num-train N] [--num-val N] [--img-scale N] [--threads N]

(also ``python -m sekd_mm.cli.main_job``, ``python tools/main_job.py`` and
``bash tools/run_main.sh``, which sets up the environment first).
The defaults are the setting of the accuracy study's ``cpu`` preset
(``benchmarks/accuracy_study.py``, one seed): a RetinaNet R-34 teacher
trained for 1500 iterations, then an R-18 half-width student trained for
300 iterations with SEKD, with MMRazor's PKD and alone, on 1024 train / 512
val images at 96 px. Every stage runs the package's own commands
(``sekd-mm train``, ``sekd-mm test``) in a subprocess, exactly as a user
would (the steps of :mod:`sekd_mm.apis.pipeline`, shared with
``sekd-mm distill`` and the study), and keeps its logs and checkpoints
under ``--work-dir``:

    teacher/            train  configs/embedded/retinanet_r34_...
    sekd_student/       train  configs/sekd/sekd_retinanet_r34_...
    pkd_student/        train  configs/peers/pkd_retinanet_r34_...
    student_alone/      train  configs/embedded/retinanet_r18-w32_...
    */metrics.json      test --metrics-out (COCO bbox metrics)
    results.md, results.json   the comparison table

A source checkout adds the committed fair study's table to the report.
"""
import argparse
import json
import os
import os.path as osp
import time
from typing import Optional, Sequence

from sekd_mm.apis import (EMBEDDED_CONFIGS, Stage, distill_table, evaluate,
                          log, results_table, stage_labels, synthetic_options,
                          write_report)
from sekd_mm.cli.args import add_threads, command_parser
from sekd_mm.engine import iter_schedule_options
from sekd_mm.utils import config_path, package_file

TOOL = 'main_job'
#: The accuracy study's ``cpu`` preset (benchmarks/accuracy_study.py).
DEFAULTS = dict(img_scale=96, num_train=1024, num_val=512,
                teacher_iters=1500, student_iters=300)


def add_arguments(parser: argparse.ArgumentParser) -> None:
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
    add_threads(parser, 'each step (steps run one at a time)')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = command_parser(__doc__)
    add_arguments(parser)
    return parser.parse_args(argv)


def stages(args):
    """The teacher's and the students' stages on the synthetic dataset."""
    data = synthetic_options(args)

    def stage(name, iters, what, distills=False):
        return Stage(name, config_path(EMBEDDED_CONFIGS[name]), iters, what,
                     iter_schedule_options(iters) + data, distills)

    teacher = stage('teacher', args.teacher_iters, 'training the teacher')
    students = [
        stage('sekd_student', args.student_iters,
              'distilling the student with SEKD', True),
        stage('pkd_student', args.student_iters,
              'distilling the student with MMRazor\'s PKD', True),
        stage('student_alone', args.student_iters,
              'training the same student alone (same seed and schedule)')
    ]
    return teacher, students


#: The fair study's table (benchmarks/accuracy_study.py), committed in
#: the source repository (not installed with the package).
FAIR_STUDY = 'docs/results/accuracy_study_short_retinanet.json'


def fair_study_table(path: str = FAIR_STUDY) -> str:
    """The committed fair study as markdown: every row of the same
    student and teacher at the setting the same-choices search chose for it
    on the tuning seeds, its mean ΔAP over the student alone (paired by
    seed) on the reported seeds. The run above is one seed of SEKD as
    shipped against PKD at MMRazor's published setting. Outside a source
    checkout, a line that says where the table is."""
    try:
        source = package_file(*path.split('/'))
    except FileNotFoundError:
        return (f'The fair study (every method at its searched setting) is '
                f'in the source repository: {path}.\n')
    with open(source, encoding='utf-8') as f:
        table = json.load(f)
    seeds = ', '.join(map(str, table['seeds']))
    lines = [
        f'## The fair study ({path})', '',
        f'Every method of the {table["detector"]} pair at the setting the '
        f'same-choices search chose on the tuning seeds (loss-weight factor, '
        f'FPN levels, warm-up); ΔAP over the student alone, mean ± std over '
        f'seeds {seeds}, paired by seed.', '',
        '| method | chosen setting | AP | ΔAP vs alone |', '|---|---|---|---|']
    for row in table['methods'].values():
        chosen = row.get('tuning', {}).get('chosen')
        levels = dict(no_small='first three levels').get(
            chosen and chosen['levels'], 'all levels')
        setting = '' if not chosen else (
            f"x{chosen['factor']:g}, {levels}, warm-up {chosen['warmup']}")
        delta = '' if not row['delta_ap_mean'] else \
            f"{row['delta_ap_mean']:+.1f} ± {row['delta_ap_std']:.1f}"
        lines.append(f"| {row['label']} | {setting} | "
                     f"{row['ap_mean']:.1f} ± {row['ap_std']:.1f} | {delta} |")
    return '\n'.join(lines) + '\n'


def run(args: argparse.Namespace) -> None:
    args.work_dir = osp.abspath(args.work_dir)
    os.makedirs(args.work_dir, exist_ok=True)
    start = time.time()
    data = synthetic_options(args)

    def coco_metrics(stage: Stage, ckpt: str) -> dict:
        return evaluate(stage.config, ckpt,
                        osp.join(args.work_dir, stage.name),
                        cfg_options=data, threads=args.threads, tool=TOOL)

    teacher, students = stages(args)
    _, results = distill_table(
        teacher, students, args.work_dir, coco_metrics,
        teacher_ckpt=args.teacher_ckpt and osp.abspath(args.teacher_ckpt),
        seed=args.seed, threads=args.threads, tool=TOOL)

    text = results_table(results, stage_labels('retinanet'))
    minutes = (time.time() - start) / 60
    fair = fair_study_table()
    report = (f'# SEKD on the embedded synthetic dataset\n\n'
              f'COCO bbox metrics on {args.num_val} val images (x100), '
              f'seed {args.seed}; teacher {args.teacher_iters} iterations, '
              f'students {args.student_iters} iterations at '
              f'{args.img_scale} px; {minutes:.1f} min on this machine.\n\n'
              f'{text}\n\n{fair}')
    write_report(args.work_dir, report, results=results, seed=args.seed,
                 minutes=minutes)
    print('\n' + report, flush=True)
    log(f'done in {minutes:.1f} min; everything is in {args.work_dir}',
        TOOL)


def main(argv: Optional[Sequence[str]] = None) -> None:
    run(parse_args(argv))


if __name__ == '__main__':
    main()
