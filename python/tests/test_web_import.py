"""The WebAssembly side of the package on CPython: `opennetworks.web` imports without pyzmq, numpy or shared memory
(as under Pyodide), and buffers map to wire dtypes and back. The Pyodide runs are test/pyodide_*.test.ts."""

import array
import asyncio
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import opennetworks as on
from opennetworks import _web_bridge, _web_main, web
from opennetworks._web_buffer import empty, finish, stage

PYTHON_DIR = Path(__file__).resolve().parents[1]


def _run_blocked(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter where zmq, numpy and mmap cannot be imported (as in Pyodide)."""
    prelude = "import sys\nfor m in ('zmq', 'numpy', 'mmap', '_posixshmem'):\n    sys.modules[m] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=PYTHON_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_imports_without_zmq_numpy_or_shared_memory():
    r = _run_blocked(
        """
        import array
        import opennetworks
        from opennetworks import web, AbortedError
        assert "zmq" not in [m for m in sys.modules if sys.modules[m] is not None]
        from opennetworks._web_buffer import stage
        print(stage(array.array("f", [1, 2])).dtype, opennetworks.AbortedError is AbortedError)
        try:
            opennetworks.init
        except ImportError as e:
            print("init needs", e.name)
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["f32 True", "init needs numpy"]


def test_cpython_keeps_its_api():
    assert on.init.__module__ == "opennetworks._comm"
    assert on.Communicator.__name__ == "Communicator"
    assert callable(on.get_client) and on.Client.__name__ == "Client"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        on.nope  # noqa: B018


@pytest.mark.parametrize(
    ("data", "dtype", "want", "count"),
    [
        (array.array("f", [1, 2, 3]), None, "f32", 3),
        (array.array("d", [1, 2]), None, "f64", 2),
        (array.array("i", [1, -2, 3, 4]), None, "i32", 4),
        (array.array("H", [0x3F80]), "bf16", "bf16", 1),
        (array.array("h", [1, 2]), "bf16", "bf16", 2),
        (array.array("f"), None, "f32", 0),
        (bytes(12), "i32", "i32", 3),
        (bytearray(16), "f64", "f64", 2),
        (memoryview(bytes(8)), "bf16", "bf16", 4),
        (memoryview(array.array("f", range(6))), "f32", "f32", 6),
        (memoryview(array.array("f", range(6))).cast("B").cast("f", (2, 3)), None, "f32", 6),
    ],
)
def test_stage_reads_the_dtype_from_the_buffer(data, dtype, want, count):
    s = stage(data, dtype)
    assert (s.dtype, s.count, s.raw.format, s.raw.nbytes, s.numpy) == (want, count, "B", len(bytes(data)), False)
    assert bytes(s.raw) == bytes(data)


@pytest.mark.parametrize(
    ("data", "dtype", "cls", "words"),
    [
        (bytes(8), None, on.InvalidArgumentError, "raw bytes: say what they hold with dtype="),
        (array.array("H", [1]), None, on.InvalidArgumentError, "dtype='bf16'"),
        (array.array("q", [1]), None, on.UnsupportedError, "'q' (8 bytes)"),
        (array.array("b", [1]), "u8", on.UnsupportedError, "use one of f32, f64, i32, bf16"),
        (array.array("f", [1]), "i32", on.InvalidArgumentError, "holds f32 elements but dtype='i32'"),
        (array.array("f", [1]), "bf16", on.InvalidArgumentError, "bf16 travels as uint16"),
        (bytes(6), "f32", on.InvalidArgumentError, "6 bytes, not a whole number of f32"),
        (memoryview(array.array("f", range(6)))[::2], None, on.InvalidArgumentError, "not contiguous"),
        ([1.0, 2.0], None, on.InvalidArgumentError, "list is not a buffer"),
        ("text", None, on.InvalidArgumentError, "str is not a buffer"),
    ],
)
def test_stage_refuses_what_the_wire_cannot_carry(data, dtype, cls, words):
    with pytest.raises(cls) as e:
        stage(data, dtype)
    assert words in str(e.value)


def test_results_come_back_as_array_array_of_the_dtype():
    for dtype, code, size in (("f32", "f", 4), ("f64", "d", 8), ("i32", "i", 4), ("bf16", "H", 2)):
        out = empty(dtype, 3)
        assert (out.typecode, out.itemsize, len(out), list(out)) == (code, size, 3, [0, 0, 0])
        assert finish(out, stage(out, "bf16" if dtype == "bf16" else None)) is out


def test_numpy_in_numpy_out():
    np = pytest.importorskip("numpy")
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    s = stage(x)
    assert (s.dtype, s.count, s.shape, s.numpy) == ("f32", 12, (3, 4), True)
    out = empty("f32", 12)
    out[5] = 7
    got = finish(out, s, s.shape)
    assert got.dtype == np.float32 and got.shape == (3, 4) and got[1, 1] == 7
    assert finish(out, s, (5, 5)).shape == (12,)  # a shape that does not fit: flat
    assert stage(x.T).count == 12 and bytes(stage(x.T).raw) == x.T.copy().tobytes()  # copied to C order
    assert stage(np.zeros(2, np.int32)).dtype == "i32"
    assert stage(np.zeros(2, np.float64)).dtype == "f64"
    assert stage(np.zeros(2, np.uint16), "bf16").dtype == "bf16"
    with pytest.raises(on.UnsupportedError, match="big-endian"):
        stage(np.zeros(2, ">f4"))
    with pytest.raises(on.UnsupportedError, match="'q'|'l'"):
        stage(np.zeros(2, np.int64))


class _JsError(Exception):
    """What Pyodide raises for a JS throw: a JsException whose attributes are the JS error's."""

    def __init__(self, code, message, ranks, name="OnetError"):
        super().__init__(message)
        self.code, self.message, self.ranks, self.name = code, message, ranks, name


def test_js_errors_become_our_classes_from_fields():
    e = _web_bridge.to_error(_JsError("EABORTED", "rank 4 (pyodide) died", [4]), "allreduce")
    assert type(e) is on.AbortedError and e.ranks == [4] and str(e) == "rank 4 (pyodide) died"
    e = _web_bridge.to_error(_JsError("ETIMEDOUT", "rank 2 silent", None), "barrier")
    assert type(e) is on.TimeoutError and e.ranks == []
    e = _web_bridge.to_error(_JsError(None, "x is undefined", None, "TypeError"), "allgather on rank 1")
    assert type(e) is on.InternalError and "allgather on rank 1 failed in the browser client with TypeError" in str(e)


def test_join_outside_pyodide_says_where_it_runs():
    with pytest.raises(on.UnsupportedError, match="runs inside Pyodide"):
        asyncio.run(web.join("ws://127.0.0.1:1/join/x"))
    with pytest.raises(on.InvalidArgumentError, match="join URL"):
        asyncio.run(web.join(""))


def test_run_is_asyncio_run_on_cpython():
    async def main(x):
        await asyncio.sleep(0)
        return x * 2

    assert web.run(main(21)) == 42


@pytest.mark.parametrize(
    ("body", "status", "err"),
    [
        ("import asyncio\nawait asyncio.sleep(0)\nprint('top-level await', sys.argv[1:])\n", 0, ""),
        ("raise SystemExit(3)\n", 3, ""),
        ("await asyncio.sleep(0)\nsys.exit('bad input')\n", 1, "bad input"),
        ("1 / 0\n", 1, "ZeroDivisionError"),
    ],
)
def test_the_launcher_runs_a_script_as_main(tmp_path, capsys, body, status, err):
    script = tmp_path / "rank.py"
    script.write_text("import asyncio\nimport sys\n" + body)
    argv = sys.argv[:]
    try:
        assert asyncio.run(_web_main.run_script(str(script), [str(script), "ws://u", "x"])) == status
    finally:
        sys.argv = argv
    out = capsys.readouterr()
    assert err in out.err
    if status == 0:
        assert "top-level await ['ws://u', 'x']" in out.out


def test_the_client_is_the_registered_module_else_the_page_global(monkeypatch):
    page = types.SimpleNamespace(join=None)
    monkeypatch.setitem(sys.modules, "js", types.SimpleNamespace(opennetworks=page))
    monkeypatch.delitem(sys.modules, "opennetworks_js", raising=False)
    assert _web_bridge.find_client() is page  # a page that loaded /opennetworks.js
    registered = types.ModuleType("opennetworks_js")
    monkeypatch.setitem(sys.modules, "opennetworks_js", registered)
    assert _web_bridge.find_client() is registered  # pyodide.registerJsModule("opennetworks_js", ...)
    assert _web_bridge.find_client(page) is page  # web.join(url, client=...)
    monkeypatch.setitem(sys.modules, "opennetworks_js", None)
    monkeypatch.setitem(sys.modules, "js", types.SimpleNamespace())
    with pytest.raises(on.UnsupportedError, match=r"no OpenNetworks client here: .*/opennetworks\.js"):
        _web_bridge.find_client()
