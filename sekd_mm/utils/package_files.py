# Copyright (c) sekd-mm contributors. All rights reserved.
"""Where the files that ship with the package are: ``configs/``, ``tools/``
and ``model-index.yml``.

As in OpenMMLab's packages, ``setup.py`` puts them into ``sekd_mm/.mim/``
at build time: copies in a wheel or a ``pip install .``, symbolic links to
the repository's folders in an editable install (``pip install -e .``).
``mim train sekd_mm CONFIG`` reads them there. A source checkout used
without installing (``PYTHONPATH=.``) has them next to the package.
"""
import os.path as osp

#: The installed package's folder of shipped files.
MIM_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim')
#: Where they are searched, in this order: the package's ``.mim``, then the
#: source checkout the package sits in.
_ROOTS = (MIM_DIR, osp.dirname(osp.dirname(MIM_DIR)))


def package_file(*parts: str) -> str:
    """Absolute path of a shipped file or folder, e.g.
    ``package_file('tools', 'train.py')``.

    Raises:
        FileNotFoundError: it is not there, or the package was installed
            without its shipped files; the message names the fix.
    """
    for root in _ROOTS:
        if osp.exists(osp.join(root, parts[0])):
            path = osp.join(root, *parts)
            if not osp.exists(path):
                raise FileNotFoundError(
                    f'{osp.join(*parts)} is not among the files of sekd_mm '
                    f'({osp.join(root, parts[0])}).')
            return path
    raise FileNotFoundError(
        f'{parts[0]} is not in {MIM_DIR}: this sekd_mm was installed '
        'without its configs and tools. Reinstall it from the repository '
        '(pip install . or pip install -e .), which puts them there.')


def config_path(name: str) -> str:
    """Absolute path of the shipped config ``name``, given relative to the
    ``configs`` folder, with or without the leading ``configs/`` (e.g.
    ``'embedded/retinanet_r34_synthetic.py'``)."""
    name = osp.normpath(name)
    if name.split(osp.sep, 1)[0] == 'configs':
        name = name.split(osp.sep, 1)[1]
    return package_file('configs', name)


def find_config(path: str) -> str:
    """``path`` if it is a file, else the shipped config of that name
    (:func:`config_path`): ``sekd-mm train sekd/<config>.py`` works from
    any folder.

    Raises:
        FileNotFoundError: neither exists; the message names both places.
    """
    if osp.isfile(path):
        return path
    try:
        return config_path(path)
    except FileNotFoundError:
        raise FileNotFoundError(
            f'Config {path!r} is neither a file (relative to the current '
            f'folder) nor a config of sekd_mm (under '
            f'{osp.join(MIM_DIR, "configs")}). Give the path of a config '
            'file or the name of a shipped one, e.g. '
            'sekd/sekd_retinanet_r34_retinanet_r18-w32_synthetic.py.'
        ) from None
