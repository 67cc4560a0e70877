# Copyright (c) sekd-mm contributors. All rights reserved.
import os

# Tests run on 2 cores: keep torch from oversubscribing them (MKL/OpenMP
# threads spinning against each other make eigh 100x slower).
os.environ.setdefault('OMP_NUM_THREADS', '1')

import pytest  # noqa: E402
import torch  # noqa: E402

import sekd_mm  # noqa: E402,F401  (compat fixes + registration)

torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))


@pytest.fixture(scope='package')
def data_root(tmp_path_factory):
    """The small synthetic dataset (COCO and VOC layouts), made once."""
    from sekd_test_utils import SMALL

    from sekd_mm.datasets import ensure_synthetic_dataset
    root = str(tmp_path_factory.mktemp('data') / 'synthetic')
    return ensure_synthetic_dataset(root, **SMALL)
