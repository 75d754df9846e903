"""``gnnrec export``: embeddings for other pipelines and serving."""
import click

from gnnrec.cli.group import cli
from gnnrec.cli.options import device_option, load_model
from gnnrec.cli.session import CONTEXT
from gnnrec.errors import GnnrecError
from gnnrec.serving import INDEX_TYPES


@cli.command(context_settings=CONTEXT)
@click.argument("checkpoint", type=click.Path())
@click.argument("output", type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["auto", "pt", "npy", "pyg", "faiss"]),
              default="auto", show_default=True,
              help="auto: from OUTPUT's ending (.pyg.pt pyg, .pt, .npy, .faiss).")
@click.option("--index-type", type=click.Choice(list(INDEX_TYPES)), default="flat",
              show_default=True,
              help="faiss: exact inner product (flat); HNSW (approximate, faster on large "
                   "item sets) over the inner-product-to-L2 reduction (hnsw), or searched by "
                   "inner product directly (hnsw-ip). Which HNSW recalls more depends on "
                   "the model: measure with benchmarks/faiss_index.py.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@device_option
@click.pass_obj
def export(session, checkpoint, output, fmt, index_type, overwrite, device):
    """Write the embeddings for other pipelines and serving.

    \b
    pt     one file: a dict with user_emb, item_emb, user_ids, item_ids
    npy    <stem>.users.npy, <stem>.items.npy, <stem>.user_ids.npy,
           <stem>.item_ids.npy (row k of the embeddings is the k-th id)
    pyg    a PyG HeteroData: embeddings as x of user and item, training edges
           both ways, original ids as original_id;
           torch.load(path, weights_only=False) returns it
    faiss  an inner-product FAISS index of the item embeddings (cosine when
           the model ranks by cosine) and <OUTPUT>.npz with the user
           embeddings and id maps; gnnrec recommend --index answers from it
           (needs pip install gnnrec[serve])

    Existing files are left alone unless --overwrite; the checkpoint is
    never written over.
    """
    from gnnrec.outputs import check_targets, holding

    if fmt == "auto":
        fmt = next((f for end, f in ((".pyg.pt", "pyg"), (".pt", "pt"), (".npy", "npy"),
                                     (".faiss", "faiss")) if output.endswith(end)), None)
        if fmt is None:
            raise GnnrecError(f"{output}: give --format, or end OUTPUT in .pt, .npy, .pyg.pt "
                              "or .faiss")
    for name, end in (("npy", ".npy"), ("pt", ".pt")):
        if fmt == name and not output.endswith(end):
            raise GnnrecError(f"{output}: the {name} format needs OUTPUT ending in {end}")
    npy = [f"{output[:-4]}.{k}.npy" for k in ("users", "items", "user_ids", "item_ids")]
    targets = {"pt": [output], "pyg": [output], "faiss": [output, output + ".npz"],
               "npy": npy}[fmt]
    check_targets(targets, overwrite, inputs=[checkpoint])  # before loading anything
    if fmt == "faiss":
        from gnnrec.serving import _faiss

        _faiss()  # the extra is installed, or one line saying how
    with holding(targets):
        _export(session, checkpoint, output, fmt, index_type, overwrite, device)


def _export(session, checkpoint, output, fmt, index_type, overwrite, device):
    model = load_model(session, checkpoint, device)
    if fmt in ("pt", "npy"):
        written = model.export(output, overwrite=overwrite, inputs=[checkpoint])
    elif fmt == "pyg":
        from gnnrec.serving import export_pyg

        written = {"heterodata": export_pyg(model, output, overwrite, [checkpoint])}
    else:
        from gnnrec.serving import export_faiss

        written = export_faiss(model, output, index_type, overwrite, [checkpoint])
    for key, path in written.items():
        click.echo(f"{key}: {path}")
