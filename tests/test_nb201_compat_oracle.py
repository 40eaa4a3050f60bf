"""The facades against the official packages as oracles, call by call: nas_201_api 2.1 (CPU torch) on the
fixture `.pth`, nats_bench 1.8 on the fixture NATS-tss directory (fast mode) and on the same runs as a
dict (non-fast mode), each beside the facade over the store built from the same raw file and found by
its digest. Every method on every architecture (with results or not), dataset, budget, epoch and seed
of the fixtures returns the same (floats equal, NaN as NaN, key sets equal; nats_bench's `comment`
by presence, its text is prose), raises an exception of the same class, and draws the same numbers from
Python's global generator. Then published-style search loops (random search, regularized evolution)
give identical trajectories."""
from __future__ import annotations

import collections
import math
import random

import numpy as np
import pytest
from helpers import require_or_skip

from nasbench_store.compat import nats_bench as nats_facade
from nasbench_store.compat.nas_201_api import NASBench201API as FacadeNB201
from nasbench_store.manifest import publish, raw_digest
from nasbench_store.nasbench201 import synthetic as fx
from nasbench_store.nasbench201.convert import convert
from nasbench_store.registry import get

pytestmark = pytest.mark.oracle
NUM_ARCHS, SEED, CHOSEN = 5, 21, [0, 1, 2, 4]   # arch 1: NaN losses; arch 2: an epoch without metrics
DATASETS = ("cifar10-valid", "cifar10", "cifar100", "ImageNet16-120")
BAD_DATASETS = ("cifar100 ", "imagenet16-120", "cifar")
SEEDS = (111, 777, 888, 999)


def require(module: str):
    try:
        if module == "nas_201_api":
            import torch  # noqa: F401
        return __import__(module)
    except ImportError as exc:
        require_or_skip("NASBENCH_REQUIRE_ORACLE", f"the official {module} oracle is missing ({exc}; "
                                                   "pip install -e '.[oracle]')")


def publish_store(tmp, raw):
    """Convert `raw` and publish it into tmp/store with its raw digest, as the workflow does."""
    convert(raw, tmp / "build" / "nasbench201.db", tmp / "build" / "parquet", work_dir=tmp)
    entry = get("nasbench201")
    files = {entry.db_filename: tmp / "build" / "nasbench201.db",
             **{entry.parquet_file(t): tmp / "build" / "parquet" / f"{t}.parquet" for t in entry.stored_tables}}
    publish(tmp / "store", "nasbench201", files, raw_digest(raw))
    return tmp / "store"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
    mp.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")   # torch>=2.6 refuses numpy globals otherwise
    yield mp
    mp.undo()


def nb201_pair(tmp, env, num_archs, seed, chosen):
    original = require("nas_201_api").NASBench201API
    raw = fx.write_nb201_pth(tmp / "NAS-Bench-201-v1_1-096897.pth", num_archs, seed, chosen)
    env.setenv("NASBENCHMARK_DIR", str(publish_store(tmp, raw)))
    return original(str(raw), verbose=False), FacadeNB201(str(raw), verbose=False)


def nats_pair(tmp, env, num_archs, seed, chosen, fast: bool):
    nats_bench = require("nats_bench")
    raw = fx.write_nats_tss_archive(tmp / "NATS-tss-v1_0-3ffb9-simple", num_archs, seed, chosen)
    env.setenv("NASBENCHMARK_DIR", str(publish_store(tmp, raw)))
    facade = nats_facade.create(str(raw), "tss", fast_mode=fast, verbose=False)
    if fast:
        return nats_bench.create(str(raw), "tss", fast_mode=True, verbose=False), facade
    meta = nats_bench.pickle_load(str(raw / "meta.pickle.pbz2"))
    infos = {i: nats_bench.pickle_load(str(raw / f"{i:06d}.pickle.pbz2")) for i in chosen}
    loaded = {"meta_archs": meta["meta_archs"], "arch2infos": infos, "evaluated_indexes": list(chosen)}
    return nats_bench.create(loaded, "tss", fast_mode=False, verbose=False), facade


@pytest.fixture(scope="module", params=["nas_201_api", "nats_bench-fast", "nats_bench-dict"])
def pair(request, tmp_path_factory, env):
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "nas_201_api":
        return nb201_pair(tmp, env, NUM_ARCHS, SEED, CHOSEN)
    return nats_pair(tmp, env, NUM_ARCHS, SEED, CHOSEN, fast=request.param.endswith("fast"))


# -- comparing calls ------------------------------------------------------------------------------------
def same(a, b) -> bool:
    if isinstance(a, dict):
        return (isinstance(b, dict) and a.keys() == b.keys()
                and all(k == "comment" or same(a[k], b[k]) for k in a))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b and (a is None) == (b is None)


def outcome(api, method: str, args: tuple, kwargs: dict, rng_seed):
    if rng_seed is not None:
        random.seed(rng_seed)
    try:
        result = ("ok", getattr(api, method)(*args, **kwargs))
    except Exception as exc:  # the exception's class is what is compared
        result = ("error", exc)
    return result, random.getstate() if rng_seed is not None else None


class Compare:
    """Calls a method on the original and the facade alike and records every disagreement."""

    def __init__(self, original, facade):
        self.original, self.facade = original, facade
        self.calls = 0
        self.problems: list[str] = []
        self.kinds: collections.Counter = collections.Counter()

    def __call__(self, method: str, *args, rng_seed=None, **kwargs):
        self._record(f"{method}{args}{kwargs}",
                     [outcome(api, method, args, kwargs, rng_seed) for api in (self.original, self.facade)])

    def on(self, label: str, objects: dict, method: str, *args, rng_seed=None):
        """Compare a method of the objects each API handed out (`objects`: id(api) -> object, or the
        exception getting it raised)."""
        results = []
        for api in (self.original, self.facade):
            obj = objects[id(api)]
            results.append((("error", obj), None) if isinstance(obj, Exception)
                           else outcome(obj, method, args, {}, rng_seed))
        self._record(f"{label}.{method}{args}", results)

    def _record(self, label: str, results: list) -> None:
        (want, want_rng), (got, got_rng) = results
        self.calls += 1
        self.kinds[want[0]] += 1
        if want[0] == "error":
            ok = got[0] == "error" and isinstance(got[1], type(want[1]))
        else:
            ok = got[0] == "ok" and same(want[1], got[1])
        if not ok or want_rng != got_rng:
            self.problems.append(f"{label}: original {want}, facade {got}"
                                 + ("" if want_rng == got_rng else " (random draws differ)"))

    def check(self, at_least: int) -> None:
        shown = "\n".join(self.problems[:15])
        assert not self.problems, f"{len(self.problems)} of {self.calls} calls differ:\n{shown}"
        assert self.calls >= at_least and self.kinds["ok"] and self.kinds["error"]


def handed_out(apis, get) -> dict:
    """{id(api): get(api)} for both APIs, an exception in place of what raised it."""
    objects = {}
    for api in apis:
        try:
            objects[id(api)] = get(api)
        except Exception as exc:  # compared like any other outcome
            objects[id(api)] = exc
    return objects


def is_nats(api) -> bool:
    return hasattr(api, "fast_mode")


def indexes() -> list:
    return [*range(NUM_ARCHS), -1, NUM_ARCHS, True, np.int64(1), "1", None]


# -- the methods ---------------------------------------------------------------------------------------
def test_architectures_and_their_encodings(pair):
    original, facade = pair
    compare = Compare(original, facade)
    compare("__len__")
    if original.filename is not None:   # the original fed a dict has no file name; the facade is given a path
        compare("__repr__")
    archs = list(original.meta_archs)
    assert facade.meta_archs == archs
    for i in [*range(NUM_ARCHS), -1, -NUM_ARCHS, NUM_ARCHS, slice(1, 3)]:
        compare("__getitem__", i)
        if not isinstance(i, slice):
            compare("arch", i)
    for arch in [*archs, *range(NUM_ARCHS), -1, NUM_ARCHS, True, np.int64(3), "|none~0|+", archs[0] + " ", 2.0,
                 type("Cell", (), {"tostr": lambda self: archs[2]})()]:
        compare("query_index_by_arch", arch)
    for text in [*archs, "|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|skip_connect~2|", "|conv_5x5~0|+|none~0|",
                 "|none~0~1|+|none~0|none~1|"]:
        compare("str2lists", text)
        compare("str2matrix", text)
    for seed in range(20):
        compare("random", rng_seed=seed)
    compare.check(at_least=70)


def test_get_more_info_every_arch_dataset_budget_epoch_and_seed(pair):
    """Every epoch of every run with the seed average, a drawn run and the seeds in turn; every form of
    `is_random`, bad arguments and both calling styles at the first, a middle, the last and invalid epochs."""
    original, facade = pair
    compare = Compare(original, facade)
    forms = (True, *SEEDS, 5, "777", 1.5)
    full_sweep = not (is_nats(original) and not original.fast_mode)   # the dict pair shares the per-run code
    cell = type("Cell", (), {"tostr": lambda self: original.meta_archs[4]})()
    for index in [*indexes(), original.meta_archs[1], original.meta_archs[3], cell]:
        valid = isinstance(index, int) and 0 <= index < NUM_ARCHS
        for dataset in DATASETS + BAD_DATASETS[:1]:
            for hp in ("12", "200", 200, "90"):
                epochs = 200 if str(hp) == "200" else 12
                sweep = valid and full_sweep and hp in ("12", "200") and dataset in DATASETS
                for iepoch in (None, -1, epochs, *range(epochs)) if sweep else (None, -1, 0, 3, epochs - 1, epochs):
                    if iepoch in (None, -1, 0, 3, epochs - 1, epochs):
                        for k, is_random in enumerate((False, *forms)):
                            compare("get_more_info", index, dataset, iepoch, hp, is_random, rng_seed=k)
                        compare("get_more_info", index, dataset, iepoch=iepoch, hp=hp, is_random=False)
                    else:
                        compare("get_more_info", index, dataset, iepoch, hp, False)
                        compare("get_more_info", index, dataset, iepoch, hp, forms[iepoch % 5], rng_seed=iepoch)
        compare("get_more_info", index, "cifar10", rng_seed=7)   # the defaults: hp '12', a random run
    compare.check(at_least=4000)
    if is_nats(original):   # fast mode loaded what the queries touched, as the original did
        assert facade.evaluated_indexes == original.evaluated_indexes
        assert sorted(facade.avaliable_hps) == sorted(original.avaliable_hps)


def test_costs_latency_configs_and_summaries(pair):
    original, facade = pair
    compare = Compare(original, facade)
    for index in indexes():
        for dataset in DATASETS + BAD_DATASETS:
            for hp in ("12", "200", 200, 12, "90"):
                compare("get_cost_info", index, dataset, hp)
                compare("get_latency", index, dataset, hp=hp)
            compare("get_cost_info", index, dataset)
            compare("get_net_config", index, dataset)
        for hp in ("12", "200", 200):
            compare("query_by_arch", index, hp)
            compare("query_info_str_by_arch", index, hp=hp)
        valid = isinstance(index, int) and 0 <= index < NUM_ARCHS
        compare("query_info_str_by_arch", original[index] if valid else "x", "200")
    compare.check(at_least=900)


def test_the_per_run_and_per_architecture_objects(pair):
    """What query_by_index and query_meta_info_by_index hand out answers like the originals' ResultsCount
    and ArchResults: train/eval metrics at every epoch, times, latency, configs, averages and costs."""
    original, facade = pair
    compare = Compare(original, facade)
    for index in (*CHOSEN, 3, -1):
        for hp in ("12", "200"):
            label = f"query_meta_info_by_index({index}, {hp!r})"   # fetched once: the original deep-copies it
            metas = handed_out(pair, _meta_getter(index, hp))
            compare.on(label, metas, "get_dataset_names")
            compare.on(label, metas, "arch_idx_str")
            for dataset in DATASETS:
                for method in ("get_dataset_seeds", "get_compute_costs", "get_latency"):
                    compare.on(label, metas, method, dataset)
                for setname in ("train", "x-valid", "x-test", "ori-test", "valid"):
                    for k, is_random in enumerate((False, True, 777, 888)):
                        compare.on(label, metas, "get_metrics", dataset, setname, None, is_random, rng_seed=k)
                for seed in SEEDS:
                    runs = handed_out(pair, _run_getter(metas, dataset, seed))
                    run_label = f"{label}.query({dataset!r})[{seed}]"
                    for method in ("get_times", "get_latency", "get_total_epoch", "get_eval_set"):
                        compare.on(run_label, runs, method)
                    compare.on(run_label, runs, "get_config", None)
                    if is_nats(original):   # nas_201_api's ResultsCount has no judge_valid
                        for iepoch in (-1, 0, 11, 12, 199, 200):
                            compare.on(run_label, runs, "judge_valid", iepoch)
                    for iepoch in (None, 0, 5, 11, 150, 199, 200):
                        compare.on(run_label, runs, "get_train", iepoch)
                        for setname in ("x-valid", "x-test", "ori-test", "valid", "train"):
                            compare.on(run_label, runs, "get_eval", setname, iepoch)
    compare.check(at_least=3000)


def printed(capsys, call) -> tuple[str, type | None]:
    """(what `call()` printed, the class of the exception it raised or None)."""
    capsys.readouterr()
    try:
        call()
        error = None
    except Exception as exc:  # compared like any other outcome
        error = type(exc)
    return capsys.readouterr().out, error


def test_show_statistics_and_unique_strings(pair, capsys):
    """`show(index)` prints the original's text, `statistics` counts as the original, `get_unique_str`
    (nats_bench) gives the original's isomorphism strings; an ArchResults' summary lines are the
    originals' `print_information` of the same architecture and budget."""
    original, facade = pair
    compare = Compare(original, facade)
    complete = []   # shown with both budgets (nats_bench refuses the fixture's disagreeing FLOPs without seed 888)
    for index in (*range(NUM_ARCHS), NUM_ARCHS, 10 ** 6):
        want, got = (printed(capsys, lambda api=api, i=index: api.show(i)) for api in pair)
        assert got == want, f"show({index})"
        if want[1] is None and want[0].count(" epochs ") == 2:
            complete.append(index)
        compare("show", index)   # the return value (None) and the exception class
    assert complete == ([] if is_nats(original) else CHOSEN)
    for dataset in DATASETS + BAD_DATASETS:
        for hp in ("12", "200", 12, 200, "90"):
            compare("statistics", dataset, hp)
    if is_nats(original):
        for arch in [*range(NUM_ARCHS), *original.meta_archs, "|none~0|+", -1, NUM_ARCHS, np.int64(2)]:
            compare("get_unique_str", arch)
    summaries = require("nats_bench").api_topology if is_nats(original) else require("nas_201_api").api_201
    summarized = 0
    for index in CHOSEN:
        for hp in ("12", "200"):
            meta = original.query_meta_info_by_index(index, hp)
            want = printed(capsys, lambda m=meta: summaries.print_information(m, None, True))
            info = facade.query_meta_info_by_index(index, hp)
            assert printed(capsys, lambda i=info: print("\n".join(i.summary_lines()))) == want
            if want[1] is None:
                summarized += 1
                if not is_nats(original):   # nas_201_api's ArchResults.show, which raises NameError there
                    assert printed(capsys, lambda i=info: i.show(is_print=True)) == want
                    assert info.show() == summaries.print_information(meta, None, False)
    assert summarized >= len(CHOSEN)
    compare.check(at_least=40)


def test_show_every_architecture_and_count_them_all(search_pair, capsys):
    """show() (index -1): the originals print the API and the first architecture's heading, then fail
    looking up index -1; the facades print every evaluated architecture's heading and the same text as
    show(index). With every architecture evaluated, nas_201_api's statistics answers too."""
    original, facade = search_pair
    if is_nats(original):
        for index in range(0, SEARCH_ARCHS, 3):   # fast mode: load some, in both
            original.get_more_info(index, "cifar10"), facade.get_more_info(index, "cifar10")
    evaluated = sorted(original.evaluated_indexes)
    assert sorted(facade.evaluated_indexes) == evaluated and len(evaluated) > 5
    want, error = printed(capsys, original.show)
    got, got_error = printed(capsys, facade.show)
    assert error is KeyError
    expected, expected_error = f"{facade!r}\n", None
    heading = "\n" + "-" * 10 + " The ({:5d}/{:5d}) {:06d}-th architecture! " + "-" * 10 + "\narch : {}\n"
    for k, index in enumerate(evaluated):
        block, expected_error = printed(capsys, lambda i=index: original.show(i))
        expected += heading.format(k, len(evaluated), index, original.meta_archs[index]) + block
        if expected_error:   # nats_bench refuses the fixture's disagreeing FLOPs without a seed 888
            break
    assert (got, got_error) == (expected, expected_error)
    assert expected.startswith(f"{facade!r}\n" + want.split("\n", 1)[1])
    assert is_nats(original) or expected.count(" epochs ") == 2 * len(evaluated)
    compare = Compare(original, facade)
    for dataset in DATASETS:
        for hp in ("12", "200", 200):
            compare("statistics", dataset, hp)
    compare("statistics", "cifar-10", "12")
    compare.check(at_least=13)
    assert sum(original.statistics("cifar10", "200").values()) == len(evaluated if is_nats(original) else original)


def _meta_getter(index, hp):
    return lambda api: api.query_meta_info_by_index(index, hp)


def _run_getter(metas: dict, dataset: str, seed: int):
    def get(api):
        meta = metas[id(api)]
        if isinstance(meta, Exception):
            raise meta
        return meta.query(dataset)[seed]
    return get


def test_simulate_train_eval_and_its_time_accounting(pair):
    original, facade = pair
    compare = Compare(original, facade)
    extra = {"iepoch": 5} if is_nats(original) else {}
    for api in (original, facade):
        api.reset_time()
    for seed in range(6):
        for index in indexes():
            for dataset in ("cifar10", "cifar100", "ImageNet16-120", "cifar10-valid"):
                for hp in ("12", "200"):
                    compare("simulate_train_eval", index, dataset, hp=hp, rng_seed=seed)
                    compare("simulate_train_eval", index, dataset, hp=hp, account_time=False, rng_seed=seed)
                    compare("simulate_train_eval", index, dataset, hp=hp, rng_seed=seed, **extra)
        compare("used_time")
        assert same(original.used_time, facade.used_time)
    for api in (original, facade):
        api.reset_time()
    assert original.used_time == facade.used_time == 0
    compare.check(at_least=1000)


def test_find_best_under_limits(pair):
    original, facade = pair
    compare = Compare(original, facade)
    flop, param = ("flop_max", "param_max") if is_nats(original) else ("FLOP_max", "Param_max")
    sets = ("valid", "test", "train", "x-valid", "x-test", "ori-test")
    for dataset in DATASETS + ("cifar100 ",):
        for metric_on_set in sets:
            for hp in ("12", "200", 12):
                compare("find_best", dataset, metric_on_set, hp=hp)
                for limit in (50.0, 120.0, 1.0):
                    compare("find_best", dataset, metric_on_set, hp=hp, **{flop: limit})
                    compare("find_best", dataset, metric_on_set, hp=hp, **{param: limit / 100})
                if is_nats(original):
                    compare("find_best", dataset, metric_on_set, hp=hp, enforce_all=False)
    compare.check(at_least=500)


# -- search loops --------------------------------------------------------------------------------------
SEARCH_ARCHS, SEARCH_SEED = 40, 7


@pytest.fixture(scope="module", params=["nas_201_api", "nats_bench"])
def search_pair(request, tmp_path_factory, env):
    tmp = tmp_path_factory.mktemp(f"search-{request.param}")
    every = range(SEARCH_ARCHS)
    if request.param == "nas_201_api":
        return nb201_pair(tmp, env, SEARCH_ARCHS, SEARCH_SEED, every)
    return nats_pair(tmp, env, SEARCH_ARCHS, SEARCH_SEED, every, fast=True)


def mutate(api, index: int) -> int:
    """One op of the cell changed at random, until the result is an architecture the benchmark has."""
    ops = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    for _ in range(100):
        nodes = [list(node) for node in api.str2lists(api[index])]
        node = random.randrange(len(nodes))
        edge = random.randrange(len(nodes[node]))
        op, source = nodes[node][edge]
        nodes[node][edge] = (random.choice([o for o in ops if o != op]), source)
        text = "+".join("|" + "|".join(f"{o}~{s}" for o, s in node) + "|" for node in nodes)
        child = api.query_index_by_arch(text)
        if child != -1:
            return child
    return api.random()


def random_search(api, budget: int, dataset: str, hp: str) -> list:
    random.seed(0)
    api.reset_time()
    trajectory = []
    for _ in range(budget):
        index = api.random()
        accuracy, latency, cost, total = api.simulate_train_eval(index, dataset, hp=hp)
        trajectory.append((index, accuracy, latency, cost, total))
    return trajectory


def regularized_evolution(api, cycles: int, population_size: int, sample_size: int, dataset: str, hp: str) -> list:
    random.seed(1)
    api.reset_time()
    population, trajectory = collections.deque(), []
    while len(trajectory) < cycles:
        if len(population) < population_size:
            index = api.random()
        else:
            parent = max(random.sample(list(population), sample_size), key=lambda m: m[1])
            index = mutate(api, parent[0])
        accuracy, latency, cost, total = api.simulate_train_eval(index, dataset, hp=hp)
        population.append((index, accuracy))
        if len(population) > population_size:
            population.popleft()
        trajectory.append((index, accuracy, latency, cost, total))
    return trajectory


@pytest.mark.parametrize("dataset, hp", [("cifar10", "200"), ("ImageNet16-120", "12"), ("cifar100", "200")])
def test_search_loops_follow_identical_trajectories(search_pair, dataset, hp):
    original, facade = search_pair
    for loop in (lambda api: random_search(api, 30, dataset, hp),
                 lambda api: regularized_evolution(api, 40, 8, 3, dataset, hp)):
        want, got = loop(original), loop(facade)
        assert len({step[0] for step in want}) > 5
        assert got == want and original.used_time == facade.used_time
