"""Control channel to the local coordinator: ZeroMQ DEALER, JSON frames (docs/protocol.md §2),
coordinator autostart (§1) and registration.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import zmq

from . import _env, _fastlane_cap
from ._errors import AbortedError, OnetError, ProtocolError, TimeoutError, error_for_code
from ._layout import PROTOCOL_VERSION

_REPO_ROOT = Path(__file__).resolve().parents[2]


def coordinator_command(job: str, world: int) -> list[str]:
    """The command that starts `onet serve` for this job (ONET_COORDINATOR, the repo, PATH)."""
    args = ["serve", "--job", job, "--world", str(world), "--exit-when-idle"]
    exe = _env.setting("ONET_COORDINATOR")
    if exe:
        return [exe, *args]
    node = _env.setting("ONET_NODE") or "node"
    entry = _REPO_ROOT / "bin" / "onet.js"
    if entry.exists():
        return [node, str(entry), *args]
    onet = shutil.which("onet")
    if onet:
        return [onet, *args]
    raise AbortedError(
        "cannot start the OpenNetworks coordinator: no bin/onet.js next to the Python package and "
        "no `onet` on PATH; set ONET_COORDINATOR=/path/to/onet or start `onet serve --job "
        f"{job} --world {world}` yourself"
    )


def _proc_stat(pid: int) -> list[bytes] | None:
    """/proc/<pid>/stat fields from 3 (state) on, or None; the command name may hold ")"."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return fields if len(fields) > 19 else None
    except (OSError, IndexError):
        return None


def _pid_start(pid: int) -> int:
    """The identity to record for a live process: its start time (stat field 22); 0 if unknown."""
    stat = _proc_stat(pid) if pid > 0 else None
    return int(stat[19]) if stat and stat[0] not in (b"Z", b"X") else 0


def _pid_alive(pid: int, start: int = 0) -> bool:
    """Is process `pid` alive and, when `start` (from _pid_start) is not 0, the one that started then?

    A zombie (exited, not reaped) and a process that reused the pid count as dead: a process is
    (pid, start time). The same rule: native/common/proc_alive.cc, src/coordinator/liveness.ts.
    """
    if pid <= 0:
        return False
    stat = _proc_stat(pid)
    if stat is None:  # no /proc entry: existence only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if stat[0] in (b"Z", b"X"):
        return False
    return start == 0 or int(stat[19]) == start


class Control:
    """One DEALER socket to the coordinator; requests are serialized by a lock."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        self._ctx = zmq.Context.instance()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._open()

    def _open(self):
        self.sock = self._ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(self.endpoint)

    def reopen(self):
        self.sock.close(0)
        self._open()

    def send(self, msg: dict) -> int:
        rid = next(self._ids)
        msg = {"v": PROTOCOL_VERSION, **msg, "id": rid}
        self.sock.send(json.dumps(msg).encode())
        return rid

    def recv(self, rid: int, timeout_s: float) -> dict | None:
        """The reply to request ``rid``, or None after ``timeout_s``. Stale replies are dropped."""
        end = time.monotonic() + timeout_s
        while True:
            left = end - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000) + 1):
                return None
            reply = decode_reply(self.sock.recv_multipart())
            if reply is None:
                continue
            if reply.get("id") == rid or (reply.get("type") == "error" and reply.get("id") is None):
                return reply

    def request(self, msg: dict, timeout_s: float, what: str) -> dict:
        with self._lock:
            rid = self.send(msg)
            reply = self.recv(rid, timeout_s)
        if reply is None:
            raise TimeoutError(
                f"the coordinator at {self.endpoint} did not answer {what} within "
                f"{timeout_s:.0f} s; check `onet status` and the coordinator log"
            )
        raise_if_error(reply)
        return reply

    def close(self):
        self.sock.close(0)


def decode_reply(frames: list) -> dict | None:
    """A coordinator reply as a dict, or None for anything that is not a JSON object (dropped)."""
    try:
        reply = json.loads(frames[0])
    except (ValueError, IndexError, TypeError):  # UnicodeDecodeError is a ValueError
        return None
    return reply if isinstance(reply, dict) else None


def auth_proof(token: str, parts: list) -> dict:
    """HMAC-SHA256 proof of ``token`` over ``parts`` + timestamp + nonce (src/security/auth.ts)."""
    ts, nonce = int(time.time() * 1000), os.urandom(16).hex()
    text = "|".join(str(p) for p in ["onet-v1", *parts, ts, nonce])
    return {"ts": ts, "nonce": nonce, "mac": hmac.new(token.encode(), text.encode(), hashlib.sha256).hexdigest()}


def raise_if_error(reply: dict) -> None:
    if reply.get("type") == "error":
        code = reply.get("code", "EINTERNAL")
        if not isinstance(code, str):
            code = "EINTERNAL"
        if not isinstance(reply.get("message", ""), str) or not isinstance(reply.get("ranks", []), (list, type(None))):
            raise ProtocolError(f"the coordinator sent a malformed error reply: {str(reply)[:200]}")
        if code == "EPROTO":
            raise ProtocolError(reply.get("message", "protocol version mismatch"), reply.get("ranks"))
        raise error_for_code(code, reply.get("message", "(no message)"), reply.get("ranks"))


class Registration:
    """What the coordinator told us at `registered`."""

    def __init__(self, reply: dict):
        def field(key, kind, default=None):
            v = reply.get(key, default)
            ok = (
                isinstance(v, str) and v.startswith("/") and 1 < len(v) < 256 and "\0" not in v
                if kind is str
                else (isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 1 << 62)
            )
            if not ok:
                raise ProtocolError(
                    f"the coordinator's `registered` reply has a malformed {key!r}: {v!r} "
                    "(docs/protocol.md §2); is it an OpenNetworks coordinator of this version?"
                )
            return v

        self.arena = field("arena", str)
        self.ctl = field("ctl", str)
        self.data_bytes = field("dataBytes", int)
        self.data_offset = field("dataOffset", int, 65536)
        self.slots = field("slots", int, 64)
        self.slot_bytes = field("slotBytes", int, 512)
        self.coord_pid = field("coordPid", int)
        self.coord_start = _pid_start(self.coord_pid)  # its identity, read while it answers
        self.world = field("world", int, 0)
        self.layout_version = field("layoutVersion", int, 1)


class Coordinator:
    """Finds (or starts) the job's coordinator and registers this rank with it."""

    def __init__(self, job: str, info: _env.RankInfo, framework: str):
        self.job = job
        self.info = info
        self.framework = framework
        self.job_dir = _env.job_dir(job)
        self.endpoint = f"ipc://{self.job_dir}/coord.sock"
        self.proc: subprocess.Popen | None = None
        self.log_path = self.job_dir / "coord.log"

    def _existing_pid(self) -> int:
        try:
            return int((self.job_dir / "coord.pid").read_text().strip() or 0)
        except (OSError, ValueError):
            return 0

    def _running(self) -> bool:
        if self.proc is not None and self.proc.poll() is None:
            return True
        return _pid_alive(self._existing_pid())

    def _start(self) -> None:
        self.job_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        cmd = coordinator_command(self.job, self.info.world)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                cwd="/",
            )
        except OSError as e:
            raise AbortedError(
                f"cannot start the coordinator with {' '.join(cmd)!r}: {e}; set "
                "ONET_NODE to a node >= 20 binary or ONET_COORDINATOR to an onet "
                "executable"
            ) from None
        finally:
            log.close()
        # Reap it when it exits so that liveness checks do not see a zombie.
        threading.Thread(target=self.proc.wait, daemon=True, name="onet-reaper").start()

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def register(self, timeout_s: float) -> tuple[Control, Registration]:
        autostart = _env.value("ONET_AUTOSTART") and self.info.local_rank == 0
        if autostart and not self._running():
            self._start()
        ctl = Control(self.endpoint)
        msg = {
            "type": "register",
            "job": self.job,
            "rank": self.info.rank,
            "world": self.info.world,
            "localRank": self.info.local_rank,
            "localWorld": self.info.local_world,
            "pid": os.getpid(),
            "framework": self.framework,
        }
        self.fastlane = _fastlane_cap.declared(self.framework, self.info)
        if self.fastlane:  # this rank can run the fast lane (docs/protocol.md §2)
            msg["fastlane"] = self.fastlane
        token = _env.setting("ONET_JOB_TOKEN")
        if token:  # docs/protocol.md §8: prove the job token without sending it
            msg["auth"] = auth_proof(token, ["register", self.job, self.info.rank, os.getpid()])
        if self.info.local_world < self.info.world:
            timeout_s *= 3  # across hosts the coordinator answers after meeting the others
        deadline = time.monotonic() + timeout_s
        sent_to = self._existing_pid()  # the coordinator the registration went to (0: none yet)
        rid = ctl.send(msg)
        while True:
            reply = ctl.recv(rid, 0.25)
            if reply is not None:
                break
            now_pid = self._existing_pid()
            if sent_to and now_pid and now_pid != sent_to and _pid_alive(now_pid):
                # It went to a coordinator that has since been replaced (one exiting as we
                # connected): the new one never saw it, so send it again.
                ctl.reopen()
                rid = ctl.send(msg)
                sent_to = now_pid
            if self.proc is not None and self.proc.poll() is not None:
                raise AbortedError(
                    f"the coordinator started by local rank 0 exited with status {self.proc.returncode} "
                    f"before answering; its log ({self.log_path}) ends with:\n{self._log_tail()}"
                )
            if autostart and self.proc is None and not self._running():
                # The coordinator we found went away (e.g. an idle one exiting): start ours.
                self._start()
                ctl.reopen()
                rid = ctl.send(msg)
            if time.monotonic() > deadline:
                ctl.close()
                who = (
                    ("it was started by this rank; see " + str(self.log_path))
                    if self.proc
                    else (
                        "local rank 0 starts it; check that local rank 0 is running"
                        if self.info.local_rank
                        else "autostart is off (ONET_AUTOSTART=0)"
                    )
                )
                raise TimeoutError(
                    f"rank {self.info.rank}: no OpenNetworks coordinator answered at {self.endpoint} "
                    f"within {timeout_s:.0f} s ({who}); raise ONET_CONNECT_TIMEOUT or run `onet serve "
                    f"--job {self.job} --world {self.info.world}`",
                    [self.info.rank],
                )
        try:
            raise_if_error(reply)
        except OnetError:
            ctl.close()
            raise
        if reply.get("type") != "registered":
            ctl.close()
            raise ProtocolError(f"expected `registered` from the coordinator, got {reply.get('type')!r}")
        return ctl, Registration(reply)
