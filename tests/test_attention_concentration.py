# Copyright (c) sekd-mm contributors. All rights reserved.
"""benchmarks/attention_concentration.py: the share maths and the command
end to end on a random teacher and the small dataset."""
import os.path as osp
import sys

import pytest
import torch
from test_tools import PAIRS, PY, REPO, data_options, run, save_model_ckpt

sys.path.insert(0, osp.join(REPO, 'benchmarks'))
import attention_concentration  # noqa: E402

sys.path.pop(0)


def test_effective_share_of_uniform_and_one_hot_weights():
    share = attention_concentration.effective_share
    assert share(torch.ones(3, 10)) == pytest.approx(1.0)
    one_hot = torch.zeros(2, 10)
    one_hot[:, 4] = 10.0
    assert share(one_hot) == pytest.approx(0.1)


def test_command_prints_a_row_per_level_and_tau(data_root, tmp_path):
    distill, teacher_cfg = PAIRS['retinanet-coco'][:2]
    teacher = tmp_path / 'teacher.pth'
    save_model_ckpt(teacher_cfg, teacher)
    proc = run([PY, 'benchmarks/attention_concentration.py', str(teacher),
                '--config', distill, '--taus', '0.5', '4', '--work-dir',
                str(tmp_path / 'work'), '--cfg-options',
                *data_options(data_root, voc=False)])
    rows = [line for line in proc.stdout.splitlines()
            if line.startswith('| ') and not line.startswith('| level')]
    assert len(rows) == 5 * 2  # 5 FPN levels x 2 temperatures
    for row in rows:
        cells = [c.strip() for c in row.strip('|').split('|')]
        spatial_share, channel_share = float(cells[4]), float(cells[6])
        assert 0 < spatial_share <= 1 and 0 < channel_share <= 1
    # a higher temperature spreads the weight: share at tau 4 >= tau 0.5
    by_level = {}
    for row in rows:
        cells = [c.strip() for c in row.strip('|').split('|')]
        by_level.setdefault(cells[0], []).append(float(cells[6]))
    assert all(hot <= cool for hot, cool in by_level.values())
