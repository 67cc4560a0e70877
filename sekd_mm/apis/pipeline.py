# Copyright (c) sekd-mm contributors. All rights reserved.
"""The teacher -> students -> table pipeline of the project's jobs.

``sekd-mm main-job`` (the embedded synthetic dataset), ``sekd-mm
distill`` (a COCO or VOC folder) and ``benchmarks/accuracy_study.py`` (every
method on several seeds) train a teacher, distil students from it and
tabulate their COCO metrics. The steps they share are here. A step runs the
package's own command, ``python -m sekd_mm.cli.train`` or
``python -m sekd_mm.cli.test``, in a subprocess of the current interpreter,
from the current folder: each training has fresh registries and threads,
and an installed package needs no source checkout.

A run of :func:`distill_table` leaves, under its work dir::

    <stage>/train.log, <stage>/iter_N.pth, ...   the training of a stage
    <stage>/test.log, <stage>/metrics.json       its test (evaluate)
    results.md, results.json                     write_report
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import (Callable, Dict, Iterable, List, Mapping, Optional,
                    Sequence, Tuple)

#: The modules that train and test (``python -m <module>``).
TRAIN_MODULE, TEST_MODULE = 'sekd_mm.cli.train', 'sekd_mm.cli.test'
#: Table column and COCO metric key, in table order.
METRICS: List[Tuple[str, str]] = [
    ('AP', 'coco/bbox_mAP'), ('AP50', 'coco/bbox_mAP_50'),
    ('AP75', 'coco/bbox_mAP_75'), ('APs', 'coco/bbox_mAP_s'),
    ('APm', 'coco/bbox_mAP_m'), ('APl', 'coco/bbox_mAP_l')
]
#: Output lines of a running tool that are shown (all go to its log).
PROGRESS = ('Iter(train)', 'Iter(val)', 'bbox_mAP_copypaste', 'Error',
            'error:', 'Traceback')
#: The stages of ``sekd-mm main-job`` and ``sekd-mm distill``.
STAGES = ('teacher', 'sekd_student', 'pkd_student', 'student_alone')
#: Their configs for the embedded RetinaNet pair (R-34, FPN 128 -> R-18 at
#: half width, FPN 64), shipped configs named relative to ``configs/``
#: (:func:`sekd_mm.utils.config_path` gives the file); the Faster R-CNN
#: pair replaces ``retinanet``.
EMBEDDED_CONFIGS = dict(
    teacher='embedded/retinanet_r34_synthetic.py',
    sekd_student='sekd/sekd_retinanet_r34_retinanet_r18-w32_synthetic.py',
    pkd_student='peers/pkd_retinanet_r34_retinanet_r18-w32_synthetic.py',
    student_alone='embedded/retinanet_r18-w32_synthetic.py')
#: Top-level config keys MMEngine's Runner reads. The bases' helper
#: variables (``student_model``, ``sekd_spec``, ``data_root``, ...) are not
#: among them: they configure nothing by themselves, so they neither go into
#: a written config nor into a run's digest.
RUNNER_KEYS = frozenset((
    'model', 'train_dataloader', 'val_dataloader', 'test_dataloader',
    'train_cfg', 'val_cfg', 'test_cfg', 'optim_wrapper', 'param_scheduler',
    'val_evaluator', 'test_evaluator', 'default_hooks', 'custom_hooks',
    'load_from', 'resume', 'env_cfg', 'log_processor', 'log_level',
    'visualizer', 'default_scope', 'randomness', 'custom_imports',
    'find_unused_parameters', 'auto_scale_lr', 'model_wrapper_cfg',
    'data_preprocessor', 'experiment_name', 'launcher', 'work_dir'))
#: Delta rows of :func:`results_table`: distilled stage -> row name.
DELTAS = dict(sekd_student='SEKD', pkd_student='PKD')


@dataclass
class Stage:
    """One training run of the pipeline.

    Attributes:
        name: its folder under the work dir and its key in the results.
        config: the config file (absolute, or relative to the current
            folder), or the name of a shipped config (``sekd-mm train``).
        iters: its training iterations (for the progress line).
        what: what it does, for the progress line (e.g. ``'distilling the
            student with SEKD'``).
        cfg_options: ``key=value`` overrides of the config.
        distills: it distils from the pipeline's teacher: its cfg-options
            get ``model.teacher_ckpt=<the teacher's checkpoint>``.
    """
    name: str
    config: str
    iters: int
    what: str = ''
    cfg_options: List[str] = field(default_factory=list)
    distills: bool = False


def log(msg: str, tool: str) -> None:
    """Print ``[tool HH:MM:SS] msg``."""
    print(f'[{tool} {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def run_tool(cmd: Sequence[str], log_file: str, tool: str) -> None:
    """Run ``cmd`` from the current folder, keep its full output in
    ``log_file`` and show its progress lines (``tool`` names the caller).

    Raises:
        SystemExit: the command failed; the message names the log.
    """
    log('$ ' + ' '.join(cmd), tool)
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    with open(log_file, 'w', encoding='utf-8') as out:
        proc = subprocess.Popen(
            list(cmd),
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


def cfg_args(opts: Sequence[str]) -> List[str]:
    """``--cfg-options`` and its values, or nothing when there are none."""
    return ['--cfg-options', *opts] if opts else []


def threads_args(threads: Optional[int]) -> List[str]:
    """``--threads N`` for the commands, or nothing (their default)."""
    return [] if threads is None else ['--threads', str(threads)]


def synthetic_options(args) -> List[str]:
    """cfg-options of the embedded synthetic dataset of ``args``
    (``data_root``, ``img_scale``, ``num_train``, ``num_val``)."""
    from sekd_mm.datasets import synthetic_cfg_options
    return synthetic_cfg_options(
        data_root=args.data_root, img_scale=args.img_scale,
        num_train=args.num_train, num_val=args.num_val)


def train_args(config: str, work_dir: str, seed: Optional[int] = None,
               cfg_options: Sequence[str] = (),
               threads: Optional[int] = None) -> List[str]:
    """The arguments of ``python`` for one training run (``-m``
    :data:`TRAIN_MODULE`, ``sekd-mm train``)."""
    args = ['-m', TRAIN_MODULE, config, '--work-dir', work_dir]
    if seed is not None:
        args += ['--seed', str(seed)]
    return args + threads_args(threads) + cfg_args(cfg_options)


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint MMEngine saved last in ``work_dir``."""
    with open(osp.join(work_dir, 'last_checkpoint'), encoding='utf-8') as f:
        return f.read().strip()


def launch_args(launcher: str = 'none',
                nproc: Optional[int] = None) -> List[str]:
    """The interpreter's arguments that start a training under
    ``launcher``: none for ``'none'``; for ``'pytorch'`` torchrun
    (``torch.distributed.run``, as ``tools/dist_train.sh``) with ``nproc``
    processes per node (default: the visible GPUs, at least 1), the nodes
    from ``NNODES``, ``NODE_RANK``, ``MASTER_ADDR`` and ``PORT``."""
    if launcher == 'none':
        return []
    if launcher != 'pytorch':
        raise ValueError(f'launcher must be none or pytorch, got '
                         f'{launcher!r}')
    if nproc is None:
        import torch
        nproc = max(1, torch.cuda.device_count())
    env = os.environ.get
    return ['-m', 'torch.distributed.run', f'--nnodes={env("NNODES", "1")}',
            f'--node_rank={env("NODE_RANK", "0")}',
            f'--master_addr={env("MASTER_ADDR", "127.0.0.1")}',
            f'--nproc_per_node={nproc}',
            f'--master_port={env("PORT", "29500")}']


def train(config: str, work_dir: str, *, seed: Optional[int] = None,
          cfg_options: Sequence[str] = (), threads: Optional[int] = None,
          launcher: str = 'none', nproc: Optional[int] = None,
          tool: str = 'pipeline') -> str:
    """Train ``config`` (:func:`train_args`) into ``work_dir`` (log:
    ``train.log``), under ``launcher`` with ``nproc`` processes
    (:func:`launch_args`); returns its last checkpoint."""
    os.makedirs(work_dir, exist_ok=True)
    cmd = [sys.executable] + launch_args(launcher, nproc) + \
        train_args(config, work_dir, seed, cfg_options, threads)
    if launcher != 'none':
        cmd += ['--launcher', launcher]
    run_tool(cmd, osp.join(work_dir, 'train.log'), tool)
    return last_checkpoint(work_dir)


def evaluate(config: str, checkpoint: str, work_dir: str, *,
             cfg_options: Sequence[str] = (), threads: Optional[int] = None,
             tool: str = 'pipeline') -> dict:
    """COCO metrics of ``checkpoint`` from ``sekd-mm test`` (log:
    ``work_dir/test.log``, metrics: ``work_dir/metrics.json``); all 0 when
    no box passes the score threshold."""
    os.makedirs(work_dir, exist_ok=True)  # a given teacher was not trained
    out = osp.join(work_dir, 'metrics.json')
    run_tool([
        sys.executable, '-m', TEST_MODULE, config, checkpoint,
        '--work-dir', osp.join(work_dir, 'test'), '--metrics-out', out
    ] + threads_args(threads) + cfg_args(cfg_options),
             osp.join(work_dir, 'test.log'), tool)
    with open(out, encoding='utf-8') as f:
        return zero_if_empty(json.load(f), osp.basename(work_dir), tool)


def scalar_files(work_dir: str) -> List[str]:
    """MMEngine's ``scalars.json`` of every run in ``work_dir``, oldest
    first (the folders are timestamps)."""
    return sorted(glob.glob(osp.join(work_dir, '*', 'vis_data',
                                     'scalars.json')))


def read_records(path: str) -> List[dict]:
    """The records (one dict per logged step) of a ``scalars.json``."""
    with open(path, encoding='utf-8') as f:
        return [json.loads(line) for line in f if line.strip()]


def metrics_of(records: Iterable[dict], prefix: str = '') -> dict:
    """The COCO metrics of the last evaluation in ``records`` (``prefix=
    'teacher.'``: the teacher's, logged by MMRazor's
    ``SingleTeacherDistillValLoop``), without the prefix; empty if none."""
    metrics = {}
    for rec in records:
        if prefix + 'coco/bbox_mAP' in rec:
            metrics = {k[len(prefix):]: v for k, v in rec.items()
                       if k.startswith(prefix + 'coco/')}
    return metrics


def zero_metrics() -> Dict[str, float]:
    """Every COCO metric at 0."""
    return {key: 0.0 for _, key in METRICS}


def zero_if_empty(metrics: dict, name: str, tool: str) -> dict:
    """``metrics``, or :func:`zero_metrics` when there are none: mmdet's
    ``CocoMetric`` returns nothing when no box passes the score threshold.
    """
    if metrics:
        return metrics
    log(f'{name}: no detections above the score threshold; AP = 0', tool)
    return zero_metrics()


def final_metrics(work_dir: str, prefix: str = '',
                  tool: str = 'pipeline') -> dict:
    """:func:`metrics_of` the last run logged in ``work_dir``, all 0 when
    it logged none (see :func:`zero_if_empty`)."""
    files = scalar_files(work_dir)
    metrics = metrics_of(read_records(files[-1]), prefix) if files else {}
    return zero_if_empty(metrics, prefix + osp.basename(work_dir), tool)


def stage_labels(detector: str = 'retinanet') -> Dict[str, str]:
    """Row names of :data:`STAGES` for the embedded pair of ``detector``
    (``'retinanet'`` or ``'faster-rcnn'``), in table order."""
    det = dict(retinanet='RetinaNet').get(detector, 'Faster R-CNN')
    return dict(
        teacher=f'Teacher {det} R-34 (FPN 128)',
        student_alone='Student R-18 w32 alone',
        sekd_student='Student R-18 w32 + SEKD',
        pkd_student='Student R-18 w32 + PKD (MMRazor)')


def results_table(results: Mapping[str, dict], labels: Mapping[str, str],
                  deltas: Mapping[str, str] = DELTAS,
                  reference: str = 'student_alone') -> str:
    """Markdown table of the COCO metrics (x100, ``n/a`` for COCO's -1):
    one row per stage of ``labels`` that has results, in that order, then
    ``<deltas[stage]> - alone``: each distilled stage minus ``reference``.
    """
    head = '| Model | ' + ' | '.join(m for m, _ in METRICS) + ' |'
    rows = [head, '|' + '---|' * (len(METRICS) + 1)]

    def fmt(v):
        return 'n/a' if v < 0 else f'{100 * v:.1f}'

    for name, label in labels.items():
        if name in results:
            vals = [fmt(results[name][k]) for _, k in METRICS]
            rows.append(f'| {label} | ' + ' | '.join(vals) + ' |')
    for name, label in deltas.items():
        if reference not in results or name not in results:
            continue
        diffs = []
        for _, k in METRICS:
            a, b = results[reference][k], results[name][k]
            diffs.append('n/a' if min(a, b) < 0 else f'{100 * (b - a):+.1f}')
        rows.append(f'| {label} - alone | ' + ' | '.join(diffs) + ' |')
    return '\n'.join(rows)


def write_report(work_dir: str, report: str, **fields) -> None:
    """``results.md`` (the report) and ``results.json`` (``fields``) in
    ``work_dir``."""
    with open(osp.join(work_dir, 'results.md'), 'w', encoding='utf-8') as f:
        f.write(report)
    with open(osp.join(work_dir, 'results.json'), 'w',
              encoding='utf-8') as f:
        json.dump(fields, f, indent=2)


def distill_table(
    teacher: Stage,
    students: Sequence[Stage],
    work_dir: str,
    evaluate_stage: Callable[[Stage, str], dict],
    *,
    teacher_ckpt: Optional[str] = None,
    seed: Optional[int] = None,
    threads: Optional[int] = None,
    launcher: str = 'none',
    nproc: Optional[int] = None,
    tool: str = 'pipeline'
) -> Tuple[Dict[str, str], Dict[str, dict]]:
    """Train the teacher (unless ``teacher_ckpt`` is given), then every
    student, one at a time in ``work_dir/<stage.name>``, then evaluate
    each; progress lines ``[i/n]`` go to stdout.

    Args:
        teacher: the teacher's stage.
        students: the students' stages, in training order.
        work_dir: the stages' parent folder.
        evaluate_stage: ``evaluate_stage(stage, checkpoint)`` -> COCO
            metrics, called once every stage has trained (teacher first).
        teacher_ckpt: a trained teacher to use instead of training one.
        seed, threads: ``--seed`` and ``--threads`` of every training.
        launcher, nproc: how every training starts (:func:`train`).
        tool: the caller's name in the progress lines.

    Returns:
        tuple[dict, dict]: checkpoints and metrics, keyed by stage name.
    """
    steps = len(students) + 2
    ckpts = {}
    if teacher_ckpt:
        ckpts[teacher.name] = teacher_ckpt
        log(f'[1/{steps}] using teacher {teacher_ckpt}', tool)
    else:
        log(f'[1/{steps}] training the teacher ({teacher.iters} iterations)',
            tool)
        ckpts[teacher.name] = train(
            teacher.config, osp.join(work_dir, teacher.name), seed=seed,
            cfg_options=teacher.cfg_options, threads=threads,
            launcher=launcher, nproc=nproc, tool=tool)
    for i, stage in enumerate(students, 2):
        log(f'[{i}/{steps}] {stage.what} ({stage.iters} iterations)', tool)
        options = list(stage.cfg_options)
        if stage.distills:
            options.append(f'model.teacher_ckpt={ckpts[teacher.name]}')
        ckpts[stage.name] = train(
            stage.config, osp.join(work_dir, stage.name), seed=seed,
            cfg_options=options, threads=threads, launcher=launcher,
            nproc=nproc, tool=tool)
    log(f'[{steps}/{steps}] COCO metrics of the teacher and the students',
        tool)
    results = {
        stage.name: evaluate_stage(stage, ckpts[stage.name])
        for stage in (teacher, *students)
    }
    return ckpts, results
