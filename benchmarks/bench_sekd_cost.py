# Copyright (c) sekd-mm contributors. All rights reserved.
"""Cost of the SEKD term vs MMRazor's feature distillation losses.

    python benchmarks/bench_sekd_cost.py [--size 800 1216] [--batch 2]
        [--reps 3] [--iters 2] [--threads N]

All losses run forward + backward on the same FPN-shaped tensors (5
RetinaNet levels, C = 256, strides 8-128 of the input), in the same run as
a full distillation iteration (RetinaNet R-101 teacher -> R-50 student in
``FpnTeacherDistill`` with ``SEKDDistiller``, random weights, random image,
forward + backward + SGD step with lr 0). It prints each loss's time as a
ratio to that iteration, never as an absolute time.
"""
import sekd_mm  # noqa: F401  # isort: skip  (compat fixes before mmrazor)
import argparse
import math
import time

import torch
from mmengine.hub import get_config
from mmengine.registry import DefaultScope
from mmrazor.registry import MODELS

STRIDES = (8, 16, 32, 64, 128)
LEVELS = ('p3', 'p4', 'p5', 'p6', 'p7')


def fpn_shapes(size, batch, channels=256):
    h, w = size
    return [(batch, channels, math.ceil(h / s), math.ceil(w / s))
            for s in STRIDES]


def build(cfg):
    with DefaultScope.overwrite_default_scope('mmrazor'):
        return MODELS.build(cfg)


def sekd_term(k=8):
    """The full SEKD term of SEKDDistiller: V + E + S on all levels, each
    level's graphs built once and shared by the three terms."""
    losses = dict(
        v=build(dict(type='CRGVertexLoss')),
        e=build(dict(type='CRGEdgeLoss')),
        s=build(dict(type='CRGSpectralLoss', k=k)))

    def run(feats_s, feats_t):
        total = 0
        for s, t in zip(feats_s, feats_t):
            pair = losses['v'].make_pair(s, t)
            total = total + sum(fn.compute(pair) for fn in losses.values())
        return total

    return run


def per_level(loss, connectors=None):
    def run(feats_s, feats_t):
        total = 0
        for i, (s, t) in enumerate(zip(feats_s, feats_t)):
            if connectors is not None:
                s = connectors[i](s)
            total = total + loss(s, t)
        return total

    return run


def time_loss(fn, shapes, reps, seed=0):
    g = torch.Generator().manual_seed(seed)
    feats_t = [torch.randn(*s, generator=g) for s in shapes]
    feats_s = [torch.randn(*s, generator=g).requires_grad_() for s in shapes]
    fn(feats_s, feats_t).backward()  # warm-up
    times = []
    for _ in range(reps):
        for f in feats_s:
            f.grad = None
        start = time.perf_counter()
        fn(feats_s, feats_t).backward()
        times.append(time.perf_counter() - start)
    return min(times)


def distill_iteration(size, batch, iters):
    """Seconds of one full distillation training iteration (min of iters,
    after one warm-up)."""

    def model_cfg(name):
        cfg = get_config(f'mmdet::{name}').model.to_dict()
        cfg['backbone']['init_cfg'] = None
        cfg['_scope_'] = 'mmdet'
        return cfg

    algo = build(
        dict(
            type='FpnTeacherDistill',
            architecture=model_cfg('retinanet/retinanet_r50_fpn_2x_coco.py'),
            teacher=model_cfg('retinanet/retinanet_r101_fpn_2x_coco.py'),
            # Random weights: BN in eval mode would use untrained running
            # stats; batch statistics keep the activations at a trained
            # network's scale. The cost is the same.
            teacher_norm_eval=False,
            distiller=dict(
                type='SEKDDistiller',
                student_recorders=dict(
                    fpn=dict(type='ModuleOutputs', source='neck')),
                teacher_recorders=dict(
                    fpn=dict(type='ModuleOutputs', source='neck')),
                sekd=dict(levels=LEVELS, k=8)),
            data_preprocessor=dict(
                type='mmdet.DetDataPreprocessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                bgr_to_rgb=True,
                pad_size_divisor=32)))
    from mmdet.testing import demo_mm_inputs
    packed = demo_mm_inputs(
        batch_size=batch,
        image_shapes=[(3, *size)] * batch,
        num_items=[5] * batch,
        num_classes=80)
    data = algo.data_preprocessor(packed, True)
    algo.init_weights()  # e.g. RetinaNet's classification prior
    # lr=0: the step does the same arithmetic but keeps the random weights
    # at their initial scale, so every timed iteration sees the same model.
    optim = torch.optim.SGD(
        [p for p in algo.parameters() if p.requires_grad], lr=0.0)
    times = []
    for i in range(iters + 1):
        start = time.perf_counter()
        losses = algo(**data, mode='loss')
        total, _ = algo.parse_losses(losses)
        optim.zero_grad()
        total.backward()
        optim.step()
        if i > 0:
            times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, nargs=2, default=(800, 1216))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--reps', type=int, default=3)
    parser.add_argument('--iters', type=int, default=2)
    parser.add_argument('--threads', type=int)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    shapes = fpn_shapes(args.size, args.batch)
    mgd_connectors = [
        build(dict(type='MGDConnector', student_channels=256,
                   teacher_channels=256, lambda_mgd=0.65))
        for _ in LEVELS
    ]
    candidates = {
        'SEKD (V+E+S, k=8)': sekd_term(),
        'SEKD V only': per_level(build(dict(type='CRGVertexLoss'))),
        'SEKD S, subspace mode':
        per_level(build(dict(type='CRGSpectralLoss', k=8,
                             mode='subspace'))),
        'PKDLoss': per_level(build(dict(type='PKDLoss'))),
        'ChannelWiseDivergence':
        per_level(build(dict(type='ChannelWiseDivergence', tau=1.0))),
        'MGDLoss + MGDConnector':
        per_level(build(dict(type='MGDLoss', alpha_mgd=2e-5)),
                  mgd_connectors),
    }
    loss_times = {name: time_loss(fn, shapes, args.reps)
                  for name, fn in candidates.items()}
    it = distill_iteration(args.size, args.batch, args.iters)
    print(f'# input {args.size[0]}x{args.size[1]}, batch {args.batch}, '
          f'5 FPN levels x 256 channels, torch threads '
          f'{torch.get_num_threads()}')
    print('| loss (forward + backward, 5 levels) | share of one R-101 -> '
          'R-50 distillation iteration | relative to MGD |')
    print('|---|---|---|')
    mgd = loss_times['MGDLoss + MGDConnector']
    for name, t in loss_times.items():
        print(f'| {name} | {100 * t / it:.2f}% | {t / mgd:.2f}x |')


if __name__ == '__main__':
    main()
