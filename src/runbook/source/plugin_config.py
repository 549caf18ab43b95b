"""The ``runbook`` plugin's options, declared with MkDocs ``config_options``.

Imported by the plugin, and by :func:`runbook.source.config.load_settings` when the
command line reads a config file; kept apart so that finding a project imports nothing
of MkDocs.
"""

from __future__ import annotations

from mkdocs.config import config_options as c
from mkdocs.config.base import Config


class RunbookPluginConfig(Config):
    """Options of the ``runbook`` plugin in mkdocs.yml (all optional)."""

    enabled = c.Type(bool, default=True)
    """Render runbooks into the site; false leaves the docs folder as it is."""
    runbooks = c.Type(str, default="runbooks")
    """The folder of runbooks, relative to the config file."""
    environments = c.Type(str, default="environments")
    """The folder of environment profiles (``<name>.yml``), relative to the config file."""
    runs = c.Type(str, default="runs")
    """The run store: a folder, relative to the config file, or an object-store URL
    (``s3://bucket/prefix``, ``gs://...``, ``az://...``). ``RUNBOOK_RUNS`` (a folder relative
    to the working directory, or a URL) overrides it for one command."""
    storage_options = c.Type(dict, default={})
    """Extra options for the object store's fsspec filesystem (never credentials: those
    come the way the store's SDK reads them, e.g. the standard AWS variables and files)."""
    environment = c.Optional(c.Type(str))
    """The profile ``runbook exec`` uses without ``--env`` (default: ``local`` when it exists)."""
    alert_rules = c.ListOfItems(c.Type(str), default=[])
    """Prometheus rule files (glob patterns relative to the config file) the site reads:
    runbook pages show their alerts' severity, and the alerts index lists every alert."""


class ProjectConfig(Config):
    """The part of mkdocs.yml a Runbook command needs; other keys are MkDocs' business."""

    docs_dir = c.DocsDir(default="docs", exists=False)
    plugins = c.Optional(c.Type((list, dict)))
    site_url = c.Optional(c.URL(is_dir=True))
    """Where the site is published; metrics link alerts to runbook pages under it."""
