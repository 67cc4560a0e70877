# Copyright (c) sekd-mm contributors. All rights reserved.
"""How concentrated SEKD's attention is on a trained teacher's FPN maps.

    python benchmarks/attention_concentration.py TEACHER_CKPT
        [--config SEKD_CONFIG] [--taus 0.5 1 2 4] [--cfg-options ...]

For one training batch of the config's dataset, the teacher's FPN maps give
the attention of ``sekd_mm.models.utils.CRGAttention`` at each temperature;
printed per level: the largest weight (mean 1) and the effective share of
positions / channels that carry the weight, ``(sum a)^2 / (n sum a^2)`` (1
for uniform weights, 1/n when one position or channel takes everything).
docs/design_log.md quotes its output for the accuracy study's
teacher (it is why the shipped design has the attention off).
"""
import argparse

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from sekd_mm.models.utils import CRGAttention

DEFAULT_CONFIG = ('configs/sekd/sekd_retinanet_r34_retinanet_r18-w32_'
                  'synthetic.py')


def effective_share(weights: torch.Tensor) -> float:
    """``(sum a)^2 / (n sum a^2)`` over the last dim, averaged over rows."""
    n = weights.shape[-1]
    return float((weights.sum(-1)**2 / (n * weights.square().sum(-1))).mean())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('teacher_ckpt')
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--taus', type=float, nargs='+',
                        default=[0.5, 1.0, 2.0, 4.0])
    parser.add_argument('--work-dir', default='work_dirs/attention_stats')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)

    cfg = Config.fromfile(args.config)
    cfg.merge_from_dict(args.cfg_options or {})
    cfg.model.teacher_ckpt = args.teacher_ckpt
    cfg.work_dir = args.work_dir
    runner = Runner.from_cfg(cfg)
    model = runner.model
    batch = next(iter(runner.train_dataloader))
    data = model.data_preprocessor(batch, True)
    with torch.no_grad():
        feats = model.teacher.extract_feat(data['inputs'])
    print('| level | H x W | tau | spatial: max weight | spatial: effective '
          'share | channel: max weight | channel: effective share |')
    print('|---|---|---|---|---|---|---|')
    for i, feat in enumerate(feats):
        for tau in args.taus:
            att = CRGAttention.from_teacher(feat, tau)
            spatial = att.spatial.flatten(1)
            print(f'| {i} | {feat.shape[2]} x {feat.shape[3]} | {tau:g} | '
                  f'{spatial.max():.1f} | {effective_share(spatial):.2f} | '
                  f'{att.channel.max():.1f} | '
                  f'{effective_share(att.channel):.2f} |')


if __name__ == '__main__':
    main()
