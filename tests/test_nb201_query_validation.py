"""Consistent query validation (issue 10 point 10) for NB201, and the reduction message of every
benchmark: dataset names in the release's spelling or any case find NNI's lower-case rows; a bad
reduction is a QueryError (a ValueError, as NNI's) listing the valid values."""
from __future__ import annotations

import pytest
from helpers.nb201 import build

from nasbench_store.errors import QueryError
from nasbench_store.nasbench101 import query_nb101_trial_stats
from nasbench_store.nasbench201 import query_nb201_trial_stats
from nasbench_store.nasbench201 import synthetic as fx
from nasbench_store.nasbench201.constants import DATASETS, RAW_DATASETS
from nasbench_store.nds import query_nds_trial_stats

ARCH = fx.REFERENCE_ARCHS[0]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nb201v")
    return build(tmp, fx.write_nb201_pth(tmp / "a.pth", 3, seed=5, arch_indexes=[0, 2]))[0]


@pytest.fixture
def env(store, monkeypatch):   # the query functions only (not the peewee models): nothing to close
    monkeypatch.setenv("NASBENCHMARK_DIR", str(store))


def ids(*args, **kwargs) -> list:
    return [r["id"] for r in query_nb201_trial_stats(*args, **kwargs)]


@pytest.mark.parametrize("raw, nni", list(zip(RAW_DATASETS, DATASETS, strict=True)))
def test_the_releases_dataset_names_and_any_case_find_nnis_rows(env, raw, nni):
    expected = ids(ARCH, None, nni)
    assert expected
    for spelling in (raw, nni.upper(), nni.title()):
        assert ids(ARCH, None, spelling) == expected
    assert {r["config"]["dataset"] for r in query_nb201_trial_stats(None, 12, raw)} == {nni}


@pytest.mark.parametrize("dataset", ["imagenet", "ImageNet16", "cifar-10", 10])
def test_unknown_datasets_still_list_the_valid_ones(env, dataset):
    with pytest.raises(QueryError, match=rf"unknown dataset {dataset!r}; valid datasets: cifar10-valid, cifar10, "
                                         r"cifar100, imagenet16-120 \(in any case\)"):
        query_nb201_trial_stats(ARCH, 200, dataset)


CALLS = {
    "nasbench101": lambda reduction: query_nb101_trial_stats(None, 108, reduction=reduction),
    "nasbench201": lambda reduction: query_nb201_trial_stats(None, 200, None, reduction=reduction),
    "nds": lambda reduction: query_nds_trial_stats(None, None, None, None, None, None, reduction=reduction),
}


@pytest.mark.parametrize("benchmark", sorted(CALLS))
@pytest.mark.parametrize("reduction", ["max", "MEAN", "", 0, ["mean"]])
def test_every_bad_reduction_lists_the_valid_ones(tmp_path, monkeypatch, benchmark, reduction):
    monkeypatch.setenv("NASBENCHMARK_DIR", str(tmp_path))   # refused before any store is opened
    with pytest.raises(QueryError, match=r"^Unsupported reduction: '.*'; valid reductions: None, 'none', "
                                         r"'mean'$") as err:
        CALLS[benchmark](reduction)
    assert isinstance(err.value, ValueError)   # NNI raises ValueError("Unsupported reduction: ...")
    assert str(err.value).startswith(f"Unsupported reduction: '{reduction}'")
