"""Matrix factorisation: the zero-layer baseline."""
from torch import Tensor

from gnnrec.data.graph import RecGraph
from gnnrec.nn.base import Encoder, EncoderOutput


class MF(Encoder):
    r"""Matrix factorisation (`Koren et al. 2009
    <https://doi.org/10.1109/MC.2009.263>`_): the score of a pair is
    :math:`\mathbf{e}_u^\top \mathbf{e}_i` of free embeddings, i.e. an
    encoder with no propagation layer. The graph is ignored except for its
    sizes.

    Args:
        num_users (int): number of users.
        num_items (int): number of items.
        embedding_dim (int, optional): embedding size. (default: :obj:`64`)
        init_std (float, optional): std of the normal initialisation.
            (default: :obj:`0.1`)
        init (str, optional): ``normal`` (with ``init_std``) or ``xavier``
            (:meth:`~gnnrec.nn.base.Encoder.init_embedding`: the AHNS
            authors' initialisation). (default: :obj:`"normal"`)

    Shapes:
        - **input:** a :class:`~gnnrec.data.graph.RecGraph` or ``HeteroData``
        - **output:** user :math:`(|\mathcal{U}|, D)`, item
          :math:`(|\mathcal{I}|, D)`
    """
    summary = "matrix factorisation, free user/item embeddings (no propagation)"

    def __init__(self, num_users: int, num_items: int, embedding_dim: int = 64,
                 init_std: float = 0.1, init: str = "normal"):
        super().__init__(num_users, num_items, embedding_dim)
        self.init_std = init_std
        self.init = init
        self.reset_parameters()

    def reset_parameters(self):
        self.init_embedding(self.init, self.init_std)

    def encode(self, graph: RecGraph) -> EncoderOutput:
        self.check_graph(graph)
        x = self.embedding.weight
        return EncoderOutput([x], x, self.num_users, self.pool)

    def pool(self, layers: Tensor) -> Tensor:
        return layers[..., 0, :]
