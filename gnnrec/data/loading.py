"""From a path and a few choices to a split :class:`RecDataset`."""
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from gnnrec.data import formats, splits
from gnnrec.data.dataset import RecDataset, from_interactions
from gnnrec.data.filters import k_core
from gnnrec.data.interactions import Interactions
from gnnrec.errors import GnnrecError, option_error

FORMATS = ("auto",) + tuple(formats.READERS)
SPLITS = ("auto", "given", "random", "temporal", "loo", "popbalanced")
BUNDLED = "gowalla-sample"


def bundled_path() -> Path:
    r"""The folder of the small bundled dataset (a 10-core sample of the
    LightGCN Gowalla split, see its ``PROVENANCE.md``): the repository's
    ``data/`` in a checkout, else ``<prefix>/share/gnnrec`` of an install."""
    here = Path(__file__).resolve().parents[2] / "data" / BUNDLED
    candidates = [here, Path(sys.prefix) / "share" / "gnnrec" / BUNDLED]
    for c in candidates:
        if (c / "train.txt").exists():
            return c
    raise GnnrecError("the bundled dataset is missing from this installation; "
                      "pass --dataset PATH")


@dataclass
class DataSpec:
    r"""How to read and split a dataset.

    Args:
        path (str, optional): a LightGCN folder (``train.txt`` and optionally
            ``test.txt``), a LightGCN file, a MovieLens ``ratings.dat`` /
            ``u.data``, a CSV/TSV file, or the name of a known public dataset
            (``gowalla``, ``yelp2018``, ``amazon-book``: fetched once into
            ``$GNNREC_DATA``, see :mod:`gnnrec.data.download`). ``None`` is the
            bundled Gowalla sample. (default: :obj:`None`)
        format (str): ``auto`` guesses from the path. (default: :obj:`"auto"`)
        split (str): ``given`` keeps the files' train/test, ``random`` is a
            per-user random split, ``temporal`` the latest share of each user,
            ``loo`` temporal leave-one-out, ``popbalanced`` PopDCL's balanced
            plus imbalanced test sets; ``auto`` is ``given`` when a test file
            exists and ``random`` otherwise. (default: :obj:`"auto"`)
        test_frac (float): per-user test share for ``random`` / ``temporal``;
            for ``popbalanced`` the share of each of the two test sets.
            (default: :obj:`0.2`)
        val_frac (float): per-user validation share; for ``given`` it is
            carved at random out of each user's training items.
            (default: :obj:`0.1`)
        val_carve (bool): for ``random`` / ``temporal``, carve validation at
            random out of each user's *training* interactions after the test
            share is taken (``val_frac`` is then a share of what remains:
            AHNS's "10% of the training set", PDNS's 8:1), instead of the
            split's own rule (a share of all, and for ``temporal`` the
            interactions just before the test ones). (default: :obj:`False`)
        k_core (int): drop users and items with fewer interactions, repeated
            until stable; ``0`` keeps everything. (default: :obj:`0`)
        min_rating (float, optional): keep ratings ``>=`` this as positives.
            (default: :obj:`None`)
        user_col, item_col, rating_col, time_col (str, optional): CSV column
            names; ``None`` finds them by their usual names
            (:class:`~gnnrec.data.formats.Tabular`). (default: :obj:`None`)
        options (dict): more options of the format's reader
            (``--data-opt KEY=VALUE``). (default: :obj:`{}`)
        seed (int): seed of the random splits. (default: :obj:`0`)
        refit (bool): put the validation interactions back into training
            after splitting, leaving test as it is: the data of a refit
            after model selection (``gnnrec train --refit``). With ``given``
            and a carved validation this equals ``val_frac=0``.
            (default: :obj:`False`)
    """
    path: Optional[str] = None
    format: str = "auto"
    split: str = "auto"
    test_frac: float = 0.2
    val_frac: float = 0.1
    val_carve: bool = False
    k_core: int = 0
    min_rating: Optional[float] = None
    user_col: Optional[str] = None
    item_col: Optional[str] = None
    rating_col: Optional[str] = None
    time_col: Optional[str] = None
    seed: int = 0
    options: Dict[str, Any] = field(default_factory=dict)
    refit: bool = False

    @classmethod
    def recorded(cls, meta: Dict[str, Any]) -> "DataSpec":
        r"""The data a checkpoint was trained on, as its metadata ``meta``
        records it (the run spec's ``data``; older checkpoints kept it at the
        top level)."""
        return cls(**(meta.get("spec", {}).get("data") or meta.get("data") or {}))

    def __post_init__(self):
        if self.format != "auto" and self.format not in formats.READERS:
            raise option_error("format", f"{self.format!r} is unknown; choose from auto, "
                                         f"{', '.join(formats.READERS)}")
        if self.split not in SPLITS:
            raise option_error("split", f"{self.split!r} is unknown; choose from "
                                        f"{', '.join(SPLITS)}")
        if (self.user_col, self.item_col) == ("user", "item"):
            # the fixed defaults of specs written before columns were found by name; the
            # names they fixed are the first the search tries
            self.user_col = self.item_col = None
        if not isinstance(self.options, dict):
            raise option_error("options", f"must be a mapping, got {self.options!r}")
        for name in ("k_core", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise option_error(name, f"must be an integer >= 0, got {value!r}", "data")
        for name in ("test_frac", "val_frac"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise option_error(name, f"must be in [0, 1), got {value!r}", "data")
        if not isinstance(self.refit, bool):
            raise option_error("refit", f"must be true or false, got {self.refit!r}")
        if not isinstance(self.val_carve, bool):
            raise option_error("val_carve", f"must be true or false, got {self.val_carve!r}")
        if self.val_carve and self.split not in ("random", "temporal"):
            raise option_error("val_carve", "applies to the random and temporal splits (given "
                                            f"always carves), not {self.split}")
        if self.split in ("random", "temporal") and not self.val_carve \
                and self.test_frac + self.val_frac >= 1.0:
            raise option_error("test_frac", f"plus val_frac must be < 1, got "
                                            f"{self.test_frac} + {self.val_frac}")
        if self.min_rating is not None and not math.isfinite(self.min_rating):
            raise option_error("min_rating", f"must be a finite number, got {self.min_rating}")
        if self.path is not None:
            from gnnrec.data.download import KNOWN

            path = os.path.expanduser(str(self.path))
            if not (path in KNOWN and not os.path.exists(path)):
                self.path = os.path.abspath(path)


def input_files(spec: DataSpec) -> List[str]:
    r"""The files reading ``spec`` opens (what no output may write over)."""
    path = spec.path if spec.path is not None else str(bundled_path())
    if os.path.isdir(path):
        names = ("train.txt", "val.txt", "test.txt", "user_list.txt", "item_list.txt")
        return [os.path.join(path, n) for n in names]
    return [path]


def _read(spec: DataSpec, echo=None):
    """Reads the source into an Interactions table (fold set when the source
    fixes one), a display name, the path and a note of what was detected."""
    from gnnrec.data.download import KNOWN, fetch

    path = spec.path if spec.path is not None else str(bundled_path())
    if path in KNOWN:
        path = str(fetch(path, echo=echo or (lambda m: None)))
    if not os.path.exists(path):
        raise GnnrecError(f"{path}: no such file or directory")
    name = os.path.basename(path.rstrip("/")) or path
    options = {"user_col": spec.user_col, "item_col": spec.item_col,
               "rating_col": spec.rating_col, "time_col": spec.time_col,
               "min_rating": spec.min_rating, **spec.options}
    fmt = spec.format if spec.format != "auto" else formats.detect(path)
    if fmt != "csv":  # the CSV defaults of run specs written before detection
        for key, old in (("user_col", "user"), ("item_col", "item")):
            if options.get(key) == old:
                options[key] = None
    got, _, note = formats.read(path, fmt, options, echo)
    if spec.format == "auto" and note is not None:
        note = note.replace(f"{fmt}", f"{fmt} (detected)", 1)
    inter = Interactions.from_raw(got["user"], got["item"], timestamp=got.get("timestamp"),
                                  fold=got.get("fold"))
    return inter, name, path, note


def _users_without(inter: Interactions, fold: np.ndarray, which: int) -> int:
    """Users with no interaction in fold ``which``."""
    has = np.zeros(inter.num_users, bool)
    has[inter.user[fold == which]] = True
    return int((~has).sum())


def load_dataset(spec: Optional[DataSpec] = None, echo=None, **kwargs) -> RecDataset:
    r"""Reads, filters and splits a dataset.

    Args:
        spec (DataSpec, optional): the choices; keyword arguments build one
            when it is not given.

    Example::

        ds = load_dataset(path="gowalla", val_frac=0.1)  # fetched once
        train = ds.to_hetero("train")
    """
    spec = spec if spec is not None else DataSpec(**kwargs)
    inter, name, path, read_note = _read(spec, echo)
    if len(inter) == 0:
        raise GnnrecError(f"{path}: no interactions")
    notes = [read_note] if read_note and not os.path.isdir(path) else []
    if inter.duplicates:
        notes.append(f"{inter.duplicates} repeated (user, item) interaction(s) dropped, the "
                     "earliest (or first read) kept")
    if spec.k_core > 0:
        before = len(inter)
        inter = k_core(inter, spec.k_core)
        if len(inter) == 0:
            raise GnnrecError(f"{path}: the {spec.k_core}-core is empty")
        notes.append(f"{spec.k_core}-core filtering kept {len(inter)} of {before} interactions")
    split = spec.split
    if split == "auto":
        split = "given" if inter.fold is not None else "random"
    inter, fold = SPLITTERS[split](spec, inter, path, notes)
    inter.fold = fold
    splits.check_split(inter, fold, path)
    source = asdict(spec)
    if spec.refit:
        source["refit"] = False
        return from_interactions(name, inter, notes, source).with_validation_in_train()
    return from_interactions(name, inter, notes, source)


def _given(spec: DataSpec, inter: Interactions, path: str, notes: List[str]):
    if inter.fold is None:
        raise GnnrecError(f"{path}: --split given needs a test file next to train.txt")
    fold = inter.fold
    if spec.val_frac > 0 and not np.any(fold == Interactions.VAL):
        fold = splits.carve_validation(inter, fold, spec.val_frac, spec.seed)
        notes.append(f"validation carved out of train: {spec.val_frac:g} of each user's "
                     f"training items at random (seed {spec.seed}); the test file is "
                     "untouched")
    return inter, fold


def _per_user(spec: DataSpec, inter: Interactions, path: str, notes: List[str]):
    val = 0.0 if spec.val_carve else spec.val_frac
    if spec.split == "random" or (spec.split == "auto" and inter.fold is None):
        fold = splits.random_split(inter, spec.test_frac, val, spec.seed)
        notes.append(f"random per-user split: test {spec.test_frac:g}, "
                     f"validation {val:g} (seed {spec.seed})")
    else:
        fold = splits.temporal_split(inter, spec.test_frac, val)
        notes.append(f"temporal per-user split: latest {spec.test_frac:g} test, "
                     f"{val:g} before it validation")
    if spec.val_carve and spec.val_frac > 0:
        fold = splits.carve_validation(inter, fold, spec.val_frac, spec.seed)
        notes.append(f"validation carved out of train: {spec.val_frac:g} of each user's "
                     f"training interactions at random (seed {spec.seed})")
    no_test = _users_without(inter, fold, Interactions.TEST)
    if no_test:
        notes.append(f"{no_test} user(s) have too few interactions for a test item: "
                     "trained on, not evaluated")
    return inter, fold


def _popbalanced(spec: DataSpec, inter: Interactions, path: str, notes: List[str]):
    fold = splits.popularity_balanced_split(inter, spec.test_frac, spec.val_frac, spec.seed)
    notes.append(f"popularity-balanced split (PopDCL): {spec.test_frac:g} balanced test "
                 f"(drawn uniformly over items), {spec.test_frac:g} imbalanced test, "
                 f"{spec.val_frac:g} validation, at random (seed {spec.seed})")
    return inter, fold


def _leave_one_out(spec: DataSpec, inter: Interactions, path: str, notes: List[str]):
    splits.require_timestamps(inter, "leave-one-out")
    need = 3 if spec.val_frac > 0 else 2
    few = splits.too_few_for_loo(inter, val=spec.val_frac > 0)
    if few.any():
        dropped = len(np.unique(inter.user[few]))
        inter = inter.take(~few).compact()
        if len(inter) == 0:
            raise GnnrecError(f"{path}: no user has the {need} interactions leave-one-out "
                              "needs")
        notes.append(f"leave-one-out: {dropped} user(s) with fewer than {need} interactions "
                     "dropped")
    fold = splits.temporal_leave_one_out(inter, val=spec.val_frac > 0)
    notes.append("temporal leave-one-out: last item test"
                 + (", second to last validation" if spec.val_frac > 0 else ""))
    return inter, fold


#: split name -> ``(spec, interactions, path, notes) -> (interactions, fold)``
SPLITTERS = {"given": _given, "random": _per_user, "temporal": _per_user,
             "popbalanced": _popbalanced, "loo": _leave_one_out}
