# Copyright (c) sekd-mm contributors. All rights reserved.
"""The steps of the project's jobs (teacher -> students -> table), shared
by ``sekd-mm main-job``, ``sekd-mm distill`` and
``benchmarks/accuracy_study.py``. Not imported by ``import sekd_mm``."""
from .pair import (PAIR_METHODS, PEER_LOSSES, Detector, Pair, PairError,
                   check_init, fpn_level_names, load_detector, load_pair,
                   peer_distiller, sekd_distiller, set_init)
from .pipeline import (DELTAS, EMBEDDED_CONFIGS, METRICS, RUNNER_KEYS, STAGES,
                       TEST_MODULE, TRAIN_MODULE, Stage, cfg_args,
                       distill_table, evaluate, final_metrics, last_checkpoint,
                       launch_args, log, metrics_of, read_records,
                       results_table, run_tool, scalar_files, stage_labels,
                       synthetic_options, threads_args, train, train_args,
                       write_report, zero_if_empty, zero_metrics)

__all__ = [
    'DELTAS', 'EMBEDDED_CONFIGS', 'METRICS', 'RUNNER_KEYS', 'STAGES',
    'TEST_MODULE', 'TRAIN_MODULE', 'Stage', 'cfg_args', 'distill_table',
    'evaluate', 'final_metrics', 'last_checkpoint', 'launch_args', 'log',
    'metrics_of', 'read_records', 'results_table', 'run_tool', 'scalar_files',
    'stage_labels', 'synthetic_options', 'threads_args', 'train',
    'train_args', 'write_report', 'zero_if_empty', 'zero_metrics',
    'PAIR_METHODS', 'PEER_LOSSES', 'Detector', 'Pair', 'PairError',
    'check_init', 'fpn_level_names', 'load_detector', 'load_pair',
    'peer_distiller', 'sekd_distiller', 'set_init'
]
