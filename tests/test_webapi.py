# -*- test-case-name: tests.test_webapi -*-
"""The connect step alone: the Web API call over treq's in-memory agent, and its errors."""

from __future__ import annotations

import json
from typing import Any

from treq.testing import RequestTraversalAgent
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import Request

from txslackrtm import HTTPError, PlatformError, RateLimitedError, RequestError
from txslackrtm._errors import is_fatal, retry_after
from txslackrtm._webapi import RTMConnector

TOKEN = "xoxb-webapi-secret"


class Answer(Resource):
    """Answers every request with a fixed status, headers and body, and keeps the requests."""

    isLeaf = True

    def __init__(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        super().__init__()
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.headers = headers or {}
        self.requests: list[tuple[bytes, str | None, dict[bytes, list[bytes]]]] = []

    def render(self, request: Request) -> bytes:
        self.requests.append(
            (request.path, request.getHeader("authorization"), dict(request.args))
        )
        request.setResponseCode(self.status)
        for name, value in self.headers.items():
            request.setHeader(name, value)
        return self.body


def call(answer: Answer, use_rtm_connect: bool = True, **args: object) -> Any:
    agent = RequestTraversalAgent(answer)
    connector = RTMConnector(agent, "http://slack.test/api/", TOKEN, use_rtm_connect, Clock())
    calling = connector.connect(args)
    agent.flush()  # deliver the form body the in-memory transport holds
    return calling


OK = {
    "ok": True,
    "url": "wss://slack.test/websocket/t1",
    "self": {"id": "U1"},
    "team": {"id": "T1"},
}


class ConnectTests(SynchronousTestCase):
    def test_request(self) -> None:
        """The call is a POST to rtm.connect with a Bearer token and form-encoded arguments."""
        answer = Answer(200, OK)
        connection = self.successResultOf(call(answer, batch_presence_aware=True, n=3))
        (path, authorization, args) = answer.requests[0]
        self.assertEqual(path, b"/api/rtm.connect")
        self.assertEqual(authorization, f"Bearer {TOKEN}")
        self.assertEqual(args, {b"batch_presence_aware": [b"true"], b"n": [b"3"]})
        self.assertEqual(
            (connection.url, connection.user_id, connection.team_id, connection.response),
            (OK["url"], "U1", "T1", OK),
        )

    def test_rtm_start(self) -> None:
        """use_rtm_connect=False calls rtm.start."""
        answer = Answer(200, OK)
        self.successResultOf(call(answer, use_rtm_connect=False))
        self.assertEqual(answer.requests[0][0], b"/api/rtm.start")

    def test_identity_is_optional(self) -> None:
        """A response without self or team still connects; the ids are then unknown."""
        connection = self.successResultOf(call(Answer(200, {"ok": True, "url": "ws://x/"})))
        self.assertEqual((connection.user_id, connection.team_id), (None, None))

    def test_platform_error(self) -> None:
        """ok: false is a PlatformError carrying the response; fatal unless transient."""
        failure = self.failureResultOf(call(Answer(200, {"ok": False, "error": "invalid_auth"})))
        error = failure.value
        self.assertIsInstance(error, PlatformError)
        self.assertEqual(error.data, {"ok": False, "error": "invalid_auth"})
        self.assertTrue(is_fatal(error))
        transient = self.failureResultOf(call(Answer(200, {"ok": False, "error": "fatal_error"})))
        self.assertFalse(is_fatal(transient.value))

    def test_rate_limited(self) -> None:
        """HTTP 429 is a transient RateLimitedError with the Retry-After seconds."""
        answer = Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
        error = self.failureResultOf(call(answer)).value
        self.assertIsInstance(error, RateLimitedError)
        self.assertEqual((error.retry_after, retry_after(error)), (7.0, 7.0))
        self.assertFalse(is_fatal(error))

    def test_rate_limited_without_retry_after(self) -> None:
        """A 429 without a usable Retry-After waits a minute."""
        error = self.failureResultOf(call(Answer(429, b"", {"Retry-After": "soon"}))).value
        self.assertEqual(error.retry_after, 60.0)

    def test_http_errors(self) -> None:
        """5xx is a transient HTTPError, 4xx a fatal one."""
        server = self.failureResultOf(call(Answer(503, b"busy"))).value
        self.assertIsInstance(server, HTTPError)
        self.assertEqual(server.status, 503)
        self.assertFalse(is_fatal(server))
        self.assertTrue(is_fatal(self.failureResultOf(call(Answer(404, b""))).value))

    def test_not_slack(self) -> None:
        """A 200 that is not JSON, or ok without a url, is a transient RequestError."""
        for body in [b"<html>", {"ok": True}, {"ok": True, "url": ""}, [1]]:
            error = self.failureResultOf(call(Answer(200, body))).value
            self.assertIsInstance(error, RequestError)
            self.assertFalse(is_fatal(error))

    def test_token_kept_out(self) -> None:
        """No error, its data or its repr carries the token."""
        for answer in [Answer(200, {"ok": False, "error": "invalid_auth"}), Answer(500, b"")]:
            error = self.failureResultOf(call(answer)).value
            for text in [str(error), repr(error), repr(error.data)]:
                self.assertNotIn(TOKEN, text)

    def test_bad_arguments(self) -> None:
        """Connect arguments that are not strings, booleans or numbers are a TypeError."""
        self.assertRaises(TypeError, call, Answer(200, OK), ids=["U1"])

    def test_retry_after_in_body(self) -> None:
        """A retry_after in Slack's data counts too, at the top or inside error."""
        self.assertEqual(retry_after(PlatformError("x", data={"retry_after": 5})), 5.0)
        nested = PlatformError("x", data={"error": {"code": 17, "retry_after": 30}})
        self.assertEqual(retry_after(nested), 30.0)
        self.assertEqual(retry_after(PlatformError("x", data={"retry_after": True})), 0.0)
