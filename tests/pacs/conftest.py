"""A real PACS for the tests: Debian's Orthanc with its DICOMweb plugin, started on 127.0.0.1
on a free port with authentication on and its storage in a temporary folder, stopped after.
Without Orthanc the tests skip, except under CI=true, where it is a failure."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ORTHANC = "/usr/sbin/Orthanc"
#: Where Debian's orthanc-dicomweb puts the plugin (`dpkg -L orthanc-dicomweb`).
DICOMWEB_PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
USER = "lunglens"
STARTUP_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class OrthancServer:
    """A running Orthanc: its process, REST root, DICOMweb root and credentials."""

    process: subprocess.Popen
    rest_url: str
    dicomweb_url: str
    user: str
    password: str
    log: Path

    @property
    def auth(self) -> tuple[str, str]:
        return (self.user, self.password)

    def upload(self, paths) -> list[str]:
        """Store files through Orthanc's own REST API (not the code under test)."""
        ids = []
        for path in paths:
            answer = requests.post(
                f"{self.rest_url}/instances", data=Path(path).read_bytes(), auth=self.auth, timeout=30
            )
            answer.raise_for_status()
            ids.append(answer.json()["ID"])
        return ids

    def restart(self) -> None:
        """Start the server again, stopped or not, with its configuration (storage, port, password)."""
        self.stop()
        with open(self.log, "ab") as sink:
            self.process = subprocess.Popen(
                self.process.args, stdout=sink, stderr=subprocess.STDOUT, cwd=self.log.parent
            )
        _wait_until_up(self)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def require_orthanc() -> None:
    missing = [p for p in (ORTHANC, DICOMWEB_PLUGIN) if not Path(p).exists()]
    if not missing:
        return
    message = f"Orthanc with DICOMweb not installed ({', '.join(missing)} missing; Debian: orthanc orthanc-dicomweb)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def start_orthanc(folder: Path, **settings) -> OrthancServer:
    """Start Orthanc with its storage, index, configuration and log under `folder`; `settings`
    are added to its configuration (e.g. LimitFindInstances=10)."""
    require_orthanc()
    folder.mkdir(parents=True, exist_ok=True)
    port, password = free_port(), secrets.token_urlsafe(16)
    config = {
        "Name": "LungLensTest",
        "HttpPort": port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: password},
        "DicomServerEnabled": False,
        "DicomPort": free_port(),
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "Plugins": [DICOMWEB_PLUGIN],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "HttpTimeout": 30,
        **settings,
    }
    config_path = folder / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=1))
    log = folder / "orthanc.log"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [ORTHANC, str(config_path)], stdout=sink, stderr=subprocess.STDOUT, cwd=folder
        )
    server = OrthancServer(
        process=process,
        rest_url=f"http://127.0.0.1:{port}",
        dicomweb_url=f"http://127.0.0.1:{port}/dicom-web",
        user=USER,
        password=password,
        log=log,
    )
    _wait_until_up(server)
    return server


def _wait_until_up(server: OrthancServer) -> None:
    """Wait until `server` answers; fail the test (the server stopped) when it does not in time."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"Orthanc exited with {server.process.returncode}: {server.log.read_text()[-2000:]}")
        try:
            if requests.get(f"{server.rest_url}/system", auth=server.auth, timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    server.stop()
    pytest.fail(f"Orthanc did not answer within {STARTUP_TIMEOUT_S} s: {server.log.read_text()[-2000:]}")


def start_refusing_orthanc(folder: Path, modality: str) -> OrthancServer:
    """An Orthanc whose site rule (a Lua ReceivedInstanceFilter) turns away the instances of
    `modality`, e.g. SEG; its DICOMweb plugin still acknowledges them in its STOW-RS answer."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "refuse.lua"
    script.write_text(
        "function ReceivedInstanceFilter(dicom, origin, info)\n"
        f"  return dicom.Modality ~= '{modality}'\n"
        "end\n"
    )
    return start_orthanc(folder, LuaScripts=[str(script)])


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    """An Orthanc for the module, stopped after it."""
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    yield server
    server.stop()


@pytest.fixture
def dicomweb_env(orthanc, monkeypatch):
    """The Orthanc password in LUNGLENS_DICOMWEB_PASSWORD (and no token), as a user sets it."""
    monkeypatch.setenv("LUNGLENS_DICOMWEB_PASSWORD", orthanc.password)
    monkeypatch.delenv("LUNGLENS_DICOMWEB_TOKEN", raising=False)
    return orthanc


@pytest.fixture
def isolated_orthanc(tmp_path):
    """An Orthanc of the test's own (the test may stop it)."""
    server = start_orthanc(tmp_path / "orthanc")
    yield server
    server.stop()


def orthanc_available() -> bool:
    return shutil.which(ORTHANC) is not None
