# Copyright (c) sekd-mm contributors. All rights reserved.
"""Node-embedding layer of Embedding Graph Alignment (EGA)."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmrazor.models.architectures.connectors.base_connector import \
    BaseConnector
from mmrazor.registry import MODELS
from torch import Tensor, nn

Features = Union[Tensor, Sequence[Tensor]]


@MODELS.register_module()
class EGAEmbedding(BaseConnector):
    """Per-image node embeddings of EGA (poster, seed 002: "feed the
    extracted features to individual node embedding layers").

    Global average pooling of a feature map ``B x C x H x W``, or of each
    level of a tuple/list of ``L`` maps (e.g. the FPN outputs, of different
    sizes) with the pooled vectors concatenated (``B x sum_l C_l``, i.e.
    ``B x (C * L)``), followed by a small projection to ``B x embed_dim``:
    ``Linear(C * L, hidden) -> ReLU -> Linear(hidden, embed_dim)`` when
    ``hidden`` is given, else one ``Linear(C * L, embed_dim)``. An input
    that is already ``B x (C * L)`` only goes through the projection.

    Use one instance on the student side and one on the teacher side, as
    ``connectors`` of a ``ConfigurableDistiller`` (or ``SEKDDistiller``),
    feeding :class:`~sekd_mm.models.losses.EGAEdgeLoss` /
    :class:`~sekd_mm.models.losses.EGANodeLoss`. With the losses' default
    ``detach_teacher=True`` the teacher-side instance gets no gradient and
    should be ``frozen=True``: a fixed random projection, so that the
    teacher graph can neither drift nor collapse (it is still saved in
    checkpoints, so a resumed run uses the same projection).

    Args:
        in_channels (int | Sequence[int]): Channels of each level, one int
            for all levels (e.g. 256 for an FPN) or one per level.
        embed_dim (int): Embedding size ``D`` (>= 2). Defaults to 128.
        num_levels (int, optional): Number of input levels. Defaults to
            ``len(in_channels)`` for a sequence, else 1.
        hidden (int, optional): Hidden width of a 2-layer projection with
            ReLU. Defaults to None (one linear layer).
        frozen (bool): Set ``requires_grad=False`` on the projection
            (a fixed random projection). Defaults to False.
        init_cfg (dict, optional): MMEngine init config. Defaults to None
            (PyTorch's default ``nn.Linear`` initialisation).
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 embed_dim: int = 128,
                 num_levels: Optional[int] = None,
                 hidden: Optional[int] = None,
                 frozen: bool = False,
                 init_cfg: Optional[Dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(in_channels, int):
            num_levels = 1 if num_levels is None else num_levels
            if num_levels < 1:
                raise ValueError(f'num_levels must be >= 1, got {num_levels}')
            channels = [in_channels] * num_levels
        else:
            channels = [int(c) for c in in_channels]
            if num_levels is not None and num_levels != len(channels):
                raise ValueError(f'num_levels={num_levels} disagrees with '
                                 f'in_channels={channels}')
        if not channels or any(c < 1 for c in channels):
            raise ValueError(f'in_channels must be positive, got {channels}')
        if embed_dim < 2:
            raise ValueError('embed_dim must be >= 2 (Pearson correlation '
                             f'needs 2 features), got {embed_dim}')
        if hidden is not None and hidden < 1:
            raise ValueError(f'hidden must be >= 1 or None, got {hidden}')
        self.in_channels: List[int] = channels
        self.num_levels = len(channels)
        self.embed_dim = embed_dim
        self.hidden = hidden
        self.frozen = frozen
        in_features = sum(channels)
        if hidden is None:
            self.projection = nn.Linear(in_features, embed_dim)
        else:
            self.projection = nn.Sequential(
                nn.Linear(in_features, hidden), nn.ReLU(inplace=True),
                nn.Linear(hidden, embed_dim))
        if frozen:
            self.projection.requires_grad_(False)

    @property
    def in_features(self) -> int:
        """Length ``sum_l C_l`` of the pooled, concatenated vector."""
        return sum(self.in_channels)

    def _expected(self) -> str:
        channels = set(self.in_channels)
        if len(channels) == 1:
            return (f'{self.num_levels} level(s) x {self.in_channels[0]} '
                    'channels')
        return f'{self.num_levels} levels with channels {self.in_channels}'

    def pool(self, feature: Features) -> Tensor:
        """Globally average-pooled, concatenated input, ``B x sum_l C_l``.

        Args:
            feature (Tensor | Sequence[Tensor]): ``B x C x H x W``, a
                sequence of ``L`` such maps (sizes may differ), or an
                already pooled ``B x sum_l C_l``.

        Returns:
            Tensor: ``B x sum_l C_l``.
        """
        if isinstance(feature, Tensor) and feature.dim() == 2:
            if feature.shape[1] != self.in_features:
                raise ValueError(
                    f'EGAEmbedding expected {self._expected()} '
                    f'(pooled: B x {self.in_features}), got a B x D input of '
                    f'shape {tuple(feature.shape)}. '
                    + _fix([feature.shape[1]]))
            return feature
        levels = [feature] if isinstance(feature, Tensor) else feature
        if not isinstance(levels, (list, tuple)) or not all(
                isinstance(x, Tensor) for x in levels):
            raise TypeError('EGAEmbedding takes a tensor or a sequence of '
                            f'tensors, got {type(feature).__name__}')
        shapes = [tuple(x.shape) for x in levels]
        if any(len(s) != 4 for s in shapes):
            raise ValueError('EGAEmbedding takes B x C x H x W maps (or a '
                             f'pooled B x D), got shapes {shapes}')
        got = [s[1] for s in shapes]
        if got != self.in_channels:
            raise ValueError(
                f'EGAEmbedding expected {self._expected()}, got '
                f'{len(got)} level(s) with channels {got}. ' + _fix(got))
        if len({s[0] for s in shapes}) != 1:
            raise ValueError('EGAEmbedding: levels have different batch '
                             f'sizes, shapes {shapes}')
        return torch.cat([x.mean(dim=(2, 3)) for x in levels], dim=1)

    def forward_train(self, feature: Features) -> Tensor:
        """Node embeddings.

        Args:
            feature (Tensor | Sequence[Tensor]): See :meth:`pool`.

        Returns:
            Tensor: ``B x embed_dim``.
        """
        pooled = self.pool(feature)
        # Features may come in a lower precision than the projection (e.g.
        # a half-precision teacher); under autocast the Linear recasts.
        weight = next(self.projection.parameters())
        return self.projection(pooled.to(weight.dtype))


def _fix(channels: List[int]) -> str:
    """How to configure EGAEmbedding for inputs with these channels."""
    if len(set(channels)) == 1:
        args = f'in_channels={channels[0]}, num_levels={len(channels)}'
    else:
        args = f'in_channels={channels}'
    return f'Set the EGAEmbedding connector to {args} in the config.'
