# -*- test-case-name: tests.test_testing -*-
"""
Test your Slack bot under trial against a fake Slack on loopback, with no token and no network.

L{FakeSlack} is a real server: it listens on C{127.0.0.1}, answers C{rtm.connect} and
C{rtm.start}, and serves the RTM WebSocket, so the bot's real client and real protocol code
run, just as they would against Slack. The test plays Slack's users and Slack itself: it
posts messages, waits for what the bot sends, and scripts the faults a long-running bot meets
(dropped connections, C{goodbye}, silent half-open sockets, rate limits, expired URLs...).

A whole test::

    from twisted.internet.defer import inlineCallbacks
    from twisted.trial.unittest import TestCase

    from txslackrtm.testing import FakeSlack


    def setup(rtm):
        @rtm.on("message")
        def echo(event):
            if event.get("user") != rtm.active_user_id:
                return rtm.send_message(event["text"], event["channel"])


    class EchoTests(TestCase):
        @inlineCallbacks
        def test_echo(self):
            slack = yield FakeSlack.listen(self)  # stopped, and checked, by a cleanup
            rtm = slack.client()  # a real RTMClient aimed at the fake, valid token
            self.addCleanup(rtm.disconnect)
            setup(rtm)
            yield rtm.start()
            slack.say("C1", "hello", user="U2")  # as if a person typed it
            sent = yield slack.next_message("C1")  # what the bot sent back
            self.assertEqual(sent["text"], "hello")

The fake's timers are the reactor's, and none are left behind when it stops. To control the
client's own timers (keepalive, retry backoff) from the test, give the client
C{reactor=clocked_reactor(clock)}: it still talks over real sockets, but its timers only fire
on C{clock.advance()}.
"""

from ._fakeserver import ConnectStall, FakeSlack, clocked_reactor
from ._fakeslack import ConnectCall, Violation

__all__ = ["ConnectCall", "ConnectStall", "FakeSlack", "Violation", "clocked_reactor"]
