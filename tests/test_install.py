# Copyright (c) sekd-mm contributors. All rights reserved.
"""The package works when installed: a wheel of the repository (no ``-e``)
in a fresh virtual environment, used from a folder outside the checkout.

The wheel is built from a copy of the checkout's files (``git ls-files``:
tracked and new, not ignored), so that no ``build/`` folder of an earlier
build leaks into it and the checkout is left as it was. The fresh
environment reuses the project's stack (torch, the built mmcv, mmdet,
mmrazor, openmim) through a ``.pth`` line that names ``.venv``'s
site-packages: nothing is downloaded. The ``.pth`` files of that folder
(the editable install of the checkout among them) are not run, so
``sekd_mm`` can only come from the wheel.
"""
import os
import os.path as osp
import shutil
import subprocess
import sys
import sysconfig

import pytest
from sekd_test_utils import SMALL
from test_distill_dataset import make_coco

from sekd_mm.datasets import synthetic_cfg_options

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PY = sys.executable


def run(cmd, cwd, env, timeout=600):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f'{cmd} failed ({proc.returncode}):\n'
                             f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}')
    return proc


def checkout_copy(dst: str) -> str:
    """The checkout's files (tracked or new, not ignored) copied to
    ``dst``."""
    files = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others',
         '--exclude-standard'], cwd=REPO, capture_output=True, check=True
    ).stdout.decode().split('\0')
    for name in filter(None, files):
        src = osp.join(REPO, name)
        if osp.isfile(src):  # not a file deleted in the working tree
            os.makedirs(osp.dirname(osp.join(dst, name)), exist_ok=True)
            shutil.copy2(src, osp.join(dst, name))
    return dst


def files_in(folder: str) -> list:
    """The files under ``folder``, relative to it (no bytecode)."""
    return sorted(
        osp.relpath(osp.join(d, f), folder)
        for d, _, files in os.walk(folder) if '__pycache__' not in d
        for f in files)


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """A fresh venv with the wheel installed: its python, the environment
    of an activated venv, and a folder outside the checkout to run in."""
    tmp = tmp_path_factory.mktemp('install')
    env = {k: v for k, v in os.environ.items()
           if k not in ('PYTHONPATH', 'VIRTUAL_ENV', 'PYTHONHOME')}
    source = checkout_copy(str(tmp / 'source'))
    run([PY, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
         '--no-index', '-q', '-w', str(tmp / 'wheels'), source], tmp, env)
    wheel, = os.listdir(tmp / 'wheels')
    venv = tmp / 'venv'
    run([PY, '-m', 'venv', '--without-pip', str(venv)], tmp, env)
    python = str(venv / 'bin' / 'python')
    site = run([python, '-c', 'import sysconfig; '
                'print(sysconfig.get_paths()["purelib"])'], tmp,
               env).stdout.strip()
    stack = dict.fromkeys(sysconfig.get_paths()[k]
                          for k in ('purelib', 'platlib'))
    with open(osp.join(site, 'sekd_stack.pth'), 'w') as f:
        f.write('\n'.join(stack) + '\n')
    # pip of the stack, run by the fresh interpreter: installs there
    run([python, '-m', 'pip', 'install', '--no-deps', '--no-index', '-q',
         str(tmp / 'wheels' / wheel)], tmp, env)
    env.update(VIRTUAL_ENV=str(venv),
               PATH=f'{venv / "bin"}{os.pathsep}{env.get("PATH", "")}')
    work = tmp / 'run'  # outside the checkout
    work.mkdir()
    return dict(python=python, site=site, env=env, cwd=work,
                bin=str(venv / 'bin'), wheel=wheel)


def test_wheel_installs_package_and_shipped_files(installed):
    """``sekd_mm`` is the wheel's, in the fresh venv, with its ``.mim``
    copies (not links) of the configs and tools."""
    code = ('import sekd_mm, sekd_mm.utils as u; print(sekd_mm.__file__); '
            'print(u.config_path("sekd/sekd_retinanet_r34_retinanet_r18-w32_'
            'synthetic.py")); print(u.package_file("tools", "train.py"))')
    out = run([installed['python'], '-c', code], installed['cwd'],
              installed['env']).stdout.split()
    mim = osp.join(installed['site'], 'sekd_mm', '.mim')
    assert out[0] == osp.join(installed['site'], 'sekd_mm', '__init__.py')
    assert out[1] == osp.join(mim, 'configs', 'sekd', 'sekd_retinanet_r34_'
                              'retinanet_r18-w32_synthetic.py')
    assert out[2] == osp.join(mim, 'tools', 'train.py')
    for name in ('configs', 'tools'):
        assert not osp.islink(osp.join(mim, name))
        assert files_in(osp.join(mim, name)) == files_in(
            osp.join(REPO, name))
    assert osp.exists(osp.join(mim, 'model-index.yml')) == \
        osp.exists(osp.join(REPO, 'model-index.yml'))
    assert installed['wheel'].startswith('sekd_mm-')


def test_installed_commands_outside_the_checkout(installed, data_root):
    """From a folder outside the checkout: ``sekd-mm distill --check-only``
    on a COCO folder, a 2-iteration ``sekd-mm train`` of a shipped config
    named relative to the package's configs (the teacher), then ``mim
    train sekd_mm`` of the SEKD student from that teacher, 2 iterations."""
    cwd, env = installed['cwd'], installed['env']
    sekd_mm = osp.join(installed['bin'], 'sekd-mm')
    make_coco(str(cwd / 'coco'))
    proc = run([sekd_mm, 'distill', '--data-root', 'coco', '--work-dir',
                'distill', '--check-only'], cwd, env)
    assert 'COCO dataset' in proc.stdout and 'configs written' in proc.stdout
    for stage in ('teacher', 'sekd_student', 'pkd_student', 'student_alone'):
        assert (cwd / 'distill' / 'configs' / f'{stage}.py').is_file()
    assert not (cwd / 'distill' / 'teacher').exists()

    small = synthetic_cfg_options(data_root=data_root, img_scale=64, **SMALL)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        small += [f'{loader}.batch_size=2', f'{loader}.num_workers=0',
                  f'{loader}.persistent_workers=False']
    small += ['train_cfg.max_iters=2', 'default_hooks.logger.interval=1']
    run([sekd_mm, 'train', 'embedded/retinanet_r34_synthetic.py',
         '--work-dir', 'teacher', '--cfg-options', *small], cwd, env)
    assert (cwd / 'teacher' / 'iter_2.pth').is_file()

    proc = run([installed['python'], '-m', 'mim', 'train', 'sekd_mm',
                'sekd_retinanet_r34_retinanet_r18-w32_synthetic.py',
                '--gpus', '0', '--launcher', 'none', '--work-dir', 'student',
                '--cfg-options', *small,
                f'model.teacher_ckpt={cwd / "teacher" / "iter_2.pth"}'],
               cwd, env)
    mim_tools = osp.join(installed['site'], 'sekd_mm', '.mim', 'tools')
    assert f'{osp.join(mim_tools, "train.py")} ' in proc.stdout
    assert (cwd / 'student' / 'iter_2.pth').is_file()
    log = (cwd / 'student').glob('*/*.log')
    assert any('Iter(train) [2/2]' in p.read_text() and 'loss_sekd_v' in
               p.read_text() for p in log)
