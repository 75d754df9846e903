"""LightGCN: linear propagation on the normalised bipartite graph."""
from typing import Optional, Sequence

import torch
from torch import Tensor

from gnnrec.data.graph import RecGraph
from gnnrec.nn.propagation import propagate, propagate_rows
from gnnrec.nn.base import Encoder, EncoderOutput, PartialOutput


class LightGCN(Encoder):
    r"""LightGCN from `"LightGCN: Simplifying and Powering Graph Convolution
    Network for Recommendation" <https://arxiv.org/abs/2002.02126>`_ (He et
    al. 2020): no feature transform, no non-linearity, symmetric
    normalisation, and a weighted sum of the layers (Eq. 3-4 there)

    .. math::
        \mathbf{E}^{(k+1)} = \hat{\mathbf{A}} \mathbf{E}^{(k)}, \qquad
        \mathbf{E} = \sum_{k=0}^{K} \alpha_k \mathbf{E}^{(k)},

    with :math:`\hat{\mathbf{A}} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}`
    of the user-item graph. Each layer is one sparse-dense product (see
    :mod:`gnnrec.nn.adjacency`); no Python loop over nodes.

    Args:
        num_users (int): number of users.
        num_items (int): number of items.
        embedding_dim (int, optional): embedding size. (default: :obj:`64`)
        num_layers (int, optional): propagation layers :math:`K`.
            (default: :obj:`3`)
        alpha (sequence of float, optional): the :math:`K + 1` layer weights;
            ``None`` is :math:`1 / (K + 1)` each (the mean).
            (default: :obj:`None`)
        init_std (float, optional): std of the normal initialisation, as in
            the authors' PyTorch code. (default: :obj:`0.1`)
        init (str, optional): ``normal`` (with ``init_std``) or ``xavier``
            (:meth:`~gnnrec.nn.base.Encoder.init_embedding`: the AHNS
            authors' initialisation). (default: :obj:`"normal"`)
        backend (str, optional): sparse backend of the adjacency, ``auto``,
            ``csr`` or ``torch_sparse``. (default: :obj:`"auto"`)

    Shapes:
        - **input:** a :class:`~gnnrec.data.graph.RecGraph` or ``HeteroData``
        - **output:** user :math:`(|\mathcal{U}|, D)`, item
          :math:`(|\mathcal{I}|, D)`
    """
    summary = "LightGCN (He et al. 2020): linear propagation, mean of the layers"

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64,
                 num_layers: int = 3, alpha: Optional[Sequence[float]] = None,
                 init_std: float = 0.1, backend: str = "auto",
                 init: str = "normal"):
        super().__init__(num_users, num_items, embedding_dim)
        if num_layers < 0:
            raise ValueError(f"num_layers must be >= 0, got {num_layers}")
        self.num_layers = int(num_layers)
        if alpha is None:
            alpha = [1.0 / (num_layers + 1)] * (num_layers + 1)
        alpha = [float(a) for a in alpha]
        if len(alpha) != num_layers + 1:
            raise ValueError(f"alpha needs {num_layers + 1} weights, got {len(alpha)}")
        self.alpha = alpha
        self.init_std = init_std
        self.init = init
        self.backend = backend
        self.reset_parameters()

    def reset_parameters(self):
        self.init_embedding(self.init, self.init_std)

    @property
    def degree_in_norm(self) -> bool:
        """Propagation scales a node's layers with its degree (none without layers)."""
        return self.num_layers > 0

    def encode(self, graph: RecGraph) -> EncoderOutput:
        self.check_graph(graph)
        adj = graph.adjacency(self.backend) if self.num_layers else None
        out, layers = propagate(adj, self.embedding.weight, self.num_layers, self.alpha)
        return EncoderOutput(layers, out, self.num_users, self.pool)

    def encode_rows(self, graph: RecGraph, nodes: Tensor) -> Optional[PartialOutput]:
        r"""The last layer only at ``nodes``, the backward from their
        row-sparse gradient (:func:`~gnnrec.nn.propagation.propagate_rows`):
        one full sparse product fewer each way, the same gradients."""
        self.check_graph(graph)
        if not self.num_layers:
            return None
        pooled = propagate_rows(graph.adjacency(self.backend), self.embedding.weight,
                                self.num_layers, self.alpha, nodes)
        return PartialOutput([self.embedding.weight], pooled, self.num_users, self.pool,
                             nodes=nodes)

    def pool(self, layers: Tensor) -> Tensor:
        alpha = torch.tensor(self.alpha, dtype=layers.dtype, device=layers.device)
        return (layers * alpha.view(-1, 1)).sum(dim=-2)

    def extra_repr(self) -> str:
        return (f"{self.num_users}, {self.num_items}, embedding_dim={self.embedding_dim}, "
                f"num_layers={self.num_layers}")
