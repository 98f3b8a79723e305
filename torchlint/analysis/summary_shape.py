"""The shape `summarise` writes, checked on what the cache hands back (an entry may be
damaged: anything else is a miss, never a traceback deep in a query)."""

from __future__ import annotations

from typing import Any

from torchlint.analysis.summary import VERSION

_FUNCTION_FIELDS = {
    "line": int, "end": int, "async": bool, "decorators": list, "no_grad": bool, "cached": bool, "wrapper": bool,
    "route": bool, "calls": list, "returns": list, "probes": list, "selects_device": bool, "places_model": bool,
    "clears_cache": bool, "grad_off": bool, "freezes": bool, "shuts_down": list, "training": list, "distributed": str,
    "optimizer": str, "self_calls": list, "self_calls_grad": list,
}
_STR_LISTS = frozenset({"decorators", "returns", "probes", "shuts_down", "training", "self_calls", "self_calls_grad"})
_SUMMARY_KEYS = {"version", "imports", "functions", "classes", "objects", "main", "evidence"}


def well_formed(summary: Any) -> bool:
    """Is `summary` shaped as `summarise` writes it (a cached entry may be damaged)?"""
    try:
        if not isinstance(summary, dict) or set(summary) != _SUMMARY_KEYS or summary["version"] != VERSION:
            return False
        ok = all(isinstance(i, list) and len(i) == 3 and _strs(i[:2]) and i[2] in (None, "try", "guard")
                 for i in summary["imports"])
        fields, strs = _FUNCTION_FIELDS, _STR_LISTS
        for qual, fn in summary["functions"].items():
            if not (ok and type(qual) is str and type(fn) is dict and "line" in fn and "end" in fn):
                return False
            for k, v in fn.items():  # one pass over the fields a summary kept (the empty ones are dropped)
                if type(v) is not fields.get(k):
                    return False
                if k in strs:
                    if not all(type(x) is str for x in v):
                        return False
                elif k == "calls" and not all(type(c) is dict and type(c.get("callee")) is str
                                              and type(c.get("no_grad")) is bool for c in v):
                    return False
        ok = ok and all(isinstance(c, dict) and type(c.get("line")) is int and type(c.get("end")) is int
                        and _strs(c.get("bases")) and _strs(c.get("methods")) for c in summary["classes"].values())
        ok = ok and all(isinstance(k, str) and isinstance(v, str) for k, v in summary["objects"].items())
        main = summary["main"]
        ok = ok and (main is None or (isinstance(main, list) and len(main) == 2 and all(type(x) is int for x in main)))
        return ok and all(type(v) in (bool, int) for v in summary["evidence"].values())
    except (AttributeError, TypeError, KeyError):
        return False


def _strs(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)


def called_by_own_class_without_grad(summary: Any, qual: str) -> bool:
    """Is the method `qual` (`Class.method`) called by its class's other methods, every time with
    autograd off (`with torch.no_grad(): ... self.decode()`)? Calls from elsewhere are unseen."""
    owner, _, method = qual.rpartition(".")
    mine = [f for q, f in (summary or {}).get("functions", {}).items() if owner and q.rpartition(".")[0] == owner]
    return any(method in f.get("self_calls", ()) for f in mine) \
        and not any(method in f.get("self_calls_grad", ()) for f in mine)
