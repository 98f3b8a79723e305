"""Optional imports and the code that uses them: does an `except ImportError` keep a fallback,
and is a function that uses an optional package chosen only by a setting that names it
(`elif method == "xformers": return xformers_attnblock_forward`)?"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.names import contains, last_name, literal, snake_words
from torchlint.walk import children

AVAILABILITY_WORDS = frozenset({"available", "availability", "enabled", "installed", "supported", "supports"})


def catches_import_error(handler: cst.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    names = {last_name(e.value) for e in handler.type.elements} if isinstance(handler.type, cst.Tuple) else {
        last_name(handler.type)
    }
    return bool(names & {"ImportError", "ModuleNotFoundError", "Exception", "BaseException", "OSError"})


def has_fallback(handler: cst.ExceptHandler) -> bool:
    """The except branch binds something (fallback names, a flag), re-raises, or imports."""
    for stmt in handler.body.body:
        inner = stmt.body if isinstance(stmt, cst.SimpleStatementLine) else [stmt]
        for small in inner:
            if not isinstance(small, (cst.Expr, cst.Pass)):
                return True
    return False


def records_success(node: cst.Try) -> bool:
    """The try body sets an availability flag (`shared.xformers_available = True`) once the import worked."""
    return any(isinstance(small, cst.Assign) and literal(small.value) is True
               and any(set(snake_words(last_name(t.target) or "")) & AVAILABILITY_WORDS for t in small.targets)
               for stmt in node.body.body if isinstance(stmt, cst.SimpleStatementLine) for small in stmt.body)


def imports_in(node: cst.CSTNode) -> bool:
    """A try block that imports something: its body runs only if the import succeeded."""
    body = getattr(node, "body", None)
    return body is not None and contains(body, lambda n: isinstance(n, (cst.Import, cst.ImportFrom)))




def selected_by_name(module: cst.Module, function: str, package: str) -> bool:
    """Is every use of the module-level `function` in a branch chosen by a string that names
    `package` (`elif method == "xformers": return xformers_attnblock_forward`)? The setting
    that picks it is the gate: the host offers "xformers" only where xformers loads."""
    uses = 0
    stack: list[tuple[cst.CSTNode, bool]] = [(module, False)]
    while stack:
        node, chosen = stack.pop()
        if isinstance(node, cst.FunctionDef) and node.name.value == function:
            continue  # its own body
        if isinstance(node, cst.Name) and node.value == function:
            uses += 1
            if not chosen:
                return False
        if isinstance(node, (cst.If, cst.IfExp)):
            named = contains(node.test, lambda n: isinstance(n, cst.SimpleString)
                             and package in str(literal(n) or "").lower())
            stack.append((node.test, chosen))
            stack.append((node.body, chosen or named))
            if node.orelse is not None:
                stack.append((node.orelse, chosen))
            continue
        stack.extend((c, chosen) for c in children(node))
    return uses > 0
