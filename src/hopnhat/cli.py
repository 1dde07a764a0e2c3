"""The ``hopnhat`` command: a Typer root whose sub-commands come from each part's ``cli.py``.

Errors a user can cause end as one line on stderr and exit code 1 (2 for usage errors, as click does); an
unexpected error also prints one line, and the traceback only with ``HOPNHAT_DEBUG=1``.
"""

from __future__ import annotations

import gc
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

# Only light modules here and in the parts' ``cli.py``: every call (even ``--help``) imports all of them, so each
# command imports the store, the services and their libraries itself.
from hopnhat.cli_support import CliState, as_service, console, err_console
from hopnhat.errors import HopnhatError


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code=1)


def _store_error(exc: Exception) -> str | None:
    """The one line for a SQLAlchemy error, or None for any other error."""
    if "sqlalchemy.exc" not in sys.modules:
        return None  # not loaded, so ``exc`` cannot be one of its errors (and loading it would slow every call)
    from sqlalchemy.exc import OperationalError, SQLAlchemyError

    if isinstance(exc, OperationalError):
        return f"the store cannot be reached: {str(exc.orig).strip().splitlines()[0]}"
    if isinstance(exc, SQLAlchemyError):
        return f"store error: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


class _Root(TyperGroup):
    """Turns every error into one readable line (the same for CliRunner in tests and for a real shell)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except HopnhatError as exc:
            raise _fail(exc.detail) from None
        except FileNotFoundError as exc:
            raise _fail(f"{exc.filename}: no such file") from None
        except KeyboardInterrupt:
            raise _fail("interrupted") from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            store_error = _store_error(exc)
            if store_error is not None:
                raise _fail(store_error) from None
            if type(exc).__module__.startswith(("click", "typer")):
                raise  # usage errors: the framework prints them and exits 2
            obj = ctx.obj
            if isinstance(obj, CliState) and obj.settings.debug:
                raise
            raise _fail(f"unexpected {type(exc).__name__}: {exc} (set HOPNHAT_DEBUG=1 for the traceback)") from None


app = typer.Typer(
    cls=_Root,
    name="hopnhat",
    help="hopnhat: the registry, consolidation, settlement and continuity of the merged Cần Thơ City.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        from hopnhat import __version__

        console.print(f"hopnhat {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option("--db", help="SQLAlchemy URL of the store (default: env HOPNHAT_DATABASE_URL, or hopnhat.db)."),
    ] = None,
    _show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print hopnhat's version and exit."),
    ] = False,
) -> None:
    from hopnhat.config import get_settings
    from hopnhat.ops.logs import configure

    settings = get_settings(database_url=db)
    configure(settings)
    if "log_level" not in settings.model_fields_set:
        # A one-shot command prints its result on stdout; INFO lines on stderr beside it ("dossier ... received")
        # read as noise. The long-running commands log at INFO (cli_support.as_service).
        import logging

        logging.getLogger().setLevel(logging.WARNING)
    ctx.obj = CliState(settings)
    ctx.call_on_close(ctx.obj.close)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (use the number of cores on PostgreSQL; 1 on SQLite).")
    ] = 1,
) -> None:
    """Serve the REST API (and web pages) with uvicorn."""
    import os

    import uvicorn

    from hopnhat.app import create_app
    from hopnhat.identity.service import check_can_serve

    state: CliState = ctx.obj
    as_service(ctx)
    check_can_serve(host, state.settings)
    state.engine()  # migrate before the first request
    console.print(f"hopnhat API on http://{host}:{port}/api/v1 (docs at /docs)")
    # uvicorn answers SIGTERM by finishing the requests in flight and the app's shutdown (the last audit seal), then
    # raises the signal again to the handler it found: an empty one here, so a stop asked for exits 0.
    import signal

    signal.signal(signal.SIGTERM, lambda _signum, _frame: None)
    if workers == 1:
        uvicorn.run(create_app(state.settings), host=host, port=port, log_level="warning")
        return
    # Worker processes build their own app from the environment, so hand them this command's settings that way.
    os.environ["HOPNHAT_DATABASE_URL"] = state.settings.database_url
    uvicorn.run("hopnhat.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="warning")


PARTS = (
    "hopnhat.registry.cli",
    "hopnhat.registry.address_cli",
    "hopnhat.legacy.cli",
    "hopnhat.sync.cli",
    "hopnhat.sync.steward_cli",
    "hopnhat.settlement.cli",
    "hopnhat.portal.cli",
    "hopnhat.notices.cli",
    "hopnhat.continuity.cli",
    "hopnhat.web.cli",
    "hopnhat.identity.cli",
    "hopnhat.demo",
    "hopnhat.ops.cli",
)
"""Modules that contribute commands: each has ``register(app: typer.Typer) -> None``."""


def _register_parts() -> None:
    import importlib

    for part in PARTS:
        importlib.import_module(part).register(app)


_register_parts()


def main() -> None:
    """Console entry point."""
    try:
        sys.exit(app())
    finally:
        # The interpreter's shutdown runs full collections over everything still alive, and after a sync run that
        # took 0.25-0.4 s (measured on a 1M store with `perf`: gc_collect_main after the last atexit handler). Nothing
        # is garbage worth finding at exit; frozen objects are left out of those passes, and the atexit handlers
        # and buffer flushes still run. This process ends here, so nothing stays frozen for long.
        gc.freeze()


__all__ = ["app", "main"]
