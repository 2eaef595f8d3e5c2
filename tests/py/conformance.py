"""The conformance checker of SPEC 7: is a JSON value exactly one of Lightly's
models (tests/py/lightly_models.py), and is every reply on a Lightly route what
lightly v1.5.20's generated client accepts?

check(model, value) -> list of problems, each "<json path>: <what>", for
- an unknown key (the client's from_dict raises on it),
- a missing required key, or null where the field is not nullable,
- a wrong type (bool is never an int; "number" takes an int or a float,
  "float" only a float),
- an enum value outside Lightly's enum,
- a string not matching the field's pattern, or outside its length, a number
  outside its bounds, a list outside its size,
- a oneOf (DatasourceConfig, DockerWorkerConfigVXData, ...) without a known
  discriminator value;
recursing into nested models, lists and dicts. A type may be any type string of
the table ("list[TagData]", "str", a model, an enum or a oneOf name).

check_reply(method, path, status, body, content_type) -> problems of one reply:
the status must be one the client maps (a create answers 201), the body the
route's reply model (a text route: text, not a JSON object or list), an error
an ApiErrorResponse. Paths that are not Lightly's (winnow's /v1/winnow/...,
winnow's other routes) answer None: not checked.

Checked(server) wraps tests/py/webtest.py's Server: every request goes through
server.request and every reply on a Lightly route is checked and recorded.
"""
import json
import re

import lightly_models as lm

def _tname(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, list):
        return "list"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__


def _short(v):
    s = json.dumps(v) if not isinstance(v, str) else repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _bounds(path, v, spec, out):
    """Constraints of a constr/conint/confloat/conlist field."""
    if isinstance(v, str):
        if "min_length" in spec and len(v) < spec["min_length"]:
            out.append("%s: %s is shorter than %d" % (path, _short(v), spec["min_length"]))
        if "max_length" in spec and len(v) > spec["max_length"]:
            out.append("%s: %s is longer than %d" % (path, _short(v), spec["max_length"]))
        if "pattern" in spec and not re.match(spec["pattern"], v):
            out.append("%s: %s does not match %s" % (path, _short(v), spec["pattern"]))
        if "enum_values" in spec and v not in spec["enum_values"]:
            out.append("%s: %s is not one of %s" % (path, _short(v), "/".join(spec["enum_values"])))
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        for k, ok, word in (("ge", lambda a, b: a >= b, "<"), ("gt", lambda a, b: a > b, "<="),
                            ("le", lambda a, b: a <= b, ">"), ("lt", lambda a, b: a < b, ">=")):
            if k in spec and not ok(v, spec[k]):
                out.append("%s: %s is %s %s" % (path, v, word, spec[k]))
    elif isinstance(v, list):
        if "min_items" in spec and len(v) < spec["min_items"]:
            out.append("%s: %d items, fewer than %d" % (path, len(v), spec["min_items"]))
        if "max_items" in spec and len(v) > spec["max_items"]:
            out.append("%s: %d items, more than %d" % (path, len(v), spec["max_items"]))
        if spec.get("unique_items"):
            seen = [json.dumps(x, sort_keys=True) for x in v]
            if len(set(seen)) != len(seen):
                out.append("%s: items not unique" % path)
        item = {k[len("items_"):]: x for k, x in spec.items() if k.startswith("items_")}
        if item:
            for i, x in enumerate(v):
                _bounds("%s[%d]" % (path, i), x, item, out)


def check_type(t, v, path="$", out=None):
    """Problems of value v against type string t (see module doc)."""
    if out is None:
        out = []
    m = re.match(r"^(list|dict)\[(.*)\]$", t)
    if m:
        want = list if m.group(1) == "list" else dict
        if not isinstance(v, want):
            out.append("%s: %s where %s is wanted" % (path, _tname(v), t))
            return out
        items = enumerate(v) if want is list else v.items()
        for k, x in items:
            sub = "%s[%d]" % (path, k) if want is list else "%s.%s" % (path, k)
            if x is None:
                out.append("%s: null in %s" % (sub, t))
            else:
                check_type(m.group(2), x, sub, out)
        return out
    if t == "str" or t == "text":
        if not isinstance(v, str):
            out.append("%s: %s where str is wanted" % (path, _tname(v)))
    elif t == "int":
        if not isinstance(v, int) or isinstance(v, bool):
            out.append("%s: %s %s where int is wanted" % (path, _tname(v), _short(v)))
    elif t == "number":
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            out.append("%s: %s %s where a number is wanted" % (path, _tname(v), _short(v)))
    elif t == "float":     # StrictFloat: a JSON integer is refused
        if not isinstance(v, float):
            out.append("%s: %s %s where a float is wanted" % (path, _tname(v), _short(v)))
    elif t == "bool":
        if not isinstance(v, bool):
            out.append("%s: %s %s where bool is wanted" % (path, _tname(v), _short(v)))
    elif t == "dict":
        if not isinstance(v, dict):
            out.append("%s: %s where an object is wanted" % (path, _tname(v)))
    elif t == "any":
        pass
    elif t in lm.ENUMS:
        vals = lm.ENUMS[t]
        if isinstance(v, bool) or v not in vals or type(v) is not type(vals[0]):
            shown = "/".join(map(str, vals)) if len(vals) <= 12 else "%d values" % len(vals)
            out.append("%s: %s is not in %s (%s)" % (path, _short(v), t, shown))
    elif t in lm.ONE_OF:
        _check_one_of(t, v, path, out)
    elif t in lm.MODELS:
        _check_model(t, v, path, out)
    else:
        raise KeyError("no such type in lightly_models: %r" % t)
    return out


def _check_one_of(t, v, path, out):
    o = lm.ONE_OF[t]
    if not isinstance(v, dict):
        out.append("%s: %s where %s (an object) is wanted" % (path, _tname(v), t))
        return
    d = o["discriminator"]
    if d is None:      # no discriminator: exactly one schema must fit
        fits = [s for s in o["one_of"] if not check_type(s, v, path)]
        if len(fits) != 1:
            out.append("%s: fits %d of %s's schemas %s" % (path, len(fits), t, "/".join(o["one_of"])))
        return
    key = v.get(d)
    target = o["mapping"].get(key) if isinstance(key, str) else None
    if target is None and key in o["one_of"]:
        target = key
    if target is None:
        out.append("%s.%s: %s is not one of %s's %s values (%s)" % (
            path, d, _short(key) if d in v else "missing", t, d, "/".join(sorted(o["mapping"]))))
        return
    _check_model(target, v, path, out)


def _check_model(name, v, path, out):
    fields = lm.MODELS[name]
    if not isinstance(v, dict):
        out.append("%s: %s where %s (an object) is wanted" % (path, _tname(v), name))
        return
    for k in v:
        if k not in fields:
            out.append("%s: unknown key %r (not in %s)" % (path, k, name))
    for k, spec in fields.items():
        sub = "%s.%s" % (path, k)
        if k not in v:
            if spec["required"]:
                out.append("%s: missing required key of %s" % (sub, name))
            continue
        x = v[k]
        if x is None:
            if not spec["nullable"]:
                out.append("%s: null where %s is wanted" % (sub, spec["type"]))
            continue
        before = len(out)
        check_type(spec["type"], x, sub, out)
        if len(out) == before:
            _bounds(sub, x, spec, out)


def check(model_name, value):
    """Problems of a JSON value (already parsed) against one of Lightly's models,
    enums or oneOfs (or any type string of the table); [] when it conforms."""
    return check_type(model_name, value, "$", [])


# ---- routes ---------------------------------------------------------------

def _literal_count(template):
    return sum(1 for s in template.split("/") if not s.startswith("{"))


def match_route(method, path):
    """The ROUTES entry for a request (query string ignored), or None when the
    path is not a Lightly route. A literal segment beats a parameter
    (`tags/initial` over `tags/{tagId}`)."""
    segs = path.split("?", 1)[0].split("/")
    best = None
    for r in lm.ROUTES:
        if r[0] != method:
            continue
        pats = r[1].split("/")
        if len(pats) != len(segs):
            continue
        if all((p.startswith("{") and s != "") or p == s for p, s in zip(pats, segs)):
            if best is None or _literal_count(r[1]) > _literal_count(best[1]):
                best = r
    return best


def check_reply(method, path, status, body, content_type=None):
    """Problems of one reply on a Lightly route; None when the route is not
    Lightly's (nothing to check)."""
    if path.split("?", 1)[0].startswith("/v1/winnow/"):
        return None
    r = match_route(method, path)
    if r is None:
        return None
    _, template, _req, reply, ok, _query, _op = r
    out = []
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            return ["body is not UTF-8"]
    if 200 <= status < 300:
        if ok is not None and status not in ok:
            out.append("status %d: the client maps only %s for %s %s (it then returns None)" % (
                status, "/".join(map(str, ok)), method, template))
        if reply is None:
            return out
        if reply == "text":
            try:
                v = json.loads(body)
            except ValueError:
                return out                           # plain text: fine
            if not isinstance(v, (str, int, float)) or isinstance(v, bool):
                out.append("$: JSON %s where text is wanted" % _tname(v))
            return out
        try:
            v = json.loads(body)
        except ValueError:
            out.append("$: not JSON where %s is wanted: %s" % (reply, _short(body)))
            return out
        return out + check_type(reply, v, "$", [])
    if status >= 400:
        try:
            v = json.loads(body)
        except ValueError:
            out.append("status %d: not JSON where ApiErrorResponse is wanted: %s" % (status, _short(body)))
            return out
        return out + ["status %d: %s" % (status, p) for p in check_type("ApiErrorResponse", v, "$", [])]
    return out


def check_request(method, path, body):
    """Problems of a request body against the route's request model (for the
    tests' own requests: they must be what Lightly's client sends)."""
    r = match_route(method, path)
    if r is None or r[2] is None:
        return []
    return check_type(r[2], body, "$", [])


class Checked:
    """Wraps a webtest.Server: request() passes through, and every reply on a
    Lightly route is checked and recorded in self.log as
    (method, template, status, problems)."""

    def __init__(self, server):
        self.srv = server
        self.log = []

    def request(self, method, path, body=None, token=None, raw=None, headers=None, **kw):
        r = self.srv.request(method, path, body=body, token=token, raw=raw, headers=headers, **kw)
        probs = check_reply(method, path, r.status, r.body, r.header("Content-Type"))
        if probs is not None:
            route = match_route(method, path)
            self.log.append((method, route[1], r.status, probs))
        return r

    def problems(self):
        """Every problem seen, as "METHOD template: problem", each once, in order
        (list indices shown as [*], so a problem of every item is one line)."""
        seen = []
        for m, t, _s, probs in self.log:
            for p in probs:
                line = "%s %s: %s" % (m, t, re.sub(r"\[\d+\]", "[*]", p))
                if line not in seen:
                    seen.append(line)
        return seen
