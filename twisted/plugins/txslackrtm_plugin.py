"""
The twistd plugin: C{twistd slackrtm --help}. It names L{txslackrtm.tap}, imported only when
the command is used. This directory has no C{__init__.py}, on purpose: Twisted finds dropins
in every C{twisted/plugins/} directory on C{sys.path} that is not a package.
"""

from twisted.application.service import ServiceMaker

TxSlackRTM = ServiceMaker(
    "txslackrtm", "txslackrtm.tap", "Run Slack bots on the Real Time Messaging API.", "slackrtm"
)
