"""Install sekd_mm: ``pip install -e .`` (see README for the full stack)."""
import os.path as osp
from setuptools import find_packages, setup


def get_version() -> str:
    version_file = osp.join(osp.dirname(__file__), 'sekd_mm', 'version.py')
    scope: dict = {}
    with open(version_file, encoding='utf-8') as f:
        exec(compile(f.read(), version_file, 'exec'), scope)
    return scope['__version__']


with open(osp.join(osp.dirname(__file__), 'README.md'), encoding='utf-8') as f:
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
    ],
    extras_require={
        'tests': ['pytest>=7', 'ruff==0.8.4', 'isort==5.13.2'],
        'mim': ['openmim==0.3.7'],
    },
    zip_safe=False,
)
