"""FluxNex's pytest plugin (entry point ``pytest11``): fixtures for plugin authors.

Fixtures are added as the kit grows; see ``docs/plugin-authoring.md``.
"""

from __future__ import annotations
