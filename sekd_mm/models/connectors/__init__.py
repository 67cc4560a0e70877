# Copyright (c) sekd-mm contributors. All rights reserved.
from .ega_embedding import EGAEmbedding

__all__ = ['EGAEmbedding']
