# Copyright (c) sekd-mm contributors. All rights reserved.
"""``sekd-mm distill --search``: choose the distiller for this dataset by
the fair, pruned search (:mod:`sekd_mm.search`), then train the chosen row
and the student alone on the full train set and evaluate them on val.

1. A tuning split is carved from the train set (never from val): a
   ``--tune-fraction`` of its images, by image id with a fixed seed
   (:func:`carve_tune`); ``data/search_train.json`` holds the rest.
2. The teacher is trained on the full train set (or ``--teacher-ckpt``,
   fine-tuned there first when it was trained on other classes).
3. Each method of ``--methods`` gets its config on (train minus tune) /
   tune, ``configs/search_<method>.py`` (for the embedded pair or the
   ``--teacher``/``--student`` pair), ``--trial-iters`` iterations;
   every trial is that config plus its setting's cfg-options
   (:mod:`sekd_mm.search.methods`). The search runs in ``search/`` (an
   Optuna journal by default, ``--storage URL`` to share it).
4. The chosen row (``configs/chosen_student.py``, its setting written in)
   and the student alone train on the full train set for ``--iters``.
5. ``results.md`` / ``results.json``: the trials, the chosen row with its
   tuning AP, the cost, the final val table.

A step whose config, seed and checkpoint are already there is not trained
again (``stage.json`` in its folder), and the search resumes: the same
command again trains nothing new.
"""
import hashlib
import json
import os
import os.path as osp
import random
import time
from typing import Callable, Dict, List, Optional, Tuple, Union

from mmengine.config import Config

from sekd_mm.apis import final_metrics, log, results_table
from sekd_mm.apis import train as train_run
from sekd_mm.apis import write_report
from sekd_mm.datasets import DatasetError
from sekd_mm.search.methods import (LEVEL_CHOICES, RECIPES, SEARCH_LEVELS,
                                    SEARCH_METHODS, SEARCH_WARMUPS,
                                    parse_cfg_options, recipe, same_choices,
                                    setting_options, weight_options)

#: The seed of the tuning split's draw (fixed: the same split every run).
TUNE_SEED = 0
#: Each step's record of what it trained, in its folder.
STAMP = 'stage.json'
#: The chosen student as a plain MMDetection model, in the work dir.
STUDENT_DIR = 'student'
#: The figure of the final val table, in the work dir.
FIGURE = 'results.png'


def add_search_arguments(parser) -> None:
    """The ``--search`` options of ``sekd-mm distill``."""
    from sekd_mm.search import FACTOR_GRID, FACTOR_LADDER
    from sekd_mm.search.protocol import CONFIRM_TOP, FINALISTS
    group = parser.add_argument_group(
        'search (--search): choose the distiller on a tuning split of the '
        'train set, then train it and the student alone on all of it')
    group.add_argument('--search', action='store_true',
                       help='search the distiller instead of training the '
                       'SEKD and PKD students')
    group.add_argument('--methods', nargs='+', default=list(SEARCH_METHODS),
                       choices=[m for m in RECIPES if m != 'alone'],
                       metavar='METHOD',
                       help='the rows searched, of ' +
                       ', '.join(m for m in RECIPES if m != 'alone') +
                       f' (default {" ".join(SEARCH_METHODS)})')
    group.add_argument('--trial-iters', type=_positive,
                       help='iterations of one trial (default: --iters)')
    group.add_argument('--tune-fraction', type=float, default=0.2,
                       help='fraction of the train images held out as the '
                       'tuning split (by image id, fixed seed; never the '
                       'val set; default 0.2)')
    group.add_argument('--search-seeds', type=int, nargs='+',
                       default=[100, 101],
                       help='tuning seeds: the first for every setting, '
                       'all for the --confirm-top best (default 100 101)')
    group.add_argument('--confirm-top', type=_positive, default=CONFIRM_TOP,
                       help='settings that get every seed (default '
                       '%(default)s)')
    group.add_argument('--finalists', type=_positive, default=FINALISTS,
                       help='rows that get the levels / warm-up step: '
                       'those whose factor grids reached the best tuning '
                       'values (default %(default)s; the number of rows '
                       'for every row)')
    group.add_argument('--factors', type=float, nargs='+',
                       default=list(FACTOR_GRID),
                       help='the first loss-weight factor grid of every row '
                       '(multiples of its loss weights; default '
                       '%(default)s)')
    group.add_argument('--ladder', type=float, nargs='+',
                       default=list(FACTOR_LADDER),
                       help='values the grid grows along while its best '
                       'factor sits at an edge (give the --factors to not '
                       'grow it; default %(default)s)')
    group.add_argument('--levels', nargs='+', default=list(SEARCH_LEVELS),
                       choices=list(LEVEL_CHOICES),
                       help='distilled FPN levels choices, the first where '
                       'the grid is searched: all, every FPN output, or '
                       'no_small, the first three (default %(default)s)')
    group.add_argument('--warmups', type=int, nargs='+',
                       default=list(SEARCH_WARMUPS),
                       help='distillation loss warm-up choices in '
                       'iterations, each shorter than a trial, the first '
                       'where the grid is searched (default %(default)s)')
    group.add_argument('--eval-interval', type=_positive,
                       help='iterations between a trial\'s evaluations on '
                       'the tuning split (the pruner\'s steps; default '
                       'trial iterations / 3)')
    group.add_argument('--pruner', type=_json_dict,
                       help='an Optuna pruner as JSON, e.g. \'{"type": '
                       '"HyperbandPruner"}\' (default successive halving, '
                       'one rung at 2/3 of a trial; \'{"type": '
                       '"NopPruner"}\' prunes nothing)')
    group.add_argument('--storage',
                       help='Optuna storage URL shared by workers (e.g. '
                       'postgresql://...); default the journal file '
                       'WORK_DIR/search/optuna_journal.log')
    group.add_argument('--max-trials', type=_positive,
                       help='budget: trainings the search starts')
    group.add_argument('--max-iters', type=_positive,
                       help='budget: training iterations of the search')


def _json_dict(text: str) -> dict:
    """A ``--pruner`` value: a JSON object."""
    import argparse
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(
            f'not JSON ({err}); give an object such as '
            '\'{"type": "HyperbandPruner"}\'') from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f'{text} is no JSON object; give '
                                         'one such as \'{"type": '
                                         '"HyperbandPruner"}\'')
    return value


def _positive(text: str) -> int:
    from sekd_mm.cli.args import positive_int
    return positive_int(text)


# --- the tuning split ------------------------------------------------------
def tune_split(info: Dict, fraction: float,
               seed: int = TUNE_SEED) -> Dict[str, dict]:
    """Split the train split ``info`` (:func:`inspect_dataset`'s) by image
    id: ``fraction`` of its images (drawn with ``seed``) become the tuning
    split, the rest the search's train split; returns both as COCO dicts,
    ``search_train`` and ``tune``, writing nothing.

    Raises:
        DatasetError: a fraction outside (0, 1), or a split left without
            an image or a box.
    """
    if not 0 < fraction < 1:
        raise DatasetError(f'--tune-fraction must be within 0 and 1, got '
                           f'{fraction}.')
    with open(info['ann_file'], encoding='utf-8') as f:
        coco = json.load(f)
    ids = sorted(img['id'] for img in coco['images'])
    count = round(fraction * len(ids))
    if not 1 <= count < len(ids):
        raise DatasetError(
            f'--tune-fraction {fraction} of {len(ids)} train images leaves '
            f'{"no tuning" if count < 1 else "no train"} image: give a '
            'fraction that holds out at least one image and keeps one.')
    tune = set(random.Random(seed).sample(ids, count))
    out = {}
    for name, keep in (('search_train', lambda i: i not in tune),
                       ('tune', lambda i: i in tune)):
        out[name] = dict(
            coco, images=[im for im in coco['images'] if keep(im['id'])],
            annotations=[a for a in coco['annotations']
                         if keep(a['image_id'])])
        if not out[name]['annotations']:
            raise DatasetError(
                f'the {name} split carved from the train set (seed {seed}) '
                'has no box: give a larger --tune-fraction or more '
                'annotated train images.')
    return out


def carve_tune(info: Dict, fraction: float, out_dir: str,
               seed: int = TUNE_SEED) -> Tuple[Dict, Dict]:
    """:func:`tune_split`, both splits written as COCO json into
    ``out_dir`` and described like ``info``."""
    os.makedirs(out_dir, exist_ok=True)
    out = {}
    for name, split in tune_split(info, fraction, seed).items():
        path = osp.join(out_dir, f'{name}.json')
        with open(path, 'w', encoding='utf-8') as f:
            json.dump(split, f)
        out[name] = dict(ann_file=path, img_prefix=info['img_prefix'],
                         summary=dict(num_images=len(split['images']),
                                      num_boxes=len(split['annotations'])),
                         image_ids=sorted(im['id'] for im in split['images']))
    return out['search_train'], out['tune']


# --- the trainings ---------------------------------------------------------
def _digest(config: str, seed: Optional[int]) -> str:
    with open(config, 'rb') as f:
        text = f.read()
    return hashlib.sha256(text + f'\nseed={seed}'.encode()).hexdigest()


def train_once(config: str, work_dir: str, *, seed: Optional[int],
               threads: Optional[int], tool: str, launcher: str = 'none',
               nproc: Optional[int] = None) -> Tuple[str, bool]:
    """Train ``config`` into ``work_dir`` (under ``launcher`` with
    ``nproc`` processes, :func:`sekd_mm.apis.train`) unless that folder
    already holds its checkpoint (its :data:`STAMP` names the same config
    text and seed); returns the checkpoint and whether it trained."""
    digest = _digest(config, seed)
    stamp = osp.join(work_dir, STAMP)
    if osp.isfile(stamp):
        with open(stamp, encoding='utf-8') as f:
            done = json.load(f)
        if done.get('digest') == digest and osp.isfile(done['checkpoint']):
            return done['checkpoint'], False
    ckpt = train_run(config, work_dir, seed=seed, threads=threads,
                     launcher=launcher, nproc=nproc, tool=tool)
    with open(stamp, 'w', encoding='utf-8') as f:
        json.dump(dict(config=config, seed=seed, digest=digest,
                       checkpoint=ckpt), f, indent=2)
    return ckpt, True


def write_config(cfg: Config, path: str) -> str:
    """Dump ``cfg`` to ``path`` unless the file already holds it (so that
    an unchanged step is recognised, :func:`train_once`)."""
    tmp = f'{path}.{os.getpid()}.tmp.py'
    cfg.dump(tmp)
    with open(tmp, encoding='utf-8') as f:
        new = f.read()
    old = None
    if osp.isfile(path):
        with open(path, encoding='utf-8') as f:
            old = f.read()
    if old == new:
        os.remove(tmp)
    else:
        os.replace(tmp, path)
    return path


def search_space(args) -> dict:
    """Every ``--methods`` row with the same choices (a row without a
    level choice gets none)."""
    return same_choices({m: bool(recipe(m).level_key) for m in args.methods},
                        args.factors, args.levels, args.warmups, args.ladder)


def method_options(method: str, setting,
                   config: Union[str, Config]) -> List[str]:
    """The cfg-options of ``method`` at ``setting`` on ``config`` (a file
    or a Config): its own, the levels and warm-up choices (the levels
    named after its student's FPN outputs), its loss weights times the
    factor."""
    from sekd_mm.apis import fpn_level_names
    rec = recipe(method)
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    options = list(rec.options) + setting_options(
        rec.label, rec.level_key, setting.levels, setting.warmup,
        fpn_level_names(cfg.model.architecture.neck))
    return weight_options(rec.label, rec.weights, options, config,
                          setting.factor)


def trial_iters_of(args) -> int:
    """A trial's iterations: ``--trial-iters``, else ``--iters``."""
    return args.trial_iters or args.iters


def check_search(args, data: Dict) -> None:
    """Raise :class:`DatasetError` for what the search would refuse (a
    pruner, a storage, a warm-up choice as long as a trial, a tuning
    split), before anything is written."""
    from sekd_mm.search import StorageError, build_pruner, open_storage
    try:
        if args.pruner is not None:
            build_pruner(args.pruner)
        if args.storage:
            open_storage(args.storage)
    except (ValueError, StorageError) as err:
        raise DatasetError(str(err)) from None
    trial_iters = trial_iters_of(args)
    long = [w for w in args.warmups if w >= trial_iters]
    if long:
        raise DatasetError(
            f'the warm-up choice {long[0]} is not shorter than a trial '
            f'({trial_iters} iterations): its trials would end before the '
            'distillation losses reach their weights; give --warmups below '
            f'{trial_iters} (e.g. --warmups 0) or more --trial-iters')
    tune_split(data['train'], args.tune_fraction)


def run_search(args, data: Dict, configs: Dict[str, str], teacher_ckpt: str,
               method_config: Callable[..., Config], tool: str, *,
               labels: Dict[str, str], teacher: dict) -> None:
    """The ``--search`` flow after the checks (:func:`check_search`; see
    the module docstring). ``method_config(method, iters, train, val)`` is
    a method's config on this dataset
    (:func:`sekd_mm.cli.distill.method_config`); ``configs`` the stage
    configs written; ``labels`` the table's row names of the stages;
    ``teacher`` the teacher's run (``trained``: it trains here, from
    scratch or fine-tuned, into ``teacher/``)."""
    from sekd_mm.search import SearchError, Setting, StorageError
    from sekd_mm.search.study import Worker
    start = time.time()
    trial_iters = trial_iters_of(args)
    try:
        data['search_train'], data['tune'] = carve_tune(
            data['train'], args.tune_fraction,
            osp.join(args.work_dir, 'data'))
    except DatasetError as err:
        raise SystemExit(f'[{tool}] {err}') from None
    log(f'tuning split: {data["tune"]["summary"]["num_images"]} of the '
        f'{data["train"]["summary"]["num_images"]} train images (seed '
        f'{TUNE_SEED}); the search trains on the other '
        f'{data["search_train"]["summary"]["num_images"]}', tool)
    out = osp.join(args.work_dir, 'configs')
    search_configs = {}
    for method in args.methods:
        cfg = method_config(method, trial_iters, train='search_train',
                            val='tune')
        # a trial's checkpoint is never used: save none
        cfg.default_hooks.checkpoint.update(interval=trial_iters + 1,
                                            save_last=False)
        search_configs[method] = write_config(
            cfg, osp.join(out, f'search_{method}.py'))
    log(f'search configs written to {out}', tool)
    if args.check_only:
        return

    def configure(method: str, setting: Setting) -> Tuple[str, List[str]]:
        config = search_configs[method]
        return config, method_options(method, setting, config)

    try:  # every row's first setting configured, the study opened
        worker = Worker(
            search_space(args), configure, osp.join(args.work_dir, 'search'),
            trial_iters=trial_iters, seeds=args.search_seeds,
            confirm_top=args.confirm_top, finalists=args.finalists,
            eval_interval=args.eval_interval,
            pruner=args.pruner, storage=args.storage,
            max_trials=args.max_trials, max_iters=args.max_iters,
            threads=args.threads, launcher=args.launcher, nproc=args.gpus,
            tool=tool)
    except (SearchError, StorageError) as err:
        raise SystemExit(f'[{tool}] {err}') from None

    # 1. the teacher, on the full train set
    if not teacher['trained']:
        log(f'[1/4] using teacher {teacher_ckpt}', tool)
    else:
        log(f'[1/4] the teacher ({teacher["iters"]} iterations'
            f'{", fine-tuned" if teacher["finetuned_from"] else ""})', tool)
        ckpt, trained = train_once(
            configs['teacher'], osp.join(args.work_dir, 'teacher'),
            seed=args.seed, threads=args.threads, launcher=args.launcher,
            nproc=args.gpus, tool=tool)
        if not trained:
            log(f'      reusing {ckpt}', tool)
        if osp.abspath(ckpt) != teacher_ckpt:
            raise SystemExit(f'[{tool}] the teacher saved {ckpt}, not '
                             f'{teacher_ckpt}')

    # 2. the search on (train minus tune) / tune
    log(f'[2/4] the search: {", ".join(args.methods)}; {trial_iters} '
        f'iterations a trial, seeds {args.search_seeds}', tool)
    result = worker.run()
    chosen = result['chosen']
    if chosen is None:
        raise SystemExit(
            f'[{tool}] the search chose nothing: no setting is complete on '
            f'every seed ({result["cost"]["trainings"]} trainings: '
            f'{result["cost"]["complete"]} complete, '
            f'{result["cost"]["pruned"]} pruned, {result["cost"]["fail"]} '
            'failed; see search/search.json). Give a larger --max-trials or '
            '--max-iters and run the same command again: it resumes.')
    method = chosen['method']
    setting = Setting(**chosen['setting'])

    # 3. the chosen row and the student alone, on the full train set
    cfg = method_config(method, args.iters)
    cfg.merge_from_dict(parse_cfg_options(method_options(method, setting,
                                                         cfg)))
    configs['chosen_student'] = write_config(
        cfg, osp.join(out, 'chosen_student.py'))
    label = f'Student + {RECIPES[method].label} {setting.key()}'
    ckpts, results = {'teacher': teacher_ckpt}, {}
    for i, (name, what) in enumerate(
            (('chosen_student', f'the chosen row, {method} '
              f'{setting.key()}'), ('student_alone', 'the student alone')),
            3):
        log(f'[{i}/4] {what} ({args.iters} iterations)', tool)
        ckpts[name], trained = train_once(
            configs[name], osp.join(args.work_dir, name), seed=args.seed,
            threads=args.threads, launcher=args.launcher, nproc=args.gpus,
            tool=tool)
        if not trained:
            log(f'      reusing {ckpts[name]}', tool)
        results[name] = final_metrics(osp.join(args.work_dir, name),
                                      tool=tool)
    results['teacher'] = final_metrics(
        osp.join(args.work_dir, 'chosen_student'), 'teacher.', tool)
    # the chosen student as a plain MMDetection model (config, checkpoint)
    from sekd_mm.cli.export import export_plain_student
    student = export_plain_student(configs['chosen_student'],
                                   ckpts['chosen_student'],
                                   osp.join(args.work_dir, STUDENT_DIR))
    write_search_report(args, data, result, results, configs, ckpts,
                        dict(labels, chosen_student=label), teacher,
                        (time.time() - start) / 60, student)


def _trial_line(t: dict) -> str:
    value = '' if t['value'] is None else f'{100 * t["value"]:.1f}'
    pruned = '' if t['pruned_step'] is None else str(t['pruned_step'])
    return (f'| {t["number"]} | {t["method"]} | {t["key"]} | {t["seed"]} | '
            f'{t["state"]} | {value} | {pruned} | {t["iters"]} |')


def early_ranking_line(ranking: List[dict]) -> str:
    """What the pruner decided on, as a sentence (empty without
    intermediate evaluations): the rank correlation of each intermediate
    evaluation with the end, over the complete trials."""
    if not ranking:
        return ''
    parts = [f'iteration {e["step"]}: ' + (
        'n/a' if e['spearman'] is None else f'{e["spearman"]:+.2f}') +
        f' ({e["trials"]} trials)' for e in ranking]
    return ('**Early ranking** (what the pruner decides on): Spearman\'s '
            'rank correlation of the tuning mAP at each evaluation with the '
            'final one, over the complete trials: ' + '; '.join(parts) +
            '. Near 0, the pruner decides on noise: give a longer '
            '`--trial-iters` or a later `--eval-interval`.\n\n')


def write_search_report(args, data: Dict, result: dict, results: dict,
                        configs: Dict[str, str], ckpts: Dict[str, str],
                        labels: Dict[str, str], teacher: dict,
                        minutes: float, student: Dict[str, str]) -> None:
    """``results.md``, ``results.json`` and the figure :data:`FIGURE` of
    a ``--search`` run (``labels``: the row names of the teacher, the
    chosen student and the student alone; ``teacher``: the teacher's run;
    ``student``: the exported plain student's ``config`` and
    ``checkpoint``)."""
    from sekd_mm.apis.figure import plot_results
    chosen, cost = result['chosen'], result['cost']
    full = args.iters
    labels = {k: labels[k] for k in ('teacher', 'chosen_student',
                                     'student_alone')}
    table = results_table(results, labels,
                          deltas=dict(chosen_student=labels[
                              'chosen_student']))
    figure = plot_results(
        results, labels, osp.join(args.work_dir, FIGURE),
        f'{osp.basename(data["root"].rstrip("/"))}: val bbox mAP, '
        f'students {args.iters} iterations, seed {args.seed}')
    trials = '\n'.join(_trial_line(t) for t in result['trials'])
    tuning = ', '.join(f'seed {s}: {100 * v:.1f}'
                       for s, v in chosen['values'].items())
    report = (
        f'# Distiller search on {data["root"]}\n\n'
        f'Tuning split: {data["tune"]["summary"]["num_images"]} of the '
        f'{data["train"]["summary"]["num_images"]} train images (seed '
        f'{TUNE_SEED}); rows {", ".join(args.methods)}; '
        f'{cost["trial_iters"]} iterations a trial.\n\n'
        f'**Chosen:** {chosen["method"]} {chosen["key"]}, tuning bbox mAP '
        f'{100 * chosen["mean"]:.1f} ({tuning}).\n\n'
        f'**Cost:** {cost["iters"]} training iterations in '
        f'{cost["trainings"]} trainings ({cost["complete"]} complete, '
        f'{cost["pruned"]} pruned, {cost["fail"]} failed): '
        f'{cost["fraction_of_grid"]:.0%} of the same protocol without '
        f'pruning ({cost["grid_iters"]} iterations), '
        f'{cost["iters"] / full:.1f} times one full training ({full} '
        f'iterations).\n\n'
        f'{early_ranking_line(result.get("early_ranking", []))}'
        '| Trial | Row | Setting | Seed | State | Tuning mAP | Pruned at '
        '| Iterations |\n|---|---|---|---|---|---|---|---|\n'
        f'{trials}\n\n'
        f'Final: COCO bbox metrics (x100) on the val split '
        f'({data["val"]["summary"]["num_images"]} images), students '
        f'{args.iters} iterations on the full train set, seed {args.seed}; '
        f'{minutes:.1f} min (this run).\n\n{table}\n\n'
        f'![val bbox mAP]({FIGURE})\n\n'
        f'The chosen student as a plain MMDetection model: '
        f'`{osp.relpath(student["config"], args.work_dir)}` and '
        f'`{osp.relpath(student["checkpoint"], args.work_dir)}` (mmdet\'s '
        '`tools/test.py` and `init_detector` load them).\n')
    write_report(
        args.work_dir, report, results=results, classes=data['classes'],
        configs=configs, checkpoints=ckpts, teacher=teacher,
        minutes=minutes, figure=figure, student=student,
        search=dict(
            chosen=chosen, trials=result['trials'], cost=dict(
                cost, full_training_iters=full,
                full_trainings=round(cost['iters'] / full, 3)),
            early_ranking=result.get('early_ranking', []),
            done=result['done'], study=result['study'],
            storage=result['storage'],
            tune=dict(fraction=args.tune_fraction, seed=TUNE_SEED,
                      ann_file=data['tune']['ann_file'],
                      img_prefix=data['tune']['img_prefix'],
                      image_ids=data['tune']['image_ids']),
            search_train=dict(ann_file=data['search_train']['ann_file'],
                              image_ids=data['search_train']['image_ids'])))
    print('\n' + report, flush=True)
    log(f'done in {minutes:.1f} min; everything is in {args.work_dir}',
        'distill')

