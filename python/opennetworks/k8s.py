"""Kubernetes: what a Kubeflow PyTorchJob or a JobSet gives a pod, mapped to what torch and
OpenNetworks read (opennetworks._env reads torchrun's, Slurm's and Open MPI's variables; this
module adds the two Kubernetes launchers beside them). Use it as the container's command:

    python -m opennetworks.k8s -- torchrun train.py      # N ranks per pod (torchrun reads PET_*)
    python -m opennetworks.k8s -- python train.py        # one rank per pod
    eval "$(python -m opennetworks.k8s --print)"         # or only export them (one rank per pod)

It only adds variables that are unset, prints one line saying what it found, and runs the command.

Kubeflow PyTorchJob (training-operator v1) sets, per pod: MASTER_ADDR=<job>-master-0 (a headless
Service), MASTER_PORT (the container port named ``pytorchjob-port``), WORLD_SIZE (pods × nprocPerNode),
RANK (the pod's index: master 0, workers 1..), and torchrun's PET_MASTER_ADDR, PET_MASTER_PORT,
PET_NNODES, PET_NODE_RANK, PET_NPROC_PER_NODE. Under torchrun nothing is missing; with one rank per
pod the pod lacks LOCAL_RANK=0 and LOCAL_WORLD_SIZE=1, which this adds.

JobSet gives each pod JOB_COMPLETION_INDEX (its index in its Job) and a DNS name
<jobset>-<replicatedJob>-<jobIndex>-<podIndex>.<subdomain> (subdomain: the JobSet's name). The manifest
passes the JobSet's labels through the downward API as JOBSET_NAME, REPLICATED_JOB_NAME,
JOB_GLOBAL_INDEX and GLOBAL_REPLICAS (optional: JOBSET_SUBDOMAIN, or JOBSET_COORDINATOR from the
``jobset.sigs.k8s.io/coordinator`` annotation when spec.coordinator is set), and sets PET_NNODES (pods
in all) and PET_NPROC_PER_NODE; this derives the node rank and the address of pod 0 from them.

Either way the coordinators meet at MASTER_ADDR:MASTER_PORT+1 (the pod of rank 0), exactly as under
torchrun on bare hosts; see examples/k8s/ for the ports to open and /dev/shm.
"""

from __future__ import annotations

import os
import shlex
import sys

from ._errors import InvalidArgumentError

DEFAULT_MASTER_PORT = 29500  # torchrun's default; JobSet manifests may set MASTER_PORT instead
TORCHRUN = ("torchrun", "torch.distributed.run")


def detect(env) -> str:
    """Which launcher made this pod: "jobset", "pytorchjob" or "" (neither)."""
    if env.get("JOB_COMPLETION_INDEX") not in (None, "") and env.get("JOBSET_NAME"):
        return "jobset"
    if env.get("PET_MASTER_ADDR") and env.get("PET_NNODES") and env.get("RANK"):
        return "pytorchjob"
    return ""


def _int(env, key: str, default: int | None = None, launcher: str = "") -> int:
    text = env.get(key) or ""
    if text == "":
        if default is None:
            raise InvalidArgumentError(
                f"{launcher}: {key} is not set; add it to the container's env in the manifest (examples/k8s/)"
            )
        return default
    try:
        return int(text)
    except ValueError:
        raise InvalidArgumentError(f"{launcher}: {key}={text!r} is not an integer") from None


def _one_rank_per_pod(nproc: int, node_rank: int, nnodes: int, launcher: str) -> dict[str, str]:
    if nproc != 1:
        raise InvalidArgumentError(
            f"{launcher}: {nproc} ranks per pod (PET_NPROC_PER_NODE) need torchrun to start them: "
            "run `python -m opennetworks.k8s -- torchrun train.py`, or set PET_NPROC_PER_NODE=1"
        )
    return {"RANK": str(node_rank), "WORLD_SIZE": str(nnodes), "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"}


def _pytorchjob(env, torchrun: bool) -> dict[str, str]:
    if torchrun:
        return {}  # the operator's PET_* are torchrun's own arguments
    nproc_text = env.get("PET_NPROC_PER_NODE") or "1"
    nproc = int(nproc_text) if nproc_text.isdigit() else 0  # "auto", "cpu", "gpu": torchrun decides
    nnodes = _int(env, "PET_NNODES", launcher="PyTorchJob")
    node_rank = _int(env, "RANK", launcher="PyTorchJob")
    out = _one_rank_per_pod(nproc, node_rank, nnodes, "PyTorchJob")
    del out["RANK"], out["WORLD_SIZE"]  # the operator's are right for one rank per pod
    return out


def _jobset(env, torchrun: bool) -> dict[str, str]:
    who = "JobSet"
    index = _int(env, "JOB_COMPLETION_INDEX", launcher=who)
    nnodes = _int(env, "PET_NNODES", launcher=who)
    nproc = _int(env, "PET_NPROC_PER_NODE", 1, who)
    jobs = _int(env, "GLOBAL_REPLICAS", 1, who)
    job = _int(env, "JOB_GLOBAL_INDEX", 0, who)
    if jobs < 1 or nnodes % jobs:
        raise InvalidArgumentError(
            f"{who}: PET_NNODES={nnodes} pods do not divide evenly over GLOBAL_REPLICAS={jobs} Jobs; "
            "PET_NNODES is the number of pods in all (Jobs × completions)"
        )
    node_rank = job * (nnodes // jobs) + index
    if not (0 <= node_rank < nnodes):
        raise InvalidArgumentError(
            f"{who}: this pod is node {node_rank} (JOB_GLOBAL_INDEX={job}, JOB_COMPLETION_INDEX={index}) "
            f"but PET_NNODES={nnodes}; set PET_NNODES to the number of pods in all"
        )
    master = env.get("JOBSET_COORDINATOR") or ""
    if not master:
        name = env["JOBSET_NAME"]
        rjob = env.get("REPLICATED_JOB_NAME") or ""
        if not rjob:
            raise InvalidArgumentError(
                f"{who}: REPLICATED_JOB_NAME is not set; pass the label jobset.sigs.k8s.io/replicatedjob-name "
                "through the downward API (examples/k8s/jobset.yaml), or JOBSET_COORDINATOR"
            )
        master = f"{name}-{rjob}-0-0.{env.get('JOBSET_SUBDOMAIN') or name}"
    port = str(_int(env, "MASTER_PORT", DEFAULT_MASTER_PORT, who))
    out = {"MASTER_ADDR": master, "MASTER_PORT": port}
    if torchrun:
        out.update(
            PET_NNODES=str(nnodes),
            PET_NPROC_PER_NODE=str(nproc),
            PET_NODE_RANK=str(node_rank),
            PET_MASTER_ADDR=master,
            PET_MASTER_PORT=port,
        )
    else:
        out.update(_one_rank_per_pod(nproc, node_rank, nnodes, who))
    return out


def rank_env(env=None, torchrun: bool = True) -> dict[str, str]:
    """The variables this pod lacks, for a command that is torchrun (``torchrun=True``) or one rank.

    Values already in ``env`` are kept: only unset variables are returned.
    """
    env = os.environ if env is None else env
    kind = detect(env)
    mapped = {"jobset": _jobset, "pytorchjob": _pytorchjob}[kind](env, torchrun) if kind else {}
    return {k: v for k, v in mapped.items() if not env.get(k)}


def is_torchrun(cmd: list[str]) -> bool:
    """Whether ``cmd`` starts torchrun (``torchrun ...`` or ``python -m torch.distributed.run ...``)."""
    if not cmd:
        return False
    if os.path.basename(cmd[0]) == "torchrun":
        return True
    return len(cmd) > 2 and cmd[1] == "-m" and cmd[2] in TORCHRUN


def describe(env, added: dict[str, str]) -> str:
    kind = detect(env) or "no Kubernetes launcher"
    merged = {**env, **added}
    where = f"{merged.get('MASTER_ADDR', '?')}:{merged.get('MASTER_PORT', '?')}"
    sets = " ".join(f"{k}={v}" for k, v in added.items()) or "nothing to add"
    return f"opennetworks.k8s: {kind}; torch's store at {where}, coordinators meet at port +1; {sets}"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    opts, cmd = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    unknown = [o for o in opts if o not in ("--print", "--torchrun")]
    if unknown or not (cmd or "--print" in opts):
        print(
            "usage: python -m opennetworks.k8s [--print] [--torchrun] [-- command ...]\n"
            "  --print     write the variables as `export` lines (for eval)\n"
            "  --torchrun  map for torchrun (implied when the command is torchrun)",
            file=sys.stderr,
        )
        return 2
    try:
        added = rank_env(os.environ, torchrun="--torchrun" in opts or is_torchrun(cmd))
    except InvalidArgumentError as e:
        print(f"opennetworks.k8s: {e}", file=sys.stderr)
        return 2
    if "--print" in opts:
        print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in added.items()))
    if not cmd:
        return 0
    print(describe(os.environ, added), file=sys.stderr, flush=True)
    os.execvpe(cmd[0], cmd, {**os.environ, **added})
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
