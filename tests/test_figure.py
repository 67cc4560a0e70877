# Copyright (c) sekd-mm contributors. All rights reserved.
"""The figure of a final val table (sekd_mm.apis.figure): a real PNG of
the rows that have results, and the errors on rows it cannot draw."""
import struct

import pytest

from sekd_mm.apis.figure import figure_rows, plot_results

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
LABELS = dict(teacher='Teacher RetinaNet R-50',
              chosen_student='Student R-18 + CWD x3 (chosen)',
              student_alone='Student R-18 alone')


def coco(ap: float) -> dict:
    return {'coco/bbox_mAP': ap, 'coco/bbox_mAP_50': min(1.0, 2 * ap)}


def png_size(path) -> tuple:
    """(width, height) from a PNG's IHDR chunk."""
    with open(path, 'rb') as f:
        head = f.read(24)
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b'IHDR'
    return struct.unpack('>II', head[16:24])


def test_plot_results_writes_a_png_of_the_rows_with_results(tmp_path):
    results = dict(teacher=coco(0.412), chosen_student=coco(0.305),
                   student_alone=coco(0.281), other=coco(0.5))
    path = tmp_path / 'sub' / 'final.png'
    assert plot_results(results, LABELS, str(path), 'val table') == str(path)
    width, height = png_size(path)
    assert width > 300 and height > 300
    assert path.stat().st_size > 10_000  # bars, labels and values drawn
    # the bars: the rows of labels that have results, in labels' order
    assert figure_rows(results, LABELS) == dict(
        teacher=0.412, chosen_student=0.305, student_alone=0.281)
    del results['teacher']
    assert list(figure_rows(results, LABELS)) == ['chosen_student',
                                                  'student_alone']
    # COCO's -1 (no ground truth) is drawn, as n/a
    results['student_alone'] = coco(-1.0)
    plot_results(results, LABELS, str(tmp_path / 'na.png'), 'n/a')
    assert png_size(tmp_path / 'na.png')[0] > 300


def test_plot_results_rejects_rows_it_cannot_draw(tmp_path):
    path = tmp_path / 'none.png'
    with pytest.raises(ValueError, match=r"no rows to plot: none of the "
                       r"stages \['teacher'.*results hold \['other'\]"):
        plot_results(dict(other=coco(0.1)), LABELS, str(path), 't')
    with pytest.raises(ValueError, match='no rows'):
        plot_results({}, LABELS, str(path), 't')
    with pytest.raises(ValueError, match=r"rows \['teacher'\] have no "
                       "'coco/bbox_mAP'"):
        plot_results(dict(teacher={'coco/bbox_mAP_50': 0.3}), LABELS,
                     str(path), 't')
    assert not path.exists()
