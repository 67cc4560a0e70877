# Copyright (c) sekd-mm contributors. All rights reserved.
"""SEKD distiller: multi-level CRG distillation on recorded feature maps."""
import difflib
import math
from dataclasses import asdict
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
from mmrazor.models.algorithms.base import LossResults
from mmrazor.models.distillers import ConfigurableDistiller
from mmrazor.models.task_modules import RecorderManager
from mmrazor.registry import MODELS
from torch import Tensor, nn

from ..losses import CRGEdgeLoss, CRGSpectralLoss, CRGVertexLoss
from ..utils import SHIPPED, batch_teacher_spectra, box_mask

TERMS = ('v', 'e', 's')


@MODELS.register_module()
class SEKDDistiller(ConfigurableDistiller):
    """Distiller of SEKD (Wang et al., arXiv:2405.08547).

    ``L_total = L_origin + alpha * L_V + beta * L_E + gamma * L_S`` on every
    distilled level (FPN level): vertices (:class:`CRGVertexLoss`), edges
    (:class:`CRGEdgeLoss`) and spectral embedding (:class:`CRGSpectralLoss`)
    of the Channels Relational Graph, with the paper's attention guidance as
    an option. For each
    level, the teacher and student graphs are built once per step
    (:class:`~sekd_mm.models.utils.CRGPair`) and shared by the three terms.
    Each weighted term is returned separately as
    ``loss_sekd_{v,e,s}_{level}``; a term whose weight is 0 is neither
    computed nor logged.

    Everything ``ConfigurableDistiller`` accepts still works (recorders,
    connectors, ``distill_losses`` + ``loss_forward_mappings``), so SEKD can
    be combined with other losses (e.g. EGA) in one distiller.

    Args:
        sekd (dict): The SEKD spec, with keys:

            - ``student_recorder`` / ``teacher_recorder`` (str): names of the
              recorders (in ``student_recorders`` / ``teacher_recorders``)
              holding the feature maps, e.g. ``'fpn'`` recording ``neck``.
            - ``levels`` (Sequence[str] | dict[str, int | None]): level names
              (used in loss names); a sequence maps the i-th name to output
              index ``i`` of the recorded module, a dict gives the index
              (``None`` for a module returning a single tensor).
            - ``vertex_levels`` (Sequence[str], optional): the levels whose
              vertex term ``L_V`` is computed (default: every level); the
              edges and the spectrum run on every level (a design
              candidate: the graph where the vertex term is off).
            - ``alpha``, ``beta``, ``gamma`` (float): weights of ``L_V``,
              ``L_E``, ``L_S`` (>= 0).
            - ``tau``, ``spatial_attention``, ``channel_attention`` (the
              paper's attention guidance), ``k``, ``groups`` (the spectral
              embedding), ``cells`` (local graphs): see the losses.
            - ``box_graph`` (bool): build the edges and the spectrum over
              the pixels inside the ground-truth boxes only (object-level
              graphs; :func:`~sekd_mm.models.utils.box_mask`); the boxes
              come from :meth:`set_data_samples`, which
              ``DetFpnTeacherDistill`` calls before every step.
            - ``edge_relation`` (str): ``'cka'`` makes ``L_E`` the CKA of
              the student's map before its connector and the teacher's
              (:class:`CRGEdgeLoss`).
            - ``spectral`` (str): ``'eigvals'`` makes ``L_S`` match the
              two Laplacians' low eigenvalues, ``'eigvals_own'`` with the
              student's from its map before its connector
              (:class:`CRGSpectralLoss`).
            - ``student_connectors`` (dict, optional): a connector config
              applied to each level (one instance per level), or a dict
              ``level -> connector config``; needed when the student's
              channels differ from the teacher's. A ``ConvModuleConnector``
              without ``act_cfg`` gets ``act_cfg=None`` here (MMRazor's
              default is a ReLU, which would make every student channel
              non-negative while the teacher's FPN maps are signed, so that
              the student's graph could never have negative edges).

            The design keys (weights, attention, spectral) default to the
            shipped design, :class:`~sekd_mm.models.utils.SEKDDesign`
            (``docs/method.md`` gives the measurements behind it). A
            distillation loss (SEKD's or any other of this distiller) that
            is NaN or inf raises ``FloatingPointError`` naming the term,
            before the optimizer step can corrupt the weights.
        **kwargs: ``ConfigurableDistiller`` arguments.
    """

    def __init__(self, sekd: Dict, **kwargs) -> None:
        super().__init__(**kwargs)
        spec = dict(sekd)
        self.sekd_student_recorder = spec.pop('student_recorder', 'fpn')
        self.sekd_teacher_recorder = spec.pop('teacher_recorder', 'fpn')
        self.sekd_levels = _parse_levels(spec.pop('levels', None))
        self.sekd_vertex_levels = _parse_vertex_levels(
            spec.pop('vertex_levels', None), self.sekd_levels)
        design = {key: spec.pop(key, value)
                  for key, value in asdict(SHIPPED).items()}
        self.sekd_weights = dict(
            v=design['alpha'], e=design['beta'], s=design['gamma'])
        self.sekd_box_graph = bool(design['box_graph'])
        self._boxes: Optional[Tuple[Tuple[int, int], list]] = None
        connectors = spec.pop('student_connectors', None)
        if spec:
            raise ValueError(f'Unknown SEKD option(s) {sorted(spec)}; see '
                             'the SEKDDistiller docstring for the keys.')
        loss_args = dict(
            tau=design['tau'],
            spatial_attention=design['spatial_attention'],
            channel_attention=design['channel_attention'],
            cells=design['cells'])

        self._check_recorder(self.sekd_student_recorder,
                             self.student_recorders, 'student')
        self._check_recorder(self.sekd_teacher_recorder,
                             self.teacher_recorders, 'teacher')
        for name, weight in self.sekd_weights.items():
            _check_weight(dict(v='alpha', e='beta', s='gamma')[name], weight)
        self.sekd_losses = nn.ModuleDict(
            dict(
                v=CRGVertexLoss(**loss_args),
                e=CRGEdgeLoss(relation=design['edge_relation'], **loss_args),
                s=CRGSpectralLoss(
                    k=design['k'],
                    groups=design['groups'],
                    form=design['spectral'],
                    **loss_args)))
        self.sekd_connector_names = self._build_sekd_connectors(connectors)
        self._channels: Dict[str, Dict[str, Optional[int]]] = {}

    def set_data_samples(self, batch_inputs: Tensor,
                         data_samples: Optional[Sequence] = None) -> None:
        """Keep this step's ground-truth boxes for ``box_graph`` (called by
        :class:`~sekd_mm.models.DetFpnTeacherDistill` before the forward
        passes; nothing is kept otherwise).

        Args:
            batch_inputs (Tensor): ``B x 3 x H x W`` padded batch.
            data_samples (Sequence[DetDataSample]): with
                ``gt_instances.bboxes`` (``N x 4``, ``x1 y1 x2 y2`` in input
                pixels).
        """
        if not self.sekd_box_graph:
            return
        boxes = []
        for sample in data_samples or []:
            bboxes = sample.gt_instances.bboxes
            boxes.append(getattr(bboxes, 'tensor', bboxes))
        self._boxes = (tuple(batch_inputs.shape[-2:]), boxes)

    def _region(self, feat_t: Tensor) -> Optional[Tensor]:
        """The ``box_graph`` mask of a level (None without it)."""
        if not self.sekd_box_graph:
            return None
        if self._boxes is None or len(self._boxes[1]) != feat_t.shape[0]:
            raise RuntimeError(
                'SEKD box_graph=True needs the ground-truth boxes of each '
                'step: use the algorithm DetFpnTeacherDistill (it calls '
                'SEKDDistiller.set_data_samples), or set box_graph=False.')
        input_hw, boxes = self._boxes
        return box_mask(boxes, input_hw, tuple(feat_t.shape[-2:])).to(
            feat_t.device)

    # ------------------------------------------------------------------
    # build-time validation
    # ------------------------------------------------------------------
    @staticmethod
    def _check_recorder(name: str, manager: RecorderManager,
                        side: str) -> None:
        if name not in manager.recorders:
            raise ValueError(
                f'SEKD {side}_recorder {name!r} is not in {side}_recorders '
                f'{sorted(manager.recorders)}. Add it, e.g. '
                f"{side}_recorders=dict({name}=dict(type='ModuleOutputs', "
                f"source='neck')).")

    def _build_sekd_connectors(self, cfg) -> Dict[str, str]:
        """Build per-level student connectors into ``self.connectors``."""
        if not cfg:
            return {}
        if 'type' in cfg:
            per_level = {name: cfg for name in self.sekd_levels}
        else:
            unknown = set(cfg) - set(self.sekd_levels)
            if unknown:
                raise ValueError(
                    f'student_connectors has unknown level(s) '
                    f'{sorted(unknown)}; levels are {list(self.sekd_levels)}')
            per_level = dict(cfg)
        names = {}
        for level, level_cfg in per_level.items():
            level_cfg = dict(level_cfg)
            if level_cfg.get('type') in ('ConvModuleConnector',
                                         'mmrazor.ConvModuleConnector'):
                level_cfg.setdefault('act_cfg', None)
            key = f'sekd_student_{level}'
            if key in self.connectors:
                raise ValueError(f'connector name {key!r} is reserved for '
                                 'SEKD; rename your connector')
            self.connectors[key] = MODELS.build(level_cfg)
            names[level] = key
        return names

    def prepare_from_student(self, model: nn.Module) -> None:
        """Initialize student recorders and validate against the model."""
        _initialize_recorders(self.student_recorders, model, 'student')
        self._channels['student'] = self._inspect(
            model, self.student_recorders, self.sekd_student_recorder,
            'student')
        self._cross_check()

    def prepare_from_teacher(self, model: nn.Module) -> None:
        """Initialize teacher recorders and validate against the model."""
        _initialize_recorders(self.teacher_recorders, model, 'teacher')
        self._channels['teacher'] = self._inspect(
            model, self.teacher_recorders, self.sekd_teacher_recorder,
            'teacher')
        self._cross_check()

    def _inspect(self, model: nn.Module, manager: RecorderManager,
                 recorder: str, side: str) -> Dict[str, Optional[int]]:
        """Channels of each level if the recorded module exposes them
        (mmdet's FPN has ``out_channels`` and ``num_outs``)."""
        source = getattr(manager.recorders[recorder], 'source', None)
        module = dict(model.named_modules()).get(source)
        num_outs = getattr(module, 'num_outs', None)
        channels = getattr(module, 'out_channels', None)
        for name, idx in self.sekd_levels.items():
            if num_outs is not None and idx is not None and not (
                    -num_outs <= idx < num_outs):
                raise ValueError(
                    f'Unknown SEKD level {name!r}: it maps to output index '
                    f'{idx} but the {side} {source!r} has {num_outs} outputs '
                    f'(indices 0..{num_outs - 1}). Fix `levels`, e.g. '
                    f"levels=('p3', 'p4', 'p5', 'p6', 'p7') for RetinaNet.")
        if not isinstance(channels, int):
            return {}
        return {name: channels for name in self.sekd_levels}

    def _cross_check(self) -> None:
        if len(self._channels) < 2:
            return
        student, teacher = self._channels['student'], self._channels['teacher']
        for name in self.sekd_levels:
            c_s, c_t = student.get(name), teacher.get(name)
            if c_t is not None and self.sekd_weights['s'] > 0:
                self.sekd_losses['s'].check_channels(c_t)
            if (c_s is None or c_t is None or c_s == c_t
                    or name in self.sekd_connector_names):
                continue
            raise ValueError(
                f'SEKD level {name!r}: student has {c_s} channels, teacher '
                f'{c_t}. Add a student connector, e.g. sekd=dict(..., '
                f"student_connectors=dict(type='ConvModuleConnector', "
                f'in_channel={c_s}, out_channel={c_t}, act_cfg=None)).')

    # ------------------------------------------------------------------
    # losses
    # ------------------------------------------------------------------
    def level_features(self, name: str) -> Tuple[Tensor, Tensor]:
        """Recorded (student after connector, teacher) maps of a level."""
        idx = self.sekd_levels[name]
        feat_s = self.get_record(
            self.sekd_student_recorder,
            from_student=True,
            data_idx=idx,
            connector=self.sekd_connector_names.get(name))
        feat_t = self.get_record(
            self.sekd_teacher_recorder, from_student=False, data_idx=idx)
        return feat_s, feat_t

    def student_own(self, name: str) -> Tensor:
        """The student's recorded map of a level before its connector."""
        return self.get_record(
            self.sekd_student_recorder, from_student=True,
            data_idx=self.sekd_levels[name])

    def compute_sekd_losses(self) -> LossResults:
        """Weighted SEKD terms of every level, ``loss_sekd_{term}_{level}``.

        The teacher spectra of all levels are computed in one batched
        eigensolve (:func:`~sekd_mm.models.utils.batch_teacher_spectra`).
        """
        # The three losses share their graph settings, so any of them
        # builds the pair all three read.
        own = any(self.sekd_weights[term] > 0 and loss.reads_student_own
                  for term, loss in self.sekd_losses.items())
        pairs = {}
        for name in self.sekd_levels:
            feat_s, feat_t = self.level_features(name)
            pairs[name] = self.sekd_losses['v'].make_pair(
                feat_s, feat_t, region=self._region(feat_t),
                student_own=self.student_own(name) if own else None)
        if self.sekd_weights['s'] > 0:
            batch_teacher_spectra(list(pairs.values()),
                                  self.sekd_losses['s'].k)
        losses = {}
        for name, pair in pairs.items():
            for term in TERMS:
                weight = self.sekd_weights[term]
                if weight == 0 or (term == 'v' and
                                   name not in self.sekd_vertex_levels):
                    continue
                losses[f'loss_sekd_{term}_{name}'] = \
                    weight * self.sekd_losses[term].compute(pair)
        return losses

    def compute_distill_losses(self) -> LossResults:
        """``ConfigurableDistiller`` losses plus the SEKD terms, checked to
        be finite (all of them, e.g. EGA's too): a NaN or inf raises
        ``FloatingPointError`` naming the term, before the optimizer step can
        corrupt the weights."""
        losses = super().compute_distill_losses()
        sekd = self.compute_sekd_losses()
        clash = set(losses) & set(sekd)
        if clash:
            raise ValueError(f'distill_losses names {sorted(clash)} clash '
                             'with SEKD loss names; rename them')
        losses.update(sekd)
        if losses:
            _raise_if_not_finite(losses)
        return losses


def _parse_levels(
    levels: Union[None, Sequence[str], Mapping[str, Optional[int]]]
) -> Dict[str, Optional[int]]:
    if not levels:
        raise ValueError("SEKD needs `levels`, e.g. levels=('p3', 'p4', "
                         "'p5', 'p6', 'p7') for the 5 FPN outputs")
    if isinstance(levels, str):
        raise TypeError('levels must be a sequence or dict of level names, '
                        f'got the string {levels!r}')
    if isinstance(levels, Mapping):
        parsed = dict(levels)
    else:
        parsed = {name: i for i, name in enumerate(levels)}
        if len(parsed) != len(levels):
            raise ValueError(f'duplicate level names in {list(levels)}')
    for name, idx in parsed.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f'level names must be identifiers (they appear '
                             f'in loss names), got {name!r}')
        if idx is not None and not isinstance(idx, int):
            raise TypeError(f'level {name!r} index must be an int or None, '
                            f'got {idx!r}')
    return parsed


def _parse_vertex_levels(levels: Optional[Sequence[str]],
                         all_levels: Mapping[str, Optional[int]]) -> set:
    """The levels of ``vertex_levels`` (every level when None)."""
    if levels is None:
        return set(all_levels)
    if isinstance(levels, str):
        raise TypeError('vertex_levels must be a sequence of level names, '
                        f'got the string {levels!r}')
    unknown = [name for name in levels if name not in all_levels]
    if unknown:
        raise ValueError(f'vertex_levels {unknown} are not SEKD levels; '
                         f'choose among levels={list(all_levels)}')
    return set(levels)


def _check_weight(name: str, weight: float) -> None:
    if not isinstance(weight, (int, float)) or not 0 <= weight < math.inf:
        raise ValueError(f'SEKD weight {name} must be a number >= 0, '
                         f'finite, got {weight!r}')


def _initialize_recorders(manager: RecorderManager, model: nn.Module,
                          side: str) -> None:
    """``RecorderManager.initialize`` with an error that names the fix."""
    modules = [name for name, _ in model.named_modules() if name]
    for name, recorder in manager.recorders.items():
        source = getattr(recorder, 'source', None)
        module_based = type(recorder).__name__.startswith('Module')
        if module_based and source not in modules:
            close = difflib.get_close_matches(str(source), modules, n=3)
            raise ValueError(
                f'{side}_recorders[{name!r}]: source {source!r} is not a '
                f'submodule of the {side} ({type(model).__name__}). '
                + (f'Did you mean {close}? ' if close else '') +
                f'Top-level modules: '
                f'{[n for n in modules if "." not in n]}.')
    manager.initialize(model)


def _raise_if_not_finite(losses: Dict[str, Tensor]) -> None:
    values = torch.stack([v.detach().float() for v in losses.values()])
    finite = torch.isfinite(values)
    if bool(finite.all()):
        return
    bad = [k for k, ok in zip(losses, finite.tolist()) if not ok]
    raise FloatingPointError(
        f'Distillation loss(es) {bad} are not finite; stopping before the '
        'optimizer step corrupts the weights. Check the teacher checkpoint, '
        'lower the learning rate or the SEKD weights, or use gradient '
        'clipping.')
