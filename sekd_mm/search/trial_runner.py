# Copyright (c) sekd-mm contributors. All rights reserved.
"""Run one trial of a search: one training subprocess with the pruning hook,
and what became of it (COMPLETE, PRUNED or FAIL)."""
import os
import os.path as osp
import re
import subprocess
import sys
import time
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

from mmengine.config import Config

from sekd_mm.apis import launch_args, read_records, scalar_files, train_args
from sekd_mm.utils import find_config
from .protocol import COMPLETE, FAIL, PRUNED
from .pruning_hook import read_state

#: The derived config of a trial, in its work dir (MMEngine then dumps the
#: resolved config over it).
TRIAL_CONFIG = 'search_trial.py'
#: The training's output (stdout and stderr), in its work dir.
LOG_FILE = 'train.log'
#: Modules a trial's config imports: the project, and the search (which
#: registers the pruning hook).
IMPORTS = ('sekd_mm', 'sekd_mm.search')


class TrialResult(NamedTuple):
    """What became of a training.

    Attributes:
        state: ``'COMPLETE'``, ``'PRUNED'`` or ``'FAIL'``.
        value: the metric at the last iteration (COMPLETE only).
        iters: training iterations it ran (FAIL: the last one logged).
        pruned_step: the iteration it was pruned at (PRUNED only).
        reason: why it failed (FAIL only): the ``FloatingPointError`` line
            that names a non-finite loss, else the error that ended it.
        reports: the ``(iteration, value)`` pairs reported to the trial.
        seconds: wall time of the subprocess.
    """
    state: str
    value: Optional[float]
    iters: int
    pruned_step: Optional[int] = None
    reason: str = ''
    reports: Tuple[Tuple[int, float], ...] = ()
    seconds: float = 0.0


def trial_config(config: str, hook: dict, path: str) -> str:
    """Write ``config`` with ``hook`` appended to its ``custom_hooks`` and
    :data:`IMPORTS` to its ``custom_imports`` (``--cfg-options`` can append
    to neither list) to ``path``, a config whose ``_base_`` is ``config``.

    Args:
        config: a config file (absolute, or relative to the current folder),
            the name of a shipped config (``sekd-mm train``) or an
            ``mmdet::`` name.
        hook: the hook's config dict.
        path: the file to write.

    Returns:
        str: ``path``.
    """
    base = config if '::' in config else osp.abspath(find_config(config))
    head = f'_base_ = [{base!r}]\n'
    with open(path, 'w', encoding='utf-8') as f:
        f.write(head)
    cfg = Config.fromfile(path, import_custom_modules=False)
    imports = dict(cfg.get('custom_imports') or {})
    modules = imports.get('imports', [])
    modules = [modules] if isinstance(modules, str) else list(modules)
    modules += [m for m in IMPORTS if m not in modules]
    imports.update(imports=modules, allow_failed_imports=imports.get(
        'allow_failed_imports', False))
    hooks = [dict(h) for h in cfg.get('custom_hooks') or []] + [hook]
    with open(path, 'w', encoding='utf-8') as f:
        f.write(f'# A trial of a search (sekd_mm.search): {config} with the '
                'pruning hook.\n' + head +
                f'custom_imports = {imports!r}\ncustom_hooks = {hooks!r}\n')
    return path


def _die_with_parent() -> None:  # pragma: no cover (runs in the child)
    """Linux: the training gets SIGTERM when its worker dies (``kill -9``):
    no orphan trains on. Elsewhere a killed worker leaves it running."""
    try:
        import ctypes
        import signal
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_trial(config: str, cfg_options: Sequence[str], seed: int,
              work_dir: str, hook: dict, *, threads: Optional[int] = None,
              launcher: str = 'none', nproc: Optional[int] = None,
              on_wait: Optional[Callable[[], None]] = None,
              wait_s: float = 30.0) -> TrialResult:
    """Train ``config`` (with ``cfg_options``, ``--seed seed``) in
    ``work_dir`` with the pruning ``hook`` and return what became of it.

    The training is ``python`` + :func:`sekd_mm.apis.train_args` on
    :func:`trial_config`, from the current folder; its output goes to
    ``work_dir/train.log``.

    Args:
        config, cfg_options, seed, work_dir: the training.
        hook: the :class:`~sekd_mm.search.OptunaPruningHook` config.
        threads: ``--threads`` of the training (torch CPU threads).
        launcher, nproc: ``'pytorch'`` trains under torchrun with
            ``nproc`` processes (DDP, :func:`sekd_mm.apis.launch_args`;
            the hook's rank 0 reports, every rank follows its decision).
        on_wait: called when it starts and every ``wait_s`` seconds while
            it runs (the worker's heartbeat).
        wait_s: see ``on_wait``.
    """
    os.makedirs(work_dir, exist_ok=True)
    path = trial_config(config, hook, osp.join(work_dir, TRIAL_CONFIG))
    cmd = [sys.executable, *launch_args(launcher, nproc),
           *train_args(path, work_dir, seed, list(cfg_options), threads)]
    if launcher != 'none':
        cmd += ['--launcher', launcher]
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    start = time.time()
    log_file = osp.join(work_dir, LOG_FILE)
    with open(log_file, 'w', encoding='utf-8') as log:
        log.write('$ ' + ' '.join(cmd) + '\n')
        log.flush()
        proc = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent
            if sys.platform.startswith('linux') else None)
        try:
            if on_wait is not None:
                on_wait()
            while True:
                try:
                    rc = proc.wait(timeout=wait_s)
                    break
                except subprocess.TimeoutExpired:
                    if on_wait is not None:
                        on_wait()
        finally:
            if proc.poll() is None:  # the worker is being interrupted
                proc.kill()
                proc.wait()
    return outcome(work_dir, rc, time.time() - start)


def outcome(work_dir: str, returncode: int,
            seconds: float = 0.0) -> TrialResult:
    """What became of the training in ``work_dir`` that exited with
    ``returncode`` (see :class:`~sekd_mm.search.OptunaPruningHook`)."""
    state = read_state(work_dir) or {}
    reports = tuple((int(s), float(v)) for s, v in state.get('reports', []))
    iters = iters_done(work_dir)
    if returncode != 0:
        return TrialResult(FAIL, None, iters, reason=failure(work_dir),
                           reports=reports, seconds=seconds)
    if state.get('pruned_step') is not None:
        return TrialResult(PRUNED, None, iters, int(state['pruned_step']),
                           reports=reports, seconds=seconds)
    if not reports or reports[-1][0] != state.get('max_iters'):
        return TrialResult(
            FAIL, None, iters, reason='no evaluation at the last iteration: '
            'the config must evaluate (a val loop and val_interval)',
            reports=reports, seconds=seconds)
    return TrialResult(COMPLETE, reports[-1][1], iters, reports=reports,
                       seconds=seconds)


def iters_done(work_dir: str) -> int:
    """Training iterations run in ``work_dir``: the pruning hook's count,
    else the last iteration MMEngine logged (a failed or killed
    training)."""
    state = read_state(work_dir) or {}
    steps: List[int] = [int(s) for s, _ in state.get('reports', [])]
    steps += [int(state[k]) for k in ('iters', 'pruned_step')
              if state.get(k) is not None]
    for path in scalar_files(work_dir):
        steps += [int(r['iter']) for r in read_records(path)
                  if 'iter' in r and 'loss' in r]
    return max(steps, default=0)


#: A Python error line: ``SomeError: message`` (or without a message).
_ERROR = re.compile(r'^(\w+\.)*\w*(Error|Exception|Exit|Interrupt)(:|$)')


def failure(work_dir: str) -> str:
    """Why the training in ``work_dir`` failed, from its log: the
    ``FloatingPointError`` that names a non-finite loss, else the last error
    line, else the last line."""
    path = osp.join(work_dir, LOG_FILE)
    if not osp.isfile(path):
        return 'no log'
    with open(path, encoding='utf-8', errors='replace') as f:
        lines = [line.strip() for line in f if line.strip()]
    errors = [line for line in lines if _ERROR.match(line)]
    for line in errors:
        if line.startswith('FloatingPointError'):
            return 'non-finite loss: ' + line
    last = errors[-1] if errors else (lines[-1] if lines else 'no output')
    return f'{last} (log: {path})'
