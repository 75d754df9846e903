"""NGCF: propagation with feature transforms and an interaction term."""
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from gnnrec.data.graph import RecGraph
from gnnrec.nn.base import Encoder, EncoderOutput


class NGCF(Encoder):
    r"""NGCF from `"Neural Graph Collaborative Filtering"
    <https://arxiv.org/abs/1905.08108>`_ (Wang et al. 2019), the matrix form
    of its Eq. (7):

    .. math::
        \mathbf{E}^{(l)} = \mathrm{LeakyReLU}\Big(
        (\mathcal{L} + \mathbf{I})\,\mathbf{E}^{(l-1)} \mathbf{W}_1^{(l)}
        + (\mathcal{L}\mathbf{E}^{(l-1)} \odot \mathbf{E}^{(l-1)})
        \mathbf{W}_2^{(l)} \Big),

    with :math:`\mathcal{L} = \mathbf{D}^{-1/2}\mathbf{A}\mathbf{D}^{-1/2}`,
    biases on both transforms (as the authors' code), slope 0.2, message
    dropout on each layer's output and optional node dropout (a dropped node
    sends no message in that pass, Sec. 2.4.3). The final embedding
    concatenates :math:`\mathbf{E}^{(0)}, \dots, \mathbf{E}^{(L)}` (Eq. 9);
    with ``normalize`` the propagated layers are L2-normalised before the
    concatenation, as the authors' code does (the next layer is fed the
    un-normalised output).

    Note: the authors' code uses the row-normalised
    :math:`\mathbf{D}^{-1}(\mathbf{A} + \mathbf{I})` in place of both
    :math:`\mathcal{L} + \mathbf{I}` and :math:`\mathcal{L}`; this class
    follows the paper's equation.

    Args:
        num_users (int): number of users.
        num_items (int): number of items.
        embedding_dim (int, optional): ego embedding size. (default: :obj:`64`)
        layer_sizes (sequence of int, optional): output size of each layer.
            (default: :obj:`(64, 64, 64)`)
        mess_dropout (float, optional): message dropout rate.
            (default: :obj:`0.1`)
        node_dropout (float, optional): node dropout rate.
            (default: :obj:`0.0`)
        normalize (bool, optional): L2-normalise propagated layers before
            concatenating. (default: :obj:`True`)
        backend (str, optional): sparse backend of the adjacency.
            (default: :obj:`"auto"`)

    Shapes:
        - **input:** a :class:`~gnnrec.data.graph.RecGraph` or ``HeteroData``
        - **output:** user :math:`(|\mathcal{U}|, D + \sum_l D_l)`, item
          :math:`(|\mathcal{I}|, D + \sum_l D_l)`
    """
    summary = "NGCF (Wang et al. 2019): W1/W2 transforms, LeakyReLU, dropout, concatenated layers"

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64,
                 layer_sizes: Sequence[int] = (64, 64, 64), mess_dropout: float = 0.1,
                 node_dropout: float = 0.0, normalize: bool = True, backend: str = "auto"):
        super().__init__(num_users, num_items, embedding_dim)
        for name, p in (("mess_dropout", mess_dropout), ("node_dropout", node_dropout)):
            if not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {p}")
        self.layer_sizes = [int(s) for s in layer_sizes]
        sizes = [embedding_dim] + self.layer_sizes
        self.W1 = torch.nn.ModuleList(
            [torch.nn.Linear(sizes[k], sizes[k + 1]) for k in range(len(self.layer_sizes))])
        self.W2 = torch.nn.ModuleList(
            [torch.nn.Linear(sizes[k], sizes[k + 1]) for k in range(len(self.layer_sizes))])
        self.mess_dropout, self.node_dropout = mess_dropout, node_dropout
        self.normalize, self.backend = normalize, backend
        self.reset_parameters()

    @property
    def num_layers(self) -> int:
        return len(self.layer_sizes)

    @property
    def out_dim(self) -> int:
        return self.embedding_dim + sum(self.layer_sizes)

    @property
    def provides_layers(self) -> bool:
        """Per-layer stacks exist only when every layer has the ego size."""
        return all(s == self.embedding_dim for s in self.layer_sizes)

    def reset_parameters(self):
        torch.nn.init.xavier_uniform_(self.embedding.weight)
        for lin in list(self.W1) + list(self.W2):
            torch.nn.init.xavier_uniform_(lin.weight)
            torch.nn.init.zeros_(lin.bias)

    def encode(self, graph: RecGraph) -> EncoderOutput:
        self.check_graph(graph)
        adj = graph.adjacency(self.backend)
        x = self.embedding.weight
        layers = [x]
        for w1, w2 in zip(self.W1, self.W2):
            src = x
            if self.training and self.node_dropout > 0:
                keep = torch.rand(x.size(0), 1, device=x.device) >= self.node_dropout
                src = x * keep / (1.0 - self.node_dropout)
            side = adj @ src  # L E
            x = F.leaky_relu(w1(side + x) + w2(side * x), negative_slope=0.2)
            x = F.dropout(x, self.mess_dropout, self.training)
            layers.append(F.normalize(x, p=2, dim=1) if self.normalize else x)
        return EncoderOutput(layers, torch.cat(layers, dim=-1), self.num_users, self.pool)

    def pool(self, layers: Tensor) -> Tensor:
        return layers.flatten(start_dim=-2)

    def extra_repr(self) -> str:
        return (f"{self.num_users}, {self.num_items}, embedding_dim={self.embedding_dim}, "
                f"layer_sizes={self.layer_sizes}")
