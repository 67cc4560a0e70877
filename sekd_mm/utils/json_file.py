# Copyright (c) sekd-mm contributors. All rights reserved.
"""Reading the JSON state files the commands leave in their folders."""
import json
import os.path as osp
from typing import Any, Optional


def read_json(path: str) -> Optional[Any]:
    """The JSON content of ``path``, or None when there is no such file."""
    if not osp.isfile(path):
        return None
    with open(path, encoding='utf-8') as f:
        return json.load(f)
