# -*- test-case-name: tests.test_bad_input -*-
"""
Bad input from the user: every option and argument of the wrong type or value is refused
with a TypeError or ValueError that names it, before any I/O, and changes nothing.

C{tests.test_arguments} covers the simple options (token, timeouts, flags, rate limit,
logging) and the plain argument checks on a client that was never started; this module adds
the options that load or reach something (C{tls}, C{proxy}, C{agent}, C{reactor},
C{max_incoming_bytes}), the body of an event, and the same checks on a client that is
connecting or ready, where a refused call must not send a frame or use up a message id.
"""

from __future__ import annotations

import gc
import logging
import math
from collections.abc import Callable
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from txslackrtm import RTMClient
from txslackrtm._certs import encrypt_key, make_ca, make_client_certificate, make_pkcs12

from .support import ClientTestCase

TOKEN = "xoxb-1234-very-secret"
CA = make_ca()
CLIENT = make_client_certificate(CA)
PASSPHRASE = b"open sesame"

#: (option, value, error, what the message must name). A password or passphrase in the
#: value must not show in the message.
BAD_OPTIONS: list[tuple[str, object, type[Exception], str]] = [
    ("proxy", "http://proxy.example:notaport", ValueError, "proxy"),
    ("proxy", "socks5://proxy.example:1080", ValueError, "proxy"),
    ("proxy", "http://bot:hunter2@proxy.example:99999", ValueError, "proxy"),
    ("proxy", "http://proxy.example:3128/some/path", ValueError, "proxy"),
    ("proxy", "proxy.example:3128", ValueError, "proxy"),
    ("proxy", 3128, TypeError, "proxy"),
    ("proxy", True, TypeError, "proxy"),
    ("proxy", b"http://proxy.example:3128", TypeError, "proxy"),
    ("tls", "ca.pem", TypeError, "tls"),
    ("tls", {"ca": "not a certificate"}, ValueError, "tls['ca']"),
    ("tls", {"ca": b"\x00\x01\x02"}, ValueError, "tls['ca']"),
    ("tls", {"ca": 5}, TypeError, "tls['ca']"),
    ("tls", {"cafile": CA.cert_pem}, ValueError, "cafile"),
    ("tls", {"cert": CLIENT.cert_pem, "key": b"not a key"}, ValueError, "tls['key']"),
    ("tls", {"cert": b"not a certificate", "key": CLIENT.key_pem}, ValueError, "tls['cert']"),
    ("tls", {"key": CLIENT.key_pem}, ValueError, "tls['cert']"),
    ("tls", {"cert": CA.cert_pem, "key": CLIENT.key_pem}, ValueError, "tls['key']"),
    (
        "tls",
        {"cert": CLIENT.cert_pem, "key": encrypt_key(CLIENT, PASSPHRASE)},
        ValueError,
        "tls['passphrase']",
    ),
    (
        "tls",
        {
            "cert": CLIENT.cert_pem,
            "key": encrypt_key(CLIENT, PASSPHRASE),
            "passphrase": "hunter2",
        },
        ValueError,
        "tls['passphrase']",
    ),
    ("tls", {"pfx": b"not PKCS#12"}, ValueError, "tls['pfx']"),
    ("tls", {"pfx": make_pkcs12(CLIENT, PASSPHRASE)}, ValueError, "tls['pfx']"),
    ("tls", {"pfx": "text, not bytes"}, TypeError, "tls['pfx']"),
    ("max_incoming_bytes", 100, ValueError, "max_incoming_bytes"),
    ("max_incoming_bytes", -1, ValueError, "max_incoming_bytes"),
    ("max_incoming_bytes", "4 MiB", TypeError, "max_incoming_bytes"),
    ("max_incoming_bytes", 4096.0, TypeError, "max_incoming_bytes"),
    ("max_incoming_bytes", True, TypeError, "max_incoming_bytes"),
    ("client_ping_timeout", math.inf, ValueError, "client_ping_timeout"),
    ("reply_ack_on_reconnect_timeout", 0, ValueError, "reply_ack_on_reconnect_timeout"),
    ("rate_limit", (1.0, 2.5), ValueError, "burst"),
    ("rate_limit", (math.inf, 5), ValueError, "messages_per_second"),
    ("rate_limit", (1.0, 5, 1), TypeError, "rate_limit"),
    ("slack_api_url", "https://slack.com:99999/api/", ValueError, "slack_api_url"),
    ("slack_api_url", "https:///api/", ValueError, "slack_api_url"),
    ("log_level", 10, ValueError, "log_level"),
    ("logger", "stdout", TypeError, "logger"),
    ("agent", object(), TypeError, "agent"),
    ("agent", "https://slack.com/", TypeError, "agent"),
    ("reactor", object(), TypeError, "reactor"),
]

_SECRETS = ("hunter2", PASSPHRASE.decode())


class OptionTests(SynchronousTestCase):
    """Each bad option is refused by the constructor, by name, before any connection."""

    def check_refused(self, option: str, value: object, error: type[Exception], name: str) -> None:
        """The constructor raises C{error} naming C{name}, hides secrets and dials nothing."""
        reactor = MemoryReactorClock()
        options: dict[str, Any] = {"reactor": reactor, "proxy": False, option: value}
        raised = self.assertRaises(error, RTMClient, TOKEN, **options)
        message = str(raised)
        self.assertIn(name, message)
        for secret in (*_SECRETS, TOKEN):
            self.assertNotIn(secret, message)
        self.assertEqual(reactor.tcpClients, [])

    def test_good_material_is_accepted(self) -> None:
        """The same options with usable values are accepted, so the refusals are not blanket."""
        good: list[dict[str, Any]] = [
            {"tls": {"ca": CA.cert_pem}},
            {"tls": {"cert": CLIENT.cert_pem, "key": CLIENT.key_pem}},
            {"tls": {"pfx": make_pkcs12(CLIENT, PASSPHRASE), "passphrase": PASSPHRASE}},
            {"proxy": "http://bot:s%20cret@proxy.example:3128"},
            {"max_incoming_bytes": 1024},
            {"logger": logging.getLogger("txslackrtm.test")},
            {"reactor": Clock()},
        ]
        for options in good:
            options.setdefault("proxy", False)
            options.setdefault("reactor", MemoryReactorClock())
            RTMClient(TOKEN, **options)


def _option_test(
    option: str, value: object, error: type[Exception], name: str
) -> Callable[[OptionTests], None]:
    def test(self: OptionTests) -> None:
        self.check_refused(option, value, error, name)

    shown = repr(value) if len(repr(value)) < 50 else type(value).__name__
    test.__doc__ = f"{option}={shown} is a {error.__name__} naming {name}."
    return test


for _index, (_option, _value, _error, _name) in enumerate(BAD_OPTIONS):
    setattr(
        OptionTests,
        f"test_{_option}_{_index}",
        _option_test(_option, _value, _error, _name),
    )


class _Calls:
    """Bad calls of each public method, and what each must name."""

    BAD: list[tuple[str, tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
        ("send_message", (None, "C1"), {}, TypeError, "text"),
        ("send_message", (b"hi", "C1"), {}, TypeError, "text"),
        ("send_message", ("", "C1"), {}, ValueError, "text"),
        ("send_message", ("hi", None), {}, TypeError, "conversation_id"),
        ("send_message", ("hi", ["C1"]), {}, TypeError, "conversation_id"),
        ("send_message", ("hi", ""), {}, ValueError, "conversation_id"),
        ("send_typing", (None,), {}, TypeError, "conversation_id"),
        ("send_typing", ("",), {}, ValueError, "conversation_id"),
        ("subscribe_presence", ("U1",), {}, TypeError, "user_ids"),
        ("subscribe_presence", (None,), {}, TypeError, "user_ids"),
        ("subscribe_presence", ({"U1": True},), {}, TypeError, "user_ids"),
        ("subscribe_presence", (["U1", ""],), {}, TypeError, "user_ids"),
        ("add_outgoing_event", ("yes", "typing"), {}, TypeError, "await_reply"),
        ("add_outgoing_event", (True, None), {}, TypeError, "type"),
        ("add_outgoing_event", (True, ""), {}, ValueError, "type"),
        ("add_outgoing_event", (False, "typing", "C1"), {}, TypeError, "body"),
        ("send", (None,), {}, TypeError, "type"),
        ("send", ("typing", ["C1"]), {}, TypeError, "body"),
        ("start", (), {"batch_presence_aware": None}, TypeError, "batch_presence_aware"),
        ("on", (None, print), {}, TypeError, "event"),
        ("on", ("message", "print"), {}, TypeError, "listener"),
        ("once", ("message", 5), {}, TypeError, "listener"),
    ]

    #: Event fields that cannot go into a JSON frame: they must be refused like the rest.
    NOT_JSON: dict[str, tuple[str, tuple[Any, ...], dict[str, Any], type[Exception], str]] = {
        "object": ("send_message", ("hi", "C1"), {"thread_ts": object()}, TypeError, "thread_ts"),
        "nan": ("send_message", ("hi", "C1"), {"score": math.nan}, ValueError, "score"),
        "bytes": (
            "add_outgoing_event",
            (False, "typing", {"channel": b"C1"}),
            {},
            TypeError,
            "channel",
        ),
    }


class DisconnectedCallTests(SynchronousTestCase):
    """On a client that is not started, or is connecting, bad calls raise and do nothing."""

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.client = RTMClient(TOKEN, reactor=self.reactor, proxy=False)

    def check_refused(self, calls: list[tuple[Any, ...]]) -> None:
        """Each call raises its error naming its argument, and changes nothing."""
        for method, args, kwargs, error, name in calls:
            state = self.client.state
            connections = len(self.reactor.tcpClients)
            call = f"{method}{args}{kwargs}"
            raised = self.assertRaises(error, getattr(self.client, method), *args, **kwargs)
            self.assertIn(name, str(raised), call)
            self.assertEqual(self.client.state, state, call)
            self.assertEqual(len(self.reactor.tcpClients), connections, call)

    def test_before_start(self) -> None:
        """Before start(), bad arguments raise rather than fail as 'not connected'."""
        self.check_refused(_Calls.BAD)

    def test_while_connecting(self) -> None:
        """While connecting, bad arguments raise, and nothing is queued or dialled."""
        self.client.start()
        self.check_refused(_Calls.BAD)

    def test_off_event_name(self) -> None:
        """off() refuses a non-string event as on() does."""
        self.assertIn("event", str(self.assertRaises(TypeError, self.client.off, 5)))

    def test_listener_count_event_name(self) -> None:
        """listener_count() refuses a non-string event as on() does."""
        raised = self.assertRaises(TypeError, self.client.listener_count, 5)
        self.assertIn("event", str(raised))


class ReadyCallTests(ClientTestCase):
    """On a ready client, refused calls send nothing and use up no message id."""

    @inlineCallbacks
    def test_refused_calls_change_nothing(self) -> Any:
        """After every bad call the client is as it was: the next message still gets id 1."""
        rtm = yield self.ready()
        listeners = rtm.listener_count()
        for method, args, kwargs, error, name in _Calls.BAD:
            raised = self.assertRaises(error, getattr(rtm, method), *args, **kwargs)
            self.assertIn(name, str(raised), f"{method}{args}{kwargs}")
        self.assertEqual(rtm.state, "connected:ready")
        self.assertEqual(rtm.listener_count(), listeners)
        self.assertEqual(rtm._session.awaiting, 0)
        reply = yield rtm.send_message("first", "C1")
        self.assertEqual(reply["reply_to"], 1)
        self.assertEqual([frame.get("text") for frame in self.slack.received], ["first"])

    @inlineCallbacks
    def check_not_json(self, kind: str) -> Any:
        """The call refuses a field JSON cannot carry, by name; no frame is sent, no id used."""
        rtm = yield self.ready()
        method, args, kwargs, error, name = _Calls.NOT_JSON[kind]
        raised = self.assertRaises(error, getattr(rtm, method), *args, **kwargs)
        self.assertIn(name, str(raised))
        reply = yield rtm.send_message("first", "C1")
        self.assertEqual(reply["reply_to"], 1)
        self.assertEqual(len(self.slack.received), 1)


def _not_json_tests(kind: str) -> None:
    """Add the tests of one field JSON cannot carry, in each state of the client."""
    method, _, _, error, name = _Calls.NOT_JSON[kind]
    where = f"{method}() with a {kind} in {name}"

    def before_start(self: DisconnectedCallTests) -> None:
        self.check_refused([_Calls.NOT_JSON[kind]])

    def while_connecting(self: DisconnectedCallTests) -> None:
        self.client.start()
        self.check_refused([_Calls.NOT_JSON[kind]])

    def when_ready(self: ReadyCallTests) -> Any:
        return self.check_not_json(kind)

    before_start.__doc__ = f"Before start(), {where} raises {error.__name__} naming it."
    while_connecting.__doc__ = f"While connecting, {where} raises {error.__name__} naming it."
    when_ready.__doc__ = f"When ready, {where} raises {error.__name__} and sends nothing."
    setattr(DisconnectedCallTests, f"test_not_json_{kind}_before_start", before_start)
    setattr(DisconnectedCallTests, f"test_not_json_{kind}_while_connecting", while_connecting)
    setattr(ReadyCallTests, f"test_not_json_{kind}_when_ready", when_ready)


for _kind in _Calls.NOT_JSON:
    _not_json_tests(_kind)


class RetryPolicyAnswerTests(ClientTestCase):
    """A retry policy is user code too: a wrong answer from it must not wedge the client."""

    @inlineCallbacks
    def test_policy_answering_neither_seconds_nor_none(self) -> Any:
        """A policy answering "soon" ends the client with an error naming retry_policy."""
        rtm = yield self.make(retry_policy=lambda attempt: "soon")
        self.addCleanup(gc.collect)  # so that an unhandled error is reported by this test
        self.slack.fail_connect("internal_error")
        started = rtm.start()
        for _ in range(200):
            if started.called:
                break
            yield deferLater(reactor, 0.001, lambda: None)
        self.assertEqual(rtm.state, "disconnected")
        error = yield self.assertFailure(started, Exception)
        self.assertIn("retry_policy", str(error))
        self.assertEqual(self.clock.getDelayedCalls(), [])
