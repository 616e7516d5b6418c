"""Which packages the distribution holds; everything else about it is in pyproject.toml.

Here rather than in pyproject.toml because one package lives outside its parent's folder: the preset configs
stay in configs/ at the top of the clone (where the README's commands name them) and are installed as the
package vtg.configs (vtg.config.preset reads them through importlib.resources). pyproject.toml's
``packages.find`` cannot add such a mapped package, and would override this list if it were set there.
"""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["vtg*", "spiking*", "sdst_teacher*", "export*", "hw_sim*", "energy*"])
    + ["vtg.configs"],
    package_dir={"vtg.configs": "configs"},
)
