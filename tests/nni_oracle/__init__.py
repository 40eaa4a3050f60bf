"""Test support for NNI's own code as an oracle: `oracle` (imported by the tests, in the project venv)
and `run_nni_query.py` (run, or imported by name, only inside the NNI venv, with this folder on its path)."""
