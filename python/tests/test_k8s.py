"""Kubernetes: the manifests users copy (examples/k8s/*.yaml), the environment each launcher gives
their pods, and opennetworks.k8s's mapping of it to what torch and OpenNetworks read.

No cluster here: the tests build every pod's environment from the YAML the way the launchers do
(Kubeflow training-operator v1.9 pkg/controller.v1/pytorch/envvar.go + master.go; JobSet's pod labels
and Indexed Jobs' JOB_COMPLETION_INDEX), run the container's command line through the mapping and,
where it is torchrun, torchrun's static rendezvous; then check what every rank would read with the
package's own readers (_env.rank_info, _env.job_id): ranks 0..W-1 once each, one job id, the right
local ranks, MASTER_ADDR naming rank 0's pod, the declared ports and /dev/shm big enough.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="pyyaml is not installed (pip install pyyaml)")

from opennetworks import _env, k8s  # noqa: E402
from opennetworks._errors import InvalidArgumentError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "k8s"
_QUANTITY = {"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 10**3, "M": 10**6, "G": 10**9}


def load(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / name).read_text())


def quantity(text: str) -> int:
    m = re.fullmatch(r"(\d+)([A-Za-z]*)", str(text))
    assert m and m.group(2) in _QUANTITY, f"unexpected Kubernetes quantity {text!r}"
    return int(m.group(1)) * _QUANTITY[m.group(2)]


def container_env(container: dict, labels: dict) -> dict:
    """The container's env entries, with downward-API label references resolved."""
    env = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
            continue
        path = e["valueFrom"]["fieldRef"]["fieldPath"]
        m = re.fullmatch(r"metadata\.labels\['([^']+)'\]", path)
        assert m, f"unsupported fieldPath {path}"
        assert m.group(1) in labels, f"{e['name']}: pods carry no label {m.group(1)}"
        env[e["name"]] = labels[m.group(1)]
    return env


def pytorchjob_pods(job: dict):
    """(dns name, pod spec, container, env) per pod, as training-operator v1.9 sets them."""
    spec, name = job["spec"], job["metadata"]["name"]
    reps = spec["pytorchReplicaSpecs"]
    total = sum(r["replicas"] for r in reps.values())
    nproc_text = spec.get("nprocPerNode")
    nproc = int(nproc_text) if nproc_text and nproc_text.isdigit() else 1
    master = next(c for c in reps["Master"]["template"]["spec"]["containers"] if c["name"] == "pytorch")
    port = next(p["containerPort"] for p in master["ports"] if p["name"] == "pytorchjob-port")
    for rtype in ("Master", "Worker"):
        pod = reps[rtype]["template"]["spec"]
        container = next(c for c in pod["containers"] if c["name"] == "pytorch")
        for i in range(reps[rtype]["replicas"]):
            rank = i + (rtype == "Worker")
            env = {
                "PYTHONUNBUFFERED": "1",
                "MASTER_PORT": str(port),
                "PET_MASTER_PORT": str(port),
                "MASTER_ADDR": f"{name}-master-0",
                "PET_MASTER_ADDR": f"{name}-master-0",
                "WORLD_SIZE": str(total * nproc),
                "RANK": str(rank),
                "PET_NODE_RANK": str(rank),
                "PET_NNODES": str(total),
                **({"PET_NPROC_PER_NODE": nproc_text} if nproc_text else {}),
            }
            env.update(container_env(container, {}))
            yield f"{name}-{rtype.lower()}-{i}", pod, container, env


def jobset_pods(js: dict):
    """(dns name, pod spec, container, env) per pod: Indexed Jobs, JobSet's labels, DNS hostnames."""
    name = js["metadata"]["name"]
    subdomain = (js["spec"].get("network") or {}).get("subdomain") or name
    rjobs = js["spec"]["replicatedJobs"]
    total_jobs = sum(r.get("replicas", 1) for r in rjobs)
    global_index = 0
    for rj in rjobs:
        for job_index in range(rj.get("replicas", 1)):
            job_spec = rj["template"]["spec"]
            pod = job_spec["template"]["spec"]
            for pod_index in range(job_spec["completions"]):
                labels = {
                    "jobset.sigs.k8s.io/jobset-name": name,
                    "jobset.sigs.k8s.io/replicatedjob-name": rj["name"],
                    "jobset.sigs.k8s.io/job-index": str(job_index),
                    "jobset.sigs.k8s.io/job-global-index": str(global_index),
                    "jobset.sigs.k8s.io/global-replicas": str(total_jobs),
                    "jobset.sigs.k8s.io/replicatedjob-replicas": str(rj.get("replicas", 1)),
                }
                host = f"{name}-{rj['name']}-{job_index}-{pod_index}"
                for container in pod["containers"]:
                    env = {"JOB_COMPLETION_INDEX": str(pod_index), "HOSTNAME": host}
                    env.update(container_env(container, labels))
                    yield f"{host}.{subdomain}", pod, container, env
            global_index += 1


def torchrun_ranks(env: dict) -> list[dict]:
    """What torchrun's static rendezvous gives its workers, from the PET_* variables it reads."""
    nnodes, nproc = int(env["PET_NNODES"]), int(env.get("PET_NPROC_PER_NODE", "1"))
    node = int(env["PET_NODE_RANK"])
    return [
        {
            **env,
            "RANK": str(node * nproc + lr),
            "WORLD_SIZE": str(nnodes * nproc),
            "LOCAL_RANK": str(lr),
            "LOCAL_WORLD_SIZE": str(nproc),
            "GROUP_RANK": str(node),
            "MASTER_ADDR": env["PET_MASTER_ADDR"],
            "MASTER_PORT": env["PET_MASTER_PORT"],
            "TORCHELASTIC_RUN_ID": "none",
        }
        for lr in range(nproc)
    ]


def ranks_of(pods) -> list[tuple[str, dict, dict, dict]]:
    """Run each pod's command line through the mapping (and torchrun): (pod dns, pod, container, rank env)."""
    out = []
    for dns, pod, container, env in pods:
        cmd = container["command"]
        assert cmd[:4] == ["python", "-m", "opennetworks.k8s", "--"], f"{dns}: command {cmd}"
        torchrun = k8s.is_torchrun(cmd[4:])
        pod_env = {**env, **k8s.rank_env(env, torchrun=torchrun)}
        for rank_env in torchrun_ranks(pod_env) if torchrun else [pod_env]:
            out.append((dns, pod, container, rank_env))
    return out


def check_job(ranks) -> None:
    infos = [(_env.rank_info(env=e), _env.job_id(env=e), dns) for dns, _, _, e in ranks]
    world = infos[0][0].world
    assert sorted(i.rank for i, _, _ in infos) == list(range(world)), "every rank exactly once"
    assert len({j for _, j, _ in infos}) == 1, f"one job id on every pod, got {[j for _, j, _ in infos]}"
    for info, _, dns in infos:
        on_pod = [i for i, _, d in infos if d == dns]
        assert info.local_world == len(on_pod), f"{dns}: local world {info.local_world}, {len(on_pod)} ranks there"
        assert sorted(i.local_rank for i in on_pod) == list(range(len(on_pod)))
    rank0_pod = next(dns for info, _, dns in infos if info.rank == 0)
    for dns, pod, container, e in ranks:
        assert e["MASTER_ADDR"] in (rank0_pod, rank0_pod.split(".")[0]), f"{dns}: MASTER_ADDR {e['MASTER_ADDR']}"
        # The coordinators meet at MASTER_PORT+1 (src/coordinator/rendezvous.ts); data on ONET_HOST_PORT.
        declared = {p["containerPort"] for p in container.get("ports", [])}
        assert int(e["MASTER_PORT"]) in declared and int(e["MASTER_PORT"]) + 1 in declared, f"{dns}: ports {declared}"
        if e.get("ONET_HOST_PORT", "0") != "0":
            assert int(e["ONET_HOST_PORT"]) in declared
        # /dev/shm: a memory volume that holds every local rank's arena.
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/dev/shm")
        vol = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        assert vol["emptyDir"]["medium"] == "Memory"
        arena = _env.bytes_setting("ONET_ARENA_BYTES", env=e)
        local = _env.rank_info(env=e).local_world
        assert quantity(vol["emptyDir"]["sizeLimit"]) >= local * arena, f"{dns}: /dev/shm smaller than the arenas"


def test_pytorchjob_manifest():
    ranks = ranks_of(pytorchjob_pods(load("pytorchjob.yaml")))
    assert len(ranks) == 4
    check_job(ranks)
    assert {e["MASTER_ADDR"] for *_, e in ranks} == {"onet-ddp-master-0"}


def test_pytorchjob_one_rank_per_pod():
    job = load("pytorchjob.yaml")
    del job["spec"]["nprocPerNode"]
    for rtype in ("Master", "Worker"):
        c = job["spec"]["pytorchReplicaSpecs"][rtype]["template"]["spec"]["containers"][0]
        c["command"] = ["python", "-m", "opennetworks.k8s", "--", "python", "/app/train.py"]
    ranks = ranks_of(pytorchjob_pods(job))
    got = [(e["RANK"], e["LOCAL_RANK"], e["LOCAL_WORLD_SIZE"]) for *_, e in ranks]
    assert got == [("0", "0", "1"), ("1", "0", "1")]
    check_job(ranks)


def test_pytorchjob_several_ranks_per_pod_need_torchrun():
    dns, _, _, env = next(pytorchjob_pods(load("pytorchjob.yaml")))
    with pytest.raises(InvalidArgumentError, match="torchrun"):
        k8s.rank_env(env, torchrun=False)


def test_jobset_manifest():
    ranks = ranks_of(jobset_pods(load("jobset.yaml")))
    assert len(ranks) == 4
    check_job(ranks)
    assert {e["MASTER_ADDR"] for *_, e in ranks} == {"onet-ddp-workers-0-0.onet-ddp"}
    assert {e["MASTER_PORT"] for *_, e in ranks} == {"29500"}


def test_jobset_several_jobs_and_one_rank_per_pod():
    js = load("jobset.yaml")
    rj = js["spec"]["replicatedJobs"][0]
    rj["replicas"] = 3  # 3 Jobs x 2 pods, one rank each
    c = rj["template"]["spec"]["template"]["spec"]["containers"][0]
    c["command"] = ["python", "-m", "opennetworks.k8s", "--", "python", "/app/train.py"]
    for e in c["env"]:
        if e["name"] == "PET_NNODES":
            e["value"] = "6"
        if e["name"] == "PET_NPROC_PER_NODE":
            e["value"] = "1"
    ranks = ranks_of(jobset_pods(js))
    assert [e["RANK"] for *_, e in ranks] == [str(r) for r in range(6)]
    check_job(ranks)


def test_jobset_errors_name_the_fix():
    js = load("jobset.yaml")
    _, _, _, env = next(jobset_pods(js))
    for missing, match in (("PET_NNODES", "PET_NNODES is not set"), ("REPLICATED_JOB_NAME", "downward API")):
        with pytest.raises(InvalidArgumentError, match=match):
            k8s.rank_env({k: v for k, v in env.items() if k != missing})
    with pytest.raises(InvalidArgumentError, match="PET_NNODES"):
        k8s.rank_env({**env, "JOB_COMPLETION_INDEX": "5"})
    with pytest.raises(InvalidArgumentError, match="not an integer"):
        k8s.rank_env({**env, "PET_NNODES": "two"})


def test_mapping_keeps_what_is_set_and_ignores_other_hosts():
    assert k8s.rank_env({}) == {} and k8s.detect({"RANK": "0", "WORLD_SIZE": "2"}) == ""
    _, _, _, env = next(jobset_pods(copy.deepcopy(load("jobset.yaml"))))
    assert "MASTER_ADDR" not in k8s.rank_env({**env, "MASTER_ADDR": "10.0.0.7"})


def test_cli_runs_the_command_with_the_mapping():
    _, _, _, env = next(jobset_pods(load("jobset.yaml")))
    keys = ["RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"]
    probe = f"import json, os; print(json.dumps({{k: os.environ.get(k) for k in {keys!r}}}))"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PET_", "MASTER_", "RANK", "WORLD_", "LOCAL_"))}
    p = subprocess.run(
        [sys.executable, "-m", "opennetworks.k8s", "--", sys.executable, "-c", probe],
        env={**base, **env, "PET_NPROC_PER_NODE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got == dict(zip(keys, ["0", "2", "0", "1", "onet-ddp-workers-0-0.onet-ddp", "29500"]))
    assert "opennetworks.k8s: jobset" in p.stderr
    p = subprocess.run(
        [sys.executable, "-m", "opennetworks.k8s", "--print", "--torchrun"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert "export PET_NODE_RANK=0" in p.stdout and "export PET_MASTER_ADDR=onet-ddp-workers-0-0.onet-ddp" in p.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "opennetworks.k8s", "--", "true"],
        env={**base, **{k: v for k, v in env.items() if k != "PET_NNODES"}},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "PET_NNODES is not set" in bad.stderr
