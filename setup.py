"""Install sekd_mm: ``pip install .`` or, for development, ``pip install -e
.`` (tools/setup_env.sh; see README for the full stack).

As OpenMMLab's packages do (mmdet's ``add_mim_extension``), the build puts
the repository's ``configs/``, ``tools/`` and ``model-index.yml`` into
``sekd_mm/.mim/``: copies in a wheel (``pip install .``, ``pip wheel .``),
symbolic links to the repository in an editable install. The commands
(``sekd-mm ...``) and ``mim train sekd_mm CONFIG`` read them there.
"""
import os
import os.path as osp
import shutil
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
#: What ``sekd_mm/.mim/`` holds; a wheel leaves out a missing one
#: (model-index.yml before it is generated).
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def get_version() -> str:
    version_file = osp.join(HERE, 'sekd_mm', 'version.py')
    scope: dict = {}
    with open(version_file, encoding='utf-8') as f:
        exec(compile(f.read(), version_file, 'exec'), scope)
    return scope['__version__']


def add_mim_files(mim_dir: str, link: bool) -> None:
    """Put :data:`MIM_FILES` into ``mim_dir``, replacing what was there:
    relative symbolic links to the repository's (``link``; a link to a file
    not there yet, model-index.yml, finds it once it is made) or copies."""
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(HERE, name), osp.join(mim_dir, name)
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if link:
            os.symlink(osp.relpath(src, mim_dir), dst)
        elif not osp.exists(src):
            continue
        elif osp.isdir(src):
            shutil.copytree(
                src, dst, ignore=shutil.ignore_patterns('__pycache__',
                                                        '*.py[cod]'))
        else:
            shutil.copyfile(src, dst)


class BuildPy(build_py):
    """``build_py`` that adds ``sekd_mm/.mim``: copied into the build
    folder, whose content goes into the wheel; for an editable install
    (setuptools' ``editable_mode``) linked in the source package, which
    the install points at."""

    def run(self) -> None:
        if self.editable_mode:
            add_mim_files(osp.join(HERE, 'sekd_mm', '.mim'), link=True)
        else:
            add_mim_files(osp.join(self.build_lib, 'sekd_mm', '.mim'),
                          link=False)
        super().run()


with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
    long_description = f.read()

setup(
    name='sekd_mm',
    version=get_version(),
    description='SEKD and EGA graph-based knowledge distillation for '
    'MMDetection / MMRazor',
    long_description=long_description,
    long_description_content_type='text/markdown',
    license='Apache License 2.0',
    packages=find_packages(include=['sekd_mm', 'sekd_mm.*']),
    include_package_data=True,
    python_requires='>=3.8',
    # Ranges of the verified stack. torch is not upper-bounded by the
    # package managers' choice: install the torch you want first (a CUDA
    # build on GPU machines), then this package with the rest.
    install_requires=[
        'torch>=2.0',
        'numpy>=1.23,<2',
        'mmengine>=0.10.7,<0.11',
        'mmcv>=2.1.0,<2.2.0',
        'mmdet>=3.3.0,<3.4',
        'mmrazor>=1.0.0,<1.1',
        'pycocotools>=2.0.7',
        # the distiller search (sekd_mm/search) and the real-image sets
        # (sekd_mm/datasets/packaged.py)
        'optuna>=4,<5',
        'tifffile>=2021.11.2',
    ],
    extras_require={
        # psycopg: the PostgreSQL test of the search's shared studies
        'tests': ['pytest>=7', 'ruff==0.8.4', 'isort==5.13.2',
                  'psycopg[binary]>=3.1'],
        'mim': ['openmim==0.3.7'],
    },
    entry_points={'console_scripts': ['sekd-mm=sekd_mm.cli.main:main']},
    cmdclass={'build_py': BuildPy},
    zip_safe=False,
)
