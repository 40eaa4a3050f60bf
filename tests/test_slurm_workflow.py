"""The demo build through a real SLURM cluster (.ci/slurm-up.sh) with profiles/slurm: the same bytes
as a local build, a job killed by the scheduler (out of memory) reported and resumed, bad profile
values refused before anything is submitted."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml
from helpers import REPO, Workflow, require_or_skip, store_bytes

pytestmark = pytest.mark.slow

SLURM_PROFILE = REPO / "profiles" / "slurm"
# The test cluster has no accounting database, so status comes from squeue (see docs/cluster.md);
# the first status check after 1 s instead of the profile's 20 keeps the test short. Workflow adds
# `--cores 2`, which with a cluster executor caps a group job at 2 CPUs: the test node's size.
SLURM_ARGS = ("--profile", str(SLURM_PROFILE), "--slurm-status-command", "squeue",
              "--slurm-init-seconds-before-status-checks", "1")
SUBMITTED = re.compile(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)")


def slurm_unavailable() -> str | None:
    """Why the SLURM tests cannot run here, or None."""
    if not shutil.which("sinfo"):
        return "no SLURM client here (apt-get install slurm-wlm munge, then .ci/slurm-up.sh)"
    try:
        # scontrol ping answers at once; sinfo (and importing the plugin) wait 9 s for a controller that is down
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
        if " is UP" not in ping.stdout:
            said = (ping.stdout + ping.stderr).strip().splitlines() or [f"rc={ping.returncode}"]
            return f"no SLURM controller is up (scontrol ping: {said[-1]!r}); .ci/slurm-up.sh"
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "the SLURM controller did not answer in 30 s (.ci/slurm-up.sh)"
    states = proc.stdout.split()
    if proc.returncode != 0 or not any(s.rstrip("*~#") in {"idle", "mixed", "allocated"} for s in states):
        output = (proc.stdout + proc.stderr).strip()
        return f"no usable SLURM node (sinfo rc={proc.returncode}: {output!r}); .ci/slurm-up.sh"
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[slurm]')"
    return None


@pytest.fixture(scope="module", autouse=True)
def slurm():
    reason = slurm_unavailable()
    if reason:
        require_or_skip("NASBENCH_REQUIRE_SLURM", reason)


def demo_workflow(base) -> Workflow:
    """The demo (demo/config.yaml, whatever it builds) with its store, raw and work dirs under `base`."""
    config = yaml.safe_load((REPO / "demo" / "config.yaml").read_text())
    config.update(store_dir=str(base / "store"), raw_dir=str(base / "raw"), work_dir=str(base / "work"))
    return Workflow(base / "wd", config)


def jobs_in(workdir) -> dict[str, tuple[str, str]]:
    """SLURM job id -> (state, comment) of the jobs that run in `workdir` (finished ones included)."""
    out = subprocess.run(["squeue", "-h", "--states=all", "-o", "%i|%T|%k|%Z"], capture_output=True,
                         text=True, check=True).stdout
    return {i: (state, comment) for i, state, comment, wd in (line.split("|", 3) for line in out.splitlines())
            if wd == str(workdir)}


@pytest.fixture
def cancel_leftovers(tmp_path):
    """Cancel whatever a failing test left queued under tmp_path."""
    yield
    out = subprocess.run(["squeue", "-h", "-o", "%i|%Z"], capture_output=True, text=True).stdout
    ids = [i for i, wd in (line.split("|", 1) for line in out.splitlines()) if wd.startswith(str(tmp_path))]
    if ids:
        subprocess.run(["scancel", *ids])


@pytest.fixture(scope="module")
def local_store(tmp_path_factory):
    """The demo built on this machine with profiles/local and 2 cores: the reference bytes."""
    wf = demo_workflow(tmp_path_factory.mktemp("local"))
    wf.run("--profile", str(REPO / "profiles" / "local"), cores=2).check()
    return store_bytes(wf.store)


def test_local_build_publishes_every_demo_benchmark(local_store):
    benchmarks = yaml.safe_load((REPO / "demo" / "config.yaml").read_text())["benchmarks"]
    assert {"SHA256SUMS", "manifest.json"} <= set(local_store)
    for b in benchmarks:
        assert f"{b}.db" in local_store and any(n.startswith(f"{b}/") and n.endswith(".parquet") for n in local_store)


def test_slurm_build_is_byte_identical_to_local_build(tmp_path, local_store, cancel_leftovers):
    groups = [*yaml.safe_load((SLURM_PROFILE / "config.yaml").read_text())["groups"], "nb101_shard=nb101_shards"]
    wf = demo_workflow(tmp_path)
    # The profile's groups plus NB101's shards, each group as one job (run 2 parts at a time on the
    # 2-CPU node): both ways of submitting, one job per rule and several jobs per submission, are
    # checked against the local bytes, with few enough jobs for CI.
    out = wf.run(*SLURM_ARGS, "--groups", *groups,
                 "--group-components", *(f"{g.split('=')[1]}=100" for g in groups)).check().output
    submitted = dict(SUBMITTED.findall(out))
    assert any("/group_nb101_shards_nb101_shard/" in log for log in submitted.values()), out[-4000:]
    assert any("/rule_tables_sqlite/" in log for log in submitted.values()), out[-4000:]
    states = jobs_in(wf.workdir)
    assert {i: states[i][0] for i in submitted} == {i: "COMPLETED" for i in submitted}
    assert store_bytes(wf.store) == local_store


def memory_enforced() -> bool:
    """Whether the cluster kills a job that uses more memory than it asked for (cgroups)."""
    config = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True).stdout
    return bool(re.search(r"^TaskPlugin\s*=.*task/cgroup", config, re.M)
                and re.search(r"^ConstrainRAMSpace\s*=\s*yes", config, re.M))


def test_job_killed_out_of_memory_is_reported_and_rerun_resumes(tmp_path, local_store, cancel_leftovers):
    if not memory_enforced():
        pytest.skip("this cluster does not enforce memory limits (.ci/slurm-up.sh with MEMORY_LIMITS=none)")
    wf = demo_workflow(tmp_path)
    out = wf.run("nasbench101", *SLURM_ARGS, "--set-resources", "tables_sqlite:mem_mb=150").output
    # reported with the rule, the scheduler's verdict, the rule's log and the SLURM log
    report = out[out.index("Error in rule tables_sqlite:"):]
    jobid = re.search(r"SLURM-job '(\d+)' failed, SLURM status is: 'OUT_OF_MEMORY'", report)
    assert jobid, report[:3000]
    assert "tables_sqlite_nasbench101.log" in report
    assert re.search(rf"\.snakemake/slurm_logs/rule_tables_sqlite/\S*{jobid.group(1)}\.log", report), report[:3000]
    assert "Exiting because a job execution failed" in out
    assert not (wf.store / "nasbench101.db").exists()
    shards = sorted(p.name for p in (tmp_path / "work" / "nasbench101" / "shards").iterdir())
    assert shards == [f"{i}-of-3.parquet" for i in range(3)]

    rerun = wf.run("nasbench101", *SLURM_ARGS).check().output
    assert "rule tables_sqlite:" in rerun and "rule nb101_shard:" not in rerun, rerun[-3000:]
    nb101 = {name: data for name, data in local_store.items() if name.startswith("nasbench101")}
    assert {name: data for name, data in store_bytes(wf.store).items() if name in nb101} == nb101


@pytest.mark.parametrize("key, value, message", [
    ("slurm-status-command", "qstat", "Invalid status command. Allowed values are 'sacct' or 'squeue'."),
    ("slurm-init-seconds-before-status-checks", 0, "init-seconds-before-status-checks must be a positive integer"),
    ("slurm-init-second-before-status-checks", 5, "unrecognized arguments: --slurm-init-second-before-status-checks"),
])
def test_profile_value_the_plugin_rejects_fails_before_any_job_is_submitted(tmp_path, key, value, message,
                                                                            cancel_leftovers):
    profile = yaml.safe_load((SLURM_PROFILE / "config.yaml").read_text())
    profile[key] = value
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "config.yaml").write_text(yaml.safe_dump(profile))
    wf = demo_workflow(tmp_path)
    out = wf.run("--profile", str(tmp_path / "profile"))
    assert out.returncode != 0 and message in out.output, out.output[-3000:]
    assert "submitted with SLURM jobid" not in out.output
    assert jobs_in(wf.workdir) == {}
    assert not (tmp_path / "work").exists() or not any((tmp_path / "work").rglob("*.parquet"))
