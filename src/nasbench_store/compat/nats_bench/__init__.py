"""A drop-in for `nats_bench` (NATS-Bench's topology search space), answered from the NB201 store.

    from nasbench_store.compat.nats_bench import create      # instead of: from nats_bench import create
    api = create(None, "tss", fast_mode=True, verbose=False)  # the default store; or a path (below)
    api.get_more_info(1234, "cifar10", hp="200")

`create(path, search_space, fast_mode, verbose)` takes what the original takes for `path`: None (the
default store, `nasbench_store.paths.default_store_dir()`), or the NATS-tss archive (`.tar` or its
extracted directory) or NAS-Bench-201 `.pth` a store was built from (found by the sha256 the store's
manifest records for it; the digest is computed once and remembered), and also a store directory or
its nasbench201.db. No torch, no pickles: a start takes well under a second and little memory.

Every query returns what nats_bench 1.8 returns on the same release (see `api_topology`), except:
methods that need trained weights (`get_net_param`, `reload`) raise `WeightsNotStoredError`, as the
'simple' archives hold none; the size search space ("sss") is not built yet (`SizeSpaceNotBuiltError`);
`show()` (index -1) prints every evaluated architecture where the original fails on the first (it looks
up index -1); the methods that build or change the release's objects (`ArchResults.update`,
`reset_latency`, `reset_pseudo_*_times`, `state_dict`, `load_state_dict`, `debug_test`, ...) are absent,
as the store is read-only.
"""
from __future__ import annotations

from .api_topology import NATStopology, remap_dataset_set_names
from .results import WeightsNotStoredError

TOPOLOGY_NAMES = ("tss", "topology")
SIZE_NAMES = ("sss", "size")
VERSION = "v1.8"   # the nats_bench release whose behaviour this facade reproduces


class SizeSpaceNotBuiltError(NotImplementedError):
    """NATS-Bench's size search space ('sss') has no store yet."""


def version() -> str:
    return VERSION


def create(file_path_or_dict=None, search_space: str = "tss", fast_mode: bool = True,
           verbose: bool = False) -> NATStopology:
    """The API of `search_space` ('tss'/'topology'; 'sss'/'size' is not built yet) over the NB201 store."""
    if search_space in TOPOLOGY_NAMES:
        return NATStopology(file_path_or_dict, fast_mode, verbose)
    if search_space in SIZE_NAMES:
        raise SizeSpaceNotBuiltError(
            "NATS-Bench's size search space ('sss', NATS-sss-v1_0-50262) is not built yet: nasbench-store converts "
            "the topology search space only (NAS-Bench-201 / NATS-tss). Use create(path, 'tss') or the original "
            "nats_bench package for 'sss'.")
    raise ValueError(f"invalid search space : {search_space} (valid: {', '.join(TOPOLOGY_NAMES + SIZE_NAMES)})")


def search_space_info(main_tag: str, aux_tag: str | None) -> dict:
    """The candidates of a search space, as the original describes them."""
    topology = {"op_names": ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"], "num_nodes": 4}
    if main_tag == "nats-bench":
        if aux_tag in SIZE_NAMES:
            return {"candidates": [8, 16, 24, 32, 40, 48, 56, 64], "num_layers": 5}
        if aux_tag in TOPOLOGY_NAMES:
            return topology
        raise ValueError(f"Unknown auxiliary tag: {aux_tag}")
    if main_tag == "nas-bench-201":
        if aux_tag is not None:
            raise ValueError("For NAS-Bench-201, the auxiliary tag should be None.")
        return topology
    raise ValueError(f"Unknown main tag: {main_tag}")


__all__ = ["create", "version", "search_space_info", "NATStopology", "SizeSpaceNotBuiltError",
           "WeightsNotStoredError", "remap_dataset_set_names"]
