"""The one exception type for user mistakes (bad files, bad options)."""
from typing import Optional


class GnnrecError(Exception):
    r"""A mistake in what the user gave (a file, an option, a checkpoint).

    The command line prints its message on one line, without a traceback, and
    exits with status 2. Library code raises it for anything a user can fix;
    programming errors stay ordinary exceptions.

    Library messages name *parameters* (``epochs must be >= 1``), never
    command-line flags: an error about one parameter carries it in
    :attr:`param` and the rest of the sentence in :attr:`detail`, so the
    command line can say ``--epochs must be >= 1`` instead.

    Args:
        message (str): the whole sentence.
        param (str, optional): the parameter it is about (``"epochs"``, or
            ``"model"`` / ``"sampler"`` / ``"loss"`` for a component option).
        detail (str, optional): the sentence without the parameter's name.
    """

    def __init__(self, message: str, param: Optional[str] = None,
                 detail: Optional[str] = None):
        super().__init__(message)
        self.param, self.detail = param, detail


def option_error(param: str, detail: str) -> GnnrecError:
    r"""``GnnrecError("<param> <detail>")`` about one parameter, e.g.
    ``option_error("epochs", "must be >= 1, got 0")``."""
    return GnnrecError(f"{param} {detail}", param=param, detail=detail)


def data_error(path, line, message):
    """Builds a :class:`GnnrecError` naming the file and the 1-based line."""
    where = f"{path}:{line}" if line is not None else f"{path}"
    return GnnrecError(f"{where}: {message}")
