"""The Pyodide side of a WebAssembly rank: finding the JS client, moving buffers across the JS bridge, and
turning the client's ``OnetError`` into this package's exception classes (the one error boundary here).

The JS client is the ES module the coordinator serves at ``/opennetworks.js``. A host makes it reachable either
as a module, ``pyodide.registerJsModule("opennetworks_js", clientModule)`` (what ``src/web/pyodide_node.ts``
does on Node), or as the page global ``globalThis.opennetworks`` that the module sets when loaded in a page.
Only this file imports ``js`` and ``pyodide``.
"""

from __future__ import annotations

from typing import Any

from ._errors import InternalError, OnetError, UnsupportedError, error_for_code
from ._web_buffer import ITEMSIZE, JS_ARRAYS, Staged, empty

MODULE = "opennetworks_js"


def find_client(client: Any = None) -> Any:
    """The JS client module: ``client`` if given, else the registered module, else the page global."""
    if client is not None:
        return client
    try:
        import opennetworks_js  # registered by the host at run time

        return opennetworks_js
    except ImportError:
        pass
    try:
        import js
    except ImportError:
        raise UnsupportedError(
            "opennetworks.web runs inside Pyodide (WebAssembly); in CPython use opennetworks.init() or torch"
        ) from None
    found = getattr(js, "opennetworks", None)
    if found is None:
        raise UnsupportedError(
            'no OpenNetworks client here: in a page load <script type="module" src="/opennetworks.js"> '
            f"(it sets globalThis.opennetworks), or on another host call pyodide.registerJsModule({MODULE!r}, "
            "module) with the module from dist/browser/opennetworks.js"
        )
    return found


def options(**fields: Any) -> Any:
    """A plain JS object of the fields that are not None."""
    import js
    from pyodide.ffi import to_js

    return to_js({k: v for k, v in fields.items() if v is not None}, dict_converter=js.Object.fromEntries)


def to_js_array(staged: Staged) -> Any:
    """A new JS typed array (``Float32Array``, ..., ``Uint16Array`` for bf16) holding a copy of the bytes."""
    import js

    u8 = js.Uint8Array.new(staged.raw.nbytes)
    if staged.raw.nbytes:
        u8.assign(staged.raw)
    return getattr(js, JS_ARRAYS[staged.dtype]).new(u8.buffer, 0, staged.count)


def from_js_array(result: Any, dtype: str, what: str):
    """A copy of a typed array the client returned, as an ``array.array`` of ``dtype``."""
    import js

    size = ITEMSIZE[dtype]
    nbytes = int(getattr(result, "byteLength", -1))
    if nbytes < 0 or nbytes % size:
        raise InternalError(f"the browser client's {what} returned {result!r}, not a typed array of {dtype}")
    out = empty(dtype, nbytes // size)
    if nbytes:
        js.Uint8Array.new(result.buffer, result.byteOffset, nbytes).assign_to(memoryview(out).cast("B"))
    return out


def to_error(exc: BaseException, what: str) -> OnetError:
    """Our exception for a JS error: the client's ``OnetError`` carries ``code`` and ``ranks`` as fields."""
    code = getattr(exc, "code", None)
    message = str(getattr(exc, "message", "") or exc)
    if isinstance(code, str) and code:
        ranks = getattr(exc, "ranks", None)
        return error_for_code(code, message, [int(r) for r in ranks] if ranks is not None else [])
    name = getattr(exc, "name", type(exc).__name__)
    return InternalError(f"{what} failed in the browser client with {name}: {message} (a bug, please report it)")


async def call(what: str, fn: Any, *args: Any) -> Any:
    """Await the JS promise ``fn(*args)``; a JS error comes out as the matching ``OnetError``."""
    from pyodide.ffi import JsException

    try:
        return await fn(*args)
    except JsException as e:
        raise to_error(e, what) from None
