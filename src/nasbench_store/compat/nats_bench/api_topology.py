"""`NATStopology`: nats_bench's topology-space API answered from the NB201 store.

`TopologyFacade` holds what nats_bench 1.8 and nas_201_api 2.1 share (both descend from one code
base); `NATStopology` adds nats_bench's own behaviour: lazy loading in fast mode (an architecture
counts as evaluated, and its budgets as available, once a query touched it, as the original's
per-architecture files do), the `comment` of `get_more_info`, and its exception kinds.
`nasbench_store.compat.nas_201_api.NASBench201API` adds nas_201_api's.

Results are the originals' on the same raw release: the same keys, the same floats (sums and means
taken over the same values in the same order), the same exception classes, and the same draws on
Python's global `random` generator in the same order (one `random.choice` over the seed list per
`get_more_info(is_random=True)` and per `simulate_train_eval`, one `random.randint` per `random()`).
"""
from __future__ import annotations

import os
import random
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ...nasbench201.constants import RAW_DATASETS
from ...nasbench201.space import unique_str
from .results import NATS, ArchRuns, Flavor, no_weights
from .store import open_store

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
SIMULATED_DATASETS = ("cifar10", "cifar100", "ImageNet16-120")
CACHED_ARCHS = 256  # architectures whose runs stay in memory: up to ~1 MB each (a span per epoch where times vary)


def remap_dataset_set_names(dataset: str, metric_on_set: str) -> tuple[str, str]:
    """The user-level (dataset, set) pairs `find_best` accepts, as the stored names: CIFAR-10's
    validation accuracy is cifar10-valid's x-valid, its test accuracy cifar10's ori-test; CIFAR-100's and
    ImageNet16-120's valid/test are their x-valid/x-test. Anything else passes through."""
    if dataset == "cifar10":
        return {"valid": ("cifar10-valid", "x-valid"), "test": ("cifar10", "ori-test")}.get(
            metric_on_set, (dataset, metric_on_set))
    if dataset in ("cifar100", "ImageNet16-120"):
        return dataset, {"valid": "x-valid", "test": "x-test"}.get(metric_on_set, metric_on_set)
    return dataset, metric_on_set


class TopologyFacade:
    """The query surface nats_bench's topology API and nas_201_api share, over an `Nb201Store`."""

    flavor: Flavor = NATS

    def __init__(self, file_path_or_dict=None, verbose: bool = True):
        self._store = open_store(file_path_or_dict)
        self.filename = None if file_path_or_dict is None else Path(os.fspath(file_path_or_dict)).name
        self.verbose = verbose
        self.meta_archs: list[str] = list(self._store.meta_archs)
        self.archstr2index = {arch: i for i, arch in enumerate(self.meta_archs)}
        self._with_runs = self._store.evaluated()
        self._cache: OrderedDict[int, dict[str, ArchRuns] | None] = OrderedDict()
        self.reset_time()
        if verbose:
            print(f"{type(self).__name__}: {len(self.meta_archs)} architectures, {len(self._with_runs)} with results, "
                  f"from {self._store.path}")

    # -- the store -------------------------------------------------------------------------------------
    @property
    def store_path(self) -> Path:
        """The nasbench201.db this facade reads."""
        return self._store.path

    def _runs(self, index) -> dict[str, ArchRuns] | None:
        key = int(index)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        runs = self._store.arch(key, self.flavor) if 0 <= key < len(self.meta_archs) else None
        self._cache[key] = runs
        if len(self._cache) > CACHED_ARCHS:
            self._cache.popitem(last=False)
        return runs

    def _is_loaded(self, index) -> bool:
        raise NotImplementedError

    def _prepare_info(self, index) -> None:
        """nats_bench loads an architecture's file here in fast mode; nas_201_api has it all loaded."""

    def _loaded_runs(self, index) -> dict[str, ArchRuns]:
        return self._runs(index) or {}

    # -- architectures ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.meta_archs)

    def __getitem__(self, index):
        item = self.meta_archs[index]
        return list(item) if isinstance(index, slice) else item

    def arch(self, index: int) -> str:
        if index < 0 or index >= len(self.meta_archs):
            raise self.flavor.out_of_range(f"invalid index : {index} vs. {len(self.meta_archs)}.")
        return self.meta_archs[index]

    def query_index_by_arch(self, arch) -> int:
        """An int (or bool) must be a valid index; a string or an object with tostr() is looked up
        exactly (-1 when absent); anything else, numpy integers included, gives -1."""
        if isinstance(arch, int):
            if 0 <= arch < len(self):
                return arch
            raise ValueError(f"Invalid architecture index {arch} vs [0, {len(self)}].")
        if isinstance(arch, str):
            return self.archstr2index.get(arch, -1)
        if hasattr(arch, "tostr"):
            return self.archstr2index.get(arch.tostr(), -1)
        return -1

    def random(self) -> int:
        """A random architecture index: one random.randint on the global generator."""
        return random.randint(0, len(self.meta_archs) - 1)

    @staticmethod
    def str2lists(arch_str: str) -> list[tuple]:
        """`|op~0|+|op~0|op~1|+...` -> one tuple of (op, input node) pairs per node."""
        nodes = []
        for node in arch_str.split("+"):
            tokens = [t for t in node.split("|") if t != ""]
            for token in tokens:
                assert len(token.split("~")) == 2, f"invalid input length : {token}"
            nodes.append(tuple((op, int(source)) for op, source in (t.split("~") for t in tokens)))
        return nodes

    @staticmethod
    def str2matrix(arch_str: str, search_space=OPS) -> np.ndarray:
        """The cell as a (nodes+1)² float matrix: entry [node, source] = the op's index in `search_space`."""
        nodes = arch_str.split("+")
        matrix = np.zeros((len(nodes) + 1, len(nodes) + 1))
        for i, node in enumerate(nodes):
            tokens = [t for t in node.split("|") if t != ""]
            for token in tokens:
                assert len(token.split("~")) == 2, f"invalid input length : {token}"
            for token in tokens:
                op, source = token.split("~")
                if op not in search_space:
                    raise ValueError(f"this op ({op}) is not in {search_space}")
                matrix[i + 1, int(source)] = search_space.index(op)
        return matrix

    # -- time accounting -------------------------------------------------------------------------------
    @property
    def used_time(self):
        return self._used_time

    def reset_time(self) -> None:
        self._used_time = 0

    # -- results ---------------------------------------------------------------------------------------
    def _more_info(self, runs: dict[str, ArchRuns], dataset: str, iepoch, hp, is_random, comment: bool) -> dict:
        arch = runs[str(hp)]
        if isinstance(is_random, bool) and is_random:   # the run is drawn first; every set then comes from it
            is_random = random.choice(arch.get_dataset_seeds(dataset))

        def metrics(setname: str, required: bool = False) -> dict | None:
            if required:
                return arch.get_metrics(dataset, setname, iepoch=iepoch, is_random=is_random)
            try:
                return arch.get_metrics(dataset, setname, iepoch=iepoch, is_random=is_random)
            except Exception:  # a set the run does not have is left out, as the originals do
                return None

        train = metrics("train", required=True)
        epochs = train["iepoch"] + 1
        info: dict = {}
        if dataset == "cifar10-valid":
            valid, test, valtest = metrics("x-valid", required=True), metrics("ori-test"), None
        else:
            test = metrics("ori-test" if dataset == "cifar10" else "x-test")
            valid = metrics("x-valid")
            valtest = metrics("ori-test") if dataset != "cifar10" else None
        for prefix, m in (("train", train), ("valid", valid), ("test", test), ("valtest", valtest)):
            if m is not None:   # per-time: the set's total time over the number of *training* epochs
                info[f"{prefix}-loss"] = m["loss"]
                info[f"{prefix}-accuracy"] = m["accuracy"]
                info[f"{prefix}-per-time"] = m["all_time"] / epochs if m["all_time"] is not None else None
                info[f"{prefix}-all-time"] = m["all_time"]
            if prefix == "train" and comment and dataset in ("cifar10-valid", "cifar10"):
                info["comment"] = _comment(dataset, hp)
        return info

    def _meta_info(self, arch_index, hp) -> ArchRuns:
        if not self._is_loaded(arch_index):
            raise ValueError(f"arch_index [{arch_index}] does not in arch2infos")
        runs = self._loaded_runs(arch_index)
        if hp not in runs:
            raise ValueError(f"The {arch_index}-th architecture only has hyper-parameters of {list(runs)} "
                             f"instead of {hp}.")
        return runs[hp]

    def get_latency(self, index: int, dataset: str, hp="12") -> float:
        return self.get_cost_info(index, dataset, hp)["latency"]

    def _summary(self, arch, hp, bad_hp: type[Exception]) -> str | None:
        arch_index = self.query_index_by_arch(arch)
        self._prepare_info(arch_index)
        if not self._is_loaded(arch_index):
            return None
        runs = self._loaded_runs(arch_index)
        if hp not in runs:
            raise bad_hp(f"The {arch_index}-th architecture only has hyper-parameters of {list(runs)} "
                         f"instead of {hp}.")
        return "\n".join(runs[hp].summary_lines(f"arch-index={arch_index}"))

    def _net_config(self, index: int, dataset: str, missing: type[Exception]) -> dict:
        self._prepare_info(index)
        if not self._is_loaded(index):
            raise missing(f"The arch_index={index} is not in arch2infos_dict.")
        first = next(iter(self._loaded_runs(index).values()))   # the first budget, as the release lists them
        return next(iter(first.query(dataset).values())).get_config(None)

    def _best(self, candidates, dataset, metric_on_set, flop_max, param_max, hp) -> tuple[int, float | None]:
        dataset, metric_on_set = remap_dataset_set_names(dataset, metric_on_set)
        best, highest = -1, None
        for index in candidates:
            self._prepare_info(index)
            arch = self._loaded_runs(index)[hp]
            costs = arch.get_compute_costs(dataset)
            if flop_max is not None and costs["flops"] > flop_max:
                continue
            if param_max is not None and costs["params"] > param_max:
                continue
            accuracy = arch.get_metrics(dataset, metric_on_set)["accuracy"]
            if best == -1 or highest < accuracy:   # ties keep the lower index
                best, highest = index, accuracy
        if self.verbose:
            print(f"the best architecture : [{best}] {self.arch(best)} with accuracy={highest:.3f}%")
        return best, highest

    # -- printing and counting -----------------------------------------------------------------------
    def show(self, index: int = -1) -> None:
        """Print an architecture's summary for each budget; index < 0: the API, then every evaluated
        architecture's (the originals mean this but fail on the first one, looking up index -1)."""
        if index < 0:
            print(self)
            evaluated = sorted(self.evaluated_indexes)
            for position, each in enumerate(evaluated):
                print("\n" + "-" * 10 + f" The ({position:5d}/{len(evaluated):5d}) {each:06d}-th architecture! "
                      + "-" * 10)
                print(f"arch : {self.meta_archs[each]}")
                self._show_budgets(each)
        elif index < len(self.meta_archs):
            self._prepare_info(index)
            if self._is_loaded(index):
                self._show_budgets(index)
            else:
                print(f"The {index}-th architecture has not been evaluated or not saved.")
        else:
            print(f"This index ({index}) is out of range (0~{len(self.meta_archs)}).")

    def _show_budgets(self, index: int) -> None:
        for info in self._loaded_runs(index).values():
            lines = info.summary_lines()   # before the heading: a failing summary prints nothing of its budget
            print(">" * 40 + f" {info.get_total_epoch():03d} epochs " + ">" * 40)
            print("\n".join(lines))
        print("<" * 40 + "------------" + "<" * 40)

    def _counted_indexes(self):
        """The architectures `statistics` counts: the evaluated ones (nas_201_api: every index)."""
        return self.evaluated_indexes

    def statistics(self, dataset: str, hp) -> dict[int, int]:
        """{number of seeds: architectures with that many runs on `dataset` at budget `hp`}; 0 counts
        those without a run on that dataset. KeyError for an architecture without that budget."""
        if dataset not in RAW_DATASETS:
            raise ValueError(f"{dataset} not in {list(RAW_DATASETS)}")
        hp = str(hp)
        seeds, budgeted = self._store.seed_counts(hp, dataset)
        counts: dict[int, int] = {}
        for index in self._counted_indexes():
            if not self._is_loaded(index):
                raise KeyError(index)
            if index not in budgeted:
                raise KeyError(hp)
            n = seeds.get(index, 0)
            counts[n] = counts.get(n, 0) + 1
        return counts

    # -- what needs trained weights --------------------------------------------------------------------
    def get_net_param(self, index, dataset, seed, hp="12"):
        raise no_weights("get_net_param")

    def reload(self, archive_root=None, index=None):
        raise no_weights("reload (the full archive's per-architecture files)")

    def clear_params(self, index, hp=None) -> None:
        """Nothing to clear: the store holds no weights."""


def _comment(dataset: str, hp) -> str:
    if dataset == "cifar10-valid":
        trained_on = "the CIFAR-10 training split"
    else:
        trained_on = "the CIFAR-10 training and validation splits"
    return (f"Metrics of a network trained on {trained_on} for {hp} epochs: train-* on that training data, "
            f"test-* on the CIFAR-10 test set; *-per-time is seconds per epoch, *-all-time seconds in total.")


class NATStopology(TopologyFacade):
    """nats_bench's `NATStopology` (the topology search space, "tss") over the NB201 store.

    `file_path_or_dict`: None (the default store), a store directory, nasbench201.db, or the raw input a
    store was built from (the NATS-tss `.tar` or its extracted directory, or the NAS-Bench-201 `.pth`).
    `fast_mode=True` mirrors the original's lazy per-architecture loading (`evaluated_indexes` and
    `avaliable_hps` grow as queries touch architectures); with False everything counts as loaded.
    """

    flavor = NATS

    def __init__(self, file_path_or_dict=None, fast_mode: bool = False, verbose: bool = True):
        super().__init__(file_path_or_dict, verbose)
        self._fast_mode = fast_mode
        self._archive_dir = str(self._store.path.parent)
        self._search_space_name = "topology"
        self._full_train_epochs = 200
        if fast_mode:
            self.evaluated_indexes: set[int] = set()
            self._avaliable_hps: set[str] | None = set()
        else:
            self.evaluated_indexes = set(self._with_runs)
            self._avaliable_hps = None   # every budget of the store, read when first asked for

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self.evaluated_indexes)}/{len(self.meta_archs)} architectures, "
                f"fast_mode={self._fast_mode}, file={self.filename})")

    # -- nats_bench's properties -------------------------------------------------------------------------
    @property
    def avaliable_hps(self) -> list[str]:
        if self._avaliable_hps is None:
            self._avaliable_hps = self._store.hps()
        return list(self._avaliable_hps)

    @property
    def fast_mode(self) -> bool:
        return self._fast_mode

    @property
    def archive_dir(self):
        return self._archive_dir

    @property
    def search_space_name(self) -> str:
        return self._search_space_name

    @property
    def full_train_epochs(self) -> int:
        return self._full_train_epochs

    @property
    def full_epochs_in_paper(self) -> int:
        return 200

    @property
    def is_size(self) -> bool:
        return False

    @property
    def is_topology(self) -> bool:
        return True

    def reset_fast_mode(self, fast_mode: bool) -> None:
        self._fast_mode = fast_mode

    def reset_archive_dir(self, archive_dir) -> None:
        self._archive_dir = archive_dir

    # -- lazy loading ----------------------------------------------------------------------------------
    def _is_loaded(self, index) -> bool:
        return index in self.evaluated_indexes

    def _prepare_info(self, index) -> None:
        if index in self.evaluated_indexes:
            return
        if not self._fast_mode:
            return
        if self._archive_dir is None:
            raise ValueError(f"Invalid status: fast_mode={self._fast_mode} and archive_dir={self._archive_dir}")
        for i in range(len(self.meta_archs)) if index is None else [index]:   # None: every architecture, in order
            if not 0 <= i < len(self.meta_archs):
                raise ValueError(f"invalid index of {i}")
            runs = self._runs(i)
            if runs is None:   # the original finds no file for it in the archive
                raise AssertionError(f"invalid data path : architecture {i} has no results in {self._store.path}")
            self.evaluated_indexes.add(i)
            if self._avaliable_hps is not None:
                self._avaliable_hps.update(runs)

    # -- queries ---------------------------------------------------------------------------------------
    def get_more_info(self, index, dataset, iepoch=None, hp="12", is_random=True) -> dict:
        index = self.query_index_by_arch(index)
        self._prepare_info(index)
        if not self._is_loaded(index):
            raise ValueError(f"Did not find {index} from arch2infos_dict.")
        return self._more_info(self._loaded_runs(index), dataset, iepoch, hp, is_random, comment=True)

    def query_meta_info_by_index(self, arch_index, hp="12") -> ArchRuns:
        self._prepare_info(arch_index)
        return self._meta_info(arch_index, str(hp))

    def query_by_index(self, arch_index, dataname=None, hp="12"):
        info = self.query_meta_info_by_index(arch_index, str(hp))
        if dataname is None:
            return info
        if dataname not in info.get_dataset_names():
            raise ValueError(f"invalid dataset-name : {dataname} vs. {info.get_dataset_names()}")
        return info.query(dataname)

    def get_cost_info(self, index: int, dataset: str, hp="12") -> dict:
        self._prepare_info(index)
        return self.query_meta_info_by_index(index, hp).get_compute_costs(dataset)

    def simulate_train_eval(self, arch, dataset, iepoch=None, hp="12", account_time=True):
        """(validation accuracy of one drawn run, latency, its time cost, the accumulated time): CIFAR-10 is
        answered by cifar10-valid's x-valid split, the cost is the run's training time up to `iepoch` plus
        one epoch's validation time."""
        index = self.query_index_by_arch(arch)
        if dataset not in SIMULATED_DATASETS:
            raise ValueError(f"Invalid dataset name : {dataset} vs {SIMULATED_DATASETS}")
        source = "cifar10-valid" if dataset == "cifar10" else dataset
        info = self.get_more_info(index, source, iepoch=iepoch, hp=hp, is_random=True)
        if "valid-accuracy" in info:
            accuracy, cost = info["valid-accuracy"], info["train-all-time"] + info["valid-per-time"]
        else:
            accuracy = info["valtest-accuracy"]
            again = self.get_more_info(index, dataset, iepoch=None, hp=hp, is_random=True)
            cost = info["train-all-time"] + again["valid-per-time"]
        latency = self.get_latency(index, dataset, hp=hp)
        if account_time:
            self._used_time += cost
        return accuracy, latency, cost, self._used_time

    def find_best(self, dataset, metric_on_set, flop_max=None, param_max=None, hp="12", enforce_all=None):
        """(index, accuracy) of the best seed-averaged accuracy under the FLOP/parameter limits (strict >
        excludes); in fast mode every architecture is visited (`enforce_all`), else the loaded ones."""
        if enforce_all is None:
            enforce_all = self._fast_mode
        if enforce_all:
            assert self._fast_mode, "enforce_all can only be set when fast_mode=True"
            candidates = list(range(len(self)))
        else:
            candidates = sorted(self.evaluated_indexes)
        if not candidates:
            return -1, None
        return self._best(candidates, dataset, metric_on_set, flop_max, param_max, hp)

    def get_net_config(self, index: int, dataset: str) -> dict:
        return self._net_config(index, dataset, ValueError)

    def query_info_str_by_arch(self, arch, hp="12") -> str | None:
        text = self._summary(arch, hp, ValueError)
        if text is None:
            warnings.warn(f"architecture {arch} is not evaluated in this store", stacklevel=2)
        return text

    def query_by_arch(self, arch, hp):
        return self.query_info_str_by_arch(arch, hp)

    def get_unique_str(self, arch) -> str:
        """The string shared by the cells that compute the same function (`nasbench201.space.unique_str`);
        an unknown string means index -1, the last architecture, as in the original."""
        return unique_str(self.meta_archs[self.query_index_by_arch(arch)])
