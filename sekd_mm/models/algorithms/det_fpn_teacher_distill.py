# Copyright (c) sekd-mm contributors. All rights reserved.
"""MMRazor's FpnTeacherDistill with the class count set in one place and
a warm-up of the distillation losses."""
import copy
from typing import Dict, List, Optional, Union

from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from mmrazor.models.algorithms import FpnTeacherDistill
from mmrazor.models.algorithms.base import LossResults
from mmrazor.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class DetFpnTeacherDistill(FpnTeacherDistill):
    """``FpnTeacherDistill`` whose ``num_classes`` argument sets the class
    count of every head of the student (``architecture``) and the teacher,
    and whose distillation losses can ramp up over the first iterations.

    A distillation config copies the student's and the teacher's model dicts
    when it is read, so a derived config that changes ``num_classes`` would
    otherwise have to repeat it in ``model.architecture...`` and
    ``model.teacher...`` (``model.architecture.bbox_head.num_classes`` for
    RetinaNet, ``...roi_head.bbox_head.num_classes`` for Faster R-CNN).
    With this class one key does it, e.g. for a one-class dataset::

        model = dict(num_classes=1)
        # or: --cfg-options model.num_classes=1

    Every ``num_classes`` key found in either model dict is replaced;
    ``None`` (the default) leaves both models as configured.

    With ``distill_warmup_iters=N`` every distillation loss (the
    ``distill.*`` terms, whatever the distiller: SEKD's, MMRazor's PKD,
    CWD, MGD, ...) is multiplied by ``min(1, (iter + 1) / N)``, the
    runner's iteration read from MMEngine's ``MessageHub`` (no ramp outside
    a runner): the same warm-up is open to every method, e.g. over the
    learning rate's warm-up. Everything else is MMRazor's
    ``FpnTeacherDistill``.

    Args:
        architecture (dict): The student's config.
        teacher (dict): The teacher's config.
        num_classes (int, optional): Class count of both detectors.
        distill_warmup_iters (int): Iterations over which the distillation
            losses ramp up linearly; 0 (default) means none.
        **kwargs: ``FpnTeacherDistill``'s other arguments (``distiller``,
            ``teacher_ckpt``, ...).

    Raises:
        ValueError: ``num_classes`` < 1, or a model dict has no head with
            ``num_classes``.
        TypeError: ``num_classes`` given with an already built model.
    """

    def __init__(self,
                 architecture: Union[BaseModel, Dict],
                 teacher: Union[BaseModel, Dict],
                 num_classes: Optional[int] = None,
                 distill_warmup_iters: int = 0,
                 **kwargs) -> None:
        if isinstance(distill_warmup_iters, bool) or not isinstance(
                distill_warmup_iters, int) or distill_warmup_iters < 0:
            raise ValueError('distill_warmup_iters must be an int >= 0 (0: '
                             f'no warm-up), got {distill_warmup_iters!r}')
        if num_classes is not None:
            architecture = set_num_classes(architecture, num_classes,
                                           'architecture')
            teacher = set_num_classes(teacher, num_classes, 'teacher')
        self.num_classes = num_classes
        self.distill_warmup_iters = distill_warmup_iters
        super().__init__(architecture=architecture, teacher=teacher,
                         **kwargs)

    def warmup_factor(self) -> float:
        """``min(1, (iter + 1) / distill_warmup_iters)`` with the runner's
        current iteration (1 without warm-up or outside a runner)."""
        if not self.distill_warmup_iters:
            return 1.0
        it = MessageHub.get_current_instance().get_info('iter')
        if it is None:
            return 1.0
        return min(1.0, (int(it) + 1) / self.distill_warmup_iters)

    def loss(self,
             batch_inputs: Tensor,
             data_samples: Optional[List[BaseDataElement]] = None
             ) -> LossResults:
        """``FpnTeacherDistill.loss`` with the ``distill.*`` terms scaled by
        :meth:`warmup_factor`."""
        losses = super().loss(batch_inputs, data_samples)
        ramp = self.warmup_factor()
        if ramp == 1.0:
            return losses
        return {
            key: value * ramp if key.startswith('distill.') else value
            for key, value in losses.items()
        }


def set_num_classes(model: Union[BaseModel, Dict], num_classes: int,
                    name: str = 'model') -> Dict:
    """A copy of the model config ``model`` with every ``num_classes`` key
    (at any depth: ``bbox_head``, ``roi_head.bbox_head``, ...) set to
    ``num_classes``.

    Raises:
        ValueError: ``num_classes`` < 1 or no key found.
        TypeError: ``model`` is a built module, not a config dict.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) \
            or num_classes < 1:
        raise ValueError(f'num_classes must be a positive int, got '
                         f'{num_classes!r}')
    if not isinstance(model, dict):
        raise TypeError(f'num_classes needs `{name}` as a config dict, got '
                        f'a built {type(model).__name__}; set the class '
                        'count in its config instead.')
    model = copy.deepcopy(model)
    found: List[str] = []
    _set(model, num_classes, name, found)
    if not found:
        raise ValueError(f'`{name}` has no head with a num_classes key; '
                         'set the class count in its config instead.')
    return model


def _set(node, value: int, path: str, found: List[str]) -> None:
    if isinstance(node, dict):
        for key in list(node):
            if key == 'num_classes':
                node[key] = value
                found.append(f'{path}.{key}')
            else:
                _set(node[key], value, f'{path}.{key}', found)
    elif isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            _set(item, value, f'{path}.{i}', found)
