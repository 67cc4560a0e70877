# Copyright (c) sekd-mm contributors. All rights reserved.
"""sekd_mm: SEKD / EGA graph-based knowledge distillation for OpenMMLab.

Importing the package applies the compatibility fixes of
:mod:`sekd_mm.compat` (first, before mmrazor is imported) and registers the
components into MMRazor's ``MODELS`` and MMDetection's ``DATASETS``
registries, e.g. through ``custom_imports=dict(imports=['sekd_mm'])``.
"""
from . import compat  # noqa: F401,I001  (must run before mmrazor imports)
from .datasets import *  # noqa: F401,F403
from .engine import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .version import __version__

__all__ = ['__version__']
