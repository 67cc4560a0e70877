# Copyright (c) sekd-mm contributors. All rights reserved.
"""Compatibility fixes for the verified stack, applied on import.

``sekd_mm/__init__.py`` imports this module before anything else, so the
fixes are in place whether ``sekd_mm`` is loaded through
``custom_imports`` or by a tool. Both are no-ops where not needed.

1. **mmrazor 1.0.0 under torch >= 2.x.** ``mmrazor.structures.quantization``
   builds ``torch.ao`` backend configs at import time, which fails on
   recent torch, and ``mmrazor.structures`` star-imports it, so
   ``register_all_modules()`` and every distiller import break.
   Distillation never uses it. :func:`patch_mmrazor_quantization` first
   tries the real package; only if that import fails, it installs a
   finder that serves ``mmrazor.structures.quantization`` (and its
   submodules) as stubs: importing names from them works, *using* any of
   them raises :class:`UnsupportedQuantizationError` with the reason.
   mmrazor itself must not have imported its ``models``/``structures``
   before this runs: import ``sekd_mm`` first (our tools do), or use
   ``custom_imports`` in the config.

2. **Runner checkpoints under ``torch.load(weights_only=True)``** (the
   default since torch 2.6). MMEngine checkpoints carry a ``message_hub``
   of :class:`~mmengine.logging.HistoryBuffer` objects holding numpy
   arrays and scalars. :func:`allow_mmengine_checkpoints` allow-lists
   exactly those types. ``HistoryBuffer``'s state pickles its statistics
   methods as ``getattr(HistoryBuffer, 'min')`` (pickle protocol 2), so
   ``builtins.getattr`` is mapped to :func:`history_buffer_getattr`, which
   accepts only attribute lookups of registered statistics methods on
   ``HistoryBuffer`` and refuses everything else (``getattr(os, 'system')``
   stays impossible). Any other pickled global is still refused.

3. **Distributed training on CPU (gloo).** With a torch built without
   CUDA, MMEngine's ``pytorch`` launcher calls ``torch.cuda.set_device``
   and its DDP wrapper passes ``device_ids=[LOCAL_RANK]``, both of which
   fail for CPU modules. :func:`patch_mmengine_cpu_distributed` makes both
   CUDA-only steps conditional: without CUDA the process group uses
   ``gloo`` (whatever ``env_cfg.dist_cfg.backend`` says) and DDP wraps the
   CPU model without ``device_ids``. With CUDA nothing changes.

4. **setuptools' ``pkg_resources`` deprecation warning.** MMEngine's
   ``is_installed`` (called whenever a config names ``mmdet::``)
   re-imports ``pkg_resources`` with ``importlib.reload``, and setuptools
   >= 67 warns on every import, so each tool printed the warning three or
   four times. :func:`silence_pkg_resources_warning` filters exactly that
   message; every other warning still shows.
"""
import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from typing import Any, List

import numpy as np
import torch

QUANT_PKG = 'mmrazor.structures.quantization'


class UnsupportedQuantizationError(RuntimeError):
    """Raised when an MMRazor quantization feature is used with a torch
    whose ``torch.ao`` API mmrazor 1.0.0 cannot import."""


class _Unsupported:
    """Placeholder for a name of the stubbed quantization package."""

    def __init__(self, name: str, reason: str) -> None:
        self._name, self._reason = name, reason

    def _fail(self, *args, **kwargs):
        raise UnsupportedQuantizationError(
            f'{self._name} is unavailable: MMRazor quantization is not '
            f'supported with torch {torch.__version__} in this environment '
            f'(importing {QUANT_PKG} failed: {self._reason}). sekd_mm only '
            'needs MMRazor distillation; for quantization use an '
            f'environment where `import {QUANT_PKG}` works.')

    __call__ = _fail
    __getitem__ = _fail
    __iter__ = _fail

    def __getattr__(self, attr: str):
        if attr.startswith('__'):
            raise AttributeError(attr)
        self._fail()

    def __repr__(self) -> str:
        return f'<unsupported {self._name}>'


class _StubModule(types.ModuleType):
    """A module whose every public attribute is an :class:`_Unsupported`."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(name)
        self.__all__: List[str] = []
        self.__path__: List[str] = []  # a package: submodules resolve too
        self._reason = reason

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith('__'):
            raise AttributeError(attr)
        return _Unsupported(f'{self.__name__}.{attr}', self._reason)


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves :data:`QUANT_PKG` and its submodules as :class:`_StubModule`.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def find_spec(self, fullname, path=None, target=None):
        if fullname == QUANT_PKG or fullname.startswith(QUANT_PKG + '.'):
            return importlib.machinery.ModuleSpec(
                fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StubModule(spec.name, self.reason)

    def exec_module(self, module):
        pass


def patch_mmrazor_quantization() -> bool:
    """Make ``mmrazor`` importable when its quantization package is not.

    Returns:
        bool: True if the stub was installed, False if not needed.
    """
    if any(isinstance(f, _StubFinder) for f in sys.meta_path):
        return True
    if QUANT_PKG in sys.modules:
        return False  # the real package imported fine earlier
    try:
        importlib.import_module(QUANT_PKG)
        return False
    except ImportError as e:
        if e.name in ('mmrazor', 'mmcv', 'mmengine'):
            raise  # not installed: nothing to patch
        reason = f'{type(e).__name__}: {e}'
    except Exception as e:  # noqa: BLE001 - torch.ao raises many types
        reason = f'{type(e).__name__}: {e}'
    # Drop the half-imported packages so that they re-import on the stub.
    for name in list(sys.modules):
        if name == 'mmrazor.structures' or name.startswith(
                'mmrazor.structures.'):
            del sys.modules[name]
    sys.meta_path.insert(0, _StubFinder(reason))
    return True


# ---------------------------------------------------------------------------
# weights_only checkpoint loading
# ---------------------------------------------------------------------------
_HISTORY_BUFFER_DEFAULTS = frozenset({'min', 'max', 'current', 'mean'})


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stand-in for ``builtins.getattr`` inside ``weights_only`` unpickling.

    Only ``getattr(HistoryBuffer, <registered statistics method>)`` is
    allowed, which is what MMEngine's ``HistoryBuffer`` state pickles.
    """
    from mmengine.logging import HistoryBuffer

    # The defaults are registered lazily (in HistoryBuffer.__init__), so a
    # fresh process that resumes has not seen them yet.
    allowed = _HISTORY_BUFFER_DEFAULTS | set(
        getattr(HistoryBuffer, '_statistics_methods', {}))
    if (obj is HistoryBuffer and isinstance(name, str) and name in allowed
            and isinstance(vars(HistoryBuffer).get(name), types.FunctionType)):
        return getattr(HistoryBuffer, name)
    raise torch.serialization.pickle.UnpicklingError(
        f'weights_only load refused getattr({obj!r}, {name!r}): only '
        'statistics methods of mmengine HistoryBuffer are allow-listed')


def _numpy_globals() -> List[Any]:
    """numpy reconstructors and dtypes found in runner checkpoints."""
    if np.lib.NumpyVersion(np.__version__) >= '2.0.0':
        from numpy._core import multiarray
    else:
        from numpy.core import multiarray
    items: List[Any] = [
        multiarray._reconstruct,
        multiarray.scalar,
        np.ndarray,
        np.dtype,
    ]
    dtypes = getattr(np, 'dtypes', None)
    for name in ('Float64DType', 'Float32DType', 'Float16DType',
                 'Int64DType', 'Int32DType', 'Int16DType', 'Int8DType',
                 'UInt8DType', 'BoolDType'):
        if dtypes is not None and hasattr(dtypes, name):
            items.append(getattr(dtypes, name))
    return items


def allow_mmengine_checkpoints() -> None:
    """Allow-list the types of MMEngine runner checkpoints for
    ``torch.load(weights_only=True)``. Idempotent; no-op on old torch."""
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:
        return
    from mmengine.logging import HistoryBuffer
    add([HistoryBuffer, (history_buffer_getattr, 'builtins.getattr')] +
        _numpy_globals())


# ---------------------------------------------------------------------------
# distributed training on CPU
# ---------------------------------------------------------------------------
def patch_mmengine_cpu_distributed() -> None:
    """Let MMEngine's ``pytorch`` launcher and DDP wrapper run on CPU.

    Idempotent; with CUDA available both patched functions behave exactly
    as MMEngine's.
    """
    from mmengine.dist import utils as dist_utils
    from mmengine.model.wrappers import MMDistributedDataParallel

    init_pytorch = dist_utils._init_dist_pytorch
    if not getattr(init_pytorch, '_sekd_cpu_patch', False):

        def _init_dist_pytorch(backend, init_backend='torch', **kwargs):
            if torch.cuda.is_available() or init_backend != 'torch':
                return init_pytorch(backend, init_backend, **kwargs)
            import torch.distributed as torch_dist
            torch_dist.init_process_group(backend='gloo', **kwargs)

        _init_dist_pytorch._sekd_cpu_patch = True
        dist_utils._init_dist_pytorch = _init_dist_pytorch

    ddp_init = MMDistributedDataParallel.__init__
    if not getattr(ddp_init, '_sekd_cpu_patch', False):

        def __init__(self, module, *args, **kwargs):
            on_cpu = all(not p.is_cuda for p in module.parameters())
            if on_cpu and not torch.cuda.is_available():
                kwargs.pop('device_ids', None)
                kwargs.pop('output_device', None)
            ddp_init(self, module, *args, **kwargs)

        __init__._sekd_cpu_patch = True
        MMDistributedDataParallel.__init__ = __init__


def silence_pkg_resources_warning() -> None:
    """Ignore setuptools' ``pkg_resources is deprecated`` UserWarning (and
    nothing else), which MMEngine's package checks trigger."""
    warnings.filterwarnings(
        'ignore', message='pkg_resources is deprecated', category=UserWarning)


silence_pkg_resources_warning()
patch_mmrazor_quantization()
allow_mmengine_checkpoints()
patch_mmengine_cpu_distributed()
