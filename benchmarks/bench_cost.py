# Copyright (c) sekd-mm contributors. All rights reserved.
"""Cost benchmark: every distillation method's training iteration against
the student alone, the distillation losses against a training iteration,
and how the SEKD term scales with C and HW.

    python benchmarks/bench_cost.py [--part methods|losses|scaling|all]
        [--size embedded|coco] [--methods alone sekd pkd ...]
        [--batch N] [--img H W] [--iters N] [--warmup N]
        [--channels 64 128 ...] [--spatial 16 32 ...] [--reps N]
        [--threads N] [--device cpu|cuda] [--out results.md]
        [--plot scaling.png]

Everything is reported as ratios measured in the same run (absolute times
only in secondary columns).

``--part methods``: for each method of ``benchmarks/methods.py`` the model
of its ``embedded`` config (``--size embedded``: random batch of 8 at 96x96,
the accuracy study's CPU preset) or of its ``coco`` config (``--size
coco``: RetinaNet R-101 -> R-50, batch 2 at 800x1333) is built with its
cfg-options, a random teacher (``teacher_ckpt=None``, batch-statistics BN)
and no pretrained weights, and a training iteration (forward + backward +
SGD step with lr 0) is timed on random ``demo_mm_inputs``. Each method runs
in a fresh subprocess (this script with ``--one METHOD``), which also gives
its peak memory; the student alone runs first and last. Reported: median
iteration time and peak memory of model + training step, each divided by
the student alone's (mean of its two runs).

``--part losses`` (not part of ``all``; ``--size coco`` only, its
default): forward + backward of the SEKD term (V + E + S, one CRG pair per
level shared by the three, as in ``SEKDDistiller``), its vertex term alone
and MMRazor's PKD, CWD and MGD (with its connector) on the same random
FPN-shaped tensors (the 5 levels of RetinaNet, P3-P7: C = 256, strides
8-128 of ``--img``, batch ``--batch``), each as a share of one training
iteration of the ``sekd`` method (RetinaNet R-101 -> R-50, timed in its
own process as in ``--part methods``) and relative to MGD, never as an
absolute time.

``--part scaling``: forward + backward of the full SEKD term of one FPN
level (one CRG pair shared by V + E + S, k = 8, as in
``SEKDDistiller``) against the two operations it should be bound by, the
batched Gram matmul ``F F^T`` (the ``C^2 HW`` term) and ``torch.linalg.eigh``
of ``B x C x C`` float64 matrices (the ``C^3`` term), for several C at a
fixed HW and several HW at a fixed C, with log-log slopes of each.
"""
import argparse
import datetime
import json
import math
import os
import os.path as osp
import platform
import shlex
import statistics
import subprocess
import sys
import time

from methods import METHODS, parse_cfg_options, select

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
REFERENCE = 'alone'  # the row every ratio is taken against
TAG = '@@bench_cost@@ '  # prefix of the JSON line a --one child prints
SIZES = dict(
    # the accuracy study's CPU preset (benchmarks/accuracy_study.py)
    embedded=dict(batch=8, img=(96, 96), iters=20, warmup=3),
    # RetinaNet R-101 -> R-50 at mmdet's COCO training scale
    coco=dict(batch=2, img=(800, 1333), iters=3, warmup=1))


def log(msg):
    print(f'[bench_cost] {msg}', file=sys.stderr, flush=True)


def default_threads():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--part',
                        choices=['methods', 'losses', 'scaling', 'all'],
                        default='all',
                        help='all: methods and scaling')
    parser.add_argument('--threads', type=int, default=default_threads(),
                        help='torch threads (default: all cores)')
    parser.add_argument('--device', default='cpu', help='cpu or cuda')
    parser.add_argument('--out', help='also write the tables to this file')
    parser.add_argument('--plot', help='log-log PNG of the scaling part')
    parser.add_argument('--json', help='also write the raw measurements')
    parser.add_argument('--ratios-json',
                        help='also write the methods part\'s ratios to the '
                        'student alone (docs/results/bench_cost_<size>.json)')
    group = parser.add_argument_group('methods part')
    group.add_argument('--size', choices=sorted(SIZES),
                       help='default: embedded (coco for --part losses)')
    group.add_argument('--methods', nargs='+',
                       help=f'default: all of {", ".join(METHODS)}; the '
                       f'student alone is always run')
    group.add_argument('--batch', type=int, help='default: 8 (embedded), '
                       '2 (coco)')
    group.add_argument('--img', type=int, nargs=2, metavar=('H', 'W'),
                       help='default: 96 96 (embedded), 800 1333 (coco)')
    group.add_argument('--iters', type=int,
                       help='timed iterations, default 20 (embedded), 3 '
                       '(coco)')
    group.add_argument('--rounds', type=int, default=1,
                       help='run every method this many times, in turn '
                       '(alone first and last); ratios use the mean')
    group.add_argument('--warmup', type=int,
                       help='untimed iterations first, default 3 '
                       '(embedded), 1 (coco)')
    group.add_argument('--one', metavar='METHOD', help=argparse.SUPPRESS)
    group = parser.add_argument_group('scaling part')
    group.add_argument('--channels', type=int, nargs='+',
                       default=[64, 128, 256, 512, 1024])
    group.add_argument('--spatial', type=int, nargs='+',
                       default=[16, 32, 64, 128],
                       help='square sides: HW = side^2')
    group.add_argument('--fixed-channels', type=int, default=256,
                       help='C of the HW sweep')
    group.add_argument('--fixed-spatial', type=int, default=32,
                       help='side of the C sweep (HW = side^2)')
    group.add_argument('--scaling-batch', type=int, default=2)
    group.add_argument('--k', type=int, default=8,
                       help='eigenvectors of the SEKD term (also --part '
                       'losses)')
    group.add_argument('--reps', type=int, default=5,
                       help='timed repetitions, min reported (also --part '
                       'losses)')
    args = parser.parse_args(argv)
    if args.size is None:
        args.size = 'coco' if args.part == 'losses' else 'embedded'
    if args.part == 'losses' and args.size != 'coco':
        parser.error('--part losses times the losses on the FPN maps of the '
                     'COCO RetinaNet (5 levels x 256 channels) against its '
                     'training iteration: use --size coco (its default)')
    for key, value in SIZES[args.size].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.iters < 1 or args.warmup < 0 or args.reps < 1:
        parser.error('--iters and --reps must be >= 1, --warmup >= 0')
    if args.threads < 1:
        parser.error('--threads must be >= 1')
    try:
        args.selected = select(args.methods)
    except ValueError as e:
        parser.error(str(e))
    return args


def import_torch(threads):
    """sekd_mm first (compat fixes before mmrazor), then torch."""
    import sekd_mm  # noqa: F401  # isort: skip
    import torch
    torch.set_num_threads(threads)
    return torch


def synchronizer(torch, device):
    if torch.device(device).type == 'cuda':
        return torch.cuda.synchronize
    return lambda: None


def fmt(x, digits=2):
    return 'n/a' if x is None or not math.isfinite(x) else f'{x:.{digits}f}'


# ---------------------------------------------------------------------------
# Part 1: one training iteration per method
# ---------------------------------------------------------------------------
def load_config(method, size):
    """The method's config with its options, no teacher checkpoint."""
    from mmengine.config import Config
    path = method.embedded if size == 'embedded' else method.coco
    if '::' in path:
        from mmengine.hub import get_config
        cfg = get_config(path)
    else:
        cfg = Config.fromfile(osp.join(REPO, path))
    cfg.merge_from_dict(parse_cfg_options(method.options))
    if 'teacher_ckpt' in cfg.model:
        cfg.model.teacher_ckpt = None  # random teacher: nothing downloaded
    if method.distills:
        # Random weights: a teacher in eval mode would normalise with
        # untrained running stats; batch statistics keep its activations
        # at a trained network's scale. The cost is the same.
        cfg.model.teacher_norm_eval = False
    return cfg


def build_model(cfg, distills):
    from mmengine.registry import DefaultScope
    if distills:
        from mmrazor.registry import MODELS
    else:
        from mmdet.registry import MODELS
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmdet')):
        return MODELS.build(cfg.model)


def drop_pretrained(model):
    """No pretrained backbone download (``init_cfg=Pretrained`` of mmdet's
    COCO configs); returns the number of modules changed."""
    def pretrained(init_cfg):
        cfgs = init_cfg if isinstance(init_cfg, list) else [init_cfg]
        return any(isinstance(c, dict) and c.get('type') == 'Pretrained'
                   for c in cfgs)

    changed = 0
    for module in model.modules():
        if pretrained(getattr(module, 'init_cfg', None)):
            module.init_cfg = None
            changed += 1
    return changed


def num_classes(model):
    student = getattr(model, 'architecture', model)
    for module in student.modules():
        n = getattr(module, 'num_classes', None)
        if isinstance(n, int):
            return n
    return 80


def rss_bytes(field='VmRSS'):
    """A field of /proc/self/status in bytes (None off Linux)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class PeakMemory:
    """Peak memory of what happens between ``start()`` and ``stop()``.

    CUDA: ``max_memory_allocated`` after ``reset_peak_memory_stats``, minus
    the allocated memory at ``start()``. CPU: the process's peak RSS minus
    its RSS at ``start()``. The peak is the kernel's high-water mark
    (``VmHWM``, the value ``getrusage().ru_maxrss`` reports), reset to the
    current RSS at ``start()`` through ``/proc/self/clear_refs`` so that
    transients of the imports do not count; where that reset is not
    possible, ``ru_maxrss`` itself.
    """

    def __init__(self, torch, device):
        self.torch = torch
        self.cuda = torch.device(device).type == 'cuda'
        self.how = None

    def start(self):
        if self.cuda:
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()
            self.base = self.torch.cuda.memory_allocated()
            self.how = 'cuda max_memory_allocated'
            return
        self.base = rss_bytes()
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')  # reset VmHWM to the current RSS
            self.how = 'VmHWM'
        except OSError:
            self.how = 'ru_maxrss'
        if self.base is None:  # no /proc: ru_maxrss (KiB on Linux)
            import resource
            self.base = resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss * 1024
            self.how = 'ru_maxrss'

    def stop(self):
        if self.cuda:
            self.torch.cuda.synchronize()
            peak = self.torch.cuda.max_memory_allocated()
        elif self.how == 'VmHWM':
            peak = rss_bytes('VmHWM')
        else:
            import resource
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            if sys.platform == 'darwin':
                peak //= 1024  # bytes there
        return dict(peak_bytes=peak, base_bytes=self.base,
                    mem_bytes=peak - self.base, mem_how=self.how)


def run_one(args):
    """Child process: build one method, time its training iterations and
    print one JSON line (``TAG`` + json)."""
    torch = import_torch(args.threads)
    # Populate the registries now: a lazy import of mmdet/mmrazor modules
    # during the build would count as model memory.
    import mmdet.models  # noqa: F401
    import mmrazor.models  # noqa: F401
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)

    method = METHODS[args.one]
    cfg = load_config(method, args.size)
    device = torch.device(args.device)
    sync = synchronizer(torch, device)
    torch.manual_seed(0)
    memory = PeakMemory(torch, device)
    memory.start()
    model = build_model(cfg, method.distills)
    dropped = drop_pretrained(model)
    model.init_weights()  # e.g. RetinaNet's classification prior
    model.to(device)
    model.train()
    packed = demo_mm_inputs(
        batch_size=args.batch,
        image_shapes=[(3, *args.img)] * args.batch,
        num_items=[5] * args.batch,
        num_classes=num_classes(model))
    data = model.data_preprocessor(packed, True)
    # lr=0: the step does the same arithmetic but keeps the random weights
    # at their initial scale, so every timed iteration sees the same model.
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.SGD(params, lr=0.0, momentum=0.9,
                            weight_decay=1e-4)
    times = []
    for i in range(args.warmup + args.iters):
        sync()
        start = time.perf_counter()
        losses = model(**data, mode='loss')
        total, _ = model.parse_losses(losses)
        optim.zero_grad()
        total.backward()
        optim.step()
        sync()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
        if not math.isfinite(total.item()):
            bad = sorted(k for k, v in losses.items() if 'loss' in k and
                         not all(math.isfinite(float(x.sum()))
                                 for x in (v if isinstance(v, list) else
                                           [v])))
            raise RuntimeError(
                f'{args.one}: non-finite loss {total.item()} ({bad}); '
                f'e.g. PKD normalises each channel over batch x H x W, NaN '
                f'on a 1x1 level with batch 1: use a larger --img/--batch')
    result = dict(
        method=args.one,
        time_median_s=statistics.median(times),
        time_min_s=min(times),
        times_s=times,
        params_trainable=sum(p.numel() for p in params),
        pretrained_dropped=dropped,
        loss=total.item(),
        loss_keys=sorted(losses),
        threads=torch.get_num_threads(),
        device=str(device),
        **memory.stop())
    print(TAG + json.dumps(result), flush=True)


def spawn_one(args, key):
    cmd = [
        sys.executable, osp.abspath(__file__), '--one', key, '--size',
        args.size, '--batch', str(args.batch), '--img', *map(str, args.img),
        '--iters', str(args.iters), '--warmup', str(args.warmup),
        '--threads', str(args.threads), '--device', args.device
    ]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               MKL_NUM_THREADS=str(args.threads))
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                          cwd=REPO)
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines()
             if line.startswith(TAG)]
    if proc.returncode != 0 or not lines:
        log(f'{key} FAILED (exit {proc.returncode}):\n'
            f'{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}')
        return None
    result = json.loads(lines[-1][len(TAG):])
    log(f'{key}: {1e3 * result["time_median_s"]:.1f} ms/iteration '
        f'(median of {args.iters}), {result["mem_bytes"] / 2**20:.0f} MiB '
        f'({wall:.0f} s)')
    return result


def bench_methods(args):
    """Runs every method in a subprocess; returns (markdown, results)."""
    keys = [k for k in args.selected if k != REFERENCE]
    order = ([REFERENCE] + keys) * args.rounds + [REFERENCE]
    log(f'methods ({args.size}, batch {args.batch} at {args.img[0]}x'
        f'{args.img[1]}, {args.threads} threads, {args.device}): '
        f'{" -> ".join(order)}')
    results = {k: [] for k in [REFERENCE] + keys}
    for key in order:
        result = spawn_one(args, key)
        if result is not None:
            results[key].append(result)
    alone = results[REFERENCE]
    if not alone:
        raise SystemExit('the student alone failed: no reference, no table')
    ratios = ratio_table(results)['methods']
    memory_how = alone[0]['mem_how']
    cfg_key = 'embedded' if args.size == 'embedded' else 'coco'
    what = ('embedded RetinaNet R-34 (FPN 128) -> R-18 w32 (FPN 64)'
            if args.size == 'embedded' else 'COCO RetinaNet R-101 -> R-50')
    peak_what = (
        'peak GPU memory allocated (torch.cuda.max_memory_allocated) '
        'while building the model and training, minus the memory allocated '
        'before' if memory_how.startswith('cuda') else
        'peak RSS of the method\'s own process while building the model '
        'and training (' + ('the kernel\'s high-water mark VmHWM, which '
                            'ru_maxrss reports, reset to the current RSS '
                            'just before the build so that transients of '
                            'the imports do not count'
                            if memory_how == 'VmHWM' else 'ru_maxrss') +
        '), minus its RSS after the imports, i.e. the memory of model + '
        'optimizer + one training step')
    lines = [
        f'### Training-iteration cost per method ({what})', '',
        f'Each method\'s `{cfg_key}` config from `benchmarks/methods.py` '
        f'(with its cfg-options), random teacher (`teacher_ckpt=None`, '
        f'batch-statistics BN), no pretrained weights, random '
        f'`demo_mm_inputs` batch of {args.batch} at {args.img[0]}x'
        f'{args.img[1]}; one iteration = forward + backward + SGD step '
        f'(lr 0), {args.device}, {args.threads} torch threads. Every method '
        f'runs in its own fresh process: time = **median** of {args.iters} '
        f'iterations after {args.warmup} warm-up; memory = {peak_what}. '
        f'{args.rounds} round(s) over the methods, the student alone '
        f'first in each and once more at the end; a ratio is the mean '
        f'over a method\'s processes divided by the mean over the '
        f'student alone\'s ({len(alone)} processes).', ''
    ]
    if len(alone) >= 2:
        drift_t = alone[-1]['time_median_s'] / alone[0]['time_median_s']
        drift_m = alone[-1]['mem_bytes'] / alone[0]['mem_bytes']
        lines += [f'Drift of the student alone, last run / first run: '
                  f'time {drift_t:.3f}, memory {drift_m:.3f}.', '']
    lines += [
        '| key | method | iteration time / alone | peak memory / alone '
        '| ms per iteration (median) | model + step memory (MiB) |',
        '|---|---|---|---|---|---|'
    ]
    for key in [REFERENCE] + keys:
        label = METHODS[key].label
        runs = results[key]
        if not runs:
            lines.append(f'| {key} | {label} | failed | failed | | |')
            continue
        ms = ' / '.join(f'{1e3 * r["time_median_s"]:.1f}' for r in runs)
        mib = ' / '.join(f'{r["mem_bytes"] / 2**20:.0f}' for r in runs)
        lines.append(f'| {key} | {label} | '
                     f'{ratios[key]["time_ratio"]:.2f} | '
                     f'{fmt(ratios[key]["memory_ratio"])} | {ms} | '
                     f'{mib} |')
    failed = [k for k, runs in results.items() if not runs]
    return '\n'.join(lines), results, failed


def ratio_table(results: dict) -> dict:
    """``{"methods": {KEY: {"time_ratio", "memory_ratio"}}}`` (the schema
    of ``docs/results/bench_cost_<size>.json``), ratios to the student
    alone's mean over its processes."""
    alone = results[REFERENCE]
    ref_t = statistics.mean(r['time_median_s'] for r in alone)
    ref_m = statistics.mean(r['mem_bytes'] for r in alone)
    rows = {}
    for key, runs in results.items():
        if not runs:
            continue
        t = statistics.mean(r['time_median_s'] for r in runs)
        m = statistics.mean(r['mem_bytes'] for r in runs)
        rows[key] = dict(time_ratio=t / ref_t,
                         memory_ratio=m / ref_m if ref_m > 0 else None,
                         processes=len(runs))
    return dict(methods=rows)


# ---------------------------------------------------------------------------
# Part 2: the distillation losses against a training iteration
# ---------------------------------------------------------------------------
#: FPN levels of the COCO RetinaNet (``--part losses``): name and stride.
RETINANET_FPN = dict(p3=8, p4=16, p5=32, p6=64, p7=128)
FPN_CHANNELS = 256


def fpn_shapes(img, batch, channels=FPN_CHANNELS):
    """``B x C x H x W`` of each RetinaNet FPN level for input ``img``."""
    h, w = img
    return [(batch, channels, math.ceil(h / s), math.ceil(w / s))
            for s in RETINANET_FPN.values()]


def build_loss(cfg):
    """A distillation loss or connector from MMRazor's registry."""
    from mmengine.registry import DefaultScope
    from mmrazor.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmrazor'):
        return MODELS.build(cfg)


def sekd_term(k=8):
    """The full SEKD term of ``SEKDDistiller``, unweighted: V + E + S on
    every level, each level's graphs built once and shared by the three
    terms; ``fn(feats_s, feats_t)`` sums it over the levels."""
    losses = dict(
        v=build_loss(dict(type='CRGVertexLoss')),
        e=build_loss(dict(type='CRGEdgeLoss')),
        s=build_loss(dict(type='CRGSpectralLoss', k=k)))

    def run(feats_s, feats_t):
        total = 0
        for s, t in zip(feats_s, feats_t):
            pair = losses['v'].make_pair(s, t)
            total = total + sum(fn.compute(pair) for fn in losses.values())
        return total

    return run


def per_level(loss, connectors=None):
    """``fn(feats_s, feats_t)``: ``loss`` summed over the levels, each
    student level through its connector first when there are any."""
    def run(feats_s, feats_t):
        total = 0
        for i, (s, t) in enumerate(zip(feats_s, feats_t)):
            if connectors is not None:
                s = connectors[i](s)
            total = total + loss(s, t)
        return total

    return run


def loss_time(torch, fn, shapes, reps, device, seed=0):
    """Seconds (min of reps, after a warm-up) of ``fn`` forward + backward
    on random student and teacher maps of ``shapes``."""
    g = torch.Generator().manual_seed(seed)
    feats_t = [torch.randn(*s, generator=g).to(device) for s in shapes]
    feats_s = [torch.randn(*s, generator=g).to(device).requires_grad_()
               for s in shapes]

    def step():
        for f in feats_s:
            f.grad = None
        fn(feats_s, feats_t).backward()

    return min_time(step, reps, synchronizer(torch, device))


def bench_losses(args):
    """Times every loss here, then one ``sekd`` training iteration in its
    own process; returns (markdown, raw data)."""
    torch = import_torch(args.threads)
    shapes = fpn_shapes(args.img, args.batch)
    mgd_connectors = [
        build_loss(dict(type='MGDConnector', student_channels=FPN_CHANNELS,
                        teacher_channels=FPN_CHANNELS,
                        lambda_mgd=0.65)).to(args.device)
        for _ in RETINANET_FPN
    ]
    timed = {
        f'SEKD (V+E+S, k={args.k})': sekd_term(k=args.k),
        'SEKD V only': per_level(build_loss(dict(type='CRGVertexLoss'))),
        'PKDLoss': per_level(build_loss(dict(type='PKDLoss'))),
        'ChannelWiseDivergence':
        per_level(build_loss(dict(type='ChannelWiseDivergence', tau=1.0))),
        'MGDLoss + MGDConnector':
        per_level(build_loss(dict(type='MGDLoss', alpha_mgd=2e-5)),
                  mgd_connectors),
    }
    seconds = {}
    for name, fn in timed.items():
        seconds[name] = loss_time(torch, fn, shapes, args.reps, args.device)
        log(f'loss {name}: {1e3 * seconds[name]:.1f} ms')
    iteration = spawn_one(args, 'sekd')
    if iteration is None:
        raise SystemExit('the sekd training iteration failed: no reference, '
                         'no loss table')
    it = iteration['time_median_s']
    mgd = seconds['MGDLoss + MGDConnector']
    lines = [
        '### Distillation losses against a training iteration (COCO '
        'RetinaNet R-101 -> R-50)', '',
        f'Forward + backward of each loss, summed over the 5 RetinaNet FPN '
        f'levels (P3-P7, C = {FPN_CHANNELS}, strides 8-128 of a '
        f'{args.img[0]}x{args.img[1]} input, batch {args.batch}), on random '
        f'float32 maps, **minimum** of {args.reps} repetitions after a '
        f'warm-up; divided by one training iteration of the `sekd` method '
        f'(`{METHODS["sekd"].coco}`, random teacher, forward + backward + '
        f'SGD step with lr 0, median of {args.iters} after {args.warmup} '
        f'warm-up, in its own process) at the same input; {args.device}, '
        f'{args.threads} torch threads.', '',
        '| loss (forward + backward, 5 levels) | share of one R-101 -> R-50 '
        'SEKD iteration | relative to MGD |', '|---|---|---|'
    ]
    for name, t in seconds.items():
        lines.append(f'| {name} | {100 * t / it:.2f}% | {t / mgd:.2f}x |')
    return '\n'.join(lines), dict(shapes=shapes, seconds=seconds,
                                  iteration_s=it, iteration=iteration)


# ---------------------------------------------------------------------------
# Part 3: scaling of the SEKD term with C and HW
# ---------------------------------------------------------------------------
def min_time(fn, reps, sync, warmup=1):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return min(times)


def scaling_point(torch, sekd, batch, channels, side, reps, device, seed=0):
    """Seconds (min of reps) of SEKD forward + backward on one level, of
    the Gram matmul and of the float64 eigh, at one (C, HW)."""
    sync = synchronizer(torch, device)
    g = torch.Generator().manual_seed(seed)
    shape = (batch, channels, side, side)
    feat_t = torch.randn(*shape, generator=g).to(device)
    feat_s = torch.randn(*shape, generator=g).to(device).requires_grad_()

    def sekd_step():
        feat_s.grad = None
        sekd([feat_s], [feat_t]).backward()

    flat = feat_t.flatten(2)  # B x C x HW, float32
    sym = torch.randn(batch, channels, channels, generator=g,
                      dtype=torch.float64).to(device)
    sym = sym + sym.transpose(1, 2)
    return dict(
        sekd=min_time(sekd_step, reps, sync),
        matmul=min_time(lambda: torch.bmm(flat, flat.transpose(1, 2)), reps,
                        sync),
        eigh=min_time(lambda: torch.linalg.eigh(sym), reps, sync))


def slope(xs, ys):
    import numpy as np
    if len(xs) < 2:
        return None
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def bench_scaling(args):
    torch = import_torch(args.threads)
    sekd = sekd_term(k=args.k)
    b, fixed_c, fixed_s = args.scaling_batch, args.fixed_channels, \
        args.fixed_spatial
    sweeps = dict(
        C=[(c, fixed_s, c) for c in args.channels],
        HW=[(fixed_c, s, s * s) for s in args.spatial])
    data = {}
    for name, points in sweeps.items():
        data[name] = []
        for c, side, x in points:
            point = scaling_point(torch, sekd, b, c, side, args.reps,
                                  args.device)
            log(f'scaling C={c} HW={side}x{side}: ' + ', '.join(
                f'{k} {1e3 * v:.2f} ms' for k, v in point.items()))
            data[name].append(dict(x=x, C=c, side=side, **point))
    lines = [
        '### Scaling of the SEKD term (one FPN level)', '',
        f'Forward + backward of the full SEKD term on one level (one CRG '
        f'pair shared by V + E + S, k = {args.k}, as in '
        f'`SEKDDistiller`), random float32 maps of batch {b}, against the '
        f'batched Gram matmul `F @ F^T` (B x C x HW by B x HW x C, '
        f'float32: the C^2 HW term) and `torch.linalg.eigh` of B x C x C '
        f'float64 symmetric matrices (the C^3 term), same B, C and HW. '
        f'Each time is the **minimum** of {args.reps} repetitions after a '
        f'warm-up; {args.device}, {args.threads} torch threads.', ''
    ]
    titles = dict(C=f'C (HW = {fixed_s}x{fixed_s})',
                  HW=f'HW (C = {fixed_c})')
    for name, rows in data.items():
        if not rows:
            continue
        lines += [
            f'| {titles[name]} | SEKD / Gram matmul | SEKD / eigh | '
            f'SEKD, matmul, eigh (ms) |', '|---|---|---|---|'
        ]
        for r in rows:
            x = (str(r['C']) if name == 'C' else
                 f'{r["side"]}x{r["side"]} = {r["x"]}')
            lines.append(
                f'| {x} | {r["sekd"] / r["matmul"]:.3g} | '
                f'{r["sekd"] / r["eigh"]:.3g} | {1e3 * r["sekd"]:.3g}, '
                f'{1e3 * r["matmul"]:.3g}, {1e3 * r["eigh"]:.3g} |')
        xs = [r['x'] for r in rows]

        def fits(part):
            return ', '.join(
                f'{label} ~ {name}^'
                f'{fmt(slope(xs[part], [r[k] for r in rows][part]))}'
                for k, label in (('sekd', 'SEKD'), ('matmul', 'matmul'),
                                 ('eigh', 'eigh')))

        lines += ['', f'Log-log slopes over {name} = {xs[0]}..{xs[-1]}: '
                  f'{fits(slice(None))}.']
        if len(xs) > 2:  # fixed costs flatten the small sizes
            lines.append(f'Between the two largest {name}: '
                         f'{fits(slice(-2, None))}.')
        lines.append('')
    return '\n'.join(lines).rstrip(), data


def plot_scaling(data, args, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullLocator
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    titles = dict(
        C=f'vs C (HW = {args.fixed_spatial}x{args.fixed_spatial}, '
        f'B = {args.scaling_batch})',
        HW=f'vs HW (C = {args.fixed_channels}, B = {args.scaling_batch})')
    for ax, (name, rows) in zip(axes, data.items()):
        xs = [r['x'] for r in rows]
        for key, label, marker in (
                ('sekd', 'SEKD term (fwd + bwd)', 'o'),
                ('matmul', 'Gram matmul F F^T (fp32)', 's'),
                ('eigh', 'eigh B x C x C (fp64)', '^')):
            ys = [1e3 * r[key] for r in rows]
            s = slope(xs, ys)
            ax.loglog(xs, ys, marker=marker,
                      label=f'{label}, slope {fmt(s)}')
        ax.set_xscale('log', base=2)
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel(name)
        ax.set_ylabel('ms')
        ax.set_title(titles[name])
        ax.grid(True, which='both', alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    log(f'plot written to {path}')


# ---------------------------------------------------------------------------
def machine():
    """torch version and CPU model, without importing torch."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        torch = f'torch {version("torch")}'
    except PackageNotFoundError:
        torch = 'torch ?'
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next((line.split(':', 1)[1].strip() for line in f
                        if line.startswith('model name')), cpu)
    except OSError:
        pass
    return f'{torch}, {cpu}, {default_threads()} cores available'


def main(argv=None):
    args = parse_args(argv)
    if args.one:
        run_one(args)
        return 0
    # output folders first: a long run must not fail at its last line
    for path in (args.out, args.json, args.ratios_json, args.plot):
        if path and osp.dirname(path):
            os.makedirs(osp.dirname(path), exist_ok=True)
    cmd = ' '.join(shlex.quote(a) for a in
                   ['python', 'benchmarks/bench_cost.py'] +
                   (sys.argv[1:] if argv is None else list(argv)))
    sections = [
        f'## Cost benchmark\n\nCommand: `{cmd}`; '
        f'{datetime.datetime.now().isoformat(timespec="minutes")}, '
        f'{machine()}.'
    ]
    print(sections[0] + '\n', flush=True)
    failed, raw = [], dict(argv=cmd)
    if args.part in ('methods', 'all'):
        text, raw['methods'], failed = bench_methods(args)
        sections.append(text)
        print(text + '\n', flush=True)
    if args.part == 'losses':
        text, raw['losses'] = bench_losses(args)
        sections.append(text)
        print(text + '\n', flush=True)
    if args.part in ('scaling', 'all'):
        text, data = bench_scaling(args)
        raw['scaling'] = data
        sections.append(text)
        print(text + '\n', flush=True)
        if args.plot:
            plot_scaling(data, args, args.plot)
    elif args.plot:
        log('--plot ignored: it plots the scaling part')
    if args.out:
        with open(args.out, 'w') as f:
            f.write('\n\n'.join(sections) + '\n')
        log(f'tables written to {args.out}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(raw, f, indent=1)
    if args.ratios_json and 'methods' in raw:
        table = ratio_table(raw['methods'])
        table.update(size=args.size, command=cmd, threads=args.threads,
                     device=args.device)
        with open(args.ratios_json, 'w') as f:
            json.dump(table, f, indent=2)
    if failed:
        log(f'FAILED: {", ".join(failed)}')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
