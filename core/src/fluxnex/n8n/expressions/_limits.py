"""Resource limits of the expression engine (see the package docstring)."""

from typing import Final

MAX_EXPRESSION_LENGTH: Final = 10_000
MAX_NESTING_DEPTH: Final = 64
MAX_STEPS: Final = 10_000
MAX_STRING_LENGTH: Final = 1_000_000
MAX_ARRAY_LENGTH: Final = 100_000
MAX_WORK: Final = 10_000_000
MAX_REGEX_SOURCE: Final = 200
MAX_REGEX_INPUT: Final = 2_000
#: Wall-clock seconds one evaluation may take, regex matching included (matches run with the rest as timeout).
MAX_SECONDS: Final = 0.5
