"""The `navigator` command."""

from __future__ import annotations

import click

from navigator import __version__
from navigator.checker.cli import check_data
from navigator.local.cli import local
from navigator.operator.cli import operator
from navigator.pilot.cli import pilot
from navigator.replace import replace
from navigator.restart import restart
from navigator.status.cli import status


@click.group()
@click.version_option(__version__, prog_name="navigator")
def cli() -> None:
    """Navigator runs distributed databases on Kubernetes as safely as an expert would by hand."""


cli.add_command(local)
cli.add_command(pilot)
cli.add_command(check_data)
cli.add_command(operator)
cli.add_command(status)
cli.add_command(restart)
cli.add_command(replace)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
