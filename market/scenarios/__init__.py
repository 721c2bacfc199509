"""Scenario files: TOML in this folder (or any path) parsed strictly into a ``WorldConfig``.

Layout of a file (see ``colossus-2026.toml``): top-level world fields, then named tables
``[regions.NAME]``, ``[labs.NAME]``, ``[sellers.NAME]`` with ``[sellers.NAME.sites.SITE]``,
``[terms.TEMPLATE]`` (overrides of a contract template), ``[market]``, ``[costs]``, and arrays of
tables ``[[contracts]]`` and ``[[shocks]]``. ``extends = "colossus-2026"`` starts from another
scenario and changes only what differs (tables merge key by key, arrays and other values replace;
a key set to ``"__delete__"`` removes it). A file that does not set ``name`` is named after itself.
Any key can be overridden with ``KEY.PATH=VALUE`` (the command line's ``--set``; array elements as
``contracts[0].h100e``). A key that may be absent (e.g. ``seller_notice_days`` of a side that
cannot exit) takes the string ``"none"``.

Validation is strict and happens before anything runs: an unknown key, a wrong type, an
impossible value (negative MW, a contract larger than its site), an unknown name (template,
generation, region, lab, seller, site, strategy) or dates out of order (a site online before its
GPU generation exists, an "online" site that comes online after the start, funding out of date
order, a contract or shock before the start) raise ``ScenarioError``. Every message names the
file, the key path and the value, and suggests the nearest valid key or name.

Comments are data too: the ``# ... cal:TAG`` comment next to a key is its source, and
:func:`parameters` returns every parameter with its value, its comment and the file that set it
(following ``extends``).

The package is four modules, one job each: ``loading`` (files and ``extends``), ``build``
(validation into a ``WorldConfig``), ``overrides`` (``--set``) and ``describe`` (comments and the
TOML writer); everything public is imported from here.
"""

from market.scenarios.build import (
    ARRAYS,
    HIDDEN,
    INT_LIMIT,
    NAMED_TABLES,
    NONE,
    TABLES,
    build_world,
    schema,
    valid_keys,
)
from market.scenarios.describe import (
    Parameter,
    cal_tags,
    file_comments,
    header_comment,
    parameters,
    to_toml,
)
from market.scenarios.loading import (
    DEFAULT,
    DELETE,
    ScenarioError,
    available,
    load_raw,
    merge,
    not_utf8,
    read_toml,
    scenario_dir,
)
from market.scenarios.overrides import (
    apply_override,
    load_scenario,
    override_list,
    parse_value,
    resolve,
    set_value,
    split_key,
    toml_value,
)

__all__ = [
    "ARRAYS",
    "DEFAULT",
    "DELETE",
    "HIDDEN",
    "INT_LIMIT",
    "NAMED_TABLES",
    "NONE",
    "TABLES",
    "Parameter",
    "ScenarioError",
    "apply_override",
    "available",
    "build_world",
    "cal_tags",
    "file_comments",
    "header_comment",
    "load_raw",
    "load_scenario",
    "merge",
    "not_utf8",
    "override_list",
    "parameters",
    "parse_value",
    "read_toml",
    "resolve",
    "scenario_dir",
    "schema",
    "set_value",
    "split_key",
    "to_toml",
    "toml_value",
    "valid_keys",
]
