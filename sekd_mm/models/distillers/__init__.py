# Copyright (c) sekd-mm contributors. All rights reserved.
from .sekd_distiller import SEKDDistiller

__all__ = ['SEKDDistiller']
