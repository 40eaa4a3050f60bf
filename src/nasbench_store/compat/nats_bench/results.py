"""One architecture's runs as the official APIs see them, rebuilt from the NB201 store.

`Run` stands for one training run (one dataset and seed at one budget, a `ResultsCount` in the
official packages) and `ArchRuns` for one architecture at one budget (an `ArchResults`): the same
method names and results, computed from the store's rows (nb201trialstats, nb201trialinfo,
nb201epochspan, and nb201intermediatestats for epochs before the last) instead of the release's
pickled dicts. Per-epoch times come from the epoch spans, so a cumulative time is the same
left-to-right sum of the same floats the originals add up, and a key the release lacks raises where
the originals raise.

The two official packages differ in small ways (how they average, which exception a bad epoch or a
missing evaluation time raises, a legacy fix of FLOPs); a `Flavor` holds those, and each facade
passes its own (`NATS` for nats_bench, `NB201` for nas_201_api).
"""
from __future__ import annotations

import bisect
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...nasbench201.constants import SPLITS

# The release's evaluation sets and the store's training series, by the name the APIs use.
EVAL_SPLITS = ("x-valid", "x-test", "ori-test")
SERIES = ("train", *EVAL_SPLITS)
# The release's dataset names (case matters in the official APIs), and the store's for each.
RAW_TO_STORE = {"cifar10-valid": "cifar10-valid", "cifar10": "cifar10", "cifar100": "cifar100",
                "ImageNet16-120": "imagenet16-120"}
LEGACY_SEED = 888  # the run whose FLOPs/params nats_bench trusts when the seeds disagree


class WeightsNotStoredError(NotImplementedError):
    """Trained weights are asked for: neither the 'simple' archives nor the store hold any."""


def no_weights(what: str) -> WeightsNotStoredError:
    return WeightsNotStoredError(
        f"{what} needs trained weights, and the NB201 store holds none: it is built from the benchmark file or "
        "the 'simple' NATS-tss archive, whose runs carry no weights (net_state_dict is None). Load weights with "
        "the official API from the full archive (NATS-tss-v1_0-3ffb9-full, or NAS-Bench-201-v1_1-archive).")


def _sum_mean(values):
    return sum(values) / len(values)


def _value_error(message: str) -> Exception:
    return ValueError(message)


def _assertion_error(message: str) -> Exception:
    return AssertionError(message)


@dataclass(frozen=True)
class Flavor:
    """What differs between nats_bench 1.8 and nas_201_api 2.1 in the per-run and per-arch results."""
    name: str
    mean: Callable[[Sequence], Any]          # nats_bench: sum / len; nas_201_api: numpy.mean
    total: Callable[[Sequence], Any]         # nats_bench: sum; nas_201_api: numpy.sum
    out_of_range: Callable[[str], Exception]  # an iepoch (or arch index) outside its range
    missing_eval_time: Callable[[str], Exception]  # no evaluation time at that epoch
    legacy_flops_fix: bool                   # nats_bench >= 1.6: disagreeing seeds -> seed 888's value
    joiner: str                              # between loss and top1 in the printed summaries


def _no_eval_time(key: str) -> Exception:
    return ValueError(f"no evaluation time {key}")


NATS = Flavor("nats_bench", _sum_mean, sum, _value_error, _no_eval_time, True, " & ")
NB201 = Flavor("nas_201_api", np.mean, np.sum, _assertion_error, KeyError, False, ", ")


class Run:
    """One run: a dataset and seed at one budget. Values come from the store row by row, lazily."""

    __slots__ = ("store", "flavor", "trial_id", "dataset", "seed", "epochs", "final", "params", "flop", "latency",
                 "channels", "num_cells", "num_classes", "arch_str", "eval_names", "_spans", "_starts", "_epoch",
                 "_times")

    def __init__(self, store, flavor: Flavor, row: tuple, dataset: str, epochs: int, arch_str: str):
        (self.trial_id, _, self.seed, *final, self.params, self.flop, self.latency, self.channels,
         self.num_cells, self.num_classes, eval_names) = row
        self.store, self.flavor, self.dataset, self.epochs, self.arch_str = store, flavor, dataset, epochs, arch_str
        self.final = tuple(final)   # NNI's 8 values at the last epoch (train, valid, test, ori_test acc; losses)
        self.params = np.float64(self.params)      # the release's types: numpy params and latency, float FLOPs
        self.latency = np.float64(self.latency)
        self.eval_names = eval_names.split(",") if eval_names else []
        self._spans: list | None = None   # read on first use (`spans`)
        self._starts: list[int] = []
        self._times: dict[str, tuple[list, int | None]] = {}   # series -> every epoch's time, first missing
        self._epoch: tuple[int, tuple] | None = None   # the last epoch row read (one get_more_info reads it 8 times)

    # -- what the store holds, by the release's keys --------------------------------------------------
    @property
    def spans(self) -> list:
        """(from_epoch, to_epoch, 4 times, 8 has_* flags), covering 1..epochs in order."""
        if self._spans is None:
            self._spans = self.store.run_spans(self.trial_id)
            self._starts = [span[0] for span in self._spans]
        return self._spans

    def _span(self, iepoch: int) -> tuple:
        spans = self.spans
        return spans[bisect.bisect_right(self._starts, iepoch + 1) - 1]

    def time(self, series: str, iepoch: int):
        """The time of `train` or an evaluation set at `iepoch` (None where the release has none)."""
        return self._span(iepoch)[2 + SERIES.index(series)]

    def times(self, series: str) -> list:
        """Every epoch's time of `train` or an evaluation set (None where the release has none)."""
        return list(self._epoch_times(series)[0])

    def _epoch_times(self, series: str) -> tuple[list, int | None]:
        """(every epoch's time, the first epoch without one or None), made once per run and series."""
        if series not in self._times:
            column = 2 + SERIES.index(series)
            times = [span[column] for span in self.spans for _ in range(span[1] - span[0] + 1)]
            missing = next((span[0] - 1 for span in self.spans if span[column] is None), None)
            self._times[series] = times, missing
        return self._times[series]

    def total_time(self, series: str, iepoch: int, key=lambda e: e):
        """The sum of the times of epochs 0..iepoch, added in that order as the originals add them (sum
        over the same floats); KeyError(key(epoch)) for the first epoch without a time."""
        times, missing = self._epoch_times(series)
        if missing is not None and missing <= iepoch:
            raise KeyError(key(missing))
        return sum(times[:max(iepoch + 1, 0)])

    def has(self, series: str, metric: str, iepoch: int) -> bool:
        """Whether the release holds the metric ('acc' or 'loss') of `series` after epoch `iepoch`."""
        return bool(self._span(iepoch)[6 + 2 * SERIES.index(series) + (metric == "loss")])

    def _value(self, series: str, metric: str, iepoch: int, key):
        if series not in SERIES or not self.has(series, metric, iepoch):
            raise KeyError(key)
        if series == "train":
            position = 0
        else:  # the first of NNI's columns (valid, test, ori_test) fed by this evaluation set
            position = 1 + SPLITS[RAW_TO_STORE[self.dataset]].index(series)
        column = position + (4 if metric == "loss" else 0)
        row = self.final if iepoch == self.epochs - 1 else self._epoch_row(iepoch)
        value = row[column]
        return float("nan") if value is None else value  # the key is there: a NULL is the release's NaN

    def _epoch_row(self, iepoch: int) -> tuple:
        if self._epoch is None or self._epoch[0] != iepoch:
            self._epoch = (iepoch, self.store.epoch_values(self.trial_id, iepoch + 1))
        return self._epoch[1]

    # -- ResultsCount's methods ----------------------------------------------------------------------
    def _check_epoch(self, iepoch):
        if iepoch is None:
            iepoch = self.epochs - 1
        if iepoch < 0 or iepoch >= self.epochs:
            raise self.flavor.out_of_range(f"invalid iepoch={iepoch} < {self.epochs}")
        return iepoch

    def get_train(self, iepoch: int | None = None) -> dict:
        iepoch = self._check_epoch(iepoch)
        cur = self.time("train", iepoch)
        if cur is None:
            raise KeyError(iepoch)
        total = self.total_time("train", iepoch)
        loss = self._value("train", "loss", iepoch, iepoch)
        return {"iepoch": iepoch, "loss": loss, "accuracy": self._value("train", "acc", iepoch, iepoch),
                "cur_time": cur, "all_time": total}

    def get_eval(self, name: str, iepoch: int | None = None) -> dict:
        iepoch = self._check_epoch(iepoch)
        name = "x-valid" if name == "valid" else name
        key = f"{name}@{iepoch}"
        cur = self.time(name, iepoch) if name in EVAL_SPLITS else None
        if cur is None:
            raise self.flavor.missing_eval_time(key)
        total = self.total_time(name, iepoch, lambda e: f"{name}@{e}")
        loss = self._value(name, "loss", iepoch, key)
        return {"iepoch": iepoch, "loss": loss, "accuracy": self._value(name, "acc", iepoch, key),
                "cur_time": cur, "all_time": total}

    def get_times(self) -> dict:
        f = self.flavor
        train = [t for t in self.times("train") if t is not None]
        info = {"T-train@epoch": f.mean(train), "T-train@total": f.total(train)}
        for name in self.eval_names:
            times = self.times(name)
            complete = None not in times
            info[f"T-{name}@epoch"] = f.mean(times) if complete else None
            info[f"T-{name}@total"] = f.total(times) if complete else None
        return info

    def get_latency(self) -> float:
        return self.latency

    def get_total_epoch(self) -> int:
        return self.epochs

    def get_eval_set(self) -> list[str]:
        return list(self.eval_names)

    def judge_valid(self, iepoch: int) -> None:
        """nats_bench's check of an epoch index: ValueError outside 0..epochs-1."""
        if iepoch < 0 or iepoch >= self.epochs:
            raise ValueError(f"invalid iepoch={iepoch} < {self.epochs}")

    def get_config(self, str2structure=None) -> dict:
        config = {"name": "infer.tiny", "C": self.channels, "N": self.num_cells}
        if str2structure is None:
            config["arch_str"] = self.arch_str
        else:
            config["genotype"] = str2structure(self.arch_str)
        config["num_classes"] = self.num_classes
        return config

    def get_net_param(self, clone: bool = False):
        raise no_weights("get_net_param")

    def __repr__(self) -> str:
        return (f"Run({self.dataset}, arch={self.arch_str}, FLOP={self.flop:.2f}M, Param={self.params:.3f}MB, "
                f"seed={self.seed}, {len(self.eval_names)} eval-sets: [{', '.join(self.eval_names)}])")


class ArchRuns:
    """One architecture at one budget (hp): its runs by dataset, seeds ascending."""

    def __init__(self, arch_index: int, arch_str: str, flavor: Flavor, runs: dict[str, list[Run]]):
        self.arch_index, self.arch_str, self.flavor = arch_index, arch_str, flavor
        self.runs = runs  # in the release's dataset order

    @property
    def dataset_seed(self) -> dict[str, list[int]]:
        return {d: [r.seed for r in runs] for d, runs in self.runs.items()}

    def get_dataset_names(self) -> list[str]:
        return list(self.runs)

    def get_dataset_seeds(self, dataset: str) -> list[int]:
        return [r.seed for r in self.runs[dataset]]

    def query(self, dataset: str, seed: int | None = None):
        if seed is None:
            return {r.seed: r for r in self.runs[dataset]}
        for r in self.runs[dataset]:
            if r.seed == seed:
                return r
        raise KeyError((dataset, seed))

    def get_metrics(self, dataset: str, setname: str, iepoch: int | None = None, is_random=False) -> dict:
        runs = self.runs[dataset]
        results = [r.get_train(iepoch) if setname == "train" else r.get_eval(setname, iepoch) for r in runs]
        if isinstance(is_random, bool):
            if is_random:   # one draw on the global generator, as the originals make
                return dict(results[random.randint(0, len(results) - 1)])
            averaged = {}
            for key in results[0]:
                values = [r[key] for r in results]
                averaged[key] = self.flavor.mean(values) if values[0] is not None else None
            return averaged
        if isinstance(is_random, int):
            seeds = [r.seed for r in runs]
            if is_random not in seeds:
                raise ValueError(f"can not find random seed ({is_random}) from {seeds}")
            return dict(results[seeds.index(is_random)])
        raise ValueError(f"invalid value for is_random: {is_random}")

    def get_compute_costs(self, dataset: str) -> dict:
        f = self.flavor
        runs = self.runs[dataset]
        flops, params = [r.flop for r in runs], [r.params for r in runs]
        if f.legacy_flops_fix:
            seeds = [r.seed for r in runs]
            flops, params = _trusted(flops, seeds), _trusted(params, seeds)
        latencies = [r.latency for r in runs if r.latency > 0]
        info = {"flops": f.mean(flops), "params": f.mean(params), "latency": f.mean(latencies) if latencies else None}
        collected: dict[str, list] = {}
        for r in runs:
            for key, value in r.get_times().items():
                collected.setdefault(key, []).append(value)
        for key, values in collected.items():
            info[key] = f.mean(values) if values[0] is not None else None
        return info

    def get_latency(self, dataset: str) -> float:
        latencies = []
        for r in self.runs[dataset]:
            if not isinstance(r.latency, float) or r.latency <= 0:
                raise ValueError(f"invalid latency of {dataset} with seed={r.seed} : {r.latency}")
            latencies.append(r.latency)
        return sum(latencies) / len(latencies)

    def get_total_epoch(self, dataset: str | None = None) -> int:
        runs = [r for rs in self.runs.values() for r in rs] if dataset is None else self.runs[dataset]
        epochs = {r.epochs for r in runs}
        if len(epochs) > 1:
            raise ValueError(f"the runs have different numbers of epochs: {sorted(epochs)}")
        return runs[-1].epochs

    def summary_lines(self, extra=None) -> list[str]:
        """The originals' printed summary, line by line: the arch, then per dataset its costs and its
        seed-averaged final loss and accuracy (train; valid and/or test as the dataset has them)."""
        lines = [self.arch_str, f"datasets : {self.get_dataset_names()}, extra-info : {extra}"]

        def shown(metrics: dict) -> str:
            return f"loss = {metrics['loss']:.3f}{self.flavor.joiner}top1 = {metrics['accuracy']:.2f}%"

        for dataset in self.get_dataset_names():
            costs = self.get_compute_costs(dataset)
            latency = costs["latency"]
            ms = f"{latency * 1000:.2f}" if latency is not None and latency > 0 else None
            lines.append(f"{dataset:14s} FLOP={costs['flops']:6.2f} M, Params={costs['params']:.3f} MB, "
                         f"latency={ms} ms.")
            train = shown(self.get_metrics(dataset, "train"))
            if dataset == "cifar10-valid":
                valid = shown(self.get_metrics(dataset, "x-valid"))
                lines.append(f"{dataset:14s} train : [{train}], valid : [{valid}]")
            elif dataset == "cifar10":
                test = shown(self.get_metrics(dataset, "ori-test"))
                lines.append(f"{dataset:14s} train : [{train}], test  : [{test}]")
            else:
                valid, test = (shown(self.get_metrics(dataset, s)) for s in ("x-valid", "x-test"))
                lines.append(f"{dataset:14s} train : [{train}], valid : [{valid}], test : [{test}]")
        return lines

    def show(self, is_print: bool = False) -> list[str]:
        """`summary_lines()`, printed too with is_print (nas_201_api's ArchResults.show, which fails there)."""
        lines = self.summary_lines()
        if is_print:
            print("\n".join(lines))
        return lines

    def arch_idx_str(self) -> str:
        return f"{self.arch_index:06d}"

    def get_net_param(self, dataset: str, seed: int | None = None):
        raise no_weights("get_net_param")

    def clear_params(self) -> None:
        """Nothing to clear: the store holds no weights."""

    def __repr__(self) -> str:
        return (f"ArchRuns(arch-index={self.arch_index}, arch={self.arch_str}, "
                f"{sum(len(r) for r in self.runs.values())} runs)")


def _trusted(values: list, seeds: list[int]) -> list:
    """nats_bench's fix for runs whose FLOPs/params disagree (to 5 decimals): keep seed 888's."""
    if len(values) > 1 and len({f"{v:.5f}" for v in values}) > 1:
        return [values[seeds.index(LEGACY_SEED)]]
    return values
