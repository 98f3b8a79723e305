"""Functions a module runs once for a program's or a worker's lifetime, not per request: thread
and process targets, and the coroutines an event loop is started with."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.names import descendants, last_name
from torchlint.walk import children

# Calls that start an event loop with the coroutine they are given.
_LOOP_STARTERS = frozenset({"run", "run_until_complete"})
# Calls after which other coroutines share the loop (tasks, servers, concurrent waits).
_SPAWNS = frozenset({"create_task", "ensure_future", "gather", "wait", "as_completed", "TaskGroup",
                     "start_server", "serve", "serve_forever", "run_forever"})


def thread_targets(module: cst.Module) -> set[str]:
    """Functions this module starts as a thread or process (`Process(target=Engine._worker)`)."""
    return {last_name(n.value) or "" for n in descendants(module)
            if isinstance(n, cst.Arg) and n.keyword is not None and n.keyword.value == "target"}


def loop_mains(module: cst.Module) -> set[str]:
    """Coroutine functions this module starts an event loop with: `asyncio.run(main())`,
    `loop.run_until_complete(worker(args))`. Each call of one is a whole program (or worker)."""
    found = set()
    for node in descendants(module):
        if isinstance(node, cst.Call) and last_name(node.func) in _LOOP_STARTERS and node.args \
                and isinstance(node.func, cst.Attribute) and isinstance(node.args[0].value, cst.Call) \
                and isinstance(node.args[0].value.func, cst.Name):
            found.add(node.args[0].value.func.value)
    return found


def before_other_tasks(func: cst.FunctionDef, call: cst.CSTNode) -> bool:
    """Does `call` run before `func` lets any other coroutine onto its loop (creates a task,
    gathers, starts a server)? In a loop's main coroutine such a call holds up nobody."""
    stack: list[cst.CSTNode] = [func.body]
    while stack:  # depth first, in source order
        node = stack.pop()
        stack.extend(reversed(children(node)))
        if node is call:
            return True
        if isinstance(node, cst.Call) and last_name(node.func) in _SPAWNS:
            return False
    return False
