"""export_source: the optimized derivative as standalone, readable numpy code.

The human in the loop: ``export_source(g, *args)`` returns the source of one
function, with the user's parameter names, that computes exactly the
optimized graph the library runs for these argument structures — common
subexpressions computed once, PyTensor's simplifications and stable rewrites
kept — and imports nothing but numpy (and scipy.special where a special
function has no numpy form, said in a comment).  The code checks the input
shapes and the guards it was derived under, and raises rather than return a
wrong answer for inputs that would take another path.

Example::

    >>> import numpy as np, pyautodiff as ad
    >>> src = ad.export_source(ad.grad(lambda x: np.sum(np.exp(x))), np.zeros(3))
    >>> "import numpy as np" in src and "pyautodiff" not in src.split("\\n", 3)[3]
    True
"""
from __future__ import annotations

import base64
import io
import keyword
import types

import numpy as np

from . import structure
from .errors import AutodiffError, UnsupportedError


class _Raw(str):
    """A name that ``repr`` writes without quotes (to render result structures)."""

    def __repr__(self):
        return str(self)


def export_source(g, *args, name: str | None = None, **kwargs) -> str:  # noqa: C901
    """Standalone numpy source of transformation ``g`` specialized for these arguments.

    ``g`` is any transformation (``ad.function``, ``ad.grad``, ``ad.hvp``, ...);
    ``args`` are what you would call it with (including the direction for
    ``hvp``/``jvp``/``vjp``).

    Example::

        print(ad.export_source(ad.grad(nll, wrt=("W", "b")), W, b, X, y))
    """
    from .api import Transformed
    from .backend.compile import optimized_fgraph
    from .backend.numpy_codegen import NoNumpyForm, fgraph_to_source

    if not isinstance(g, Transformed):
        raise AutodiffError("export_source takes a transformation, e.g. ad.grad(f); got "
                            f"{type(g).__name__}")
    if g.has_aux or g.static:
        raise AutodiffError("export_source does not support transformations with has_aux= or static= yet")
    spec = g.specialization_for(*args, **kwargs)
    tr = spec.trace
    f = g.original
    kind = _kind(g)
    fname = getattr(f, "__name__", "f")
    name = name or kind.function_name(fname)
    if not name.isidentifier() or keyword.iskeyword(name):
        name = "exported"

    params = _signature_params(f, len(args) - (1 if kind.direction else 0), kwargs)
    leaf_names = _unique([_leaf_name(p) for p in tr.paths])
    externals = [e for e in tr.externals if e.kind == "input"]
    ext_names = _unique([_external_name(e) for e in externals], taken=set(leaf_names) | set(params))
    dir_names = []
    if kind.direction and spec.extra_inputs:  # v, or v0, v1... (u for cotangents)
        d, n_dir = kind.direction_param, len(spec.extra_inputs)
        dir_names = _unique([d] if n_dir == 1 else [f"{d}{i}" for i in range(n_dir)],
                            taken=set(leaf_names) | set(ext_names) | set(params))

    fg = optimized_fgraph(tr.all_inputs + spec.extra_inputs, spec.outputs)
    try:
        source, namespace = fgraph_to_source(fg, name="_kernel", input_names=leaf_names + ext_names + dir_names,
                                             fallback="error", fresh_outputs=kind.differentiates,
                                             readable=True)
    except NoNumpyForm as exc:
        raise UnsupportedError(f"export_source: {exc}; this graph cannot be written as plain numpy") from exc

    kernel = namespace["__generated_name__"]
    body, returned = _split_kernel(source, kernel)
    helpers = _helpers(source, kernel)
    if any(h.startswith((f"def {name}(", f"{name} =")) for h in helpers):
        name += "_"  # e.g. the user's `solve` beside the NaN-filling helper `solve`
    body, returned = _rename_outputs(body, list(returned), _output_names(g, spec, tr, leaf_names))
    outs = list(returned)
    guard_name = outs.pop() if spec.has_guards else None

    lines = _header(g, f, tr, leaf_names, ext_names, params)
    imports, consts = _module_level(source, namespace)
    lines += imports + [""] + consts + ([""] if consts else [])
    for helper in helpers:
        lines += helper.splitlines() + [""]
    sig = list(params) + (dir_names and [kind.direction_param] or [])
    if ext_names:
        sig += ["*"] + ext_names
    lines.append(f"def {name}({', '.join(sig)}):")
    doc = f'"""{kind.phrase} of {fname}, derived and optimized by pyautodiff."""'
    lines.append(f"    {doc}")
    lines += ["    " + l for l in _unpack(params, args, kwargs, g, leaf_names, dir_names)]
    # Python floats compute as numpy float64 scalars, as in the library (the code may index them)
    lines += [f"    {n} = np.float64({n})" for n, leaf in zip(leaf_names, tr.leaves) if type(leaf) is float]
    lines += ["    " + l for l in _shape_checks(tr, leaf_names, ext_names, externals, dir_names, spec)]
    lines += body
    if guard_name is not None:
        lines.append(f"    if not {guard_name}:")
        lines.append(f"        raise ValueError({_guard_message(tr)!r})")
    lines.append(f"    return {_render_result(g, spec, tr, outs)}")
    return "\n".join(lines) + "\n"


# -- pieces of the exported file --------------------------------------------------

def _header(g, f, tr, leaf_names, ext_names, params):
    code = getattr(f, "__code__", None)
    where = f" ({code.co_filename}:{code.co_firstlineno})" if code else ""
    wrt = g.wrt if isinstance(g.wrt, tuple) else (g.wrt,)
    wrt = [params[w] if isinstance(w, int) and w < len(params) else w for w in wrt]
    kind = _kind(g)
    what = kind.phrase + (f" with respect to {', '.join(map(str, wrt))}" if kind.differentiates else "")
    lines = [f"# Derived by pyautodiff from {getattr(f, '__qualname__', f)}{where}: {what}.",
             "# Optimized by PyTensor (common subexpressions, simplification, stable rewrites); needs only numpy.",
             "# Specialized for these argument structures (checked on entry):"]
    for n, p, leaf in zip(leaf_names, tr.paths, tr.leaves):
        lines.append(f"#   {p}: {_describe(leaf)}")
    for n in ext_names:
        lines.append(f"#   {n}: read from outside the function; pass it as a keyword argument")
    if tr.guards:
        lines.append("# Path through the code it was derived for (checked, raises ValueError otherwise):")
        for gd in tr.guards[:20]:
            lines.append(f"#   {gd}")
        if len(tr.guards) > 20:
            lines.append(f"#   ... and {len(tr.guards) - 20} more")
    return lines


def _describe(leaf):
    if isinstance(leaf, float):
        return "float"
    a = np.asarray(leaf)
    return f"{a.dtype} array of shape {a.shape}" if a.ndim else f"{a.dtype} scalar"


def _kind(g):
    """The row of ``transforms.KINDS`` for transformation ``g``."""
    from .transforms import KINDS

    return KINDS[g.kind]


def _signature_params(f, n_args, kwargs):
    from .trace import param_names

    names = param_names(f, n_args)
    return [_ident(n) for n in names] + [_ident(k) for k in kwargs]


def _ident(s):
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in str(s))
    if not out or out[0].isdigit() or keyword.iskeyword(out):
        out = "_" + out
    return out


def _leaf_name(path: str) -> str:
    return _ident(path.replace("['", "_").replace("']", "").replace("[", "_").replace("]", ""))


def _external_name(e) -> str:
    what = e.what
    return _ident(what.split("'")[1]) if "'" in what else "external"


def _unique(names, taken=()):
    from .backend.numpy_codegen import unique_names

    return unique_names(names, taken)


def _unpack(params, args, kwargs, g, leaf_names, dir_names):
    """Statements binding each leaf name to its place in the (structured) arguments."""
    kind = _kind(g)
    values = list(args[:-1] if kind.direction else args) + list(kwargs.values())
    lines = []
    k = 0
    for p, v in zip(params, values):
        paths: list = []
        leaves: list = []
        structure.flatten(v, leaves, paths, p)
        for path in paths:
            name = leaf_names[k]
            expr = _access(path, p)
            if name != expr:
                lines.append(f"{name} = {expr}")
            k += 1
    if dir_names:
        d = args[-1]
        paths, leaves = [], []
        structure.flatten(d, leaves, paths, kind.direction_param)
        for name, path, leaf in zip(dir_names, paths, leaves):
            expr = _access(path, kind.direction_param)
            if type(leaf) is float:  # computes as numpy float64, as in the library (u[None])
                lines.append(f"{name} = np.float64({expr})")
            elif name != expr:
                lines.append(f"{name} = {expr}")
    return lines


def _access(path: str, param: str) -> str:
    return param + path[len(param):] if path.startswith(param) else path


def _shape_checks(tr, leaf_names, ext_names, externals, dir_names, spec):
    lines = []
    specs = [(n, leaf) for n, leaf in zip(leaf_names, tr.leaves)]
    specs += [(n, e.box.value) for n, e in zip(ext_names, externals)]
    specs += [(n, None) for n in dir_names]
    shapes = [(n, np.shape(v) if v is not None else tuple(var.type.shape))
              for (n, v), var in zip(specs, tr.all_inputs + spec.extra_inputs)]
    for n, shape in shapes:
        lines.append(f"if np.shape({n}) != {shape!r}:")
        lines.append(f"    raise ValueError(f\"{n} has shape {{np.shape({n})}}; this code was derived for shape {shape}\")")
    return lines


def _guard_message(tr):
    first = tr.guards[0]
    return ("these inputs take another path through the original code than the one this code was "
            f"derived for (e.g. {first}); export again for them")


def _output_names(g, spec, tr, leaf_names):
    """Readable names for the kernel's outputs, in order (None: keep the generated one)."""
    n_out = len(tr.outputs)
    wrt_names = [n for n in leaf_names if any(n == _leaf_name(p) for p in _wrt_paths(g, tr))]
    names: list = []
    for part in _kind(g).parts:
        if part.name is None:  # blocks: generated names
            break
        names += {"outputs": [part.name] if n_out == 1 else [f"{part.name}{i}" for i in range(n_out)],
                  "cost": [part.name],
                  "wrt": [f"{part.name}_{n}" for n in wrt_names]}[part.layout]
    names = names + [None] * (len(spec.outputs) - len(names))
    if spec.has_guards:
        names[-1] = "path_ok"
    return names


def _wrt_paths(g, tr):
    from .trace import param_names

    wrts = g.wrt if isinstance(g.wrt, tuple) else (g.wrt,)
    names = param_names(g.original, len(tr.paths))
    roots = {names[w] if isinstance(w, int) and w < len(names) else w for w in wrts}
    return [p for p in tr.paths if p.split("[")[0] in roots]


def _rename_outputs(body, returned, names):
    """Give returned temporaries (t12) readable names, where that is unambiguous."""
    import re

    text = "\n".join(body)
    out = list(returned)
    taken = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    for i, (old, new) in enumerate(zip(returned, names)):
        if new is None or not re.fullmatch(r"t\d+", old) or returned.count(old) > 1 or new in taken:
            continue
        text = re.sub(rf"\b{old}\b", new, text)
        # other results may read it too, e.g. a copy: `return (t1, np.array(t1))`
        out = [re.sub(rf"\b{old}\b", new, o) for o in out]
        taken.add(new)
    return text.split("\n") if text else [], out


def _split_kernel(source, kernel):
    """Body lines (indented) and returned names of the generated kernel function."""
    import ast

    tree = ast.parse(source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == kernel)
    lines = source.splitlines()
    ret = fn.body[-1]
    assert isinstance(ret, ast.Return)
    body_start = fn.body[0].lineno - 1
    if isinstance(fn.body[0], ast.Expr) and isinstance(getattr(fn.body[0], "value", None), ast.Constant):
        body_start = fn.body[1].lineno - 1 if len(fn.body) > 1 else ret.lineno - 1
    body = lines[body_start:ret.lineno - 1]
    value = ret.value
    elts = value.elts if isinstance(value, ast.Tuple) else [value]
    return body, [ast.unparse(e) for e in elts]


def _helpers(source, kernel):
    """Source of the helpers the kernel calls, defined beside it: functions, and names bound
    at module level (e.g. the sigmoid's ``_sigmoid_exp``)."""
    import ast

    return [ast.get_source_segment(source, n) for n in ast.parse(source).body
            if isinstance(n, ast.Assign) or (isinstance(n, ast.FunctionDef) and n.name != kernel)]


def _module_level(source, namespace):
    """Import lines of the kernel's module, and definitions of its named constants."""
    imports = [l for l in source.splitlines() if l.startswith(("import ", "from ")) or
               (l.startswith("#") and "scipy" in l)]
    consts = []
    for key in sorted(namespace):
        if key in ("np", "__builtins__") or key.startswith("__"):
            continue
        value = namespace[key]
        if isinstance(value, types.ModuleType):
            continue  # imported by the kernel's own import lines
        if isinstance(value, (np.ndarray, np.generic)):
            consts.append(f"{key} = {_array_literal(np.asarray(value))}")
        elif isinstance(value, (int, float, bool, complex, str)):
            consts.append(f"{key} = {value!r}")
        elif getattr(value, "__name__", None) and getattr(value, "__module__", "").startswith(("numpy", "scipy", "math")):
            continue  # a module or function the imports already provide
        else:
            raise UnsupportedError(f"export_source: the generated code needs {key} ({type(value).__name__}), "
                                   "which has no standalone form")
    return imports, consts


def _array_literal(a: np.ndarray) -> str:
    """Readable numpy source for a constant array (exact)."""
    dt = a.dtype.name
    if a.ndim == 1 and a.size > 1 and a.dtype.kind in "iu":
        step = a[1] - a[0]
        if step != 0 and np.array_equal(a, a[0] + step * np.arange(a.size, dtype=a.dtype)):
            return f"np.arange({a[0]}, {a[0] + step * a.size}, {step}, dtype=np.{dt})" if (a[0], step) != (0, 1) \
                else f"np.arange({a.size}, dtype=np.{dt})"
        # a loop index taken modulo a period (`w[i % 16]` in a rolled loop): its steps' indices
        period = int(a.max()) + 1
        if (a.dtype == np.int64 and a.min() >= 0 and period > 1
                and np.array_equal(a, (a[0] + np.arange(a.size, dtype=a.dtype)) % period)):
            return f"np.arange({a[0]}, {a[0] + a.size}, dtype=np.{dt}) % {period}"
    if a.size and np.all(a == a.flat[0]) and not (a.dtype.kind == "f" and np.isnan(a.flat[0])):
        return f"np.full({a.shape!r}, {a.flat[0].item()!r}, dtype=np.{dt})"
    if a.size <= 64:
        return f"np.array({a.tolist()!r}, dtype=np.{dt})"
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    payload = base64.b64encode(buf.getvalue()).decode()
    return (f"np.load(__import__('io').BytesIO(__import__('base64').b64decode({payload!r})))"
            f"  # {a.dtype} {a.shape}, stored exactly")


def _render_result(g, spec, tr, outs):
    """The returned expression: the kernel's outputs in the structure the
    transformation returns (the parts of its ``transforms.KINDS`` row)."""
    it = iter([_Raw(o) for o in outs])
    tuple_wrt = isinstance(g.wrt, tuple)
    n_out = len(tr.outputs)

    def wrt_structure():
        parts = [structure.rebuild(v, it) for v in spec.wrt_values]
        return tuple(parts) if tuple_wrt else parts[0]

    def blocks(rows, bare):
        rest = list(it)
        if len(rest) == 1 and not tuple_wrt and bare:
            return rest[0]
        rows = rows or int(round(len(rest) ** 0.5))
        n_in = len(rest) // rows
        return tuple(tuple(rest[i * n_in + j] for j in range(n_in)) for i in range(rows))

    render = {"outputs": lambda: _fill_template(tr.template, it),
              "cost": lambda: _fill_template(tr.template, it),
              "wrt": wrt_structure,
              "wrt x wrt": lambda: blocks(None, True),
              "outputs x wrt": lambda: blocks(n_out, n_out == 1)}
    values = [render[part.layout]() for part in _kind(g).parts]
    return repr(values[0] if len(values) == 1 else tuple(values))


def _fill_template(template, it):
    def const(v):
        return _Raw(_array_literal(np.asarray(v))) if isinstance(v, np.ndarray) else v

    return _plain(template.build(it, const))


def _plain(x):
    """Named tuples, dataclasses and other registered nodes exported as plain tuples/dicts."""
    t = type(x)
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if t in (tuple, list):
        return t(_plain(v) for v in x)
    if isinstance(x, tuple):  # a named tuple
        return tuple(_plain(v) for v in x)
    if t is _Raw or isinstance(x, (np.ndarray, np.generic, float, int, str, bool, type(None))):
        return x
    leaves = structure.leaves_of(x)
    return tuple(_plain(v) for v in leaves) if leaves != [x] else x
