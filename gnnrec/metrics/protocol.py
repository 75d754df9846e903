"""The evaluation protocol: per split, what is ranked, what is masked, what
it is compared with and how the results read.

``gnnrec train``, ``gnnrec evaluate`` and the benchmarks all evaluate through
:class:`EvalProtocol`, so a number means the same thing wherever it appears.
"""
from typing import Callable, Dict, List, Optional, Sequence

import torch
from torch import Tensor

from gnnrec.data.dataset import FOLDS
from gnnrec.data.positives import PositiveSet
from gnnrec.errors import GnnrecError, option_error
from gnnrec.metrics.baselines import most_popular
from gnnrec.metrics.evaluator import FullRankingEvaluator
from gnnrec.metrics.groups import GROUP_NAMES, evaluate_groups
from gnnrec.metrics.ranking import metric_grid, parse_metric
from gnnrec.metrics.sampled import SampledEvaluator

#: the metrics every report shows, at every cut-off
METRIC_NAMES = ("recall", "ndcg", "precision", "hit", "mrr")
#: the held-out splits a final report covers
TEST_FOLDS = ("test", "test_balanced")

ScoreFn = Callable[[Tensor], Tensor]


def score_fn_of(scorer) -> ScoreFn:
    r"""A score function from a model (anything with ``ranker()``, e.g.
    :class:`~gnnrec.model.RecModel`, whose embeddings are then computed once)
    or a plain callable ``users -> (B, num_items)``."""
    ranker = getattr(scorer, "ranker", None)
    return ranker() if callable(ranker) else scorer


def masked_folds(fold: str) -> List[str]:
    r"""The splits whose items are removed from the ranking when evaluating
    ``fold``: training items always; for a test split also validation and the
    other test split (every known interaction but the target). Validation
    masks training items only, so model selection never touches a test
    split."""
    if fold == "val":
        return ["train"]
    return [f for f in FOLDS if f != fold]


def split_sets(dataset, device) -> Dict[str, PositiveSet]:
    """:class:`PositiveSet` of each non-empty split of a ``RecDataset``, on
    ``device``."""
    out = {}
    for fold in FOLDS:
        if dataset.has(fold):
            e = dataset.edges(fold).to(device)
            out[fold] = PositiveSet(e[0], e[1], dataset.num_users, dataset.num_items)
    return out


class EvalProtocol:
    r"""Full-ranking evaluation of one dataset's splits.

    For a split, every item is ranked for each of its users, the user's other
    known interactions are masked (:func:`masked_folds`), and Recall, NDCG,
    Precision, HitRate and MRR are computed at each cut-off; a test report
    adds the most-popular baseline, the head / mid / tail item groups (each
    a third of the training interactions) beside the model, what the
    recommended lists expose (share of slots per group, average popularity,
    item coverage: :func:`~gnnrec.metrics.evaluator.popularity_views`) and,
    with ``sampled``, the sampled-candidates HR / NDCG
    (:class:`~gnnrec.metrics.sampled.SampledEvaluator`), labelled as such.

    Args:
        sets (dict): :class:`PositiveSet` per split (``train`` required).
        ks (sequence of int, optional): cut-offs. (default: :obj:`(20,)`)
        metric (str, optional): the validation metric that selects the best
            epoch, ``NAME@K``; ``None`` is Recall at the first cut-off.
            (default: :obj:`None`)
        sampled (int, optional): also report each test item ranked against
            this many random items the user never interacted with; ``0``
            leaves it out. Selection stays on the full-ranking ``metric``.
            (default: :obj:`0`)
    """

    def __init__(self, sets: Dict[str, PositiveSet], ks: Sequence[int] = (20,),
                 metric: Optional[str] = None, sampled: int = 0):
        ks = sorted({int(k) for k in ks})
        if not ks or ks[0] < 1:
            raise option_error("ks", f"cut-offs must be >= 1, got {list(ks)}")
        if "train" not in sets:
            raise ValueError("an evaluation protocol needs the training split")
        self.sets, self.ks = dict(sets), ks
        self.metric = repr(parse_metric(metric)) if metric else f"recall@{ks[0]}"
        num_items = sets["train"].num_items
        if max(ks) > num_items:
            raise option_error("ks", f"a cut-off of {max(ks)} exceeds the {num_items} items")
        self.evaluator = FullRankingEvaluator(metric_grid(METRIC_NAMES, ks))
        train = sets["train"]
        self.item_degree = torch.bincount(train.col, minlength=train.num_items)
        self._plans: Dict[str, object] = {}
        if isinstance(sampled, bool) or not isinstance(sampled, int) or sampled < 0:
            raise option_error("sampled", f"must be an integer >= 0, got {sampled!r}")
        if sampled >= num_items:
            raise option_error("sampled", f"{sampled} candidates leave no room among the "
                                          f"{num_items} items")
        self.sampled = SampledEvaluator(sampled, ks) if sampled else None
        self._known: Optional[PositiveSet] = None

    @classmethod
    def from_dataset(cls, dataset, device="cpu", **kwargs) -> "EvalProtocol":
        """The protocol of a ``RecDataset``'s splits, tensors on ``device``."""
        return cls(split_sets(dataset, device), **kwargs)

    def has(self, fold: str) -> bool:
        return fold in self.sets

    @property
    def selects(self) -> bool:
        """Whether there is a validation split to select the best epoch on."""
        return "val" in self.sets

    def masked(self, fold: str) -> List[PositiveSet]:
        return [self.sets[f] for f in masked_folds(fold) if f in self.sets]

    def _target(self, fold: str) -> PositiveSet:
        if fold not in self.sets:
            raise GnnrecError(f"the dataset has no {fold} split")
        return self.sets[fold]

    def evaluate(self, scorer, fold: str, users: Optional[Tensor] = None,
                 per_user: bool = False, views: bool = False) -> Dict[str, float]:
        r"""Metrics of ``scorer`` on ``fold``: a model (ranked through its
        ``ranker()``) or a function from users to ``(B, num_items)``
        scores; with ``views`` also what its lists expose."""
        target = self._target(fold)
        pop = self.item_degree if views else None
        if users is not None:
            return self.evaluator.evaluate(score_fn_of(scorer), target, self.masked(fold),
                                           users=users, per_user=per_user, popularity=pop)
        if fold not in self._plans:  # the batches, masks and targets: built once per split
            self._plans[fold] = self.evaluator.plan(target, self.masked(fold))
        return self.evaluator.evaluate(score_fn_of(scorer), target, per_user=per_user,
                                       plan=self._plans[fold], popularity=pop)

    def evaluate_sampled(self, scorer, fold: str) -> Dict[str, float]:
        r"""HR@K / NDCG@K of ``fold`` with each target ranked against the
        protocol's ``sampled`` random unknown items (drawn once per split)."""
        if self.sampled is None:
            raise GnnrecError("this protocol has no sampled evaluation (sampled=0)")
        target = self._target(fold)
        if self._known is None:
            union = [s for s in self.sets.values()]
            self._known = PositiveSet(torch.cat([s.keys // s.num_items for s in union]),
                                      torch.cat([s.col for s in union]),
                                      target.num_users, target.num_items)
        key = f"sampled:{fold}"
        if key not in self._plans:
            self._plans[key] = self.sampled.plan(target, self._known)
        return self.sampled.evaluate(score_fn_of(scorer), target, self._known,
                                     plan=self._plans[key])

    def baseline(self, fold: str, views: bool = False) -> Dict[str, float]:
        """The most-popular baseline on ``fold``."""
        return self.evaluate(most_popular(self.item_degree), fold, views=views)

    def groups(self, scorer, fold: str) -> Dict[str, Dict[str, float]]:
        """Metrics on ``fold``'s targets within each popularity group."""
        return evaluate_groups(self.evaluator, score_fn_of(scorer), self._target(fold),
                               self.masked(fold), self.item_degree)

    def report(self, scorer, folds: Sequence[str] = TEST_FOLDS, groups: bool = True) -> Dict:
        r"""``{fold: metrics (popularity views included), "mostpop_<fold>":
        ..., "<fold>_groups": ..., "sampled_<fold>": ..., "mostpop_sampled_<fold>":
        ...}`` for each of ``folds`` the dataset has, and ``ks``."""
        score_fn = score_fn_of(scorer)
        out: Dict = {"ks": self.ks}
        for fold in folds:
            if fold not in self.sets:
                continue
            out[fold] = self.evaluate(score_fn, fold, views=True)
            out[f"mostpop_{fold}"] = self.baseline(fold, views=True)
            if groups:
                out[f"{fold}_groups"] = self.groups(score_fn, fold)
            if self.sampled is not None:
                out[f"sampled_{fold}"] = self.evaluate_sampled(score_fn, fold)
                out[f"mostpop_sampled_{fold}"] = self.evaluate_sampled(
                    most_popular(self.item_degree), fold)
        return out


def format_report(results: Dict, title: str = "") -> str:
    r"""A text table of a :meth:`EvalProtocol.report`: the model beside
    MostPop and, when present, per popularity group; then what the lists
    expose and the sampled metrics."""
    ks = results["ks"]
    rows = []
    for fold in (f for f in results if f in FOLDS):
        res, pop = results[fold], results[f"mostpop_{fold}"]
        groups = results.get(f"{fold}_groups", {})
        rows += [f"{fold} ({res['users']} users){title}:",
                 f"  {'metric':<14}{'model':>10}{'MostPop':>10}"
                 + "".join(f"{g:>10}" for g in groups)]
        for k in ks:
            for name in METRIC_NAMES:
                key = f"{name}@{k}"
                rows.append(f"  {key:<14}{res[key]:>10.4f}{pop[key]:>10.4f}"
                            + "".join(f"{g[key]:>10.4f}" for g in groups.values()))
        views = [f"{v}@{k}" for k in ks for v in
                 [f"exposure_{g}" for g in GROUP_NAMES] + ["avgpop", "coverage"]]
        if all(v in res for v in views):
            rows.append("  what the top-K lists expose (share of slots per group, mean "
                        "training popularity, share of items shown):")
            for key in views:
                digits = 1 if key.startswith("avgpop") else 4
                rows.append(f"  {key:<20}{res[key]:>10.{digits}f}{pop[key]:>10.{digits}f}")
        sampled = results.get(f"sampled_{fold}")
        if sampled:
            spop = results[f"mostpop_sampled_{fold}"]
            rows.append(f"  sampled, NOT full ranking (each test item against "
                        f"{sampled['negatives']} random items the user never had):")
            for key in (k for k in sampled if "@" in k):
                rows.append(f"  {key:<20}{sampled[key]:>10.4f}{spop[key]:>10.4f}")
    if not rows:
        return "no test split"
    if any(f"{f}_groups" in results for f in FOLDS):
        rows.append(f"  ({', '.join(GROUP_NAMES)}: test items of each third of the training "
                    "interactions, most popular items first)")
    return "\n".join(rows)
