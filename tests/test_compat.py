# Copyright (c) sekd-mm contributors. All rights reserved.
"""The compatibility layer: mmrazor under torch 2 and weights_only loads."""
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from sekd_mm import compat


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-c', code],
                          capture_output=True,
                          text=True,
                          timeout=300)


def test_mmrazor_without_compat_fails_on_this_torch():
    """Documents why the stub exists; if this starts passing, the stub is
    no longer needed (patch_mmrazor_quantization then becomes a no-op)."""
    proc = run_python('from mmrazor.utils import register_all_modules\n'
                      'register_all_modules()')
    assert proc.returncode != 0
    assert 'quantization' in proc.stderr


@pytest.mark.parametrize('first', ['sekd_mm', 'mmrazor'])
def test_register_all_modules_works_in_either_import_order(first):
    code = (f'import {first}\n'
            'import sekd_mm\n'
            'from mmrazor.utils import register_all_modules\n'
            'register_all_modules()\n'
            'from mmrazor.registry import MODELS\n'
            "for name in ('FpnTeacherDistill', 'ConvModuleConnector',\n"
            "             'SEKDDistiller', 'CRGSpectralLoss'):\n"
            '    assert MODELS.get(name) is not None, name\n'
            "print('ok')")
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith('ok')


def test_quantization_use_gives_clear_error():
    assert compat.patch_mmrazor_quantization() is True  # stub is active
    from mmrazor.structures.quantization import BackendConfigs, QConfigHandler
    with pytest.raises(compat.UnsupportedQuantizationError,
                       match='quantization is not supported with torch'):
        QConfigHandler(dict(w_qscheme=dict()))
    with pytest.raises(compat.UnsupportedQuantizationError):
        BackendConfigs['native']


def _runner_style_checkpoint(path):
    hub = MessageHub.get_instance('sekd_test_ckpt')
    for i in range(3):
        hub.update_scalar('train/loss', 1.0 / (i + 1))
        hub.update_scalar('train/lr', np.float64(0.01))
    hub.update_info('iter', 3)
    hub.update_info('epoch', np.int64(1))
    state = {
        'meta': {
            'epoch': 1,
            'iter': 3,
            'seed': 0,
            'mmengine_version': '0.10.7',
            'dataset_meta': {
                'classes': ('circle', 'square'),
                'palette': [(1, 2, 3)]
            },
            'score': np.float64(0.5),
        },
        'state_dict': {
            'w': torch.randn(2, 3)
        },
        'message_hub': hub.state_dict(),
        'optimizer': {
            'state': {},
            'param_groups': [{
                'lr': 0.01,
                'betas': (0.9, 0.999),
                'params': [0]
            }]
        },
        'extra': np.arange(4, dtype=np.float32),
    }
    torch.save(state, path)
    return state


def test_runner_style_checkpoint_loads_with_weights_only(tmp_path):
    path = tmp_path / 'ckpt.pth'
    state = _runner_style_checkpoint(path)
    loaded = torch.load(path, weights_only=True)
    torch.testing.assert_close(loaded['state_dict']['w'],
                               state['state_dict']['w'])
    scalars = loaded['message_hub']['log_scalars']
    assert isinstance(scalars['train/loss'], HistoryBuffer)
    assert scalars['train/loss'].min() == pytest.approx(1 / 3)
    assert loaded['meta']['score'] == 0.5
    np.testing.assert_array_equal(loaded['extra'], np.arange(4))


def test_runner_checkpoint_loads_in_a_fresh_process(tmp_path):
    """No HistoryBuffer exists yet when a new process resumes."""
    path = tmp_path / 'ckpt.pth'
    _runner_style_checkpoint(path)
    proc = run_python('import sekd_mm, torch\n'
                      f'ckpt = torch.load({str(path)!r})\n'
                      "hub = ckpt['message_hub']\n"
                      "buf = hub['log_scalars']['train/loss']\n"
                      'print(buf.min())')
    assert proc.returncode == 0, proc.stderr
    assert float(proc.stdout.strip().splitlines()[-1]) == pytest.approx(1 / 3)


class _RunsCommand:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


class _Getattr:

    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return (getattr, (self.obj, self.name))


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': _RunsCommand(marker)}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    assert not marker.exists()


@pytest.mark.parametrize('obj,name', [(HistoryBuffer, '__init__'),
                                      (HistoryBuffer, 'update'),
                                      (np.ndarray, 'tofile')])
def test_getattr_is_restricted_to_history_buffer_statistics(
        tmp_path, obj, name):
    path = tmp_path / 'getattr.pth'
    torch.save({'x': _Getattr(obj, name)}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_getattr_allows_history_buffer_statistics(tmp_path):
    path = tmp_path / 'ok.pth'
    torch.save({'x': _Getattr(HistoryBuffer, 'mean')}, path)
    assert torch.load(path, weights_only=True)['x'] is HistoryBuffer.mean
