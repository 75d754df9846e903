"""The one exception type for user mistakes (bad files, bad options)."""


class GnnrecError(Exception):
    r"""A mistake in what the user gave (a file, an option, a checkpoint).

    The command line prints its message on one line, without a traceback, and
    exits with status 2. Library code raises it for anything a user can fix;
    programming errors stay ordinary exceptions.
    """


def data_error(path, line, message):
    """Builds a :class:`GnnrecError` naming the file and the 1-based line."""
    where = f"{path}:{line}" if line is not None else f"{path}"
    return GnnrecError(f"{where}: {message}")
