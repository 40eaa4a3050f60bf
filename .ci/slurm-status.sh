#!/usr/bin/env bash
# Status of SLURM job $1 for snakemake-executor-plugin-cluster-generic: prints success, failed or running.
# squeue knows a job until MinJobAge after it ends; after that only sacct (if there is accounting) does.
state=$(squeue --noheader --states=all -j "$1" -o %T 2>/dev/null | head -n1)
[ -n "$state" ] || state=$(sacct -X -n -P -j "$1" -o State 2>/dev/null | head -n1 | cut -d' ' -f1)
case "$state" in
  COMPLETED) echo success ;;
  PENDING|CONFIGURING|RUNNING|COMPLETING|SUSPENDED|REQUEUED|RESIZING|STAGE_OUT|SIGNALING|PREEMPTED|"") echo running ;;
  *) echo failed ;;   # FAILED CANCELLED TIMEOUT OUT_OF_MEMORY NODE_FAIL BOOT_FAIL DEADLINE ...
esac
