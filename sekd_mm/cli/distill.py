# Copyright (c) sekd-mm contributors. All rights reserved.
"""Distil on your own dataset: teacher -> SEKD student, PKD student and the
student alone on a COCO- or VOC-format folder, evaluated with COCO metrics;
with --search, the distiller is chosen for this dataset by the fair, pruned
search on a tuning split of the train set.

    sekd-mm distill --data-root DIR [--format auto|coco|voc]
        [--train-ann F] [--train-img D] [--val-ann F] [--val-img D]   (COCO)
        [--train-split train] [--val-split val]                       (VOC)
        [--detector retinanet|faster-rcnn
         | --teacher CFG --student CFG [--student-init PATH|none]
           [--teacher-init PATH|none]]
        [--img-scale 256] [--teacher-iters 1500] [--iters 300]
        [--batch-size 8] [--teacher-ckpt CKPT [--teacher-finetune-iters N]
         [--no-teacher-finetune]] [--seed 0] [--threads N]
        [--launcher none|pytorch [--gpus N]]
        [--work-dir work_dirs/distill_dataset] [--check-only]
        [--search [--methods sekd sekd_v pkd cwd mgd fitnet]
         [--trial-iters N] [--tune-fraction 0.2] [--search-seeds 100 101]
         [--storage URL] [--max-trials N] [--max-iters N] ...]

(also ``python -m sekd_mm.cli.distill`` and ``python
tools/distill_dataset.py``; relative paths are relative to the current
folder). The class names are read from the annotations (COCO
``categories``; VOC object names, sorted) and set once, consistently, in
the teacher, the students and the datasets (``metainfo``). The models are
the embedded pair of ``--detector`` (R-34, FPN 128 -> R-18 half width, FPN
64, trained from scratch: nothing is downloaded), or any MMDetection pair
with FPN necks, ``--teacher CFG --student CFG`` (each a config file or an
``mmdet::`` model-zoo name, e.g.
``mmdet::retinanet/retinanet_r50_fpn_1x_coco.py``; both or neither;
``--detector`` is then refused), distilled by every method with the
connectors it needs when their FPN widths differ
(:mod:`sekd_mm.apis.pair`). Every training runs on the embedded schedule
stretched to ``--teacher-iters`` / ``--iters`` (AdamW, lr steps at 75% and
90%) at ``--img-scale``; each model keeps its own ``data_preprocessor``
and its backbone initialisation (``init_cfg``), which must load offline
(a local file, or a download already in the torch hub cache), else
``--student-init PATH|none`` (``--teacher-init`` for a teacher trained
here) replaces it. ``--launcher pytorch`` runs each training under
torchrun (``--gpus`` processes per node, as ``tools/dist_train.sh``), the
``--search`` trials included.

A ``--teacher-ckpt`` of other classes (a COCO teacher on a 3-class set) is
fine-tuned first on the train set with a new head (its class-dependent
layers dropped, ``data/teacher_headless.pth`` loaded with ``load_from``),
``--teacher-finetune-iters`` iterations (default ``--teacher-iters``), in
``teacher/``; the table's teacher row is the fine-tuned teacher.
``--no-teacher-finetune`` refuses such a checkpoint instead. A checkpoint
of the right classes is used as it is.

Before anything trains, the dataset is checked record by record (missing
or malformed annotation files; categories; image records and duplicated
ids; every bbox; annotations pointing at no image; every image decoded as
mmdet will read it; boxes mmdet would drop; a VOC folder without
``ImageSets/Main`` or with broken XML; a ``--teacher-ckpt`` of another
architecture; a ``--teacher``/``--student`` that is not there or has no
FPN neck; a backbone initialisation that cannot load offline; a
``--search`` pruner, storage or tuning split it would refuse); each
error says what to fix, before any config is written. The dataset folder
is only read: a VOC split is converted to COCO json inside the work dir.

Everything lands in ``--work-dir``::

    configs/{teacher,sekd_student,pkd_student,student_alone}.py
        (the teacher's: its fine-tuning, when it is fine-tuned)
        complete configs: rerun any step with
        sekd-mm train WORK_DIR/configs/sekd_student.py
    data/               the VOC splits as COCO json (VOC only);
                        teacher_headless.pth (a fine-tuned teacher's start)
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
from typing import Dict, List, Optional, Tuple

from mmengine.config import Config

from sekd_mm.apis import (EMBEDDED_CONFIGS, RUNNER_KEYS, STAGES, Pair,
                          PairError, Stage, check_init, distill_table,
                          final_metrics, load_pair, log, results_table,
                          set_init, stage_labels, write_report)
from sekd_mm.cli.args import add_threads, command_main, positive_int
from sekd_mm.cli.distill_search import (add_search_arguments, check_search,
                                        run_search)
from sekd_mm.datasets import (DatasetError, box_warnings, check_coco,
                              check_outside, voc_classes, voc_ids, voc_to_coco)
from sekd_mm.models.algorithms import set_num_classes
from sekd_mm.search.methods import recipe_config
from sekd_mm.utils import config_path

TOOL = 'distill'
#: Each stage's role in a pair (:meth:`sekd_mm.apis.Pair.model`): the
#: teacher, a method of :data:`sekd_mm.search.methods.RECIPES`.
STAGE_ROLES = dict(teacher='teacher', sekd_student='sekd',
                   pkd_student='pkd', student_alone='alone')
#: The head-less teacher a fine-tuning starts from, under the work dir.
HEADLESS = osp.join('data', 'teacher_headless.pth')
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
                        help='the embedded pair (default retinanet); '
                        'refused with --teacher/--student')
    pair = parser.add_argument_group(
        'any MMDetection pair with FPN necks (give both, or neither for the '
        'embedded pair of --detector)')
    pair.add_argument('--teacher', metavar='CFG',
                      help='the teacher: a config file or an mmdet:: '
                      'model-zoo name, e.g. '
                      'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py')
    pair.add_argument('--student', metavar='CFG',
                      help='the student: a config file or an mmdet:: name')
    pair.add_argument('--student-init', metavar='PATH|none',
                      help='the student backbone\'s initialisation: a local '
                      'checkpoint, or none (from scratch); default its '
                      'config\'s init_cfg, which must load offline (a local '
                      'file or the torch hub cache)')
    pair.add_argument('--teacher-init', metavar='PATH|none',
                      help='the same for a teacher trained here (without '
                      '--teacher-ckpt)')
    parser.add_argument('--img-scale', type=positive_int, default=256,
                        help='images are resized to fit SxS (default 256)')
    parser.add_argument('--teacher-iters', type=positive_int, default=1500)
    parser.add_argument('--iters', type=positive_int, default=300,
                        help='iterations of each student (default 300)')
    parser.add_argument('--batch-size', type=positive_int, default=8)
    parser.add_argument('--teacher-ckpt',
                        help='use this teacher instead of training one; '
                        'one of other classes is fine-tuned first')
    parser.add_argument('--teacher-finetune-iters', type=positive_int,
                        help='iterations of that fine-tuning (default '
                        '--teacher-iters)')
    parser.add_argument('--no-teacher-finetune', action='store_true',
                        help='refuse a --teacher-ckpt of other classes '
                        'instead of fine-tuning it')
    parser.add_argument('--seed', type=int, default=0)
    add_threads(parser, 'each step')
    parser.add_argument('--launcher', choices=('none', 'pytorch'),
                        default='none',
                        help='pytorch: each training (the --search trials '
                        'too) '
                        'runs under torchrun, as tools/dist_train.sh (nodes '
                        'from NNODES, NODE_RANK, MASTER_ADDR, PORT)')
    parser.add_argument('--gpus', type=positive_int,
                        help='processes per node with --launcher pytorch '
                        '(default: the visible GPUs)')
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


def resolve_pair(args) -> Optional[Pair]:
    """The ``--teacher``/``--student`` pair with the backbone
    initialisations the run needs checked, or None for the embedded pair
    of ``--detector`` (then set, default ``retinanet``). The pair's
    configs take the embedded RetinaNet configs' schedule and runtime.

    Raises:
        PairError: one of both given, ``--detector`` with a pair, a config
            the command cannot distil, an initialisation that cannot load
            offline, a method the pair is not offered.
    """
    if (args.teacher is None) != (args.student is None):
        given, missing = ('--teacher', '--student') if args.student is None \
            else ('--student', '--teacher')
        raise PairError(f'{given} needs {missing}: give both (any '
                        'MMDetection pair), or neither (the embedded pair '
                        'of --detector).')
    if args.teacher is None:
        for flag in ('student_init', 'teacher_init'):
            if getattr(args, flag) is not None:
                raise PairError(f'--{flag.replace("_", "-")} needs '
                                '--teacher/--student: the embedded pair '
                                'trains from scratch.')
        args.detector = args.detector or 'retinanet'
        return None
    if args.detector is not None:
        raise PairError('--detector chooses the embedded pair: leave it out '
                        'with --teacher/--student.')
    args.detector = 'retinanet'  # the schedule and runtime of the configs
    pair = load_pair(args.teacher, args.student)
    pair.student.model = set_init(pair.student.model, args.student_init)
    check_init(pair.student.model, 'student', '--student-init')
    if args.teacher_ckpt:
        if args.teacher_init is not None:
            raise PairError('--teacher-init is for a teacher trained here; '
                            'the --teacher-ckpt holds the teacher\'s weights.')
    else:
        pair.teacher.model = set_init(pair.teacher.model, args.teacher_init)
        check_init(pair.teacher.model, 'teacher', '--teacher-init')
    for method in args.methods if args.search else ('sekd', 'pkd'):
        pair.distiller(method)
    return pair


def check_teacher(model: dict, ckpt: str, classes: Tuple[str, ...],
                  finetune: bool) -> Optional[List[str]]:
    """Check ``ckpt`` against the teacher ``model`` (a config dict, the
    dataset's class count set) and, when it records them, ``classes``
    (:func:`~sekd_mm.engine.check_teacher_checkpoint`).

    Returns:
        None when it fits; with ``finetune``, for a teacher of other
        classes (another class count, or other recorded class names), the
        keys of its class-dependent layers, which a fine-tuning drops.

    Raises:
        DatasetError: another architecture, or other classes without
            ``finetune``; the message names the fix.
    """
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope
    from mmengine.runner import CheckpointLoader

    from sekd_mm.engine import TeacherCheckpointError, check_teacher_checkpoint
    if not osp.isfile(ckpt):
        raise DatasetError(f'--teacher-ckpt {ckpt} not found.')
    init_default_scope('mmdet')
    teacher = MODELS.build(set_init(model, 'none'))
    checkpoint = CheckpointLoader.load_checkpoint(ckpt, map_location='cpu')
    check = partial(
        check_teacher_checkpoint, teacher, ckpt_path=ckpt,
        what='the teacher.py teacher',
        fix='Train the teacher here (leave out --teacher-ckpt), give a '
        'checkpoint of that detector trained on this dataset by this command '
        'or sekd-mm train' + ('.' if finetune else ', or leave out '
                              '--no-teacher-finetune to fine-tune it here '
                              'with a new head.'))
    try:
        check(checkpoint, classes=classes)
        return None
    except TeacherCheckpointError as err:
        if not finetune:
            raise DatasetError(str(err)) from err
    n = len(classes)
    other = MODELS.build(set_init(set_num_classes(model, n + 1), 'none'))
    own = teacher.state_dict()
    head = sorted(k for k, v in other.state_dict().items()
                  if v.shape != own[k].shape)
    state = _weights(checkpoint)
    try:  # the same architecture apart from its class-dependent layers?
        check(dict(state_dict={k: own[k] if k in head else v
                               for k, v in state.items()}))
    except TeacherCheckpointError as err:
        raise DatasetError(str(err)) from err
    return head


def write_headless(ckpt: str, drop: List[str], path: str) -> str:
    """Save the weights of the checkpoint ``ckpt`` without the keys
    ``drop`` (a new head's layers) as an MMEngine checkpoint ``path``."""
    import torch
    from mmengine.runner import CheckpointLoader
    state = _weights(CheckpointLoader.load_checkpoint(ckpt,
                                                      map_location='cpu'))
    os.makedirs(osp.dirname(path), exist_ok=True)
    torch.save(dict(state_dict={k: v for k, v in state.items()
                                if k not in drop},
                    meta=dict(source=osp.abspath(ckpt), dropped=drop)), path)
    return path


def _weights(checkpoint: dict) -> dict:
    """A checkpoint's weights, without DDP's ``module.`` prefix."""
    state = checkpoint.get('state_dict', checkpoint)
    return {(k[len('module.'):] if k.startswith('module.') else k): v
            for k, v in state.items()}


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


def teacher_iters(args, finetune: Optional[List[str]]) -> int:
    """The teacher stage's iterations: its fine-tuning's when it is
    fine-tuned (``finetune``, :func:`check_teacher`)."""
    if finetune is not None and args.teacher_finetune_iters:
        return args.teacher_finetune_iters
    return args.teacher_iters


def derive_config(stage: str, args, data: Dict, teacher_ckpt: str,
                  pair: Optional[Pair] = None,
                  finetune: Optional[List[str]] = None) -> Config:
    """The ``stage`` config (one of :data:`STAGES`) on this dataset: the
    embedded config of ``--detector`` (with ``pair``, its models) with the
    dataset, the class count, the image scale, the schedule and the seed
    set (:func:`dataset_config`). A teacher fine-tuned (``finetune``, the
    layers dropped: :func:`check_teacher`) starts from the head-less
    checkpoint :data:`HEADLESS` instead of its backbone initialisation."""
    if stage != 'teacher':
        return method_config(args, data, teacher_ckpt, pair,
                             STAGE_ROLES[stage], args.iters)
    cfg = dataset_config(
        EMBEDDED_CONFIGS[stage].replace('retinanet', args.detector), args,
        data, teacher_ckpt, teacher_iters(args, finetune), pair=pair,
        role='teacher')
    if finetune is not None:
        cfg.model = set_init(cfg.model.to_dict(), 'none')
        cfg.load_from = osp.join(args.work_dir, HEADLESS)
    return cfg


def method_config(args, data: Dict, teacher_ckpt: str, pair: Optional[Pair],
                  method: str, iters: int, train: str = 'train',
                  val: str = 'val') -> Config:
    """The config of ``method`` (a row of
    :data:`sekd_mm.search.methods.RECIPES`, ``'alone'`` the student alone)
    on this dataset (:func:`dataset_config`), for the embedded pair of
    ``--detector`` or ``pair``."""
    return dataset_config(recipe_config(method, args.detector), args, data,
                          teacher_ckpt, iters, train, val, pair=pair,
                          role=method)


def dataset_config(name: str, args, data: Dict, teacher_ckpt: str,
                   iters: int, train: str = 'train', val: str = 'val',
                   pair: Optional[Pair] = None,
                   role: Optional[str] = None) -> Config:
    """The shipped config ``name`` (relative to the package's ``configs``)
    on this dataset: trained on ``data[train]`` for ``iters`` iterations,
    evaluated on ``data[val]`` at the end, with the class count, the image
    scale and the seed set, and a distiller's teacher checkpoint
    ``teacher_ckpt``; with ``pair``, its model is the pair's ``role``
    (:meth:`sekd_mm.apis.Pair.model`)."""
    cfg = Config.fromfile(config_path(name))
    if pair is not None:
        cfg.model = pair.model(role, cfg.model.to_dict())
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


def write_configs(args, data: Dict, teacher_ckpt: str,
                  pair: Optional[Pair] = None,
                  finetune: Optional[List[str]] = None) -> Dict[str, str]:
    """Write every stage's config into ``<work-dir>/configs`` (and, for a
    fine-tuned teacher, its head-less start :data:`HEADLESS`)."""
    cfgs = {stage: derive_config(stage, args, data, teacher_ckpt, pair,
                                 finetune) for stage in STAGES}
    if finetune is not None:
        write_headless(args.teacher_ckpt, finetune,
                       osp.join(args.work_dir, HEADLESS))
    out = osp.join(args.work_dir, 'configs')
    os.makedirs(out, exist_ok=True)
    paths = {}
    for stage, cfg in cfgs.items():
        paths[stage] = osp.join(out, f'{stage}.py')
        cfg.dump(paths[stage])
    return paths


# --- the run ---------------------------------------------------------------
def stages(args, configs: Dict[str, str], teacher_iters: int):
    """The teacher's and the students' stages: the written configs as
    they are (the students' already name the teacher's checkpoint)."""
    teacher = Stage('teacher', configs['teacher'], teacher_iters)
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
    if args.gpus is not None and args.launcher == 'none':
        raise SystemExit(f'[{TOOL}] --gpus needs --launcher pytorch.')
    finetune = None
    try:  # everything the run would refuse, before anything is written
        pair = resolve_pair(args)
        data = inspect_dataset(args)
        if args.search:
            check_search(args, data)
        if args.teacher_ckpt:
            args.teacher_ckpt = osp.abspath(args.teacher_ckpt)
            finetune = check_teacher(
                derive_config('teacher', args, data, '', pair).model,
                args.teacher_ckpt, data['classes'],
                not args.no_teacher_finetune)
        trains_teacher = not args.teacher_ckpt or finetune is not None
        t_iters = teacher_iters(args, finetune)
        teacher_ckpt = osp.join(args.work_dir, 'teacher',
                                f'iter_{t_iters}.pth') \
            if trains_teacher else args.teacher_ckpt
        configs = write_configs(args, data, teacher_ckpt, pair, finetune)
    except (DatasetError, PairError) as err:
        raise SystemExit(f'[{TOOL}] {err}') from None
    classes = data['classes']
    log(f'{data["format"].upper()} dataset {data["root"]}: {len(classes)} '
        f'classes {classes}; train {data["train"]["summary"]["num_images"]} '
        f'images / {data["train"]["summary"]["num_boxes"]} boxes, val '
        f'{data["val"]["summary"]["num_images"]} images', TOOL)
    for split in ('train', 'val'):
        for warning in box_warnings(data[split]['summary'], split):
            log('WARNING ' + warning, TOOL)
    if finetune is not None:
        log(f'the teacher {args.teacher_ckpt} was trained on other classes: '
            f'it is fine-tuned first with a new head ({len(finetune)} '
            f'tensors dropped), {t_iters} iterations', TOOL)
    log(f'configs written to {osp.dirname(configs["teacher"])}', TOOL)
    labels = pair.labels() if pair else stage_labels(args.detector)
    teacher_run = dict(checkpoint=teacher_ckpt, trained=trains_teacher,
                       iters=t_iters if trains_teacher else 0,
                       finetuned_from=args.teacher_ckpt if finetune
                       is not None else None)
    if args.search:
        run_search(args, data, configs, teacher_ckpt,
                   partial(method_config, args, data, teacher_ckpt, pair),
                   TOOL, labels=labels, teacher=teacher_run)
        return
    if args.check_only:
        return

    teacher, students = stages(args, configs, t_iters)
    ckpts, results = distill_table(
        teacher, students, args.work_dir,
        partial(logged_metrics, args.work_dir),
        teacher_ckpt=None if trains_teacher else teacher_ckpt,
        threads=args.threads, launcher=args.launcher, nproc=args.gpus,
        tool=TOOL)
    minutes = (time.time() - start) / 60
    how = ('fine-tuned from ' + args.teacher_ckpt if finetune is not None
           else 'given' if not trains_teacher else 'trained here')
    report = (
        f'# SEKD on {data["root"]}\n\n'
        f'COCO bbox metrics (x100) on the val split '
        f'({data["val"]["summary"]["num_images"]} images), {len(classes)} '
        f'classes; {labels["teacher"]} ({how}'
        f'{f", {t_iters} iterations" if trains_teacher else ""}), '
        f'students {args.iters} iterations at {args.img_scale} px, seed '
        f'{args.seed}; {minutes:.1f} min.\n\n'
        f'{results_table(results, labels)}\n')
    write_report(args.work_dir, report, results=results, classes=classes,
                 configs=configs, checkpoints=ckpts, teacher=teacher_run,
                 minutes=minutes)
    print('\n' + report, flush=True)
    log(f'done in {minutes:.1f} min; everything is in {args.work_dir}', TOOL)


main = command_main(__doc__, add_arguments, run)


if __name__ == '__main__':
    main()
