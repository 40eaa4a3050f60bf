"""`query_nb201_trial_stats`: NNI's function and dict shapes, on this project's store.

Differences from NNI, all in the researcher's favour: `arch` may also be the release's string
form (`|nor_conv_3x3~0|+|...|`) and a dataset name may be the release's spelling or any case
(`ImageNet16-120`); an unknown operator, dataset or epoch count raises QueryError listing the
valid ones instead of matching nothing (a bad reduction: NNI's message, as a QueryError, which is
a ValueError, that also lists the valid values); with reduction='mean' each dict also says
how many seeds were averaged (`num_trials`; many architectures have only one or two) and its
intermediates are per-epoch averages instead of NNI's always-empty list; intermediates come from
one query; the store is located through NASBENCHMARK_DIR at call time and opened read-only.
"""
from __future__ import annotations

from collections.abc import Iterator

from ..database import json_text
from ..sqlite_query import TrialTables, normalize_reduction, query_trials
from .space import check_dataset, check_epochs, normalize_arch

TABLES = TrialTables.of("nasbench201")


def query_nb201_trial_stats(arch, num_epochs, dataset, reduction=None,
                            include_intermediates=False) -> Iterator[dict]:
    """Trial stats of NAS-Bench-201 cells, as NNI's function of the same name returns them.

    arch: NNI arch dict ({'0_1': 'conv_3x3', ...}), the arch string, or None for every cell.
    num_epochs: 12, 200 or None. dataset: 'cifar10-valid', 'cifar10', 'cifar100',
    'imagenet16-120' (in any case, so the release's 'ImageNet16-120' too) or None.
    reduction: None/'none' (one dict per seed) or 'mean' (one dict per config, averaged over its
    seeds, `seed` None, `num_trials` = seeds averaged).
    include_intermediates: add the per-epoch metrics under 'intermediates'.
    """
    normalize_reduction(reduction)
    conditions = []  # the store's planner statistics (ANALYZE) pick the arch index when there is one
    if arch is not None:
        conditions.append(("c.arch = ?", json_text(normalize_arch(arch))))
    if num_epochs is not None:
        conditions.append(("c.num_epochs = ?", check_epochs(num_epochs)))
    if dataset is not None:
        conditions.append(("c.dataset = ?", check_dataset(dataset)))
    return query_trials(TABLES, conditions, reduction, include_intermediates)


def sample() -> tuple[str, list[dict]]:
    """The demo's query: the first architecture the store has results for, on CIFAR-100, seeds averaged."""
    from .schema import Nb201TrialStats
    arch = Nb201TrialStats.select().first().config.arch
    return (f"query_nb201_trial_stats({arch}, 200, 'cifar100', reduction='mean')",
            list(query_nb201_trial_stats(arch, 200, "cifar100", reduction="mean")))
