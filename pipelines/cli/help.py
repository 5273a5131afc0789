"""How `--help` reads: plain text (no boxes, no markup: `[lists]` is text), flags as flags, each
value by what goes there (`--tenant TENANT`, `--store URL`, `PATH...`), and the example that ends
each command's docstring (a block starting `Example:`, kept as written)."""
from __future__ import annotations

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


class _Argument(TyperArgument):
    """`PATH...` (required) or `[ADDRESS]...`, never `{paths}...` or `<list[Path]>`."""

    def _label(self) -> str:
        return (self.metavar or (self.name or "").upper()) + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx) -> None:
        return None

    def _rich_display_name(self) -> str:
        return self._label()

    def _usage_display_name(self) -> str:
        return self._label() if self.required else f"[{self._label()}]"


class _Option(TyperOption):
    """`--store URL`; a flag (`--dry-run`) takes no value and shows none."""

    def display_type_rich(self, ctx) -> str | None:
        if self.is_flag or self.count:
            return None
        return self.metavar or (self.name or "VALUE").upper()


def _tidy(command) -> None:
    for param in command.params:
        if type(param) is TyperArgument:
            param.__class__ = _Argument
        elif type(param) is TyperOption:
            param.__class__ = _Option



_EXAMPLE = "\b\nExample:"


class Group(TyperGroup):
    """A command group whose commands' help reads as above."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            if not isinstance(command, TyperCommand):
                continue
            _tidy(command)
            text, marker, example = (command.help or "").partition(_EXAMPLE)
            if marker:  # the docstring's example goes last, after the options
                command.help, command.epilog = text.rstrip(), marker + example


def new_app(**kwargs) -> typer.Typer:
    """A `typer.Typer` (the app, or a group of it) with plain help."""
    return typer.Typer(cls=Group, rich_markup_mode=None, no_args_is_help=True, **kwargs)
