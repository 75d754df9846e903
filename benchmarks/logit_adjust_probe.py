"""A probe, not a gnnrec option (issue 22): in-batch SSM trained *without*
the logQ correction, ranked by :math:`\\cos(u, i) + \\tau \\log q_i`.

The logQ correction (Yi et al. 2019) subtracts :math:`\\log q_i` from the
training logits, so the scores themselves must carry popularity; on the
dense synthetic set the cosine scores cannot hold it all with LightGCN.
Adding :math:`\\log q_i` to the ranking instead (post-hoc logit adjustment,
`Menon et al., ICLR 2021 <https://arxiv.org/abs/2007.07314>`_, whose
loss-side and post-hoc forms this pair mirrors) moves popularity out of the
cosine's bounded range. This script runs ``dense.py`` with every model's
ranker so adjusted (validation selection and test alike; BPR + RNS rows are
adjusted too, so compare against an unadjusted RNS run)::

    POSTHOC_TAU=0.2 python benchmarks/logit_adjust_probe.py synth-1000x800.csv \\
        --label synth-posthoc --encoders lightgcn --methods rns,ssm-nologq-t02 --seeds 0 \\
        --epochs 1000 --eval-every 10 --patience 10 \\
        --out benchmarks/results/dense/logit-adjust-synth-lightgcn.json
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dense  # noqa: E402
from gnnrec.model import RecModel  # noqa: E402

TAU = float(os.environ.get("POSTHOC_TAU", "0.2"))
_ranker = RecModel.ranker


def adjusted_ranker(self):
    rank = _ranker(self)
    g = self.graph
    log_q = (g.item_degree.clamp(min=1).double() / g.num_edges).log().float()
    return lambda users: rank(users) + TAU * log_q


RecModel.ranker = adjusted_ranker
dense.METHODS["ssm-nologq-t02"] = (None, "ssm", {"logq": False, "tau": 0.2})

if __name__ == "__main__":
    dense.main(sys.argv[1:])
