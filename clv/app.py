"""The ``clv`` app: the stages' commands under one name, grouped by stage, each with an example.

Exit codes: 0 ok, 2 bad input (one message, no traceback, no output file), 1 internal error, 130 interrupted."""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Annotated

import typer

from clv import defaults, package_version
from clv.errors import handle_errors
from clv.terminal import default_log_file, quiet

defaults.telemetry_off()

from features import cli as features_cli  # noqa: E402  (after telemetry is off)
from serving import cli as serving_cli  # noqa: E402
from training import cli as training_cli  # noqa: E402

DATA, MODELS, SERVING = "Data", "Models", "Serving"
COMMANDS = [
    (features_cli.generate, DATA, "clv generate --out data --customers 50000"),
    (features_cli.features, DATA, "clv features -t data/transactions.parquet --as-of 2024-07-01 -o features.parquet"),
    (training_cli.train, MODELS, "clv train -t data/transactions.parquet --as-of 2025-01-01 --order-col order_id"),
    (training_cli.promote, MODELS, "clv promote"),
    (training_cli.score, MODELS, "clv score -t data/transactions.parquet --as-of 2025-01-01 -o scores.parquet"),
    (training_cli.demo, MODELS, "clv demo --workdir demo-output"),
    (serving_cli.serve, SERVING, "CLV_API_KEY=... clv serve --snapshot scores.parquet --port 3000"),
    (serving_cli.bento, SERVING, "clv bento --snapshot scores.parquet"),
]  # fmt: skip

app = typer.Typer(
    name="clv",
    help="Churn probability and customer lifetime value from purchase logs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _help(command) -> str:
    """The docstring with its lines joined (rich markup mode would keep every line break)."""
    return re.sub(r"(?<!\n)\n(?!\n)", " ", inspect.cleandoc(command.__doc__ or ""))


for command, panel, example in COMMANDS:
    app.command(
        command.__name__, help=_help(command), rich_help_panel=panel, epilog=f"[bold]Example:[/] [cyan]{example}[/]"
    )(handle_errors(command))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"clv {package_version()}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show what libraries log (MLflow, BentoML, Spark) on screen instead of the log file.",
        ),
    ] = False,
    log_file: Annotated[
        Path | None,
        typer.Option(
            help="Where library logs and tracebacks go (default: $CLV_LOG_FILE, else ~/.local/state/clv/clv.log).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Churn probability and customer lifetime value from purchase logs. Every command has --help with an example."""
    if ctx.invoked_subcommand == "serve":  # the server's own access log belongs on screen
        return
    try:
        ctx.obj = ctx.with_resource(quiet(log_file or default_log_file(), verbose, required=log_file is not None))
    except OSError as exc:
        raise typer.BadParameter(f"cannot write {log_file}: {exc.strerror or exc}", param_hint="--log-file") from None


def main() -> None:
    """Console-script entry point."""
    app(prog_name="clv")


if __name__ == "__main__":
    sys.exit(main())
