"""Build hook for the optional C graph hash; all metadata lives in pyproject.toml."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("nasbench_store.nasbench101._graphhash",
                             ["src/nasbench_store/nasbench101/_graphhash.c"], optional=True)])
