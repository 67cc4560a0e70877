# Copyright (c) sekd-mm contributors. All rights reserved.
"""Draw the channel relational graphs (CRG) of a SEKD distillation.

    python tools/visualize_crg.py CONFIG [--teacher-ckpt T.pth]
        --student before=init --student after=KD.pth [--student LABEL=CKPT]
        [--connector-ckpt KD.pth] [--image PATH | --index N] [--level p3]
        [--out crg.png] [--device cpu] [--seed 0] [--embed-dim 2]
        [--cfg-options k=v ...]

For ONE image and ONE FPN level of a SEKD config (an MMRazor algorithm whose
distiller is ``SEKDDistiller``), one row for the teacher, then one per
``--student``, and three columns:

1. the channel adjacency ``A`` (the CRG edges), built exactly as the loss
   builds it: the distiller's recorders capture the FPN outputs of
   ``extract_feat`` (eval mode), ``SEKDDistiller.level_features`` applies the
   level's student connector, and the distiller's own loss builds the
   ``CRGPair`` (teacher attention, ``channel_adjacency``,
   ``normalized_laplacian``). Channels are ordered by the teacher's Fiedler
   vector, the same order in every row;
2. the spectrum of the normalized Laplacian (``eigvalsh`` in float64), the
   teacher's drawn over each student's;
3. the spectral embedding: eigenvectors 1 and 2 (and 3) of the Laplacian
   (after the trivial one), one point per channel, coloured by the channel's
   rank in the teacher's Fiedler order; each student eigenvector is
   sign-aligned with the teacher's.

``--student LABEL=CKPT`` takes a distillation checkpoint of
``tools/train.py`` (``architecture.*``, ``teacher.*``, ``distiller.*``: the
student and its connectors) or a student-only detector checkpoint
(``tools/export_student.py``, or the student trained alone); in the latter
case the connectors come from ``--connector-ckpt`` (a distillation
checkpoint) or stay randomly initialised, and the row's label says which.
``LABEL=init`` (or ``LABEL`` alone) is the randomly initialised student
(``init_weights`` under ``--seed``, as the runner does; not bit-identical to
the start of a given training run). The teacher comes from
``--teacher-ckpt`` (a teacher checkpoint or a distillation checkpoint),
by default the config's ``model.teacher_ckpt``.

Prints the path of the PNG and one line per student with, for this image
and level, ``mean|A_S-A_T|`` (mean over the edges ``i != j``), the relative
Frobenius distance ``|L_S - L_T|_F / |L_T|_F`` of the Laplacians and the
distiller's unweighted ``L_V``, ``L_E``, ``L_S``.
"""
import argparse
import copy
import logging
import os
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmengine.runner import CheckpointLoader

import sekd_mm  # noqa: F401  (compat fixes before mmrazor; registration)

INIT = 'init'
# Figure geometry: every panel is PANEL_W x PANEL_H inches, plus a title
# band; the PNG is (3 PANEL_W DPI) x (rows PANEL_H + TITLE_H) DPI pixels.
PANEL_W, PANEL_H, TITLE_H, DPI = 4.0, 3.5, 0.75, 100
COLUMNS = ('adjacency', 'spectrum', 'embedding')


class Student(NamedTuple):
    label: str
    ckpt: Optional[str]  # None: random init


class Row(NamedTuple):
    """One row of the figure (teacher or a student), batch of 1 image."""
    label: str
    source: str
    adjacency: torch.Tensor  # C x C
    laplacian: torch.Tensor  # C x C


def parse_student(spec: str) -> Student:
    label, sep, ckpt = spec.partition('=')
    label = label.strip()
    if not label:
        raise argparse.ArgumentTypeError(
            f'--student {spec!r}: give LABEL=CKPT, e.g. before=init or '
            'after=work_dirs/x/iter_600.pth')
    ckpt = ckpt.strip()
    return Student(label, None if not sep or ckpt in ('', INIT) else ckpt)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Draw the teacher and student channel relational graphs '
        '(adjacency, Laplacian spectrum, spectral embedding) of one FPN '
        'level of a SEKD distillation, for one image.')
    parser.add_argument('config', help='SEKD distillation config')
    parser.add_argument(
        '--teacher-ckpt',
        help='teacher checkpoint (plain detector or distillation '
        'checkpoint); default: the config\'s model.teacher_ckpt')
    parser.add_argument(
        '--student',
        action='append',
        type=parse_student,
        required=True,
        metavar='LABEL=CKPT',
        help='a student row (repeatable, in order): LABEL=PATH to a '
        'distillation or student-only checkpoint, or LABEL=init for the '
        'randomly initialised student')
    parser.add_argument(
        '--connector-ckpt',
        help='distillation checkpoint whose connectors are used with '
        'student-only checkpoints (default: randomly initialised connectors)')
    src = parser.add_mutually_exclusive_group()
    src.add_argument('--image', help='image file, run through the config\'s '
                     'test pipeline')
    src.add_argument(
        '--index',
        type=int,
        default=0,
        help='index into the config\'s val dataset (default 0)')
    parser.add_argument(
        '--level', default='p3', help='SEKD level name (default p3)')
    parser.add_argument('--out', default='crg.png', help='output PNG')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of the random initialisation (init students, connectors '
        'without a checkpoint)')
    parser.add_argument(
        '--embed-dim',
        type=int,
        choices=(2, 3),
        default=2,
        help='number of non-trivial eigenvectors in the embedding scatter')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    args = parser.parse_args(argv)
    labels = [s.label for s in args.student]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        parser.error(f'--student labels must be unique, repeated: {dup}')
    return args


# ---------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------
def check_file(path: Optional[str], what: str, fix: str) -> str:
    if not path:
        raise SystemExit(f'No {what} given. {fix}')
    if '://' not in path and not osp.isfile(path):
        raise SystemExit(f'{what[0].upper()}{what[1:]} not found: {path!r}. '
                         f'{fix}')
    return path


def load_state(path: str) -> Dict[str, torch.Tensor]:
    ckpt = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state:
        raise SystemExit(f'{path} holds no state_dict of weights.')
    return OrderedDict((k[7:] if k.startswith('module.') else k, v)
                       for k, v in state.items())


def sub_state(state: Dict[str, torch.Tensor],
              prefix: str) -> Dict[str, torch.Tensor]:
    return OrderedDict(
        (k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))


def load_strict(module: torch.nn.Module, state: Dict[str, torch.Tensor],
                path: str, what: str, hint: str) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state)
                    if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        problems = [
            f'{len(keys)} {what_} (e.g. {keys[:3]})'
            for keys, what_ in ((missing, 'missing keys'), (
                unexpected, 'unexpected keys'), (shapes, 'other shapes'))
            if keys
        ]
        raise SystemExit(f'{path} does not match the {what}: '
                         f'{", ".join(problems)}. {hint}')
    module.load_state_dict(state, strict=True)


def load_teacher(algo, path: str, config: str) -> None:
    """Load a teacher (or distillation) checkpoint into the teacher, once
    :func:`~sekd_mm.engine.check_teacher_checkpoint` has found it fits."""
    from sekd_mm.engine import TeacherCheckpointError, check_teacher_checkpoint
    state = load_state(path)
    if any(k.startswith('teacher.') for k in state):  # distillation ckpt
        state = sub_state(state, 'teacher.')
    try:
        check_teacher_checkpoint(
            algo.teacher, state, path, what=f'the teacher of {config}',
            fix='Pass the checkpoint of the teacher this config distills '
            'from (--teacher-ckpt), e.g. work_dirs/<teacher config>/'
            'iter_N.pth.')
    except TeacherCheckpointError as err:
        raise SystemExit(str(err)) from None
    algo.teacher.load_state_dict(state, strict=True)


def load_connectors(algo, path: str, config: str) -> None:
    state = sub_state(load_state(path), 'distiller.')
    if not state:
        raise SystemExit(
            f'{path} has no distiller.* weights: --connector-ckpt must be a '
            f'distillation checkpoint of {config} (from tools/train.py).')
    load_strict(algo.distiller, state, path, f'distiller of {config}',
                'Use a distillation checkpoint of this config.')


def load_student(algo, student: Student, init: Dict[str, dict],
                 connectors: Optional[str], teacher_state: dict,
                 config: str, seed: int) -> str:
    """Load a student row's weights; returns what the row shows."""
    algo.architecture.load_state_dict(init['architecture'])
    algo.distiller.load_state_dict(init['distiller'])
    if student.ckpt is None:
        return f'random init (seed {seed})'
    name = osp.basename(student.ckpt)
    state = load_state(student.ckpt)
    hint = ('Pass a checkpoint of this config\'s student: a distillation '
            'checkpoint (tools/train.py), its export '
            '(tools/export_student.py) or the student trained alone.')
    if any(k.startswith('architecture.') for k in state):
        load_strict(algo.architecture, sub_state(state, 'architecture.'),
                    student.ckpt, f'student of {config}', hint)
        load_strict(algo.distiller, sub_state(state, 'distiller.'),
                    student.ckpt, f'distiller of {config}', hint)
        teacher = sub_state(state, 'teacher.')
        if teacher and any(
                k not in teacher or not torch.equal(v, teacher[k].cpu())
                for k, v in teacher_state.items()):
            print(f'note: the teacher inside {student.ckpt} differs from '
                  'the one drawn (--teacher-ckpt).')
        return f'{name} (distillation ckpt)'
    load_strict(algo.architecture, state, student.ckpt,
                f'student of {config}', hint)
    if connectors:
        load_connectors(algo, connectors, config)
        return (f'{name} (student-only ckpt; connector from '
                f'{osp.basename(connectors)})')
    return f'{name} (student-only ckpt; connector: random init)'


# ---------------------------------------------------------------------------
# config, model, image
# ---------------------------------------------------------------------------
def load_config(args) -> Config:
    if not osp.isfile(args.config):
        raise SystemExit(f'Config {args.config!r} not found.')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def check_sekd_config(cfg: Config, config: str) -> None:
    from mmrazor.registry import MODELS

    from sekd_mm.models import SEKDDistiller
    distiller = cfg.model.get('distiller')
    dtype = distiller.get('type') if isinstance(distiller, dict) else None
    cls = MODELS.get(dtype) if isinstance(dtype, str) else dtype
    if not (isinstance(cls, type) and issubclass(cls, SEKDDistiller)):
        what = (f'its distiller is {dtype!r}' if distiller else
                f'it has no distiller (model type {cfg.model.get("type")!r})')
        raise SystemExit(
            f'{config} is not a SEKD distillation config: {what}. Use a '
            'config whose model.distiller is a SEKDDistiller, e.g. '
            'configs/sekd/sekd_retinanet_r34_retinanet_r18-w32_synthetic.py '
            'or configs/ega/sekd-ega_*.py.')


def build_algorithm(cfg: Config, seed: int):
    """The algorithm without its teacher checkpoint, student and connectors
    initialised as the runner does (``init_weights``) under ``seed``."""
    from mmrazor.registry import MODELS
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.teacher_ckpt = None  # loaded strictly below, not by mmrazor
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)  # init_weights logs every tensor
    try:
        torch.manual_seed(seed)
        with DefaultScope.overwrite_default_scope('mmrazor'):
            algo = MODELS.build(model_cfg)
        algo.architecture.init_weights()
        algo.distiller.init_weights()
    finally:
        logger.setLevel(level)
    algo.eval()  # FpnTeacherDistill.train() returns None
    return algo


def check_level(distiller, level: str) -> None:
    if level not in distiller.sekd_levels:
        raise SystemExit(
            f'Unknown level {level!r}: the SEKD levels of this config are '
            f'{list(distiller.sekd_levels)}. Pass one of them with --level.')


def load_image(cfg: Config, args, algo) -> Tuple[torch.Tensor, str]:
    """One image through the test pipeline and the data preprocessor."""
    from mmcv.transforms import Compose
    from mmdet.registry import DATASETS
    from mmdet.utils import get_test_pipeline_cfg
    with DefaultScope.overwrite_default_scope('mmdet'):
        if args.image is not None:
            if not osp.isfile(args.image):
                raise SystemExit(f'Image {args.image!r} not found.')
            pipeline = [
                t for t in copy.deepcopy(get_test_pipeline_cfg(cfg))
                if not str(t['type']).endswith('LoadAnnotations')
            ]
            data = Compose(pipeline)(dict(img_path=args.image, img_id=0))
        else:
            dataset = DATASETS.build(cfg.val_dataloader.dataset)
            if not 0 <= args.index < len(dataset):
                raise SystemExit(
                    f'--index {args.index} is out of range: the val dataset '
                    f'has {len(dataset)} images (0..{len(dataset) - 1}).')
            data = dataset[args.index]
    batch = algo.data_preprocessor(
        dict(inputs=[data['inputs']], data_samples=[data['data_samples']]),
        False)
    name = osp.basename(data['data_samples'].metainfo.get('img_path', '?'))
    return batch['inputs'], name


# ---------------------------------------------------------------------------
# graphs
# ---------------------------------------------------------------------------
@torch.no_grad()
def record_teacher(algo, inputs: torch.Tensor) -> None:
    with algo.distiller.teacher_recorders:
        algo.teacher.extract_feat(inputs)


@torch.no_grad()
def student_pair(algo, inputs: torch.Tensor, level: str):
    """The level's ``CRGPair`` exactly as ``compute_sekd_losses`` builds it
    (the teacher must have been recorded on the same inputs)."""
    distiller = algo.distiller
    with distiller.student_recorders:
        algo.architecture.extract_feat(inputs)
    feat_s, feat_t = distiller.level_features(level)
    return distiller.sekd_losses['v'].make_pair(feat_s, feat_t)


@torch.no_grad()
def summary(distiller, pair) -> Dict[str, float]:
    """Numbers of one student (batch of one image)."""
    a_s, a_t = pair.adjacency_S.double(), pair.adjacency_T.double()
    c = a_t.shape[0]
    off = ~torch.eye(c, dtype=torch.bool, device=a_t.device)
    l_s, l_t = pair.laplacian_S.double(), pair.laplacian_T.double()
    out = dict(
        mean_abs_adj=(a_s - a_t).abs()[off].mean().item(),
        rel_fro_lap=(torch.linalg.norm(l_s - l_t) /
                     torch.linalg.norm(l_t)).item())
    for term in ('v', 'e', 's'):
        out[f'loss_{term}'] = distiller.sekd_losses[term].compute(pair).item()
    return out


def spectrum(lap: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Ascending eigenvalues and eigenvectors of a ``C x C`` Laplacian."""
    lap = lap.detach().cpu().double()
    values = torch.linalg.eigvalsh(lap)
    _, vectors = torch.linalg.eigh(lap)
    return values, vectors


def align_signs(vectors: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Flip each column of ``vectors`` to a non-negative dot with ``ref``."""
    dots = (vectors * ref).sum(0)
    return vectors * torch.where(dots < 0, -1.0, 1.0).to(vectors)


def figure_size(num_rows: int) -> Tuple[float, float]:
    return len(COLUMNS) * PANEL_W, num_rows * PANEL_H + TITLE_H


def render(rows: List[Row], out: str, title: str, embed_dim: int) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    teacher = rows[0]
    t_values, t_vectors = spectrum(teacher.laplacian)
    order = torch.argsort(t_vectors[:, 1]).cpu()  # teacher's Fiedler order
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order))
    dims = list(range(1, embed_dim + 1))
    ref = t_vectors[:, dims]
    embeds = []
    for row in rows:
        values, vectors = spectrum(row.laplacian)
        embeds.append((values, align_signs(vectors[:, dims], ref)))
    lim = 1.05 * max(e.abs().max().item() for _, e in embeds)

    fig = plt.figure(figsize=figure_size(len(rows)), dpi=DPI,
                     layout='constrained')
    fig.suptitle(title, fontsize=10)
    c = len(order)
    for r, (row, (values, emb)) in enumerate(zip(rows, embeds)):
        ax = fig.add_subplot(len(rows), 3, 3 * r + 1)
        adj = row.adjacency.detach().cpu().double()[order][:, order]
        im = ax.imshow(adj.numpy(), cmap='RdBu_r', vmin=-1, vmax=1,
                       interpolation='nearest')
        ax.set_title(f'{row.label}: adjacency A', fontsize=9)
        ax.set_ylabel(row.source, fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, shrink=0.8)

        ax = fig.add_subplot(len(rows), 3, 3 * r + 2)
        x = range(c)
        if r > 0:
            ax.plot(x, t_values.numpy(), color='0.6', ls='--', lw=1,
                    label='teacher')
        ax.plot(x, values.numpy(), color='C0' if r == 0 else 'C1', lw=1.2,
                label=row.label)
        ax.set_ylim(-0.05, 2.05)
        ax.set_xlabel('index (ascending)', fontsize=7)
        ax.set_title(f'{row.label}: Laplacian eigenvalues', fontsize=9)
        ax.legend(fontsize=7, loc='upper left')
        ax.tick_params(labelsize=7)

        proj = '3d' if embed_dim == 3 else None
        ax = fig.add_subplot(len(rows), 3, 3 * r + 3, projection=proj)
        coords = [emb[:, i].numpy() for i in range(embed_dim)]
        sc = ax.scatter(*coords, c=rank.numpy(), cmap='viridis', s=10,
                        vmin=0, vmax=c - 1)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_xlabel('u1 (Fiedler)', fontsize=7)
        ax.set_ylabel('u2', fontsize=7)
        if embed_dim == 3:
            ax.set_zlim(-lim, lim)
            ax.set_zlabel('u3', fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_title(f'{row.label}: spectral embedding'
                     + (' (signs aligned to teacher)' if r else ''),
                     fontsize=9)
        fig.colorbar(sc, ax=ax, shrink=0.8).set_label(
            'rank in teacher Fiedler order', fontsize=7)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=DPI)
    plt.close(fig)


# ---------------------------------------------------------------------------
def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args)
    check_sekd_config(cfg, args.config)
    teacher_ckpt = check_file(
        args.teacher_ckpt or cfg.model.get('teacher_ckpt'),
        'teacher checkpoint',
        'Train the teacher first (see the comment at the top of the config) '
        'or pass --teacher-ckpt PATH.')
    for student in args.student:
        if student.ckpt is not None:
            check_file(
                student.ckpt, f'checkpoint of student {student.label!r}',
                f'Give --student {student.label}=PATH to an existing '
                f'checkpoint, or --student {student.label}=init for the '
                'randomly initialised student.')
    if args.connector_ckpt:
        check_file(args.connector_ckpt, 'connector checkpoint',
                   'Give --connector-ckpt a distillation checkpoint from '
                   'tools/train.py, or leave it out (random connectors).')

    algo = build_algorithm(cfg, args.seed)
    check_level(algo.distiller, args.level)
    init = dict(
        architecture=copy.deepcopy(algo.architecture.state_dict()),
        distiller=copy.deepcopy(algo.distiller.state_dict()))
    load_teacher(algo, teacher_ckpt, args.config)
    teacher_state = {k: v.detach().clone()
                     for k, v in algo.teacher.state_dict().items()}
    algo.to(args.device)
    algo.eval()
    inputs, img_name = load_image(cfg, args, algo)
    record_teacher(algo, inputs)

    rows, lines = [], []
    for student in args.student:
        source = load_student(algo, student, init, args.connector_ckpt,
                              teacher_state, args.config, args.seed)
        pair = student_pair(algo, inputs, args.level)
        if not rows:
            rows.append(Row('teacher', osp.basename(teacher_ckpt) +
                            ' (teacher ckpt)',
                            pair.adjacency_T, pair.laplacian_T))
        rows.append(Row(student.label, source, pair.adjacency_S,
                        pair.laplacian_S))
        s = summary(algo.distiller, pair)
        lines.append(
            f'[{args.level}] {student.label}: '
            f'mean|A_S-A_T|={s["mean_abs_adj"]:.6f} '
            f'|L_S-L_T|_F/|L_T|_F={s["rel_fro_lap"]:.6f} '
            f'L_V={s["loss_v"]:.6g} L_E={s["loss_e"]:.6g} '
            f'L_S={s["loss_s"]:.6g} ({source})')

    feat_shape = tuple(pair.teacher.shape[1:])
    title = (f'SEKD channel relational graphs, level {args.level} '
             f'(C={feat_shape[0]}, {feat_shape[1]}x{feat_shape[2]}), image '
             f'{img_name}\nchannels of every adjacency ordered by the '
             "teacher's Fiedler vector (same order in every row); students "
             'after their connector')
    render(rows, args.out, title, args.embed_dim)
    print(f'Wrote {args.out}')
    for line in lines:
        print(line)
    return rows


if __name__ == '__main__':
    main()
