"""``mediqa export``: a checkpoint to ONNX ([train] extra, imported only when run) or a Triton repository.

``mediqa export CHECKPOINT --name ...`` keeps its old form: anything that is not a subcommand name goes to
``mediqa export checkpoint``.
"""

from __future__ import annotations

import importlib

import click

__all__ = ["export_group"]

# subcommand -> (module, attribute, short help); imported only when run
_SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "checkpoint": (
        "mediqa_sdk.export.onnx_export",
        "export_command",
        "A trained checkpoint to ONNX, parity-checked and registered [train extra].",
    ),
    "triton": (
        "mediqa_sdk.triton.cli",
        "triton_command",
        "The registry's graphs as a Triton model repository.",
    ),
}


class _ExportGroup(click.Group):
    """Subcommands imported on use; a first argument that names none of them is a checkpoint path."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = _SUBCOMMANDS.get(cmd_name)
        if spec is None:
            return None
        module, attr, _ = spec
        try:
            command: click.Command = getattr(importlib.import_module(module), attr)
        except ImportError as err:
            from .cli import _missing_extra

            return _missing_extra(f"export {cmd_name}", err)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] in _SUBCOMMANDS:
            return super().resolve_command(ctx, args)
        return "checkpoint", self.get_command(ctx, "checkpoint"), args  # the old `mediqa export CHECKPOINT`

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, spec[2]) for name, spec in sorted(_SUBCOMMANDS.items())])


@click.group(
    "export",
    cls=_ExportGroup,
    context_settings={"ignore_unknown_options": True},
    subcommand_metavar="CHECKPOINT [OPTIONS] | triton OUT [OPTIONS]",
)
def export_group() -> None:
    """Export models: `mediqa export CHECKPOINT --name NAME` (same as `mediqa export checkpoint ...`)
    writes ONNX and registers it [train extra]; `mediqa export triton OUT` writes a Triton model
    repository from the registry."""
