"""`query_nds_trial_stats`: NNI's function and dict shapes, on this project's store.

Differences from NNI, all in the researcher's favour: a model_family, proposer, generator or
dataset outside the benchmark raises QueryError listing the valid values (when called, not at the
first `next()`) instead of matching nothing, and a bad reduction's ValueError lists the valid
values; rows come in id order; intermediates come from one query; the store is located through
NASBENCHMARK_DIR at call time.
"""
from __future__ import annotations

from collections.abc import Iterator

from ..database import json_text
from ..errors import QueryError
from ..sqlite_query import TrialTables, normalize_reduction, query_trials
from .constants import DATASETS, GENERATORS, MODEL_FAMILIES, PROPOSERS

TABLES = TrialTables.of("nds")
_CHOICES = {"model_family": MODEL_FAMILIES, "proposer": PROPOSERS, "generator": GENERATORS, "dataset": DATASETS}


def query_nds_trial_stats(model_family, proposer, generator, model_spec, cell_spec, dataset,
                          num_epochs=None, reduction=None, include_intermediates=False) -> Iterator[dict]:
    """Trial stats of NDS models, as NNI's function of the same name returns them.

    Every argument is an equality filter on the config, None meaning any: model_family (nas_cell,
    residual_bottleneck, residual_basic, vanilla), proposer (amoeba, darts, ..., vanilla),
    generator (random, fix_w_d, tune_lr_wd), model_spec / cell_spec (dicts, compared as JSON;
    non-cell families have cell_spec {}), dataset (cifar10, imagenet), num_epochs. reduction:
    None/'none' or 'mean' (one dict per config, averaged over its runs, `id` and `seed` None, with
    `num_trials`). include_intermediates: add the per-epoch rows under 'intermediates'.
    """
    normalize_reduction(reduction)
    labels = {"model_family": model_family, "proposer": proposer, "generator": generator, "dataset": dataset}
    conditions = []
    for name, value in labels.items():
        if value is not None:
            if value not in _CHOICES[name]:
                valid = ", ".join(repr(v) for v in _CHOICES[name])
                raise QueryError(f"{name}={value!r} is not in NDS; use one of {valid}, or None for any")
            conditions.append((f"c.{name} = ?", value))
    for name, value in (("model_spec", model_spec), ("cell_spec", cell_spec)):
        if value is not None:
            conditions.append((f"c.{name} = ?", json_text(value)))
    if num_epochs is not None:
        conditions.append(("c.num_epochs = ?", num_epochs))
    return query_trials(TABLES, conditions, reduction, include_intermediates)


def sample() -> tuple[str, list[dict]]:
    """The demo's query: ResNet basic blocks from the random sweep on CIFAR-10, first row."""
    rows = query_nds_trial_stats("residual_basic", "resnet", "random", None, None, "cifar10")
    return ("query_nds_trial_stats('residual_basic', 'resnet', 'random', None, None, 'cifar10'), first row",
            [next(rows)])
