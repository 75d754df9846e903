"""Named public datasets: where to fetch them, and a checked, atomic fetch."""
import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Optional

from gnnrec.errors import GnnrecError

LIGHTGCN = "https://raw.githubusercontent.com/gusye1234/LightGCN-PyTorch/master/data"

#: name -> base URL and files (sha256 where a verified copy is known)
KNOWN: Dict[str, Dict] = {
    "gowalla": {
        "url": f"{LIGHTGCN}/gowalla",
        "files": {
            "train.txt": "7244696fdeb23911319cf7b689f2e15a3c4c92549c873a5677b44e3f13cc3e62",
            "test.txt": "099a2a73924e4b754dc6efd730d764f492321b53c38eb93298850c83acf57be3",
        },
    },
    "yelp2018": {"url": f"{LIGHTGCN}/yelp2018", "files": {"train.txt": None, "test.txt": None}},
    "amazon-book": {"url": f"{LIGHTGCN}/amazon-book",
                    "files": {"train.txt": None, "test.txt": None}},
}


def data_root() -> Path:
    r"""Where named datasets live: ``$GNNREC_DATA``, else
    ``~/.cache/gnnrec``."""
    return Path(os.environ.get("GNNREC_DATA") or Path.home() / ".cache" / "gnnrec")


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(name: str, root: Optional[Path] = None, base_url: Optional[str] = None,
          echo: Callable[[str], None] = lambda m: None) -> Path:
    r"""The folder of a named dataset (LightGCN format), downloaded on first
    use. Each file is written to a temporary name and renamed only after its
    sha256 (where known) matches, so an interrupted or corrupted download
    never leaves a file that looks complete.

    Args:
        name (str): one of :data:`KNOWN`.
        root (Path, optional): the data root (default :func:`data_root`).
        base_url (str, optional): another mirror (``file://`` works too).
    """
    if name not in KNOWN:
        raise GnnrecError(f"unknown dataset {name!r}; known: {', '.join(KNOWN)} (or give a path)")
    spec = KNOWN[name]
    folder = Path(root or data_root()) / name
    folder.mkdir(parents=True, exist_ok=True)
    for fname, digest in spec["files"].items():
        target = folder / fname
        if target.exists():
            continue
        url = f"{(base_url or spec['url']).rstrip('/')}/{fname}"
        echo(f"downloading {url}")
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
                shutil.copyfileobj(resp, out)
            if digest is not None and sha256(tmp) != digest:
                raise GnnrecError(f"{url}: checksum mismatch (expected sha256 {digest[:12]}...)")
            os.replace(tmp, target)
        except GnnrecError:
            raise
        except OSError as e:
            raise GnnrecError(f"{url}: download failed ({e}); fetch the files into {folder} "
                              "yourself or pass --dataset PATH") from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return folder
