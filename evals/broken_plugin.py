"""A task plugin whose entry point failed to load: whose it is, what is missing, and the one line that says so.

A plugin is built in when the vargpt-evals distribution itself registers it: its failure means a broken
install, which every command reports. A third-party plugin's failure only concerns its own tasks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BUILTIN_DISTRIBUTION = "vargpt-evals"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def normalize(name: str) -> str:
    """A distribution or module name in PEP 503 form: `Foo_Bar.baz` -> `foo-bar-baz`."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class BrokenPlugin:
    """One entry point of `vargpt_evals.tasks` that raised on load."""

    name: str  # the entry point's name
    target: str  # its value, `module:attribute`
    distribution: str  # the distribution that registers it; "" when unknown
    error: str  # `Type: message`, first line
    missing: str = ""  # the top-level module an import could not find ("" when the error is another)
    requirement: str = ""  # what to pip install for it: the plugin's own requirement when it declares one

    @property
    def builtin(self) -> bool:
        """Registered by vargpt-evals itself."""
        return normalize(self.distribution) == BUILTIN_DISTRIBUTION

    def describe(self) -> str:
        """`built-in task plugin 'mmbench' (tasks.mmbench:TASKS)`, or the third-party one with its distribution."""
        owner = "built-in" if self.builtin else f"third-party ({self.distribution or 'unknown distribution'})"
        return f"{owner} task plugin {self.name!r} ({self.target})"

    def fix(self) -> str:
        """How to make it load: install the missing package, else reinstall the distribution."""
        if self.missing:
            return f"install it with `pip install {shell_word(self.requirement or self.missing)}`"
        if not self.distribution:
            return "fix or reinstall the package that provides it"
        return f"fix or reinstall {self.distribution} (`pip install --force-reinstall {shell_word(self.distribution)}`)"

    def message(self) -> str:
        """One line: the plugin, the missing package (or the error) and the fix."""
        if self.missing:
            cause = f"needs the package {self.missing!r}, which is not installed ({self.error})"
        else:
            cause = f"failed to import ({self.error})"
        return f"{self.describe()} {cause}; {self.fix()}"


def shell_word(text: str) -> str:
    """`text` quoted for a shell when it holds characters a shell would read (`<`, `>`, spaces, ...)."""
    return text if re.fullmatch(r"[A-Za-z0-9._\-\[\],=]+", text) else f"'{text}'"


def diagnose(name: str, target: str, distribution: str, requires: list[str], error: BaseException) -> BrokenPlugin:
    """What went wrong loading entry point `name = target` of `distribution` (whose requirements are `requires`)."""
    text = f"{type(error).__name__}: {error}".splitlines()[0]
    missing = missing_package(target, error)
    requirement = next((r for r in requires if _requirement_names(r, missing)), "") if missing else ""
    return BrokenPlugin(name, target, distribution, text, missing, requirement.split(";")[0].strip())


def missing_package(target: str, error: BaseException) -> str:
    """The top-level module a failed import could not find, unless it is the plugin's own package."""
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return ""
    top = error.name.split(".")[0]
    own = target.split(":")[0].split(".")[0]
    # A submodule of the plugin's own package that is missing is a broken plugin, not a missing package.
    return "" if top == own else top


def _requirement_names(requirement: str, module: str) -> bool:
    """Whether a requirement line (`openpyxl>=3.1`, `lmms-eval<0.8; extra == "lmms"`) installs `module`."""
    found = _NAME.match(requirement.strip())
    return bool(found) and normalize(found.group(0)) == normalize(module)
