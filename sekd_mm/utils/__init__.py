# Copyright (c) sekd-mm contributors. All rights reserved.
from .json_file import read_json
from .package_files import MIM_DIR, config_path, find_config, package_file

__all__ = [
    'MIM_DIR', 'config_path', 'find_config', 'package_file', 'read_json'
]
