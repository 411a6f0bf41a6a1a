"""A DICOMweb connection: the service URL, who signs in and how, TLS and timeouts, and the
failures named in words a user can act on.

Secrets never travel through arguments, settings or messages: the password comes from the
environment variable LUNGLENS_DICOMWEB_PASSWORD (with a user name) and a bearer token from
LUNGLENS_DICOMWEB_TOKEN; `Connection` holds neither, and every error message is written
here from the URL (without any user information in it) and the HTTP status, never from the
text of a lower-level exception."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.errors import InvalidDicomError
from requests import RequestException
from requests.adapters import HTTPAdapter
from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ReadTimeoutError

# dicomweb-client's retry helper logs every failed request with its traceback at WARNING level,
# which Python prints on stderr without logging configured; failures here are named instead.
logging.getLogger("retrying").setLevel(logging.ERROR)

PASSWORD_VARIABLE = "LUNGLENS_DICOMWEB_PASSWORD"
TOKEN_VARIABLE = "LUNGLENS_DICOMWEB_TOKEN"

#: The most bytes a search or store answer (DICOM JSON, or anything but DICOM instances) may hold:
#: an instance listing takes about 1.9 kB per instance (Orthanc, a whole study's listing comes in
#: one answer), so this holds some 140,000 instances; a longer answer is a server sending without end.
MAX_METADATA_BYTES = 256 * 2**20
#: How many bytes of an answer buy it one more timeout span (see `Connection`).
BYTES_PER_SPAN = 2**20


class PacsError(Exception):
    """A DICOMweb request that failed; the message names the server and the reason."""


class HostUnreachable(PacsError):
    """The server does not answer (refused, no route, name unknown, TLS failure)."""


class AuthenticationFailed(PacsError):
    """The server refused the credentials (HTTP 401) or the access (HTTP 403)."""


class StudyNotFound(PacsError):
    """The study (or series) is not on the server."""


class PacsTimeout(PacsError):
    """The server took longer than the timeout to answer."""


class PartialTransfer(PacsError):
    """Some instances of a series did not arrive, even after retrying."""


class MalformedAnswer(PacsError):
    """An answer that is not what DICOMweb specifies: JSON of another shape than an array of DICOM
    datasets, a page where DICOM instances were asked for, parts that are not DICOM, a stream
    repeating its instances, an answer larger than any search or store answer. Raised with the
    `problem` alone where the answer is read, `named_error` names the server and the request."""

    def __init__(self, problem: str, where: str = "", what: str = ""):
        super().__init__(f"{where}: malformed answer while {what}: {problem}" if where else problem)
        self.problem, self.named = problem, bool(where)


class ServerError(PacsError):
    """Any other refusal by the server (an HTTP status the other errors do not cover);
    `status` is the HTTP status (None when the answer was not HTTP)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Connection:
    """Where the DICOMweb service is and how to reach it. `user`: sign in with HTTP basic
    authentication, the password read from LUNGLENS_DICOMWEB_PASSWORD when a request is made;
    without a user, a bearer token from LUNGLENS_DICOMWEB_TOKEN when it is set, else no
    authentication. `ca_file`: a CA bundle to verify the server's certificate against (the
    system's by default; verification is never switched off). Timeouts in seconds: `read_timeout_s`
    bounds each wait for the next bytes and also the whole answer, which must arrive within it plus
    one such span for each MiB it brought (a search or store answer whole within it, a streamed
    series at 1 MiB per span at least), so that a server dripping bytes or sending without end is
    stopped (PacsTimeout); an answer that is not DICOM instances holds at most
    MAX_METADATA_BYTES (else MalformedAnswer)."""

    url: str
    user: str | None = None
    ca_file: str | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0

    def __post_init__(self):
        try:
            parts = urlsplit(self.url)
            parts.port  # noqa: B018 (raises ValueError for a port that is no number in 0-65535)
        except ValueError as exc:  # e.g. "Invalid IPv6 URL" for http://[::1
            raise PacsError(f"{self.url!r} is not an http(s) DICOMweb URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise PacsError(f"{self.url!r} is not an http(s) DICOMweb URL")
        if parts.query or parts.fragment:
            raise PacsError(
                "the DICOMweb URL holds a query or a fragment (after ? or #); give the service root "
                "only (a token goes in LUNGLENS_DICOMWEB_TOKEN)"
            )
        if parts.username or parts.password:
            raise PacsError(
                "the DICOMweb URL holds user information; give the user with --dicomweb-user and "
                f"the password in {PASSWORD_VARIABLE}"
            )

    @property
    def where(self) -> str:
        """The server as messages name it (scheme, host, port and path)."""
        return self.url.rstrip("/")

    def credentials_problem(self) -> str | None:
        """Why this process cannot sign in as the connection asks (a user without
        LUNGLENS_DICOMWEB_PASSWORD in the environment), None when it can."""
        if self.user and os.environ.get(PASSWORD_VARIABLE) is None:
            return f"{self.where}: user {self.user!r} given but {PASSWORD_VARIABLE} is not set"
        return None

    def session(self) -> requests.Session:
        """A requests session signed in (`sign_in`), with TLS verification, whose answers are
        bounded in time and size (`_GuardedSession`)."""
        session = _GuardedSession(self.where, self.read_timeout_s)
        session.verify = self.ca_file or True
        self.sign_in(session)
        return session

    def sign_in(self, session: requests.Session) -> None:
        """Put the credentials from the environment on `session`: basic authentication for a user,
        else a bearer token when one is set. Raises AuthenticationFailed for a user without
        LUNGLENS_DICOMWEB_PASSWORD, and for a token holding a control character (a line break)."""
        if self.user:
            problem = self.credentials_problem()
            if problem:
                raise AuthenticationFailed(problem)
            session.auth = (self.user, os.environ[PASSWORD_VARIABLE])
        elif token := os.environ.get(TOKEN_VARIABLE):
            if any(ord(c) < 32 or ord(c) == 127 for c in token):  # e.g. a CRLF file's line break
                raise AuthenticationFailed(
                    f"{self.where}: {TOKEN_VARIABLE} holds a line break or other character not "
                    "allowed in an HTTP header"
                )
            session.headers["Authorization"] = f"Bearer {token}"

    def client(self) -> DICOMwebClient:
        """A dicomweb-client for this connection; its own retrying is off (callers retry with
        back-off and name what failed)."""
        client = DICOMwebClient(
            url=self.url.rstrip("/"),
            session=self.session(),
            timeout=(self.connect_timeout_s, self.read_timeout_s),
        )
        client.set_http_retry_params(retry=False)
        return client


class _GuardedSession(requests.Session):
    """A session whose answers are bounded (`_AnswerGuard`: in time, `timeout_s` plus as much per
    MiB received; in size, MAX_METADATA_BYTES unless they are DICOM instances), and that sends the
    wildcards `*` and `?` of QIDO-RS matching values as they are. requests percent-encodes them
    (%2A, %3F), which RFC 3986 allows, but Orthanc then matches them as literal characters, so
    `--patient 98C*` found nothing; both are legal in a query."""

    def __init__(self, where: str, timeout_s: float):
        super().__init__()
        self.where, self.timeout_s = where, timeout_s
        for prefix in ("http://", "https://"):
            self.mount(prefix, _WatchedAdapter())

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        """Send `request`; its headers must all have come within the session's timeout plus as
        much per MiB of the request's body (`_HeadersDeadline`), its body is then read through an
        `_AnswerGuard` (at once unless the caller streams it). Raises PacsTimeout or MalformedAnswer
        (named) besides requests' errors."""
        stream = kwargs.pop("stream", False)
        watch = _HeadersDeadline(request, self.where, self.timeout_s)
        _in_flight.watch = watch
        try:
            response = super().send(request, stream=True, **kwargs)
        except Exception:
            if watch.expired:
                raise watch.timeout() from None
            raise
        finally:
            watch.stop()
            _in_flight.watch = None
        if watch.expired:  # the socket shut down ended a header line: what came is not the answer
            response.close()
            raise watch.timeout()
        # the answer's clock starts with its headers: sending a large STOW body and the server's
        # storing took their time, bounded as a whole by the headers' deadline
        _AnswerGuard(response, self.where, self.timeout_s, time.monotonic())
        if not stream:
            response.content  # noqa: B018 (reads the body now, through the guard)
        return response

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        prepared = super().prepare_request(request)
        head, mark, query = prepared.url.partition("?")
        if mark:
            prepared.url = head + mark + query.replace("%2A", "*").replace("%3F", "?")
        return prepared


class _Watchdog:
    """Calls `expire` once `timeout_s` plus `timeout_s` for each BYTES_PER_SPAN `counted` have
    passed since `started` (monotonic seconds), unless `stop` was called first."""

    def __init__(self, timeout_s: float, started: float):
        self.timeout_s, self.started = timeout_s, started
        self.counted, self.expired, self.done, self.timer = 0, False, False, None

    def deadline(self) -> float:
        return self.started + self.timeout_s * (1 + self.counted // BYTES_PER_SPAN)

    def _watch(self) -> None:
        """Expire once the deadline passed, else look again at the deadline."""
        if self.done:
            return
        remaining = self.deadline() - time.monotonic()
        if remaining > 0:
            self.timer = threading.Timer(remaining, self._watch)
            self.timer.daemon = True
            self.timer.start()
            return
        self.expired = True
        self.expire()

    def expire(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self.done = True
        if self.timer is not None:
            self.timer.cancel()


#: The `_HeadersDeadline` of the request this thread is sending (None between requests).
_in_flight = threading.local()


class _HeadersDeadline(_Watchdog):
    """Bounds the time from sending `request` until its answer's headers have all come: the
    session's timeout plus as much for each BYTES_PER_SPAN of the request's body sent. At the
    deadline the request's socket (`connection`, set by `_WatchedPool`) is shut down, waking a read
    of a status or header line that a server drips (the per-read timeout never trips on it)."""

    def __init__(self, request: requests.PreparedRequest, where: str, timeout_s: float):
        super().__init__(timeout_s, time.monotonic())
        self.where, self.request = where, f"{request.method} {urlsplit(request.url).path}"
        self.connection = None
        if isinstance(request.body, bytes | str):
            self.counted = len(request.body)
        elif request.body is not None:  # a body sent in chunks (STOW-RS of a large series)
            request.body = self._counted(request.body)
        self._watch()

    def _counted(self, chunks):
        for chunk in chunks:
            self.counted += len(chunk)
            yield chunk

    def expire(self) -> None:
        """Shut the socket down; while it is still being connected, look again shortly."""
        sock = getattr(self.connection, "sock", None)
        if sock is None:
            if not self.done:
                self.timer = threading.Timer(0.1, self.expire)
                self.timer.daemon = True
                self.timer.start()
            return
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)

    def timeout(self) -> PacsTimeout:
        return PacsTimeout(
            f"{self.where}: no complete answer within {self.deadline() - self.started:g} s to "
            f"{self.request} (its headers had not all come: a server or proxy "
            "stalled or dripping its answer) (timeout)"
        )


class _WatchedPool(HTTPConnectionPool):
    """A connection pool that hands the connection of each request to the thread's
    `_HeadersDeadline`, so that the deadline can shut its socket down."""

    def _make_request(self, conn, *args, **kwargs):
        watch = getattr(_in_flight, "watch", None)
        if watch is not None:
            watch.connection = conn
        return super()._make_request(conn, *args, **kwargs)


class _WatchedHTTPSPool(_WatchedPool, HTTPSConnectionPool):
    pass


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter, over `_WatchedPool`s."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedHTTPSPool}


class _AnswerGuard(_Watchdog):
    """Reads the body of `response` (begun at `started`, monotonic seconds) within its deadline,
    `timeout_s` plus `timeout_s` for each BYTES_PER_SPAN received, and at most MAX_METADATA_BYTES
    unless it is DICOM instances (multipart/related or application/dicom): its chunks pass
    through `_chunks`, and a timer shuts the socket down at the deadline, waking a read that waits
    for bytes trickling in (a read of many bytes returns only when all have come)."""

    def __init__(self, response: requests.Response, where: str, timeout_s: float, started: float):
        super().__init__(timeout_s, started)
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        self.raw = response.raw
        self.limit = None if media_type in ("multipart/related", "application/dicom") else MAX_METADATA_BYTES
        self.where, self.request = where, f"{response.request.method} {urlsplit(response.request.url).path}"
        self.original_stream = self.raw.stream
        self.raw.stream = self._chunks
        self._watch()

    def expire(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, ValueError):  # already closed or released
            self.raw.shutdown()

    def timeout(self) -> PacsTimeout:
        return PacsTimeout(
            f"{self.where}: no whole answer to {self.request} in time ({self.counted} bytes in "
            f"{time.monotonic() - self.started:.0f} s, where {self.timeout_s:g} s are allowed plus as much per "
            "MiB received: a server dripping its answer or sending one without end) (timeout)"
        )

    def _chunks(self, *args, **kwargs):
        try:
            for chunk in self.original_stream(*args, **kwargs):
                self.counted += len(chunk)
                if self.limit is not None and self.counted > self.limit:
                    raise MalformedAnswer(
                        f"larger than {self.limit // 2**20} MiB, more than any search or store answer holds "
                        "(a server sending without end)",
                        self.where,
                        f"receiving the answer to {self.request}",
                    )
                if self.expired or time.monotonic() > self.deadline():
                    raise self.timeout()
                yield chunk
        except PacsError:
            raise
        except Exception:
            if self.expired:
                raise self.timeout() from None
            raise
        finally:
            self.stop()


def named_error(connection: Connection, exc: Exception, what: str) -> PacsError:
    """The PacsError for `exc` raised while doing `what` (e.g. "searching for studies").
    The message is built from the URL and the status only (and, for an answer that is not
    DICOMweb, what is wrong with it in words of ours, never its content)."""
    where = connection.where
    if isinstance(exc, MalformedAnswer) and not exc.named:
        return MalformedAnswer(exc.problem, where, what)
    if isinstance(exc, PacsError):
        return exc
    if isinstance(exc, InvalidDicomError):
        return MalformedAnswer("a part of it is not a DICOM instance", where, what)
    if isinstance(exc, ValueError) and not isinstance(exc, RequestException):  # dicomweb-client, pydicom
        return MalformedAnswer(
            "not the DICOM JSON or DICOM instances asked for (a web page, another media type or "
            "parts that cannot be decoded)",
            where,
            what,
        )
    if isinstance(exc, requests.exceptions.Timeout) or _caused_by(exc, ReadTimeoutError):
        return PacsTimeout(
            f"{where}: no answer within {connection.read_timeout_s:g} s while {what} (timeout)"
        )
    if isinstance(exc, requests.exceptions.ConnectionError) and _caused_by(exc, TimeoutError):
        return PacsTimeout(
            f"{where}: no answer within {connection.connect_timeout_s:g} s while {what} (the server "
            "stopped reading the request) (timeout)"
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return HostUnreachable(f"{where}: the TLS certificate could not be verified while {what}")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return HostUnreachable(f"{where}: host unreachable while {what} (no connection)")
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status == 401:
            return AuthenticationFailed(f"{where}: authentication failed (HTTP 401) while {what}")
        if status == 403:
            return AuthenticationFailed(f"{where}: access forbidden (HTTP 403) while {what}")
        if status == 404:
            return StudyNotFound(f"{where}: not found (HTTP 404) while {what}")
        return ServerError(f"{where}: the server answered HTTP {status} while {what}", status)
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return MalformedAnswer("not JSON", where, what)
    return ServerError(f"{where}: {type(exc).__name__} while {what}")


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether an exception of `kind` lies beneath `exc`: urllib3's ReadTimeoutError beneath
    requests' ConnectionError is a body that stopped coming; a socket's TimeoutError beneath it, a
    server that accepted the connection and then stopped reading the request (urllib3 sends it
    within the connect timeout and reports it as "Connection aborted")."""
    while exc is not None:
        if isinstance(exc, kind):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def is_transient(error: PacsError) -> bool:
    """Whether trying again may help (unreachable, timeout, a server-side failure or "too
    many requests")."""
    if isinstance(error, ServerError):
        return error.status is None or error.status >= 500 or error.status == 429
    return isinstance(error, HostUnreachable | PacsTimeout)
