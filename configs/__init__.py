"""The preset configs (YAML). Installed, this folder is the package ``vtg.configs`` (setup.py maps it there)
so that :func:`vtg.config.preset` finds the files through importlib.resources outside a clone too."""
