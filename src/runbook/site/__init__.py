"""Site adapters: the MkDocs plugin and the ``build``/``serve`` entry points."""
