"""`NASBench201API`: nas_201_api 2.1's API answered from the NB201 store.

It answers as the original does on the same `.pth` (or on the NATS-tss archive's runs, which the same
store can be built from): the same keys and floats (averages with numpy, as the original takes
them), the same exception classes, the same draws on Python's global `random` generator. All the
architectures with results count as evaluated (`evaluated_indexes`, a sorted list) and the budgets
are '12' and '200', as in the original.

Deliberate differences:
- `file_path_or_dict` is a path or None, never a loaded dict; the raw `.pth` is found through the
  store built from it (`nasbench_store.compat.nats_bench.store.locate`).
- NAS-Bench-201 1.x's budget flag works where 1.x had it: `use_12epochs_result=True` (or a bool `hp`,
  as old positional calls pass it) means hp '12', False means '200'; `query_by_arch(arch)` without a
  budget gives the 200-epoch results as 1.x did (2.1 requires `hp`).
- `get_net_param` and `reload` raise `WeightsNotStoredError` (the store holds no weights).
- `show()` (index -1) prints every evaluated architecture; the original prints the first heading and
  then fails with KeyError (it looks up index -1). `ArchResults.show(is_print)` returns (and prints) the
  summary lines that the original's raises NameError on.
- The methods that build or change the release's objects (`ArchResults.update`, `reset_latency`,
  `reset_pseudo_*_times`, `state_dict`, `load_state_dict`, `create_from_state_dict`, `debug_test`, and
  their `ResultsCount` counterparts) are absent: the store is read-only.
- Where the original raises NameError because of a bug in its error message (`get_net_config` of an
  architecture without results, `query_info_str_by_arch` with an unknown budget), `Nb201LookupError`
  is raised: a ValueError that is also a NameError, so existing handlers still catch it.
"""
from __future__ import annotations

from ..nats_bench.api_topology import SIMULATED_DATASETS, TopologyFacade
from ..nats_bench.results import NB201, ArchRuns

HPS = ("12", "200")


class Nb201LookupError(ValueError, NameError):
    """An architecture or budget the store has no results for, where nas_201_api 2.1 raises NameError."""


def _budget(hp, use_12epochs_result):
    """NAS-Bench-201 1.x's flag (or a bool hp, its positional form) as a 2.x budget; other hps unchanged."""
    if use_12epochs_result is not None:
        return "12" if use_12epochs_result else "200"
    if isinstance(hp, bool):
        return "12" if hp else "200"
    return hp


class NASBench201API(TopologyFacade):
    """nas_201_api's `NASBench201API` over the NB201 store (see the module docstring)."""

    flavor = NB201

    def __init__(self, file_path_or_dict=None, verbose: bool = True):
        super().__init__(file_path_or_dict, verbose)
        self.evaluated_indexes: list[int] = list(self._with_runs)
        self._evaluated = set(self._with_runs)
        self._avaliable_hps = set(HPS)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({len(self.evaluated_indexes)}/{len(self.meta_archs)} architectures, "
                f"file={self.filename})")

    @property
    def avaliable_hps(self) -> list[str]:
        return list(self._avaliable_hps)

    def _is_loaded(self, index) -> bool:
        return index in self._evaluated

    def _counted_indexes(self):
        return range(len(self))   # as the original: an architecture without results raises KeyError

    # -- queries ---------------------------------------------------------------------------------------
    def get_more_info(self, index, dataset, iepoch=None, hp="12", is_random=True, use_12epochs_result=None) -> dict:
        """Loss, accuracy, per-epoch and total time of the training set and of the dataset's valid/test/
        valtest sets, after `iepoch` (default: the last epoch), of one drawn run (`is_random=True`), of the
        run with that seed (an int), or averaged over the seeds (False)."""
        hp = _budget(hp, use_12epochs_result)
        index = self.query_index_by_arch(index)
        if not self._is_loaded(index):
            raise ValueError(f"Did not find {index} from arch2infos_dict.")
        return self._more_info(self._loaded_runs(index), dataset, iepoch, hp, is_random, comment=False)

    def query_meta_info_by_index(self, arch_index, hp="12", use_12epochs_result=None) -> ArchRuns:
        return self._meta_info(arch_index, _budget(hp, use_12epochs_result))

    def query_by_index(self, arch_index, dataname=None, hp="12", use_12epochs_result=None):
        info = self.query_meta_info_by_index(arch_index, _budget(hp, use_12epochs_result))
        if dataname is None:
            return info
        if dataname not in info.get_dataset_names():
            raise ValueError(f"invalid dataset-name : {dataname} vs. {info.get_dataset_names()}")
        return info.query(dataname)

    def get_cost_info(self, index: int, dataset: str, hp="12", use_12epochs_result=None) -> dict:
        return self.query_meta_info_by_index(index, _budget(hp, use_12epochs_result)).get_compute_costs(dataset)

    def get_latency(self, index: int, dataset: str, hp="12", use_12epochs_result=None) -> float:
        return self.get_cost_info(index, dataset, _budget(hp, use_12epochs_result))["latency"]

    def simulate_train_eval(self, arch, dataset, hp="12", account_time=True):
        """(validation accuracy of one drawn run after the last epoch, latency of the 12-epoch runs, the
        run's training time plus one epoch's validation time, the accumulated time)."""
        index = self.query_index_by_arch(arch)
        if dataset not in SIMULATED_DATASETS:
            raise AssertionError(f"Invalid dataset name : {dataset} vs {SIMULATED_DATASETS}")
        source = "cifar10-valid" if dataset == "cifar10" else dataset
        info = self.get_more_info(index, source, iepoch=None, hp=hp, is_random=True)
        accuracy, cost = info["valid-accuracy"], info["train-all-time"] + info["valid-per-time"]
        latency = self.get_latency(index, dataset)
        if account_time:
            self._used_time += cost
        return accuracy, latency, cost, self._used_time

    def find_best(self, dataset, metric_on_set, FLOP_max=None, Param_max=None, hp="12",  # noqa: N803
                  use_12epochs_result=None):
        """(index, accuracy) of the best seed-averaged accuracy among the evaluated architectures whose
        FLOPs and parameters do not exceed the limits; ties keep the lower index."""
        return self._best(self.evaluated_indexes, dataset, metric_on_set, FLOP_max, Param_max,
                          _budget(hp, use_12epochs_result))

    def get_net_config(self, index: int, dataset: str) -> dict:
        return self._net_config(index, dataset, Nb201LookupError)

    def query_info_str_by_arch(self, arch, hp="12") -> str | None:
        text = self._summary(arch, hp, Nb201LookupError)
        if text is None:
            print(f"Find this arch-index : {self.query_index_by_arch(arch)}, but this arch is not evaluated.")
        return text

    def query_by_arch(self, arch, hp=None, use_12epochs_result=None):
        if hp is None and use_12epochs_result is None:
            use_12epochs_result = False   # 1.x's default: the 200-epoch results
        return self.query_info_str_by_arch(arch, _budget(hp, use_12epochs_result))
