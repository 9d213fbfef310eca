"""Packaging for txslackrtm: the Slack RTM client for Twisted."""

import os

from setuptools import Command, find_packages, setup
from setuptools.dist import Distribution

with open("README.md", encoding="utf-8") as readme:
    long_description = readme.read()

#: The twistd plugin (``twistd slackrtm``). Twisted looks for plugins in every
#: ``twisted/plugins/`` directory on ``sys.path`` that is not a package, so the dropin must land
#: in site-packages/twisted/plugins/, beside Twisted's own. Listing ``twisted.plugins`` as a
#: package does that for ``pip install .`` only: ``pip install -e .`` maps packages with a
#: meta path finder, which Twisted's directory scan never sees. Installing it as a data file
#: into site-packages (install_dropin, DropinDistribution) copies it there in both modes.
DROPIN = "twisted/plugins/txslackrtm_plugin.py"


class DropinDistribution(Distribution):
    """
    A distribution that an editable install asks, correctly, whether it has data files.

    setuptools' ``editable_wheel`` installs data files "as non editable", but only when the
    distribution answers ``has_data()``, which only the ``install`` command defines: without
    this, ``pip install -e .`` would silently leave the dropin out.
    """

    def has_data(self):
        return self.has_data_files()


class install_dropin(Command):
    """
    Install ``data_files`` relative to site-packages rather than to the installation prefix.

    Used as ``install_data``, which both a wheel build and an editable install run, with
    ``install_lib`` pointing into the wheel. The only data file is the twistd dropin.
    """

    description = "install data files (the twistd dropin) into site-packages"
    user_options: list[tuple[str, str | None, str]] = []

    def initialize_options(self):
        self.install_dir = None
        self.outfiles = []

    def finalize_options(self):
        self.set_undefined_options("install", ("install_lib", "install_dir"))

    def run(self):
        for directory, files in self.distribution.data_files:
            target = os.path.join(self.install_dir, directory)
            self.mkpath(target)
            for name in files:
                installed, _copied = self.copy_file(name, target)
                self.outfiles.append(installed)

    def get_inputs(self):
        return [name for _directory, files in self.distribution.data_files for name in files]

    def get_outputs(self):
        return self.outfiles


setup(
    name="txslackrtm",
    version="0.1.0.dev0",
    description="Slack Real Time Messaging (RTM) client for Twisted",
    long_description=long_description,
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.11",
    packages=find_packages(include=["txslackrtm", "txslackrtm.*"]),
    package_data={"txslackrtm": ["py.typed"]},
    data_files=[(os.path.dirname(DROPIN), [DROPIN])],
    cmdclass={"install_data": install_dropin},
    distclass=DropinDistribution,
    install_requires=[
        "twisted>=24.10",
        "autobahn>=23.1",
        "treq>=23.11",
        "service-identity>=24.1",
        "pyopenssl>=24.0",
    ],
    extras_require={
        "fast": ["orjson>=3.9"],
        "test": ["hypothesis>=6.100", "cryptography>=42", "orjson>=3.9"],
        "lint": ["ruff>=0.6", "mypy>=1.10", "mypy-zope>=1.0", "orjson>=3.9"],
        "docs": ["sphinx>=7.0", "myst-parser>=3.0"],
        "buildbot": ["buildbot>=4.0"],
    },
    classifiers=[
        "Framework :: Twisted",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
        "Topic :: Communications :: Chat",
    ],
)
