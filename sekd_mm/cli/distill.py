# Copyright (c) sekd-mm contributors. All rights reserved.
"""Distil on your own dataset: teacher -> SEKD student, PKD student and the
student alone on a COCO- or VOC-format folder, evaluated with COCO metrics;
with --search, the distiller is chosen for this dataset by the fair, pruned
search on a tuning split of the train set.

    sekd-mm distill --data-root DIR [--format auto|coco|voc]
        [--train-ann F] [--train-img D] [--val-ann F] [--val-img D]   (COCO)
        [--train-split train] [--val-split val]                       (VOC)
        [--detector retinanet|faster-rcnn] [--img-scale 256]
        [--teacher-iters 1500] [--iters 300] [--batch-size 8]
        [--teacher-ckpt CKPT] [--seed 0] [--threads N]
        [--work-dir work_dirs/distill_dataset] [--check-only]
        [--search [--methods sekd sekd_v pkd cwd mgd fitnet]
         [--trial-iters N] [--tune-fraction 0.2] [--search-seeds 100 101]
         [--storage URL] [--max-trials N] [--max-iters N] ...]

(also ``python -m sekd_mm.cli.distill`` and ``python
tools/distill_dataset.py``; relative paths are relative to the current
folder). The class names are read from the annotations (COCO
``categories``; VOC object names, sorted) and set once, consistently, in
the teacher, the students and the datasets (``metainfo``). The models are
the embedded pair of the chosen detector (R-34, FPN 128 -> R-18 half width,
FPN 64, trained from scratch: nothing is downloaded), on the embedded
schedule stretched to ``--teacher-iters`` / ``--iters`` (lr steps at 75% and
90%).

Before anything trains, the dataset is checked record by record (missing
or malformed annotation files; categories; image records and duplicated
ids; every bbox; annotations pointing at no image; every image decoded as
mmdet will read it; boxes mmdet would drop; a VOC folder without
``ImageSets/Main`` or with broken XML; a ``--teacher-ckpt`` of another
class count); each error says what to fix. The dataset folder is only
read: a VOC split is converted to COCO json inside the work dir.

Everything lands in ``--work-dir``::

    configs/{teacher,sekd_student,pkd_student,student_alone}.py
        complete configs: rerun any step with
        sekd-mm train WORK_DIR/configs/sekd_student.py
    data/               the VOC splits as COCO json (VOC only)
    teacher/ sekd_student/ pkd_student/ student_alone/
        sekd-mm train outputs; the table reads each run's final
        evaluation (its last checkpoint on the val split; the distillation
        runs also evaluate their teacher, so a given teacher is evaluated
        too). Re-evaluate any checkpoint with sekd-mm test CONFIG CKPT.
    results.md, results.json   the comparison table

With ``--search`` (:mod:`sekd_mm.cli.distill_search`) the SEKD and PKD
students are not trained; instead:

1. ``--tune-fraction`` of the train images (by image id, fixed seed; never
   a val image) become the tuning split: ``data/{search_train,tune}.json``.
2. The teacher trains on the full train set (or ``--teacher-ckpt``).
3. Every ``--methods`` row gets the same choices (``--factors`` grown along
   ``--ladder`` while the best sits at an edge, then ``--levels`` x
   ``--warmups`` at the best factor) and the same ``--search-seeds``; each
   trial is ``configs/search_<method>.py`` (train minus tune, evaluated on
   tune every ``--eval-interval``) plus its setting's cfg-options, trained
   for ``--trial-iters``. Losing trials are pruned (``--pruner``, default
   successive halving). The Optuna study lives in ``search/`` (a journal
   file; ``--storage URL`` lets several workers share it: run the same
   command on each). ``--max-trials`` / ``--max-iters`` cap it; the same
   command again resumes it.
4. The chosen row (``configs/chosen_student.py``, its setting written in)
   and the student alone train on the full train set and are evaluated on
   val (``chosen_student/``, ``student_alone/``).
5. ``results.md`` / ``results.json``: every trial (state, pruned step,
   iterations), the chosen row and its tuning AP per seed, the cost
   (iterations against the unpruned grid and against one full training)
   and the final val table. A step already trained with the same config
   and seed is reused (``stage.json``): the same command again trains
   nothing new.
"""
import argparse
import os
import os.path as osp
import time
from functools import partial
from typing import Dict, Optional, Tuple

from mmengine.config import Config

from sekd_mm.apis import (EMBEDDED_CONFIGS, RUNNER_KEYS, STAGES, Stage,
                          distill_table, final_metrics, log, results_table,
                          stage_labels, write_report)
from sekd_mm.cli.args import add_threads, command_main, positive_int
from sekd_mm.cli.distill_search import add_search_arguments, run_search
from sekd_mm.datasets import (DatasetError, box_warnings, check_coco,
                              check_outside, voc_classes, voc_ids, voc_to_coco)
from sekd_mm.models.algorithms import set_num_classes
from sekd_mm.utils import config_path

TOOL = 'distill'
#: Default COCO file names under --data-root, tried in this order.
COCO_DEFAULTS = dict(
    train_ann=('annotations/instances_train.json',
               'annotations/instances_train2017.json'),
    val_ann=('annotations/instances_val.json',
             'annotations/instances_val2017.json'),
    train_img=('train/', 'train2017/', 'images/'),
    val_img=('val/', 'val2017/', 'images/'))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--data-root', required=True,
                        help='the dataset folder (COCO or VOC layout)')
    parser.add_argument('--format', choices=('auto', 'coco', 'voc'),
                        default='auto',
                        help='auto: VOC if DATA_ROOT/Annotations exists')
    coco = parser.add_argument_group('COCO layout (paths relative to '
                                     '--data-root, or absolute)')
    for key, defaults in COCO_DEFAULTS.items():
        coco.add_argument('--' + key.replace('_', '-'),
                          help='default: the first that exists of ' +
                          ', '.join(defaults))
    voc = parser.add_argument_group('VOC layout (ImageSets/Main/<split>.txt)')
    voc.add_argument('--train-split', default='train')
    voc.add_argument('--val-split', default='val')
    parser.add_argument('--detector', choices=('retinanet', 'faster-rcnn'),
                        default='retinanet')
    parser.add_argument('--img-scale', type=positive_int, default=256,
                        help='images are resized to fit SxS (default 256)')
    parser.add_argument('--teacher-iters', type=positive_int, default=1500)
    parser.add_argument('--iters', type=positive_int, default=300,
                        help='iterations of each student (default 300)')
    parser.add_argument('--batch-size', type=positive_int, default=8)
    parser.add_argument('--teacher-ckpt',
                        help='use this teacher instead of training one')
    parser.add_argument('--seed', type=int, default=0)
    add_threads(parser, 'each step')
    parser.add_argument('--work-dir', default='work_dirs/distill_dataset')
    parser.add_argument(
        '--check-only', action='store_true',
        help='check the data and write the configs; train nothing. Every '
        'run checks the annotations record by record and decodes every '
        'image (a truncated or corrupt file is an error): about 11 s per '
        '10,000 images (measured on 2026-12-03 on a 2-core CPU, 640x480 '
        'JPEG; 640x480 PNG: about 60 s)')
    add_search_arguments(parser)


# --- the dataset -----------------------------------------------------------
def _path(root: str, given: Optional[str], defaults) -> str:
    if given:
        return given if osp.isabs(given) else osp.join(root, given)
    for default in defaults:
        if osp.exists(osp.join(root, default)):
            return osp.join(root, default)
    return osp.join(root, defaults[0])


def inspect_dataset(args) -> Dict:
    """Check the dataset and describe both splits for the configs:
    ``classes``, ``format`` and per split ``ann_file`` (absolute),
    ``img_prefix`` and the :func:`check_coco` summary.

    Raises:
        DatasetError: what is wrong and how to fix it.
    """
    root = osp.abspath(args.data_root)
    if not osp.isdir(root):
        raise DatasetError(f'--data-root {root} is not a folder.')
    check_outside(args.work_dir, root)
    fmt = args.format
    if fmt == 'auto':
        fmt = 'voc' if osp.isdir(osp.join(root, 'Annotations')) else 'coco'
    splits = {}
    if fmt == 'coco':
        classes = None
        for split in ('train', 'val'):
            ann = _path(root, getattr(args, f'{split}_ann'),
                        COCO_DEFAULTS[f'{split}_ann'])
            img = _path(root, getattr(args, f'{split}_img'),
                        COCO_DEFAULTS[f'{split}_img'])
            summary = check_coco(ann, img, classes,
                                 evaluated=split == 'val')
            classes = summary['classes']
            splits[split] = dict(ann_file=ann, img_prefix=img,
                                 summary=summary)
    else:
        data_dir = osp.join(osp.abspath(args.work_dir), 'data')
        classes = voc_classes(root, voc_ids(root, args.train_split))
        os.makedirs(data_dir, exist_ok=True)
        for split, name in (('train', args.train_split),
                            ('val', args.val_split)):
            ann = voc_to_coco(root, name, classes,
                              osp.join(data_dir, f'voc_{name}.json'))
            summary = check_coco(ann, root, classes,
                                 evaluated=split == 'val')
            splits[split] = dict(ann_file=ann, img_prefix=root + '/',
                                 summary=summary)
    for split, info in splits.items():
        if not info['summary']['num_boxes']:
            why = box_warnings(info['summary'], split) or [
                f'{split}: {info["ann_file"]} has no annotations.']
            raise DatasetError(
                f'The {split} split has no usable box: nothing to '
                f'{"train" if split == "train" else "evaluate"} on. Give it '
                'boxes of at least 1x1 px inside their image.\n  ' +
                '\n  '.join(why))
    return dict(format=fmt, root=root, classes=tuple(classes), **splits)


def check_teacher(config: str, ckpt: str, classes: Tuple[str, ...]) -> None:
    """Raise :class:`DatasetError` unless ``ckpt`` fits the teacher config
    ``config`` (a teacher of another class count or architecture) and,
    when it records them, was trained on ``classes``
    (:func:`~sekd_mm.engine.check_teacher_checkpoint`)."""
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    from mmengine.runner import CheckpointLoader

    from sekd_mm.engine import TeacherCheckpointError, check_teacher_checkpoint
    if not osp.isfile(ckpt):
        raise DatasetError(f'--teacher-ckpt {ckpt} not found.')
    init_default_scope('mmdet')
    teacher = MODELS.build(Config.fromfile(config).model)
    try:
        check_teacher_checkpoint(
            teacher,
            CheckpointLoader.load_checkpoint(ckpt, map_location='cpu'),
            ckpt,
            classes=classes,
            what=f'the {osp.basename(config)} teacher',
            fix='Train the teacher here (leave out --teacher-ckpt) or give '
            'a checkpoint of that detector trained on this dataset by this '
            'command or sekd-mm train.')
    except TeacherCheckpointError as err:
        raise DatasetError(str(err)) from err


# --- the configs -----------------------------------------------------------
def _dataset(info: Dict, classes, pipeline, test: bool) -> dict:
    dataset = dict(
        type='mmdet.CocoDataset',
        data_root='',
        ann_file=info['ann_file'],
        data_prefix=dict(img=info['img_prefix']),
        metainfo=dict(classes=classes),
        pipeline=pipeline,
        backend_args=None)
    if test:
        dataset['test_mode'] = True
    else:
        dataset['filter_cfg'] = dict(filter_empty_gt=True, min_size=4)
    return dataset


def derive_config(stage: str, args, data: Dict, teacher_ckpt: str) -> Config:
    """The ``stage`` config (one of :data:`STAGES`) on this dataset: the
    embedded config of ``--detector`` with the dataset, the class count,
    the image scale, the schedule and the seed set
    (:func:`dataset_config`)."""
    iters = args.teacher_iters if stage == 'teacher' else args.iters
    return dataset_config(
        EMBEDDED_CONFIGS[stage].replace('retinanet', args.detector), args,
        data, teacher_ckpt, iters)


def dataset_config(name: str, args, data: Dict, teacher_ckpt: str,
                   iters: int, train: str = 'train',
                   val: str = 'val') -> Config:
    """The shipped config ``name`` (relative to the package's ``configs``)
    on this dataset: trained on ``data[train]`` for ``iters`` iterations,
    evaluated on ``data[val]`` at the end, with the class count, the image
    scale and the seed set, and a distiller's teacher checkpoint
    ``teacher_ckpt``."""
    cfg = Config.fromfile(config_path(name))
    classes, n = data['classes'], len(data['classes'])
    scale = (args.img_scale, args.img_scale)
    train_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=scale, keep_ratio=True),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PackDetInputs')
    ]
    test_pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=scale, keep_ratio=True),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='PackDetInputs', meta_keys=(
            'img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
    ]
    cfg.train_dataloader.batch_size = args.batch_size
    cfg.train_dataloader.dataset = _dataset(data[train], classes,
                                            train_pipeline, False)
    for loader in ('val_dataloader', 'test_dataloader'):
        cfg[loader].dataset = _dataset(data[val], classes, test_pipeline,
                                       True)
    for evaluator in ('val_evaluator', 'test_evaluator'):
        cfg[evaluator].ann_file = data[val]['ann_file']
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = iters
    cfg.randomness = dict(seed=args.seed)
    if cfg.model.type == 'DetFpnTeacherDistill':
        cfg.model.num_classes = n
        cfg.model.architecture = set_num_classes(cfg.model.architecture, n)
        cfg.model.teacher = set_num_classes(cfg.model.teacher, n)
        cfg.model.teacher_ckpt = teacher_ckpt
    else:
        cfg.model = set_num_classes(cfg.model, n)
    return Config({k: v for k, v in cfg.items() if k in RUNNER_KEYS})


def write_configs(args, data: Dict, teacher_ckpt: str) -> Dict[str, str]:
    """Write every stage's config into ``<work-dir>/configs``."""
    out = osp.join(args.work_dir, 'configs')
    os.makedirs(out, exist_ok=True)
    paths = {}
    for stage in STAGES:
        paths[stage] = osp.join(out, f'{stage}.py')
        derive_config(stage, args, data, teacher_ckpt).dump(paths[stage])
    return paths


# --- the run ---------------------------------------------------------------
def stages(args, configs: Dict[str, str]):
    """The teacher's and the students' stages: the written configs as
    they are (the students' already name the teacher's checkpoint)."""
    teacher = Stage('teacher', configs['teacher'], args.teacher_iters)
    students = [
        Stage(name, configs[name], args.iters, what) for name, what in (
            ('sekd_student', 'distilling the student with SEKD'),
            ('pkd_student', 'distilling the student with MMRazor\'s PKD'),
            ('student_alone', 'training the same student alone'))
    ]
    return teacher, students


def logged_metrics(work_dir: str, stage: Stage, ckpt: str) -> dict:
    """The final evaluation that ``sekd-mm train`` logged for ``stage``:
    the teacher's is the one its SEKD student's run logged (MMRazor's
    ``SingleTeacherDistillValLoop``), so that a given teacher is evaluated
    too."""
    if stage.name == 'teacher':
        return final_metrics(osp.join(work_dir, 'sekd_student'), 'teacher.',
                             TOOL)
    return final_metrics(osp.join(work_dir, stage.name), tool=TOOL)


def run(args: argparse.Namespace) -> None:
    args.work_dir = osp.abspath(args.work_dir)
    start = time.time()
    try:
        data = inspect_dataset(args)
        teacher_ckpt = osp.abspath(args.teacher_ckpt) if args.teacher_ckpt \
            else osp.join(args.work_dir, 'teacher',
                          f'iter_{args.teacher_iters}.pth')
        configs = write_configs(args, data, teacher_ckpt)
        if args.teacher_ckpt:
            check_teacher(configs['teacher'], teacher_ckpt, data['classes'])
    except DatasetError as err:
        raise SystemExit(f'[{TOOL}] {err}') from None
    classes = data['classes']
    log(f'{data["format"].upper()} dataset {data["root"]}: {len(classes)} '
        f'classes {classes}; train {data["train"]["summary"]["num_images"]} '
        f'images / {data["train"]["summary"]["num_boxes"]} boxes, val '
        f'{data["val"]["summary"]["num_images"]} images', TOOL)
    for split in ('train', 'val'):
        for warning in box_warnings(data[split]['summary'], split):
            log('WARNING ' + warning, TOOL)
    log(f'configs written to {osp.dirname(configs["teacher"])}', TOOL)
    if args.search:
        run_search(args, data, configs, teacher_ckpt, dataset_config, TOOL)
        return
    if args.check_only:
        return

    teacher, students = stages(args, configs)
    ckpts, results = distill_table(
        teacher, students, args.work_dir,
        partial(logged_metrics, args.work_dir),
        teacher_ckpt=teacher_ckpt if args.teacher_ckpt else None,
        threads=args.threads, tool=TOOL)
    minutes = (time.time() - start) / 60
    report = (
        f'# SEKD on {data["root"]}\n\n'
        f'COCO bbox metrics (x100) on the val split '
        f'({data["val"]["summary"]["num_images"]} images), {len(classes)} '
        f'classes; {args.detector} teacher {args.teacher_iters} iterations, '
        f'students {args.iters} iterations at {args.img_scale} px, seed '
        f'{args.seed}; {minutes:.1f} min.\n\n'
        f'{results_table(results, stage_labels(args.detector))}\n')
    write_report(args.work_dir, report, results=results, classes=classes,
                 configs=configs, checkpoints=ckpts, minutes=minutes)
    print('\n' + report, flush=True)
    log(f'done in {minutes:.1f} min; everything is in {args.work_dir}', TOOL)


main = command_main(__doc__, add_arguments, run)


if __name__ == '__main__':
    main()
