"""The CLI's commands, one module each; :mod:`streams.cli` assembles them."""
