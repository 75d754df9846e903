"""Names to classes: one ``resolve()`` over plain dicts, and KEY=VALUE options
parsed against constructor signatures (the only place defaults live)."""
import collections.abc
import inspect
import re
import typing
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple

from gnnrec.errors import GnnrecError


def lookup(registry: Mapping[str, type], name: str, what: str = "component") -> str:
    r"""The registry key of ``name`` (case-insensitive); :class:`GnnrecError`
    naming the choices when there is none."""
    key = name.lower() if isinstance(name, str) else name
    if key not in registry:
        raise GnnrecError(f"unknown {what} {name!r}; choose from {', '.join(registry)}",
                          param=what, detail=f"{name!r} is unknown; choose from "
                                             f"{', '.join(registry)}")
    return key


def resolve(registry: Mapping[str, type], name: str, *args, what: str = "component",
            **kwargs) -> Any:
    r"""Builds ``registry[name](*args, **kwargs)``.

    Unknown names and constructor ``ValueError`` s become
    :class:`GnnrecError` naming the component (``param = what``), so the
    command line reports them in one line. The instance remembers
    ``spec = (name, kwargs)``.
    """
    key = lookup(registry, name, what)
    try:
        obj = registry[key](*args, **kwargs)
    except (ValueError, TypeError) as e:
        first = str(e).split(" ", 1)[0]  # constructors name the option first
        raise GnnrecError(f"{what} {key}: {e}", param=f"{what} options", detail=str(e),
                          path=f"{what}.{first}" if first in kwargs else None) from None
    try:
        obj.spec = (key, dict(kwargs))
    except AttributeError:  # pragma: no cover - objects with __slots__
        pass
    return obj


def _params(cls: type, skip: Iterable[str]) -> List[inspect.Parameter]:
    sig = inspect.signature(cls.__init__)
    return [p for n, p in sig.parameters.items()
            if n != "self" and n not in skip
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def _hints(cls: type) -> Dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:  # unresolvable forward references
        return {}


def _convert(value: str, hint: Any, default: Any, key: str, param: str = "option") -> Any:
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if origin is typing.Union and len(args) == 1:
        if value.lower() in ("none", "null", ""):
            return None
        return _convert(value, args[0], default, key, param)
    if origin in (list, tuple, Sequence, typing.Sequence, collections.abc.Sequence) or (
            hint is None and isinstance(default, (list, tuple))):
        inner = args[0] if args else (type(default[0]) if default else float)
        return [_convert(v.strip(), inner, None, key, param)
                for v in value.split(",") if v.strip()]
    target = hint if hint in (int, float, bool, str) else (
        type(default) if default is not None and default is not inspect.Parameter.empty else str)
    try:
        if target is bool:
            low = value.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if target is int:
            return int(value)
        if target is float:
            out = float(value)
            if out != out or out in (float("inf"), float("-inf")):
                raise ValueError
            return out
    except ValueError:
        kind = "a finite float" if target is float else target.__name__
        raise _fail(param, f"{key}={value!r}: expected {kind}") from None
    return value


def _fail(param: str, detail: str) -> GnnrecError:
    return GnnrecError(f"{param} {detail}", param=param, detail=detail)


def option_names(cls: type, skip: Iterable[str] = ()) -> List[str]:
    """The keyword options ``cls.__init__`` accepts."""
    return [p.name for p in _params(cls, skip)]


def parse_options(cls: type, pairs: Sequence[str], skip: Iterable[str] = (),
                  param: str = "option") -> Dict[str, Any]:
    r"""Parses ``["key=value", ...]`` against ``cls.__init__``: unknown keys
    are an error listing the accepted ones; values take the parameter's type
    (from its annotation, else its default); comma-separated lists for
    sequence parameters; ``none`` for optional ones. Errors carry ``param``
    (e.g. ``"sampler"``) so the command line can name its flag."""
    params = {p.name: p for p in _params(cls, skip)}
    hints = _hints(cls)
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise _fail(param, f"{pair!r}: expected KEY=VALUE")
        key, value = pair.split("=", 1)
        key = key.strip().replace("-", "_")
        if key not in params:
            accepted = ", ".join(params) or "none"
            raise _fail(param, f"{key!r}: unknown option of {cls.__name__} "
                               f"(accepted: {accepted})")
        out[key] = _convert(value.strip(), hints.get(key), params[key].default, key, param)
    return out


def check_options(cls: type, options: Mapping[str, Any], skip: Iterable[str] = (),
                  param: str = "option") -> None:
    r"""Raises :class:`GnnrecError` for keys ``cls.__init__`` does not take
    (options read from a file rather than parsed from text)."""
    accepted = option_names(cls, skip)
    for key in options:
        if key not in accepted:
            raise _fail(param, f"{key!r}: unknown option of {cls.__name__} "
                               f"(accepted: {', '.join(accepted) or 'none'})")


def parse_named_options(pairs: Sequence[str], registries: Mapping[str, Mapping[str, type]],
                        skip: Mapping[str, Iterable[str]] = None,
                        param: str = "opt") -> Dict[str, Dict[str, Any]]:
    r"""Parses ``["NAME.KEY=VALUE", ...]`` where ``NAME`` is a component of
    one of ``registries`` (``{"model": MODELS, "sampler": SAMPLERS, ...}``)
    into ``{NAME: {KEY: value}}``, each value typed by that component's
    constructor. The one parser of this syntax (``gnnrec bench --opt``,
    ``gnnrec tune --space`` names, ``benchmarks/curves.py``)."""
    skip = skip or {}
    names = {n: (kind, reg[n]) for kind, reg in registries.items() for n in reg}
    out: Dict[str, Dict[str, Any]] = {}
    for pair in pairs:
        name, _, rest = pair.partition(".")
        name = name.strip().lower()
        if name not in names or "=" not in rest:
            raise _fail(param, f"{pair!r}: expected NAME.KEY=VALUE with NAME one of "
                               f"{', '.join(names)}")
        kind, cls = names[name]
        out.setdefault(name, {}).update(
            parse_options(cls, [rest], skip.get(kind, ()), param))
    return out


def _arg_docs(cls: type) -> Dict[str, str]:
    """First sentence of each ``name (type): text`` entry of the Args block."""
    doc = inspect.getdoc(cls) or ""
    m = re.search(r"Args:\n(.*?)(\n\S|\Z)", doc, re.S)
    out = {}
    if not m:
        return out
    current = None
    for line in m.group(1).splitlines():
        entry = re.match(r"\s{4}(\w+(?:, \w+)*) \(([^)]*)\):\s*(.*)", line)
        if entry:
            names = [n.strip() for n in entry.group(1).split(",")]
            current = names
            for n in names:
                out[n] = entry.group(3).strip()
        elif current and line.strip():
            for n in current:
                out[n] += " " + line.strip()
    return {k: re.sub(r"\s*\(default: .*?\)\s*$", "", v) for k, v in out.items()}


def describe_options(cls: type, skip: Iterable[str] = ()) -> List[Tuple[str, str, str]]:
    r"""``(name, default, help)`` for each option of ``cls``, the help taken
    from the class docstring's Args block."""
    docs = _arg_docs(cls)
    out = []
    for p in _params(cls, skip):
        default = "required" if p.default is inspect.Parameter.empty else repr(p.default)
        out.append((p.name, default, plain(docs.get(p.name, ""))))
    return out


def plain(text: str) -> str:
    """Docstring reST to terminal text: roles to their content, no backquotes."""
    text = re.sub(r"`([^`<]*?)\s*<[^>]*>`_", r"\1", text)
    text = re.sub(r":\w+:`~?([^`]*)`", r"\1", text)
    return text.replace("``", "")


def first_line(cls: type) -> str:
    r"""A component's one-line help: its ``summary`` attribute, else the
    first paragraph of its docstring."""
    summary = getattr(cls, "summary", None)
    if summary:
        return summary
    doc = inspect.getdoc(cls) or cls.__name__
    return plain(doc.split("\n\n")[0].replace("\n", " "))


def defaults(cls: type, skip: Iterable[str] = ()) -> Dict[str, Any]:
    r"""``{option: default}`` of ``cls.__init__`` (options without a default
    are left out): how a spec is completed so a saved one states every
    value."""
    return {p.name: p.default for p in _params(cls, skip)
            if p.default is not inspect.Parameter.empty}


def default_of(fn, name: str) -> Any:
    """The default of one parameter of a class's constructor or a function."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    return inspect.signature(target).parameters[name].default
