"""k-core filtering of an interaction table."""
import numpy as np

from gnnrec.data.interactions import Interactions


def k_core(inter: Interactions, k_user: int, k_item: int = None,
           max_rounds: int = 1000) -> Interactions:
    r"""Repeatedly drops users with fewer than ``k_user`` interactions and
    items with fewer than ``k_item`` until every remaining user and item
    meets its threshold (the usual "k-core" of recommendation papers, e.g. the
    10-core Gowalla of NGCF/LightGCN), then re-numbers ids contiguously.

    Args:
        inter (Interactions): the table (all folds count towards degrees).
        k_user (int): minimum interactions per user.
        k_item (int, optional): minimum interactions per item.
            (default: :obj:`None`, the same as ``k_user``)
    """
    k_item = k_user if k_item is None else k_item
    keep = np.ones(len(inter), bool)
    for _ in range(max_rounds):
        u_deg = np.bincount(inter.user[keep], minlength=inter.num_users)
        i_deg = np.bincount(inter.item[keep], minlength=inter.num_items)
        new_keep = keep & (u_deg[inter.user] >= k_user) & (i_deg[inter.item] >= k_item)
        if new_keep.sum() == keep.sum():
            break
        keep = new_keep
    return inter.take(keep).compact()
