"""deblurflow.processes: independent jobs in spawned processes, or inline."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import pytest

from deblurflow.processes import cpu_workers, run_jobs


@pytest.mark.parametrize("workers", [1, 2])
def test_every_job_runs_once_and_is_paired_with_its_result(workers):
    jobs = [4.0, 9.0, 16.0, 25.0]
    done = list(run_jobs(math.sqrt, jobs, workers))
    assert sorted(done) == [(4.0, 2.0), (9.0, 3.0), (16.0, 4.0), (25.0, 5.0)]
    if workers == 1:
        assert [job for job, _ in done] == jobs  # inline: in job order


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_job_raises_its_own_error(workers):
    with pytest.raises(ValueError, match="math domain error"):
        list(run_jobs(math.sqrt, [4.0, -1.0, 9.0], workers))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")
def test_cpu_workers_counts_the_cores_this_process_may_use():
    # As under `taskset -c 0` or a container's cpuset: one usable core, one worker.
    code = "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); " \
           "from deblurflow.processes import cpu_workers; print(cpu_workers())"  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"
    assert cpu_workers() == min(8, len(os.sched_getaffinity(0)))
    assert cpu_workers(cap=1) == 1
