# Copyright (c) sekd-mm contributors. All rights reserved.
"""The steps of the project's jobs (teacher -> students -> table), shared
by ``sekd-mm main-job``, ``sekd-mm distill`` and
``benchmarks/accuracy_study.py``. Not imported by ``import sekd_mm``."""
from .pipeline import (DELTAS, EMBEDDED_CONFIGS, METRICS, RUNNER_KEYS, STAGES,
                       TEST_MODULE, TRAIN_MODULE, Stage, cfg_args,
                       distill_table, evaluate, final_metrics, last_checkpoint,
                       log, metrics_of, read_records, results_table, run_tool,
                       scalar_files, stage_labels, synthetic_options,
                       threads_args, train, train_args, write_report,
                       zero_if_empty, zero_metrics)

__all__ = [
    'DELTAS', 'EMBEDDED_CONFIGS', 'METRICS', 'RUNNER_KEYS', 'STAGES',
    'TEST_MODULE', 'TRAIN_MODULE', 'Stage', 'cfg_args', 'distill_table',
    'evaluate', 'final_metrics', 'last_checkpoint', 'log', 'metrics_of',
    'read_records', 'results_table', 'run_tool', 'scalar_files',
    'stage_labels', 'synthetic_options', 'threads_args', 'train',
    'train_args', 'write_report', 'zero_if_empty', 'zero_metrics'
]
