"""Running a user's script as ``__main__`` inside Pyodide, for the Node launcher (``src/web/pyodide_node.ts``).

The script may use top-level ``await`` (as in a notebook or a page) or end with ``web.run(main(...))``; either
way the launcher gets an exit status back instead of an exception, as ``python script.py`` would give.
"""

from __future__ import annotations

import ast
import sys
import traceback


def _status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


async def run_script(path: str, argv: list[str]) -> int:
    """Run the file at ``path`` with ``sys.argv = argv``; the exit status it would have under ``python``."""
    from . import web

    sys.argv = list(argv)
    scope = {"__name__": "__main__", "__file__": path, "__builtins__": __builtins__}
    try:
        with open(path, encoding="utf-8") as f:
            code = compile(f.read(), path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        pending = eval(code, scope)  # noqa: S307 - it is the user's script, run as `python script.py` would
        if pending is not None:  # the script used top-level await
            await pending
        await web._wait_pending()
    except (SystemExit, web._Exit) as e:
        return _status(e.code)
    except BaseException:  # noqa: BLE001 - reported like the interpreter does, as the exit status
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0
