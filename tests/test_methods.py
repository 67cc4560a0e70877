# Copyright (c) sekd-mm contributors. All rights reserved.
"""The study's methods (benchmarks/methods.py): every key runs a config of
its own, and its label says what runs."""
import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def study():
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    try:
        import methods
        import runs
        yield methods, runs
    finally:
        sys.path.remove(osp.join(REPO, 'benchmarks'))


def _distilled_levels(cfg):
    """FPN levels whose distillation weight is not 0."""
    distiller = cfg.model.distiller
    if 'sekd' in distiller:
        return tuple(distiller.sekd.levels)
    levels = []
    for name, loss in distiller.distill_losses.items():
        weight = loss.get('loss_weight', loss.get('alpha_mgd', 1.0))
        if weight:
            levels.append(name.rsplit('_', 1)[-1])
    return tuple(sorted(set(levels)))


@pytest.mark.parametrize('detector', ['retinanet', 'faster-rcnn'])
def test_each_study_key_resolves_to_a_distinct_config(study, detector):
    methods, runs = study
    digests = {}
    for key, method in methods.METHODS.items():
        cfg = runs.resolve_config(method.config(detector),
                                  list(method.options))
        digest = runs.digest_of(cfg)
        assert digest not in digests, (
            f'{key} runs the same config as {digests.get(digest)}')
        digests[digest] = key


def test_each_label_says_what_runs(study):
    methods, runs = study
    labels = [m.label for m in methods.METHODS.values()]
    assert len(set(labels)) == len(labels)
    for key, method in methods.METHODS.items():
        cfg = runs.resolve_config(method.config('retinanet'),
                                  list(method.options))
        label = method.label
        if not method.distills:
            assert 'alone' in label, key
            continue
        distiller = cfg.model.distiller
        if 'sekd' in distiller:
            assert label.startswith('SEKD'), key
            sekd = distiller.sekd
            if sekd.beta == 0 and sekd.gamma == 0:
                assert 'V only' in label, key
            else:
                assert 'V+E+S' in label or 'EGA' in label, key
        for peer in ('pkd', 'cwd', 'mgd', 'fitnet', 'ega'):
            if any(peer in name for name in distiller.get('distill_losses',
                                                          {})):
                assert peer in label.lower(), key
        all_levels = ('p2', 'p3', 'p4', 'p5', 'p6')
        if 'sekd' not in distiller and 'distill_losses' in distiller and \
                'ega' not in key:
            levels = _distilled_levels(cfg)
            if levels == all_levels[:3]:
                assert 'without the two smallest FPN levels' in label, key
            else:
                assert levels == all_levels, (key, levels)
                assert 'without' not in label, key


@pytest.mark.parametrize('key', ['sekd', 'sekd_v', 'pkd', 'cwd', 'mgd',
                                 'fitnet'])
def test_every_tuned_row_is_offered_the_same_choices(study, key):
    """The fair protocol: levels (all five, or without the two smallest)
    and the warm-up of the distillation losses, for every tuned row."""
    methods, runs = study
    method = methods.METHODS[key]
    for levels, kept in methods.LEVEL_CHOICES.items():
        for warmup in methods.SEARCH_WARMUPS:
            chosen = method.setting(levels=levels, warmup=warmup)
            cfg = runs.resolve_config(chosen.config('retinanet'),
                                      list(chosen.options))
            assert _distilled_levels(cfg) == kept
            assert cfg.model.distill_warmup_iters == warmup
    with pytest.raises(ValueError, match='levels must be one of'):
        method.setting(levels='p3')


def test_ega_has_no_level_choice(study):
    methods, _ = study
    with pytest.raises(ValueError, match='no level choice'):
        methods.METHODS['ega'].setting(levels='no_small')
