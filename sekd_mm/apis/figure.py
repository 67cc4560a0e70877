# Copyright (c) sekd-mm contributors. All rights reserved.
"""The figure of a final val table (``sekd-mm distill --search``): one bar
of COCO bbox mAP per row, its value written on it."""
import os
import os.path as osp
from typing import Dict, Mapping

#: The metric of the bars, a key of each row's results.
METRIC = 'coco/bbox_mAP'
#: Bar colours of the reference rows (stages); other rows are distilled.
COLOURS = dict(teacher='tab:green', student_alone='tab:gray')
DISTILLED_COLOUR = 'tab:blue'


def figure_rows(results: Mapping[str, dict],
                labels: Mapping[str, str]) -> Dict[str, float]:
    """The bars: stage -> bbox mAP of every stage of ``labels`` that has
    results, in ``labels``' order (the rows of
    :func:`~sekd_mm.apis.results_table`).

    Raises:
        ValueError: no stage of ``labels`` has results, or a row has no
            :data:`METRIC`.
    """
    rows = {name: results[name] for name in labels if name in results}
    if not rows:
        raise ValueError(
            f'no rows to plot: none of the stages {list(labels)} has results '
            f'(results hold {list(results)}). Pass the results of the '
            'evaluated stages, keyed as in labels.')
    missing = [name for name, metrics in rows.items() if METRIC not in metrics]
    if missing:
        raise ValueError(f'rows {missing} have no {METRIC!r}: pass the COCO '
                         'metrics of each stage (sekd_mm.apis.final_metrics)')
    return {name: float(metrics[METRIC]) for name, metrics in rows.items()}


def plot_results(results: Mapping[str, dict], labels: Mapping[str, str],
                 path: str, title: str) -> str:
    """Write a PNG (matplotlib's Agg) of the final val table: one bar per
    row of ``labels`` that has results (x100; COCO's -1, no ground truth,
    is drawn as ``n/a`` at 0), the student alone as a dashed line when it
    is there.

    Args:
        results: stage -> COCO metrics (``coco/bbox_mAP``, ... in [0, 1]),
            as for :func:`~sekd_mm.apis.results_table`.
        labels: stage -> row name, in table order.
        path: the PNG file to write (its folder is made).
        title: the figure's title.

    Returns:
        str: ``path``.

    Raises:
        ValueError: see :func:`figure_rows`.
    """
    rows = figure_rows(results, labels)
    # a Figure of its own (no pyplot): drawn by Agg, whatever backend the
    # process has chosen
    from matplotlib.figure import Figure

    names = list(rows)
    values = [100 * max(rows[n], 0.0) for n in names]
    fig = Figure(figsize=(2.5 + 1.2 * len(names), 4.5))
    ax = fig.subplots()
    bars = ax.bar(range(len(names)), values, alpha=0.7,
                  color=[COLOURS.get(n, DISTILLED_COLOUR) for n in names])
    ax.bar_label(bars, labels=[
        'n/a' if rows[n] < 0 else f'{v:.1f}' for n, v in zip(names, values)],
                 padding=2)
    if 'student_alone' in rows and rows['student_alone'] >= 0:
        ax.axhline(100 * rows['student_alone'], color=COLOURS['student_alone'],
                   ls='--', lw=1)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels([labels[n] for n in names], rotation=20, ha='right')
    ax.set_ylabel('COCO bbox mAP (val, x100)')
    ax.set_ylim(0, max(values + [1.0]) * 1.15)
    ax.grid(axis='y', alpha=0.3)
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
