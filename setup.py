"""Build hook for the optional C extensions (graph hash, NB101 record loop, SQLite bulk insert); all
metadata lives in pyproject.toml. All are optional: without a compiler the package falls back to pure Python."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("nasbench_store.nasbench101._graphhash",
                             ["src/nasbench_store/nasbench101/_graphhash.c"], optional=True),
                   Extension("nasbench_store.nasbench101._recordscan",
                             ["src/nasbench_store/nasbench101/_recordscan.c"], optional=True),
                   Extension("nasbench_store._sqlitebulk", ["src/nasbench_store/_sqlitebulk.c"], optional=True),
                   Extension("nasbench_store.safety._opwalk", ["src/nasbench_store/safety/_opwalk.c"], optional=True)])
