"""A DICOMweb connection: the service URL, who signs in and how, TLS and timeouts, and the
failures named in words a user can act on.

Secrets never travel through arguments, settings or messages: the password comes from the
environment variable LUNGLENS_DICOMWEB_PASSWORD (with a user name) and a bearer token from
LUNGLENS_DICOMWEB_TOKEN; `Connection` holds neither, and every error message is written
here from the URL (without any user information in it) and the HTTP status, never from the
text of a lower-level exception."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from dicomweb_client.api import DICOMwebClient

# dicomweb-client's retry helper logs every failed request with its traceback at WARNING level,
# which Python prints on stderr without logging configured; failures here are named instead.
logging.getLogger("retrying").setLevel(logging.ERROR)

PASSWORD_VARIABLE = "LUNGLENS_DICOMWEB_PASSWORD"
TOKEN_VARIABLE = "LUNGLENS_DICOMWEB_TOKEN"


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
    system's by default; verification is never switched off). Timeouts in seconds."""

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
        """A requests session signed in (`sign_in`), with TLS verification."""
        session = _WildcardSession()
        session.verify = self.ca_file or True
        self.sign_in(session)
        return session

    def sign_in(self, session: requests.Session) -> None:
        """Put the credentials from the environment on `session`: basic authentication for a user,
        else a bearer token when one is set. Raises AuthenticationFailed for a user without
        LUNGLENS_DICOMWEB_PASSWORD."""
        if self.user:
            problem = self.credentials_problem()
            if problem:
                raise AuthenticationFailed(problem)
            session.auth = (self.user, os.environ[PASSWORD_VARIABLE])
        elif os.environ.get(TOKEN_VARIABLE):
            session.headers["Authorization"] = f"Bearer {os.environ[TOKEN_VARIABLE]}"

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


class _WildcardSession(requests.Session):
    """A session that sends the wildcards `*` and `?` of QIDO-RS matching values as they are.
    requests percent-encodes them (%2A, %3F), which RFC 3986 allows, but Orthanc then matches
    them as literal characters, so `--patient 98C*` found nothing; both are legal in a query."""

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        prepared = super().prepare_request(request)
        head, mark, query = prepared.url.partition("?")
        if mark:
            prepared.url = head + mark + query.replace("%2A", "*").replace("%3F", "?")
        return prepared


def named_error(connection: Connection, exc: Exception, what: str) -> PacsError:
    """The PacsError for `exc` raised while doing `what` (e.g. "searching for studies").
    The message is built from the URL and the status only."""
    where = connection.where
    if isinstance(exc, PacsError):
        return exc
    if isinstance(exc, requests.exceptions.Timeout):
        return PacsTimeout(
            f"{where}: no answer within {connection.read_timeout_s:g} s while {what} (timeout)"
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
    return ServerError(f"{where}: {type(exc).__name__} while {what}")


def is_transient(error: PacsError) -> bool:
    """Whether trying again may help (unreachable, timeout, a server-side failure or "too
    many requests")."""
    if isinstance(error, ServerError):
        return error.status is None or error.status >= 500 or error.status == 429
    return isinstance(error, HostUnreachable | PacsTimeout)
