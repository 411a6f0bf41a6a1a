"""A hostile DICOMweb server (an http.server in a thread of the test, `Hostile`): answers that
drip, never end or repeat end in a named PacsError (CLI exit 2) naming the server, never in a hang;
a store answer that acknowledges not every instance sent (a web page, `{}`) is a failure; answers
of the wrong shape (JSON objects or numbers for arrays of datasets, a web page or parts that are
no DICOM for instances, instances listed without UIDs) are named (MalformedAnswer), never a
traceback; `analyze --dicomweb` killed by SIGTERM or SIGHUP removes the study it retrieved."""

from __future__ import annotations

import importlib
import io
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pydicom
import pytest

from lunglens.cli import main as cli_main
from lunglens.pacs import (
    Connection,
    MalformedAnswer,
    PacsTimeout,
    RetrySchedule,
    ServerError,
    find_studies,
    retrieve_study,
    store,
)
from lunglens.pacs.connection import MAX_METADATA_BYTES
from lunglens.synthetic import write_dicom_series

store_module = importlib.import_module(
    "lunglens.pacs.store"
)  # the module (lunglens.pacs.store is the function)

BOUNDARY = b"hostile-boundary"
DRIP_S = 0.2
#: How long the stow-stall modes stop reading (seconds): longer than the client's connect timeout.
STALL_S = 3
#: A generous guard: none of these tests may take anywhere near this long (seconds).
HANG_GUARD_S = 120


def _instances(folder: Path) -> list[bytes]:
    """Two instances of one phantom CT series, as Part 10 bytes."""
    paths = write_dicom_series(np.full((2, 16, 16), -800.0), [0.0, -5.0], 10.0, 5.0, folder, seed=3)
    return [path.read_bytes() for path in paths]


class Hostile(BaseHTTPRequestHandler):
    """URL http://127.0.0.1:PORT/<mode>/dicom-web/...; QIDO-RS lists one study of one series of the
    two `instances`, except in the modes that break it. Modes: qido-drip, qido-endless, dict, ints,
    badvalue (QIDO-RS); noinst (an instance listing without SOP Instance UIDs), arriving (the
    listings leave out the second instance, which arrived meanwhile; the stream brings it),
    wado-repeat, wado-drip, wado-html, wado-garbage (WADO-RS); stow-html, stow-empty, stow-drip,
    stow-slow (reads a large body at about 2 MB/s, then acknowledges every instance), stow-stall
    (stops reading the body after 1 MiB; its listings then hold only the first instance),
    stow-stall-mute (the same, its listings then failing with HTTP 503), stow-unlisted
    (acknowledges every instance, its listings failing with HTTP 503), stow-indexing
    (acknowledges every instance; its first instance listing holds none, as a server indexing in
    the background) (STOW-RS)."""

    protocol_version = "HTTP/1.1"
    instances: list[bytes] = []
    #: Instance listings answered per mode.
    listings: Counter = Counter()

    def log_message(self, *_args):
        pass

    def _send(self, body: bytes, content_type: str = "application/dicom+json") -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _chunked(self, content_type: str, chunks) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
        except OSError:  # the client hung up
            pass

    @staticmethod
    def _drip(first: bytes):
        yield first
        while True:
            time.sleep(DRIP_S)
            yield b" "

    @staticmethod
    def _part(data: bytes) -> bytes:
        return b"--" + BOUNDARY + b"\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n"

    def _datasets(self) -> list[pydicom.Dataset]:
        return [pydicom.dcmread(pydicom.filebase.DicomBytesIO(data)) for data in self.instances]

    def _read(self, size: int, slowly: bool) -> None:
        """Read `size` bytes of the body; `slowly`: 64 KiB every 0.03 s (about 2 MB/s)."""
        while size > 0:
            size -= len(self.rfile.read(min(size, 2**16) if slowly else size))
            if slowly:
                time.sleep(0.03)

    def do_POST(self):
        mode = self.path.split("/")[1]
        slowly = mode == "stow-slow"
        if mode.startswith("stow-stall"):  # the client gives up sending after its connect timeout
            self._read(2**20, slowly=False)
            time.sleep(STALL_S)
            self.close_connection = True
            return
        if "chunked" in str(self.headers.get("Transfer-Encoding")):
            while size := int(self.rfile.readline().strip() or b"0", 16):
                self._read(size + 2, slowly)  # the chunk and its CRLF
            self.rfile.readline()
        else:
            self._read(int(self.headers.get("Content-Length", 0) or 0), slowly)
        if mode in ("stow-slow", "stow-unlisted", "stow-indexing"):
            stored = [{"00081155": {"vr": "UI", "Value": [ds.SOPInstanceUID]}} for ds in self._datasets()]
            self._send(json.dumps({"00081199": {"vr": "SQ", "Value": stored}}).encode())
        elif mode == "stow-html":
            self._send(b"<html><body>Welcome</body></html>", "text/html")
        elif mode == "stow-empty":
            self._send(b"{}")
        elif mode == "stow-drip":
            self._chunked("application/dicom+json", self._drip(b"{"))

    def do_GET(self):
        _, mode, rest = self.path.split("/", 2)
        path = "/" + rest.split("?")[0].removeprefix("dicom-web").strip("/")
        datasets = [pydicom.dcmread(io.BytesIO(data)) for data in self.instances]
        if mode == "qido-drip":
            return self._chunked("application/dicom+json", self._drip(b"["))
        if mode == "qido-endless":
            item = json.dumps({"0020000D": {"vr": "UI", "Value": ["1.2.3"]}}).encode() + b","
            return self._chunked(
                "application/dicom+json", itertools.chain([b"["], itertools.repeat(item * 1000))
            )
        if mode in ("dict", "ints", "badvalue"):
            bad = {
                "dict": {"error": "nope"},
                "ints": [1, 2, 3],
                "badvalue": [{"0020000D": {"vr": "UI", "Value": "x"}}],
            }
            return self._send(json.dumps(bad[mode]).encode())
        if mode in ("stow-stall-mute", "stow-unlisted"):
            return self.send_error(503)
        if path.endswith("/instances"):
            Hostile.listings[mode] += 1
            if mode == "stow-indexing" and Hostile.listings[mode] == 1:
                return self._send(b"[]")
        if path == "/studies" or path.endswith(("/series", "/instances")):
            first_only = mode in ("arriving", "stow-stall")
            items = [ds.to_json_dict() for ds in (datasets[:1] if first_only else datasets)]
            if path.endswith("/series"):
                items = [{**items[0], "00201209": {"vr": "IS", "Value": [len(items)]}}]
            if mode == "noinst":
                items = [{tag: value for tag, value in item.items() if tag != "00080018"} for item in items]
            return self._send(json.dumps(items).encode())
        multipart = f'multipart/related; type="application/dicom"; boundary={BOUNDARY.decode()}'
        if mode == "wado-repeat":
            return self._chunked(multipart, itertools.repeat(self._part(self.instances[0])))
        if mode == "wado-drip":
            return self._chunked(multipart, self._drip(self._part(self.instances[0])[:60]))
        if mode == "wado-html":
            return self._send(b"<html><body>Sign in</body></html>", "text/html")
        if mode == "wado-garbage":
            return self._send(self._part(os.urandom(3000)) * 2 + b"--" + BOUNDARY + b"--", multipart)
        wanted = [
            data for data, ds in zip(self.instances, datasets, strict=True) if ds.SOPInstanceUID in path
        ]
        body = b"".join(self._part(data) for data in wanted or self.instances) + b"--" + BOUNDARY + b"--"
        return self._send(body, multipart)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The hostile server's root, http://127.0.0.1:PORT, and the study it lists."""
    Hostile.instances = _instances(tmp_path_factory.mktemp("hostile"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    study = str(pydicom.dcmread(io.BytesIO(Hostile.instances[0])).StudyInstanceUID)
    yield f"http://127.0.0.1:{server.server_port}", study
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch):
    monkeypatch.delenv("LUNGLENS_DICOMWEB_TOKEN", raising=False)
    monkeypatch.delenv("LUNGLENS_DICOMWEB_PASSWORD", raising=False)


def _connection(hostile, mode: str, timeout_s: float = 2.0) -> Connection:
    return Connection(url=f"{hostile[0]}/{mode}/dicom-web", read_timeout_s=timeout_s)


def _guarded(function, *args, **kwargs):
    """What `function` returns, or the exception it raises, run in a thread; fails (rather than
    hangs) when it takes over HANG_GUARD_S."""
    outcome = []

    def run():
        try:
            outcome.append(function(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_GUARD_S)
    assert outcome, f"{function.__name__} hung"
    return outcome[0]


@pytest.mark.parametrize(
    ("mode", "error", "words"),
    [
        ("qido-drip", PacsTimeout, "no whole answer to GET /qido-drip/dicom-web/studies in time"),
        ("qido-endless", MalformedAnswer, f"larger than {MAX_METADATA_BYTES >> 20} MiB"),
    ],
)
def test_a_search_answer_that_drips_or_never_ends_is_stopped_and_named(hostile, mode, error, words):
    raised = _guarded(find_studies, _connection(hostile, mode))
    assert isinstance(raised, error) and words in str(raised)
    assert str(raised).startswith(f"{hostile[0]}/{mode}/dicom-web: ")


@pytest.mark.parametrize(
    ("mode", "error", "words"),
    [
        ("wado-repeat", MalformedAnswer, "the stream repeats instance"),
        ("wado-drip", PacsTimeout, "in time"),
    ],
)
def test_a_retrieval_whose_stream_repeats_or_drips_is_stopped_and_named(
    hostile, tmp_path, mode, error, words
):
    raised = _guarded(
        retrieve_study, _connection(hostile, mode), hostile[1], tmp_path, retry=RetrySchedule(2, 0.1)
    )
    assert isinstance(raised, error) and words in str(raised), raised
    assert str(raised).startswith(f"{hostile[0]}/{mode}/dicom-web: ")


def test_an_instance_arriving_while_its_series_is_retrieved_is_kept(hostile, tmp_path):
    """The listings count one instance; the stream brings two: the second arrived meanwhile."""
    retrieved = _guarded(retrieve_study, _connection(hostile, "arriving"), hostile[1], tmp_path)
    assert not isinstance(retrieved, Exception), retrieved
    assert len(retrieved.files) == 2


def test_a_store_whose_upload_takes_longer_than_the_timeout_succeeds(hostile):
    """The answer's clock starts with its headers: 8 MiB read at about 2 MB/s take 4 s, each read
    well within the 2 s timeout, and the acknowledgement then comes at once."""
    datasets = [pydicom.dcmread(io.BytesIO(data)) for data in Hostile.instances]
    for ds in datasets:
        ds.PixelData = bytes(4 * 2**20)
    stored = _guarded(store, _connection(hostile, "stow-slow"), datasets)
    assert stored == [ds.SOPInstanceUID for ds in datasets], stored


def test_a_store_answer_that_drips_is_stopped_and_named(hostile):
    datasets = [pydicom.dcmread(io.BytesIO(data)) for data in Hostile.instances]
    raised = _guarded(store, _connection(hostile, "stow-drip"), datasets)
    assert isinstance(raised, PacsTimeout) and "no whole answer to POST" in str(raised)


def test_pacs_find_on_a_dripping_server_exits_2_within_its_timeout_naming_it(hostile, capsys):
    url = f"{hostile[0]}/qido-drip/dicom-web"
    assert _guarded(cli_main, ["pacs", "find", url, "--dicomweb-timeout", "2"]) == 2
    assert f"lunglens: {url}: no whole answer" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["stow-html", "stow-empty"])
def test_a_store_answer_that_acknowledges_nothing_is_a_failure(hostile, mode):
    """The server lists both instances afterwards (QIDO-RS): the message says so."""
    datasets = [pydicom.dcmread(io.BytesIO(data)) for data in Hostile.instances]
    with pytest.raises(ServerError, match="acknowledged 0 of 2 instances while storing") as raised:
        store(_connection(hostile, mode), datasets)
    assert str(raised.value).endswith("; the server holds all 2 objects: do not send them again")


@pytest.mark.parametrize(
    ("mode", "held"),
    [
        (
            "stow-stall",
            "1 of 2 listed so far; not listed yet: a CT object; the server may still be storing them: "
            "look in the PACS before sending again",
        ),
        (
            "stow-stall-mute",
            "some of the 2 objects may have been stored: look in the PACS before sending again",
        ),
    ],
)
def test_a_store_the_server_stalls_is_a_timeout_saying_what_the_server_holds(hostile, mode, held):
    """A server that accepts the request and stops reading it was "host unreachable ... (no
    connection)", with no word that part of the results may already be stored."""
    datasets = [pydicom.dcmread(io.BytesIO(data)) for data in Hostile.instances]
    for ds in datasets:
        ds.PixelData = bytes(8 * 2**20)  # more than the sockets' buffers hold
    connection = Connection(url=f"{hostile[0]}/{mode}/dicom-web", read_timeout_s=2.0, connect_timeout_s=1.0)
    raised = _guarded(store, connection, datasets)
    assert isinstance(raised, PacsTimeout), raised
    assert str(raised) == (
        f"{connection.where}: no answer within 1 s while storing 2 instance(s) in study {hostile[1]} "
        f"(the server stopped reading the request) (timeout); {held}"
    )


def test_a_store_the_server_lists_only_a_moment_later_succeeds(hostile, monkeypatch):
    """A server indexing in the background lists nothing straight after its acknowledgement: that
    was "acknowledged every instance ... but did not keep them all", exit 2, inviting a resend."""
    monkeypatch.setattr(store_module, "LIST_AGAIN_S", (0.05, 0.05))
    datasets = [pydicom.dcmread(io.BytesIO(data)) for data in Hostile.instances]
    stored = _guarded(store, _connection(hostile, "stow-indexing"), datasets)
    assert stored == [ds.SOPInstanceUID for ds in datasets], stored
    assert Hostile.listings["stow-indexing"] >= 2  # listed again


def test_a_store_acknowledged_whole_that_cannot_be_checked_is_a_failure(hostile):
    datasets = [pydicom.dcmread(io.BytesIO(data)) for data in Hostile.instances]
    raised = _guarded(store, _connection(hostile, "stow-unlisted"), datasets)
    assert isinstance(raised, ServerError), raised
    assert "the server acknowledged every instance while storing 2 instance(s)" in str(raised)
    assert (
        "listing them there to check failed (the server answered HTTP 503 while listing the instances"
        in str(raised)
    )
    assert str(raised).endswith("look in the PACS before sending again")


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("dict", "a result is not a DICOM JSON dataset"),
        ("ints", "the answer is not a JSON array of DICOM datasets"),
        ("badvalue", "a result is not a DICOM JSON dataset"),
    ],
)
def test_a_search_answer_of_the_wrong_shape_is_named(hostile, mode, words, capsys):
    url = f"{hostile[0]}/{mode}/dicom-web"
    with pytest.raises(MalformedAnswer, match=f"malformed answer while searching for studies: {words}"):
        find_studies(_connection(hostile, mode))
    assert cli_main(["pacs", "find", url]) == 2
    assert f"lunglens: {url}: malformed answer" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("wado-html", "not the DICOM JSON or DICOM instances asked for"),
        ("wado-garbage", "a part of it is not a DICOM instance"),
        ("noinst", "an instance is listed without a UID at (0008,0018)"),
    ],
)
def test_a_retrieval_answer_that_is_no_dicom_is_named(hostile, mode, words, tmp_path, capsys):
    url = f"{hostile[0]}/{mode}/dicom-web"
    with pytest.raises(MalformedAnswer) as caught:
        retrieve_study(_connection(hostile, mode), hostile[1], tmp_path / "in")
    assert str(caught.value).startswith(f"{url}: malformed answer while ") and words in str(caught.value)
    assert cli_main(["analyze", "--dicomweb", url, "--study", hostile[1]]) == 2
    assert f"lunglens: {url}: malformed answer" in capsys.readouterr().err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_analyze_killed_while_retrieving_removes_the_retrieved_study(hostile, signum, tmp_path):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    url = f"{hostile[0]}/wado-drip/dicom-web"
    argv = ["analyze", "--dicomweb", url, "--study", hostile[1], "--dicomweb-timeout", "5"]
    environment = {**os.environ, "TMPDIR": str(temporary), "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([sys.executable, "-m", "lunglens", *argv], env=environment)
    try:
        deadline = time.monotonic() + HANG_GUARD_S
        while not list(temporary.glob("lunglens-pacs-*")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert list(temporary.glob("lunglens-pacs-*")), "no retrieval began"
        time.sleep(1.0)  # into the retrieval
        process.send_signal(signum)
        assert process.wait(HANG_GUARD_S) != 0
    finally:
        process.kill()
        process.wait()
    assert not list(temporary.glob("lunglens-pacs-*"))


def test_an_interrupted_retrieval_tells_its_threads_to_stop():
    """Ctrl-C, or SIGTERM turned into it, reaches the main thread only: the retrieval threads are
    told to stop at their next instance, so the command ends (and removes what it retrieved) at
    once rather than after streaming every series."""
    from types import SimpleNamespace

    from lunglens.pacs.retrieve import _in_parallel

    transfer = SimpleNamespace(stop=threading.Event())
    started, told = threading.Event(), []

    def work(item):
        if item == 0:
            started.wait(HANG_GUARD_S)  # the other thread streams its series
            raise KeyboardInterrupt
        started.set()
        told.append(transfer.stop.wait(HANG_GUARD_S / 4))

    with pytest.raises(KeyboardInterrupt):
        _in_parallel(transfer, work, [0, 1], workers=2)
    assert told == [True]


@pytest.fixture(scope="module")
def header_dripper():
    """http://127.0.0.1:PORT of a raw server whose answers never finish their headers: path
    /status/... drips the status line, /line/... one header line, /lines/... whole header lines,
    a byte or a line every DRIP_S, until the client hangs up."""
    listener = socket.create_server(("127.0.0.1", 0))

    def drip(connection):
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                if not (data := connection.recv(65536)):
                    return
                request += data
            mode = request.split(b"/")[1]
            first, each = {
                b"status": (b"", b"H"),
                b"line": (b"HTTP/1.1 200 OK\r\nX-A: ", b"a"),
                b"lines": (b"HTTP/1.1 200 OK\r\n", b"X-A: b\r\n"),
            }[mode]
            try:
                connection.sendall(first)
                while True:
                    connection.sendall(each)
                    time.sleep(DRIP_S)
            except OSError:  # the client hung up
                pass

    def serve():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed at the end of the module
                return
            threading.Thread(target=drip, args=(connection,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


@pytest.mark.parametrize("mode", ["status", "line", "lines"])
def test_an_answer_whose_headers_drip_is_stopped_within_the_timeout(header_dripper, mode, capsys):
    """Each byte (or header line) comes well within the timeout, so no single read times out: the
    whole answer, headers included, is bounded by the timeout, and no answer cut short by it is
    taken for one (the header lines `lines` sends would end as an empty study list)."""
    url = f"{header_dripper}/{mode}/dicom-web"
    started = time.monotonic()
    raised = _guarded(find_studies, Connection(url=url, read_timeout_s=1.0))
    assert time.monotonic() - started < 5
    assert isinstance(raised, PacsTimeout), raised
    assert str(raised).startswith(f"{url}: no complete answer within 1 s to GET ") and "(timeout)" in str(
        raised
    )
    assert _guarded(cli_main, ["pacs", "find", url, "--dicomweb-timeout", "1"]) == 2
    err = capsys.readouterr().err
    assert "no complete answer within 1 s" in err and "unreachable" not in err
