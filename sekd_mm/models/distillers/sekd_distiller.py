# Copyright (c) sekd-mm contributors. All rights reserved.
"""SEKD distiller: multi-level CRG distillation on recorded feature maps."""
from typing import Dict, Tuple

from mmrazor.models.algorithms.base import LossResults
from mmrazor.models.distillers import ConfigurableDistiller
from mmrazor.models.task_modules import RecorderManager
from mmrazor.registry import MODELS
from torch import Tensor, nn

from ..losses import CRGEdgeLoss, CRGSpectralLoss, CRGVertexLoss
from ..utils import batch_teacher_spectra
from .sekd_checks import (build_connectors, cross_check, level_channels,
                          parse_spec, raise_if_not_finite)

TERMS = ('v', 'e', 's')


@MODELS.register_module()
class SEKDDistiller(ConfigurableDistiller):
    """Distiller of SEKD (Wang et al., arXiv:2405.08547).

    ``L_total = L_origin + alpha * L_V + beta * L_E + gamma * L_S`` on every
    distilled level (FPN level): vertices (:class:`CRGVertexLoss`), edges
    (:class:`CRGEdgeLoss`) and spectral embedding (:class:`CRGSpectralLoss`)
    of the Channels Relational Graph, with the paper's attention guidance as
    an option. For each level, the teacher and student graphs are built
    once per step (:class:`~sekd_mm.models.utils.CRGPair`) and shared by the
    three terms. Each weighted term is returned separately as
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
            - ``alpha``, ``beta``, ``gamma`` (float): weights of ``L_V``,
              ``L_E``, ``L_S`` (>= 0).
            - ``tau``, ``spatial_attention``, ``channel_attention`` (the
              paper's attention guidance), ``k``, ``groups`` (the spectral
              embedding): see the losses.
            - ``student_connectors`` (dict, optional): a connector config
              applied to each level (one instance per level), or a dict
              ``level -> connector config``; needed when the student's
              channels differ from the teacher's. A ``ConvModuleConnector``
              without ``act_cfg`` gets ``act_cfg=None``
              (:func:`~.sekd_checks.build_connectors` says why).

            The design keys (weights, attention, spectral) default to the
            shipped design, :class:`~sekd_mm.models.utils.SEKDDesign`
            (``docs/method.md`` gives the measurements behind it). The spec
            is checked when the distiller is built, the channels of the
            recorded models when the algorithm prepares them
            (:mod:`.sekd_checks`). A distillation loss (SEKD's or any other
            of this distiller) that is NaN or inf raises
            ``FloatingPointError`` naming the term, before the optimizer
            step can corrupt the weights.
        **kwargs: ``ConfigurableDistiller`` arguments.
    """

    def __init__(self, sekd: Dict, **kwargs) -> None:
        super().__init__(**kwargs)
        spec = parse_spec(sekd, self.student_recorders,
                          self.teacher_recorders)
        self.sekd_student_recorder = spec.student_recorder
        self.sekd_teacher_recorder = spec.teacher_recorder
        self.sekd_levels = spec.levels
        design = spec.design
        self.sekd_weights = dict(
            v=design.alpha, e=design.beta, s=design.gamma)
        attention = dict(
            tau=design.tau,
            spatial_attention=design.spatial_attention,
            channel_attention=design.channel_attention)
        self.sekd_losses = nn.ModuleDict(
            dict(
                v=CRGVertexLoss(**attention),
                e=CRGEdgeLoss(**attention),
                s=CRGSpectralLoss(
                    k=design.k, groups=design.groups, **attention)))
        self.sekd_connector_names = build_connectors(
            spec.connectors, self.sekd_levels, self.connectors)
        self._channels: Dict[str, Dict[str, int]] = {}

    # ------------------------------------------------------------------
    # recorded models
    # ------------------------------------------------------------------
    def prepare_from_student(self, model: nn.Module) -> None:
        """Initialize the student recorders and check the levels."""
        super().prepare_from_student(model)
        self._prepared(model, 'student', self.student_recorders,
                       self.sekd_student_recorder)

    def prepare_from_teacher(self, model: nn.Module) -> None:
        """Initialize the teacher recorders and check the levels."""
        super().prepare_from_teacher(model)
        self._prepared(model, 'teacher', self.teacher_recorders,
                       self.sekd_teacher_recorder)

    def _prepared(self, model: nn.Module, side: str,
                  manager: RecorderManager, recorder: str) -> None:
        """Check one side's levels; once both sides are in, their channels
        against each other (:func:`~.sekd_checks.cross_check`)."""
        self._channels[side] = level_channels(model, manager, recorder,
                                              self.sekd_levels, side)
        if len(self._channels) == 2:
            spectral = self.sekd_losses['s'] \
                if self.sekd_weights['s'] > 0 else None
            cross_check(self._channels['student'], self._channels['teacher'],
                        self.sekd_connector_names, spectral)

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

    def compute_sekd_losses(self) -> LossResults:
        """Weighted SEKD terms of every level, ``loss_sekd_{term}_{level}``.

        The three losses share their graph settings, so any of them builds
        the pair all three read; the teacher spectra of all levels are
        computed in one batched eigensolve
        (:func:`~sekd_mm.models.utils.batch_teacher_spectra`).
        """
        pairs = {
            name: self.sekd_losses['v'].make_pair(*self.level_features(name))
            for name in self.sekd_levels
        }
        if self.sekd_weights['s'] > 0:
            batch_teacher_spectra(list(pairs.values()),
                                  self.sekd_losses['s'].k)
        losses = {}
        for name, pair in pairs.items():
            for term in TERMS:
                weight = self.sekd_weights[term]
                if weight > 0:
                    losses[f'loss_sekd_{term}_{name}'] = \
                        weight * self.sekd_losses[term].compute(pair)
        return losses

    def compute_distill_losses(self) -> LossResults:
        """``ConfigurableDistiller`` losses plus the SEKD terms, checked to
        be finite (all of them, e.g. EGA's too)."""
        losses = super().compute_distill_losses()
        sekd = self.compute_sekd_losses()
        clash = set(losses) & set(sekd)
        if clash:
            raise ValueError(f'distill_losses names {sorted(clash)} clash '
                             'with SEKD loss names; rename them')
        losses.update(sekd)
        raise_if_not_finite(losses)
        return losses
