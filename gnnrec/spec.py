"""The run spec: everything that defines a training run, as one typed value.

A :class:`RunSpec` names the model, sampler and loss with their options,
the trainer's, the objective's and the evaluation's options, and the data
(:class:`~gnnrec.data.DataSpec`). :meth:`RunSpec.validate` checks it before
any data is read and completes it with every default (so ``config.json``
states every value a run used); :meth:`RunSpec.build` makes each object once;
:meth:`RunSpec.grid` expands model x sampler x loss for ``gnnrec bench``, the
benchmarks and the tuner. Defaults live in the constructors' signatures; the
spec only reads them.
"""
import copy
import json
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, Iterable, List, Mapping, Optional

import torch

from gnnrec.data.loading import DataSpec
from gnnrec.errors import GnnrecError, option_error
from gnnrec.losses import LOSSES
from gnnrec.metrics.protocol import EvalProtocol
from gnnrec.metrics.ranking import parse_metric
from gnnrec.model import RecModel
from gnnrec.nn import MODELS
from gnnrec.protocols import get as get_protocol
from gnnrec.registry import check_options, defaults, lookup, parse_options, resolve
from gnnrec.sampling import SAMPLERS
from gnnrec.train.callbacks import EarlyStopping, Evaluate
from gnnrec.train.objective import Objective, compatibility_error
from gnnrec.train.trainer import Trainer, seed_everything

FORMAT = "gnnrec-run-spec"
#: the spec file format this gnnrec writes (and the newest it reads)
VERSION = 1
#: role -> registry of the named components
REGISTRIES = {"model": MODELS, "sampler": SAMPLERS, "loss": LOSSES}
#: constructor arguments that are not options (supplied by the data)
SKIP = {"model": ("num_users", "num_items"), "sampler": (), "loss": ()}
#: the non-component sections and the constructors whose options they hold
SECTIONS = {"trainer": (Trainer, ("objective", "graph", "callbacks")),
            "objective": (Objective, ("model", "sampler", "loss"))}
#: evaluation option -> (constructor, its parameter)
EVALUATION = {"ks": (EvalProtocol, "ks"), "metric": (EvalProtocol, "metric"),
              "sampled": (EvalProtocol, "sampled"),
              "patience": (EarlyStopping, "patience"),
              "min_delta": (EarlyStopping, "min_delta"), "eval_every": (Evaluate, "every")}
#: sampler used when a loss needs explicit negatives and none is named
DEFAULT_SAMPLER = "rns"


@dataclass
class Component:
    r"""A registered model, sampler or loss: its name and options.

    ``pairs`` are options still as ``KEY=VALUE`` text (from a command line),
    typed against the component's constructor by :meth:`RunSpec.validate`;
    an empty ``name`` with pairs is the default sampler's options.
    """
    name: str
    options: Dict[str, Any] = field(default_factory=dict)
    pairs: List[str] = field(default_factory=list)

    def to_dict(self) -> Dict:
        return {"name": self.name, "options": _plain(self.options)}


def _plain(value):
    """JSON-safe copies (tuples to lists)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass
class RunSpec:
    r"""A training run, as data.

    Args:
        model (Component): the encoder (default LightGCN).
        sampler (Component, optional): the negative sampler; ``None`` picks
            ``rns`` for losses with explicit negatives and nothing for
            in-batch losses.
        loss (Component): the loss (default BPR).
        trainer (dict): :class:`~gnnrec.train.Trainer` options (``epochs``,
            ``batch_size``, ``lr``, ``batching``, ``seed``).
        objective (dict): :class:`~gnnrec.train.Objective` options
            (``reg_weight``).
        evaluation (dict): ``ks``, ``metric`` and ``sampled`` (the
            :class:`~gnnrec.metrics.EvalProtocol`), ``patience`` and
            ``min_delta`` (early stopping) and ``eval_every``.
        data (DataSpec): what to read and how to split it.
        protocol (str, optional): the paper protocol the spec was preset
            from (:mod:`gnnrec.protocols`), recorded for the reader.
        dim (int, optional), layers (int, optional): shorthands folded into
            the model's options by :meth:`validate` (``embedding_dim``;
            LightGCN ``num_layers``, NGCF ``layer_sizes = [dim] * layers``).
    """
    model: Component = field(default_factory=lambda: Component("lightgcn"))
    sampler: Optional[Component] = None
    loss: Component = field(default_factory=lambda: Component("bpr"))
    trainer: Dict[str, Any] = field(default_factory=dict)
    objective: Dict[str, Any] = field(default_factory=dict)
    evaluation: Dict[str, Any] = field(default_factory=dict)
    data: DataSpec = field(default_factory=DataSpec)
    dim: Optional[int] = None
    layers: Optional[int] = None
    protocol: Optional[str] = None

    def __post_init__(self):
        self._parts: Dict[str, Any] = {}
        self._valid = False

    # ------------------------------------------------------------------ validation

    def component(self, role: str) -> Optional[Component]:
        return getattr(self, role)

    def validate(self) -> "RunSpec":
        r"""Checks every name, option and value and the sampler-loss pairing,
        without reading data, and completes the spec in place with the
        defaults of every constructor. Errors are :class:`GnnrecError` naming
        the parameter. Returns ``self``."""
        self._fold_shorthands()
        loss = self._check_component("loss")
        why = None
        if self.sampler is not None and not self.sampler.name:  # options for the default one
            if loss.negatives == "in_batch":
                raise option_error("sampler options", f"given, but loss {self.loss.name} uses "
                                                      "in-batch negatives and takes no sampler")
            self.sampler = Component(DEFAULT_SAMPLER, self.sampler.options, self.sampler.pairs)
        if self.sampler is None and loss.negatives == "sampler":
            self.sampler = Component(DEFAULT_SAMPLER)
        if self.sampler is not None:
            why = compatibility_error(loss, self.sampler.name)
        elif loss.negatives == "sampler":  # pragma: no cover - set above
            why = compatibility_error(loss, None)
        if why:
            raise GnnrecError(why)
        sampler = self._check_component("sampler") if self.sampler is not None else None
        provides_layers = self._check_model()
        if sampler is not None and sampler.needs_layers and not provides_layers:
            raise GnnrecError(f"sampler {self.sampler.name} mixes per-layer embeddings, and "
                              f"model {self.model.name} with these options does not provide "
                              "them")
        self._parts = {"loss": loss, "sampler": sampler}
        for section, (cls, skip) in SECTIONS.items():
            opts = getattr(self, section)
            check_options(cls, opts, skip, param=f"{section} options")
            setattr(self, section, {**defaults(cls, skip), **opts})
        Trainer.check_options(**self.trainer)
        if not (isinstance(self.objective["reg_weight"], (int, float))
                and 0 <= self.objective["reg_weight"] < float("inf")):
            raise option_error("reg_weight", "must be >= 0 and finite, got "
                                             f"{self.objective['reg_weight']}")
        self._check_evaluation()
        if self.protocol is not None:
            get_protocol(self.protocol)
        self._valid = True
        return self

    def _fold_shorthands(self) -> None:
        opts = self._parse_pairs("model").options
        name = self.model.name
        if self.dim is not None:
            opts["embedding_dim"] = self.dim
        if self.layers is not None:
            if name == "ngcf":
                opts["layer_sizes"] = [opts.get("embedding_dim", 64)] * self.layers
            elif name == "lightgcn":
                opts["num_layers"] = self.layers
            else:
                raise option_error("layers", f"does not apply: model {name} has no "
                                             "propagation layers")
        self.dim = self.layers = None

    def _parse_pairs(self, role: str) -> Component:
        comp = self.component(role)
        registry = REGISTRIES[role]
        name = lookup(registry, comp.name, role)
        options = dict(comp.options)
        if comp.pairs:
            options.update(parse_options(registry[name], comp.pairs, SKIP[role],
                                         param=f"{role} options"))
        comp = Component(name, options)
        setattr(self, role, comp)
        return comp

    def _check_component(self, role: str):
        comp = self._parse_pairs(role)
        registry = REGISTRIES[role]
        name = comp.name
        check_options(registry[name], comp.options, SKIP[role], param=f"{role} options")
        obj = resolve(registry, name, what=role, **comp.options)
        setattr(self, role, Component(name, {**defaults(registry[name], SKIP[role]),
                                             **comp.options}))
        return obj

    def _check_model(self) -> bool:
        r"""Checks the encoder's options on a one-user, one-item instance
        (its constructor holds the checks; the global RNG is left as it
        was). Returns whether it provides per-layer embeddings."""
        name = self.model.name
        check_options(MODELS[name], self.model.options, SKIP["model"], param="model options")
        with torch.random.fork_rng(devices=[]):
            probe = resolve(MODELS, name, 1, 1, what="model", **self.model.options)
        self.model = Component(name, {**defaults(MODELS[name], SKIP["model"]),
                                      **self.model.options})
        return bool(probe.provides_layers)

    def _check_evaluation(self) -> None:
        ev = self.evaluation
        for key in ev:
            if key not in EVALUATION:
                raise option_error("evaluation", f"{key!r}: unknown option (accepted: "
                                                 f"{', '.join(EVALUATION)})")
        ev = {**{k: _default(c, p) for k, (c, p) in EVALUATION.items()}, **ev}
        ks = ev["ks"]
        if isinstance(ks, int):
            ks = [ks]
        if not ks or not all(isinstance(k, int) and not isinstance(k, bool) and k >= 1
                             for k in ks):
            raise option_error("ks", f"cut-offs must be >= 1 (integers), got {ks}")
        ev["ks"] = sorted(set(ks))
        if ev["metric"] is not None:
            metric = parse_metric(ev["metric"])
            ev["metric"] = repr(metric)
            if metric.k not in ev["ks"]:  # selection needs its metric computed
                ev["ks"] = sorted(ev["ks"] + [metric.k])
        else:
            ev["metric"] = f"recall@{ev['ks'][0]}"
        for key, low in (("patience", 0), ("eval_every", 1), ("sampled", 0)):
            v = ev[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise option_error(key, f"must be an integer >= {low}, got {v!r}")
        md = ev["min_delta"]
        if isinstance(md, bool) or not isinstance(md, (int, float)) or not md >= 0:
            raise option_error("min_delta", f"must be a number >= 0, got {md!r}")
        ev["min_delta"] = float(md)
        self.evaluation = ev

    def _require_valid(self) -> None:
        if not self._valid:
            self.validate()

    @property
    def seed(self) -> int:
        self._require_valid()
        return self.trainer["seed"]

    # ------------------------------------------------------------------ building

    def build(self, num_users: int, num_items: int, device="cpu", users=None,
              items=None) -> Objective:
        r"""The objective (model, sampler, loss, L2) for data of this size,
        on ``device``, initialised from the spec's seed. Each object is made
        once (the sampler and loss checked by :meth:`validate` are the ones
        used)."""
        self._require_valid()
        seed_everything(self.trainer["seed"])
        encoder = resolve(MODELS, self.model.name, num_users, num_items, what="model",
                          **self.model.options)
        loss = self._parts.pop("loss", None) or resolve(LOSSES, self.loss.name, what="loss",
                                                        **self.loss.options)
        sampler = self._parts.pop("sampler", None)
        if sampler is None and self.sampler is not None:
            sampler = resolve(SAMPLERS, self.sampler.name, what="sampler", **self.sampler.options)
        model = RecModel(encoder, loss.scorer_name, users=users, items=items)
        return Objective(model, sampler, loss, **self.objective).to(device)

    def trainer_for(self, objective: Objective, graph, callbacks=()) -> Trainer:
        """A :class:`Trainer` with the spec's options."""
        self._require_valid()
        return Trainer(objective, graph, callbacks=callbacks, **self.trainer)

    def eval_protocol(self, sets) -> EvalProtocol:
        """The evaluation protocol of the spec on split sets."""
        self._require_valid()
        ev = self.evaluation
        return EvalProtocol(sets, ks=ev["ks"], metric=ev["metric"], sampled=ev["sampled"])

    # ------------------------------------------------------------------ changing

    def override(self, model: Optional[str] = None, sampler: Optional[str] = None,
                 loss: Optional[str] = None, model_options: Iterable[str] = (),
                 sampler_options: Iterable[str] = (), loss_options: Iterable[str] = (),
                 dim: Optional[int] = None, layers: Optional[int] = None,
                 trainer: Optional[Mapping] = None, objective: Optional[Mapping] = None,
                 evaluation: Optional[Mapping] = None,
                 data: Optional[Mapping] = None) -> "RunSpec":
        r"""A copy with what a command line gave on top: a component named
        anew drops the old one's options; ``*_options`` are ``KEY=VALUE``
        texts added to (or replacing) the component's; the dict sections
        and ``data`` fields are updated key by key. ``None`` / empty leaves an
        entry as it is."""
        out = self.copy()
        for role, name, pairs in (("model", model, model_options),
                                  ("sampler", sampler, sampler_options),
                                  ("loss", loss, loss_options)):
            comp = out.component(role)
            if name is not None and (comp is None or name.lower() != comp.name):
                comp = Component(name)
            if pairs:
                comp = comp or Component("")
                comp = Component(comp.name, comp.options, comp.pairs + list(pairs))
            setattr(out, role, comp)
        if dim is not None:
            out.dim = dim
        if layers is not None:
            out.layers = layers
        for section, given in (("trainer", trainer), ("objective", objective),
                               ("evaluation", evaluation)):
            getattr(out, section).update({k: v for k, v in (given or {}).items()
                                          if v is not None})
        if data:
            changes = {k: v for k, v in data.items() if v is not None}
            if changes:
                out.data = DataSpec(**{**asdict(out.data), **changes})
        return out

    def set_option(self, path: str, value: Any) -> None:
        r"""Sets ``NAME.KEY`` to ``value``: ``NAME`` is the spec's model,
        sampler or loss name, or a section (``trainer``, ``objective``,
        ``evaluation``). The spec must be validated again."""
        name, _, key = path.partition(".")
        if not key:
            raise option_error("option", f"{path!r}: expected NAME.KEY")
        if name in ("trainer", "objective", "evaluation"):
            getattr(self, name)[key] = value
        else:
            for role in REGISTRIES:
                comp = self.component(role)
                if comp is not None and comp.name == name:
                    comp.options[key] = value
                    break
            else:
                raise option_error("option", f"{path!r}: {name} is not this run's model, "
                                             "sampler or loss")
        self._valid = False

    def copy(self) -> "RunSpec":
        out = copy.deepcopy(self)
        out._parts = {}
        out._valid = False
        return out

    @classmethod
    def grid(cls, models: Iterable[str], samplers: Iterable[str], losses: Iterable[str],
             options: Optional[Mapping[str, Mapping[str, Any]]] = None,
             **common) -> List["RunSpec"]:
        r"""Every runnable model x sampler x loss, each validated: a loss
        with in-batch negatives appears once, without a sampler. ``options``
        maps a component name to its options; ``common`` are further
        :class:`RunSpec` fields shared by all (``trainer``, ``data``, ...)."""
        options = options or {}
        out = []
        for m in models:
            for lo in losses:
                loss_opts = dict(options.get(lo, {}))
                in_batch = resolve(LOSSES, lo, what="loss", **loss_opts).negatives == "in_batch"
                for sa in ([None] if in_batch else samplers):
                    spec = cls(model=Component(m, dict(options.get(m, {}))),
                               sampler=None if sa is None else Component(
                                   sa, dict(options.get(sa, {}))),
                               loss=Component(lo, loss_opts), **copy.deepcopy(common))
                    out.append(spec.validate())
        return out

    @property
    def label(self) -> str:
        """``model-sampler-loss`` (``inbatch`` when there is no sampler)."""
        return f"{self.model.name}-{self.sampler.name if self.sampler else 'inbatch'}-" \
               f"{self.loss.name}"

    # ------------------------------------------------------------------ files

    def to_dict(self) -> Dict:
        """The spec as JSON-safe data (``config.json``)."""
        out = {"format": FORMAT, "version": VERSION, "model": self.model.to_dict(),
               "sampler": None if self.sampler is None else self.sampler.to_dict(),
               "loss": self.loss.to_dict(), "trainer": _plain(self.trainer),
               "objective": _plain(self.objective), "evaluation": _plain(self.evaluation),
               "data": _plain(asdict(self.data))}
        if self.dim is not None:
            out["dim"] = self.dim
        if self.layers is not None:
            out["layers"] = self.layers
        if self.protocol is not None:
            out["protocol"] = self.protocol
        return out

    @classmethod
    def from_dict(cls, d: Mapping, where: str = "spec") -> "RunSpec":
        r"""The spec of :meth:`to_dict` (unknown entries are an error)."""
        if not isinstance(d, Mapping):
            raise GnnrecError(f"{where}: expected a JSON object")
        if d.get("format", FORMAT) != FORMAT:
            raise GnnrecError(f"{where}: not a gnnrec run spec (format {d.get('format')!r})")
        version = d.get("version", VERSION)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise GnnrecError(f"{where}: version {version!r} is not a spec version")
        if version > VERSION:
            raise GnnrecError(f"{where}: written by a newer gnnrec (spec version {version}); "
                              "upgrade gnnrec to read it")
        _check_nulls(d, where)
        known = {f.name for f in fields(cls)} | {"format", "version", "notes"}
        extra = [k for k in d if k not in known]
        if extra:
            raise GnnrecError(f"{where}: unknown entries {', '.join(map(repr, extra))} "
                              f"(accepted: {', '.join(sorted(known))})")
        kwargs: Dict[str, Any] = {}
        try:
            for role in REGISTRIES:
                if role in d:
                    c = d[role]
                    kwargs[role] = None if c is None else Component(str(c["name"]),
                                                                    dict(c.get("options") or {}))
            for section in ("trainer", "objective", "evaluation"):
                if section in d:
                    kwargs[section] = dict(d[section] or {})
            if "data" in d:
                data = dict(d["data"] or {})
                names = {f.name for f in fields(DataSpec)}
                bad = [k for k in data if k not in names]
                if bad:
                    raise GnnrecError(f"{where}: unknown data entries {', '.join(bad)}")
                kwargs["data"] = DataSpec(**data)
        except (KeyError, TypeError, AttributeError) as e:
            raise GnnrecError(f"{where}: malformed spec ({type(e).__name__}: {e})") from None
        for key in ("dim", "layers", "protocol"):
            if key in d:
                kwargs[key] = d[key]
        return cls(**kwargs)

    @classmethod
    def from_file(cls, path: str) -> "RunSpec":
        r"""Reads a spec written as JSON (a run's ``config.json``, a tuner's
        ``best.json``)."""
        if not os.path.isfile(path):
            raise GnnrecError(f"{path}: no such spec file")
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise GnnrecError(f"{path}: not a JSON spec ({e})") from None
        if isinstance(d, Mapping) and "spec" in d and "format" not in d:
            d = d["spec"]  # a file that wraps the spec (results, tuner output)
        return cls.from_dict(d, where=path)

    def write(self, path: str, **extra) -> None:
        """Writes the spec (and ``extra`` entries) as JSON, atomically."""
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            json.dump({**self.to_dict(), **extra}, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)


def _check_nulls(d: Mapping, where: str) -> None:
    r"""A ``null`` in a spec file is refused where the option has a value by
    default (``"lr": null`` is a mistake, not "the default")."""
    for section, (ctor, _) in SECTIONS.items():
        entries = d.get(section)
        for key, value in (entries.items() if isinstance(entries, Mapping) else ()):
            if value is None and key in defaults(ctor) and defaults(ctor)[key] is not None:
                raise GnnrecError(f"{where}: {section}.{key} is null; give a value or leave "
                                  "the entry out for the default")
    ev = d.get("evaluation")
    for key, value in (ev.items() if isinstance(ev, Mapping) else ()):
        if value is None and key in EVALUATION and _default(*EVALUATION[key]) is not None:
            raise GnnrecError(f"{where}: evaluation.{key} is null; give a value or leave the "
                              "entry out for the default")


def _default(cls, name):
    from gnnrec.registry import default_of

    value = default_of(cls, name)
    return list(value) if isinstance(value, tuple) else value
