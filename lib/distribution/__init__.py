"""One run over several hosts (DESIGN.md, principle 7): N JAX processes train one model data-parallel.

options.py        the flags (--num_hosts, --coordinator, --host_index) and their checks; no backend
hosts.py          joining the job (jax.distributed, short failure timeouts) and its DataParallel; which
                  process this is; decisions process 0 takes for all; the end barrier
run_files.py      process 0 alone writes the run directory; the others get where to read it
local_copies.py   measurements on this process's copy of the replicated weights (recorders, correlations)

One host, several devices, stays in lib.backend.distribute. Facts and pitfalls of JAX multi-process on
CPU (gloo), and why TensorFlow stays single-host: reference/scaleout.md §3 and docs/scaling.md.
"""
