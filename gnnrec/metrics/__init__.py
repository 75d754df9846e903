"""Full-ranking evaluation and its top-K metrics."""
from gnnrec.metrics.baselines import most_popular
from gnnrec.metrics.evaluator import FullRankingEvaluator, dot_scores, popularity_views
from gnnrec.metrics.groups import GROUP_NAMES, evaluate_groups, popularity_groups
from gnnrec.metrics.protocol import (METRIC_NAMES, EvalProtocol, format_report, masked_folds,
                                     split_sets)
from gnnrec.metrics.ranking import (METRICS, MRR, NDCG, HitRate, Precision, RankingMetric,
                                    Recall, metric_grid, parse_metric)
from gnnrec.metrics.sampled import SampledEvaluator

__all__ = ["FullRankingEvaluator", "dot_scores", "GROUP_NAMES", "evaluate_groups",
           "popularity_groups", "most_popular", "METRICS", "RankingMetric",
           "Recall", "NDCG", "Precision", "HitRate", "MRR", "metric_grid", "parse_metric",
           "METRIC_NAMES", "EvalProtocol", "format_report", "masked_folds", "split_sets",
           "SampledEvaluator", "popularity_views"]
