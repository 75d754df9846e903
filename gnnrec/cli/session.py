"""How the command line talks to the user: one line for every error, the
library's names mapped to flags through one table, output to stdout and
notes to stderr."""
import os
import sys
import traceback
from typing import Optional

import click

from gnnrec.errors import GnnrecError, write_failure


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


#: the one map from library names to flags: a run-spec path (``section.key``) or a
#: parameter name -> the click parameter that sets it, where that is not the name's
#: last part (used for error messages, protocol notes and resume notes alike)
FLAGS = {"objective.reg_weight": "reg", "reg_weight": "reg",
         "model.embedding_dim": "dim", "embedding_dim": "dim",
         "model.num_layers": "layers", "num_layers": "layers",
         "evaluation.eval_every": "eval_every", "every": "eval_every",
         "data.seed": "data_seed", "trainer.seed": "seed", "data.path": "path",
         "data.options": "data_opt", "opt": "opts"}


BUG_HINT = ("this is a bug in gnnrec; please report it with the command you ran "
            "(GNNREC_DEBUG=1 shows the traceback)")


class UserError(click.ClickException):
    """A user mistake: one line on stderr, exit status 2."""
    exit_code = 2


def _option(command: Optional[click.Command], name: Optional[str]) -> Optional[str]:
    """The flag of the click parameter ``name`` of ``command`` (or of its
    subcommands), or ``None``."""
    if command is None or not name:
        return None
    commands = [command] + list(getattr(command, "commands", {}).values())
    for cmd in commands:  # a group's own options first, then its subcommands'
        for p in cmd.params:
            if isinstance(p, click.Option) and p.name == name:
                return max(p.opts, key=len)
    return None


def flag_for(command: Optional[click.Command], param: Optional[str],
             path: Optional[str] = None) -> Optional[str]:
    r"""The command's flag for a library name: a run-spec path first
    (``data.seed`` -> ``--data-seed``, ``model.embedding_dim`` -> ``--dim``),
    then a parameter name (``epochs`` -> ``--epochs``, ``sampler options`` ->
    ``--sampler-opt``), through :data:`FLAGS`; ``None`` if the command has
    no such flag."""
    if path:
        flag = _option(command, FLAGS.get(path, path.rpartition(".")[2]))
        if flag:
            return flag
    if not param:
        return None
    for name in (FLAGS.get(param), param, param.replace(" options", "_opt")):
        flag = _option(command, name)
        if flag:
            return flag
    return None


def user_message(error: GnnrecError, command: Optional[click.Command]) -> str:
    path = getattr(error, "path", None)
    flag = flag_for(command, None, path) if path else None
    if flag and error.detail:
        option = path.rpartition(".")[2]
        detail = error.detail
        if error.param and error.param.endswith(" options") and detail.startswith(option):
            detail = detail[len(option):].lstrip()  # "embedding_dim must ..." -> "must ..."
        return f"{flag} {detail}"
    flag = flag_for(command, error.param)
    if flag and error.detail:
        return f"{flag} {error.detail}"
    return str(error)


class Group(click.Group):
    """Maps every failure to one line: user mistakes exit 2, bugs exit 1."""

    def make_context(self, info_name, args, parent=None, **extra):
        ctx = super().make_context(info_name, list(args), parent=parent, **extra)
        ctx.meta["argv"] = ["gnnrec", *args]  # as given: result files record what made them
        return ctx

    def invoke(self, ctx):
        from gnnrec.train.trainer import TrainingStopped

        try:
            return super().invoke(ctx)
        except GnnrecError as e:
            name = ctx.invoked_subcommand
            command = self.get_command(ctx, name) if name else None
            raise UserError(user_message(e, command)) from None
        except TrainingStopped as e:
            raise click.ClickException(str(e)) from None
        except OSError as e:  # the machine refusing a write no gnnrec code path caught
            failed = write_failure(e, e.filename or "a file")
            if failed is None:
                raise click.ClickException(f"{type(e).__name__}: {e} ({BUG_HINT})") from None
            raise UserError(str(failed)) from None
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort,
                KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:  # an unexpected failure: short, with where to report it
            if os.environ.get("GNNREC_DEBUG"):
                traceback.print_exc()
            raise click.ClickException(f"{type(e).__name__}: {e} ({BUG_HINT})") from None


class Session:
    r"""The one context object: how to talk to the user. Progress and notes
    go to stderr (silenced by ``--quiet``); results go to stdout."""

    def __init__(self, quiet: bool):
        self.quiet = quiet

    def echo(self, msg: str = "") -> None:
        if not self.quiet:
            click.echo(msg, err=True)

    def progress(self, flag: Optional[bool]) -> bool:
        return (sys.stderr.isatty() and not self.quiet) if flag is None else flag
