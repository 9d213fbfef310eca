"""Packaging for txslackrtm: the Slack RTM client for Twisted."""

from setuptools import find_packages, setup

with open("README.md", encoding="utf-8") as readme:
    long_description = readme.read()

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
    install_requires=[
        "twisted>=24.10",
        "autobahn>=23.1",
        "treq>=23.11",
        "service-identity>=24.1",
        "pyopenssl>=24.0",
    ],
    extras_require={
        "test": ["hypothesis>=6.100", "cryptography>=42"],
        "lint": ["ruff>=0.6", "mypy>=1.10", "mypy-zope>=1.0"],
        "docs": ["sphinx>=7.0", "myst-parser>=3.0"],
    },
    classifiers=[
        "Framework :: Twisted",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
        "Topic :: Communications :: Chat",
    ],
)
