"""The gopro source against a local HTTP server: resumable verified download, safe extraction."""

from __future__ import annotations

import hashlib
import json
import re
import stat
import subprocess
import sys
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from deblurflow.params import DataParams, Params
from deblurflow.sources import SourceError, fetch_raw
from deblurflow.sources.download import download

REPO = Path(__file__).resolve().parents[1]
ZIP_NAME = "GOPRO_Large_all.zip"


# --- test data -------------------------------------------------------------------------------


def _png(seed: int, height: int = 12, width: int = 16, gray: bool = False) -> bytes:
    """A tiny PNG of random pixels (incompressible, so the archive has bytes to drop)."""
    shape = (height, width) if gray else (height, width, 3)
    pixels = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    ok, buf = cv2.imencode(".png", pixels)
    assert ok
    return buf.tobytes()


def _gopro_entries() -> dict[str, bytes]:
    """GOPRO_Large_all layout: 2 train and 1 test sequences, with frame numbers from 000001."""
    frames = {("train", "GOPR0372_07_00"): 3, ("train", "GOPR0374_11_00"): 2}
    frames[("test", "GOPR0384_11_00")] = 2
    entries = {}
    for (split, seq), n in frames.items():
        for i in range(1, n + 1):
            entries[f"GOPRO_Large_all/{split}/{seq}/{i:06d}.png"] = _png(len(entries))
    return entries


def _make_zip(path: Path, entries: dict[str, bytes], extra: tuple[zipfile.ZipInfo, ...] = ()):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("GOPRO_Large_all/", b"")  # a directory entry, as real zips have
        zf.writestr("GOPRO_Large_all/readme.txt", b"not a frame")
        for name, data in entries.items():
            zf.writestr(name, data)
        for info in extra:
            zf.writestr(info, b"payload")
    return path


def _expected_tree(entries: dict[str, bytes]) -> dict[str, bytes]:
    """{'train/SEQ/000001.png': bytes} as the source must write it (top folder stripped)."""
    return {name.split("/", 1)[1]: data for name, data in entries.items()}


def _tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob("*/*/*.png"))}


def _params(**data) -> Params:
    return Params(data=DataParams(source="gopro", **data))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- a local HTTP server ---------------------------------------------------------------------


@dataclass
class Server:
    """What the handler serves and how it misbehaves; records every request it gets."""

    files: dict[str, bytes] = field(default_factory=dict)
    etag: str = '"v1"'
    drop_after: int | None = None  #: send this many body bytes, then close the connection...
    drops: int = 1  #: ...on this many first requests
    ignore_range: bool = False  #: answer 200 with the whole file to Range requests
    requests: list[dict] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # reach 127.0.0.1 directly
    state = Server()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output clean
            pass

        def do_GET(self):
            headers = self.headers
            state.requests.append(
                {"path": self.path, "range": headers["Range"], "if_range": headers["If-Range"]}
            )
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            start = 0
            wanted = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if_range = self.headers.get("If-Range")
            if wanted and not state.ignore_range and if_range in (None, state.etag):
                start = int(wanted[1])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start:]
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("ETag", state.etag)
            self.end_headers()
            if state.drop_after is not None and len(state.requests) <= state.drops:
                self.wfile.write(payload[: state.drop_after])
                self.wfile.flush()
                self.close_connection = True  # the client sees the body end early
                return
            self.wfile.write(payload)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def dl(tmp_path) -> Path:
    """The downloads folder, alone in its parent's tree so its listing can be checked."""
    path = tmp_path / "downloads"
    path.mkdir()
    return path


@pytest.fixture
def gopro_zip(tmp_path) -> tuple[bytes, dict[str, bytes]]:
    entries = _gopro_entries()
    (tmp_path / "built").mkdir()
    data = _make_zip(tmp_path / "built" / "GOPRO_Large_all.zip", entries).read_bytes()
    return data, entries


@pytest.fixture
def served(server, gopro_zip) -> tuple[str, bytes]:
    """The archive on the test server: (its URL, its bytes)."""
    data, _ = gopro_zip
    server.files["/" + ZIP_NAME] = data
    return f"{server.url}/{ZIP_NAME}", data


def _killed_part(dl: Path, url: str, content: bytes, validator: str | None) -> None:
    """What a killed download leaves behind: the partial file and its resume record."""
    (dl / f"{ZIP_NAME}.part").write_bytes(content)
    (dl / f"{ZIP_NAME}.part.json").write_text(json.dumps({"url": url, "validator": validator}))


# --- download --------------------------------------------------------------------------------


def test_download_and_extract_gopro_layout(server, gopro_zip, tmp_path):
    data, entries = gopro_zip
    server.files["/files/" + ZIP_NAME] = data
    url = f"{server.url}/files/{ZIP_NAME}"
    out, downloads = tmp_path / "raw", tmp_path / "downloads"

    summary = fetch_raw(_params(url=url, sha256=_sha(data)), out, downloads)

    assert _tree(out) == _expected_tree(entries)  # names kept, bytes copied, no re-encode
    assert sorted(p.name for p in out.iterdir()) == ["source.json", "test", "train"]
    assert summary["sequences"] == {
        "train": ["GOPR0372_07_00", "GOPR0374_11_00"],
        "test": ["GOPR0384_11_00"],
    }
    assert summary["frames"] == {"train": 5, "test": 2}
    assert json.loads((out / "source.json").read_text()) == summary
    assert sorted(p.name for p in downloads.iterdir()) == [ZIP_NAME]
    assert (downloads / ZIP_NAME).read_bytes() == data
    assert [r["range"] for r in server.requests] == [None]

    # A second run reuses the verified download instead of fetching it again.
    fetch_raw(_params(url=url, sha256=_sha(data)), out, downloads)
    assert len(server.requests) == 1
    assert _tree(out) == _expected_tree(entries)


def test_dropped_connection_resumes_with_range(server, served, dl):
    url, data = served
    server.drop_after = len(data) // 3

    path = download(url, dl, _sha(data), backoff_s=0)

    assert path.read_bytes() == data
    assert [r["range"] for r in server.requests] == [None, f"bytes={len(data) // 3}-"]
    assert server.requests[1]["if_range"] == '"v1"'
    assert sorted(p.name for p in dl.iterdir()) == [ZIP_NAME]


def test_partial_download_of_a_killed_run_resumes(server, served, dl):
    url, data = served
    _killed_part(dl, url, data[:1000], '"v1"')

    assert download(url, dl).read_bytes() == data
    assert [r["range"] for r in server.requests] == ["bytes=1000-"]


def test_server_ignoring_range_restarts_from_zero(server, served, dl):
    url, data = served
    server.ignore_range = True
    _killed_part(dl, url, b"x" * 1000, None)  # appended to, this would corrupt

    assert download(url, dl).read_bytes() == data
    assert [r["range"] for r in server.requests] == ["bytes=1000-"]


def test_file_changed_on_the_server_restarts_from_zero(server, served, dl):
    url, data = served
    _killed_part(dl, url, b"old version", '"v0"')

    assert download(url, dl).read_bytes() == data
    assert server.requests[0]["if_range"] == '"v0"'


def test_complete_part_is_finished_without_downloading_again(server, served, dl):
    """Killed between the last byte and the rename: the server answers 416 to the resume."""
    url, data = served
    _killed_part(dl, url, data, '"v1"')

    assert download(url, dl, _sha(data)).read_bytes() == data
    assert [r["range"] for r in server.requests] == [f"bytes={len(data)}-"]


def test_connection_dropping_every_time_gives_up_and_keeps_the_part(server, served, dl):
    url, data = served
    server.drop_after, server.drops = 500, 100

    with pytest.raises(SourceError, match=r"failed after 2 retries.*is kept"):
        download(url, dl, retries=2, backoff_s=0)
    # Every attempt resumed where the previous one stopped.
    assert (dl / f"{ZIP_NAME}.part").read_bytes() == data[:1500]
    assert not (dl / ZIP_NAME).exists()


def test_wrong_sha256_deletes_the_download_and_writes_nothing(server, served, tmp_path):
    url, data = served
    out, downloads = tmp_path / "raw", tmp_path / "downloads"
    out.mkdir()
    (out / "previous.txt").write_text("the previous good output")
    wrong = "ab" * 32

    with pytest.raises(SourceError) as err:
        fetch_raw(_params(url=url, sha256=wrong), out, downloads)

    assert f"expected {wrong}" in str(err.value) and _sha(data) in str(err.value)
    assert list(downloads.iterdir()) == []  # no final archive, no .part
    assert [p.name for p in out.iterdir()] == ["previous.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_http_404_names_the_url_and_status(server, tmp_path):
    url = f"{server.url}/missing/{ZIP_NAME}"
    with pytest.raises(SourceError, match=re.escape(url) + r".*HTTP 404"):
        fetch_raw(_params(url=url), tmp_path / "raw", tmp_path / "downloads")
    assert not (tmp_path / "raw").exists()


@pytest.mark.slow
def test_stage_script_reports_one_line_without_traceback(server, tmp_path):
    url = f"{server.url}/missing/{ZIP_NAME}"
    params = tmp_path / "params.yaml"
    params.write_text(f"data:\n  source: gopro\n  url: {url}\n")
    script = REPO / "stages" / "download.py"
    argv = ["--params", str(params), "--out", str(tmp_path / "raw"), "--downloads", str(tmp_path)]
    result = subprocess.run(
        [sys.executable, str(script), *argv], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("download: error")]
    assert len(errors) == 1 and url in errors[0] and "404" in errors[0]


def test_file_url_works(gopro_zip, tmp_path):
    data, entries = gopro_zip
    local = tmp_path / "mirror" / ZIP_NAME
    local.parent.mkdir()
    local.write_bytes(data)
    out, downloads = tmp_path / "raw", tmp_path / "downloads"

    fetch_raw(_params(url=local.as_uri(), sha256=_sha(data)), out, downloads)

    assert _tree(out) == _expected_tree(entries)
    assert (downloads / ZIP_NAME).read_bytes() == data


def test_only_http_https_and_file_urls(dl):
    with pytest.raises(SourceError, match=re.escape("ftp://example.com/GOPRO.zip")):
        download("ftp://example.com/GOPRO.zip", dl)
    assert list(dl.iterdir()) == []


# --- local archive and extraction ------------------------------------------------------------


def test_local_archive_is_used_and_never_deleted(gopro_zip, tmp_path):
    data, entries = gopro_zip
    archive = tmp_path / "mine.zip"
    archive.write_bytes(data)
    fetch_raw(_params(archive=str(archive)), tmp_path / "raw", tmp_path / "dl")
    assert _tree(tmp_path / "raw") == _expected_tree(entries)

    with pytest.raises(SourceError, match=r"sha256 mismatch: expected 0{64}, got " + _sha(data)):
        fetch_raw(
            _params(archive=str(archive), sha256="0" * 64), tmp_path / "raw2", tmp_path / "dl"
        )
    assert archive.read_bytes() == data  # the user's own file stays
    assert not (tmp_path / "raw2").exists()


def _symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    "entry",
    [
        "../evil.png",
        "GOPRO_Large_all/train/GOPR0372_07_00/../../../../evil.png",
        "..\\evil.png",
        "ABSOLUTE",  # replaced by an absolute path under tmp_path
        "SYMLINK",
    ],
)
def test_unsafe_entries_are_refused(gopro_zip, tmp_path, entry):
    _, entries = gopro_zip
    work = tmp_path / "work"
    work.mkdir()
    outside = tmp_path / "outside" / "evil.png"
    extra: tuple[zipfile.ZipInfo, ...]
    if entry == "ABSOLUTE":
        entry = str(outside)
        extra = (zipfile.ZipInfo(entry),)
    elif entry == "SYMLINK":
        entry = "GOPRO_Large_all/train/GOPR0372_07_00/000009.png"
        extra = (_symlink(entry),)
    else:
        extra = (zipfile.ZipInfo(entry),)
    archive = _make_zip(tmp_path / "evil.zip", entries, extra)

    with pytest.raises(SourceError, match="refusing entry " + re.escape(repr(entry))):
        fetch_raw(_params(archive=str(archive)), work / "raw", work / "dl")

    assert not outside.exists()
    assert [p.name for p in tmp_path.rglob("*") if "evil" in p.name] == ["evil.zip"]
    assert list(work.iterdir()) == [], "nothing extracted, no temp folder left"


def test_truncated_zip_is_a_clear_error(gopro_zip, tmp_path):
    data, _ = gopro_zip
    archive = tmp_path / "cut.zip"
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match=re.escape(str(archive)) + ".*not a readable zip"):
        fetch_raw(_params(archive=str(archive)), tmp_path / "raw", tmp_path / "dl")
    assert not (tmp_path / "raw").exists()


def test_corrupt_entry_is_a_clear_error(gopro_zip, tmp_path):
    data, _ = gopro_zip
    archive = tmp_path / "corrupt.zip"
    archive.write_bytes(data)
    with zipfile.ZipFile(archive) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("000002.png"))
    # Flip a byte in the entry's stored data (local header: 30 bytes + name, no extra field).
    offset = info.header_offset + 30 + len(info.filename.encode()) + info.file_size // 2
    raw = bytearray(data)
    raw[offset] ^= 0xFF
    archive.write_bytes(bytes(raw))

    with pytest.raises(SourceError, match=re.escape(f"{archive}: cannot read {info.filename}")):
        fetch_raw(_params(archive=str(archive)), tmp_path / "raw", tmp_path / "dl")
    assert not (tmp_path / "raw").exists()


def test_other_names_are_renumbered_and_gray_becomes_rgb(tmp_path):
    gray = {i: _png(100 + i, gray=True) for i in (1, 2, 10)}
    entries = {f"frames/train/walk/frame_{i}.png": png for i, png in gray.items()}
    entries["frames/test/run/a.png"] = _png(200)
    entries["frames/train/walk/._frame_3.png"] = b"macOS metadata, not a frame"
    archive = _make_zip(tmp_path / "own.zip", entries)

    fetch_raw(_params(archive=str(archive)), tmp_path / "raw", tmp_path / "dl")

    walk = tmp_path / "raw" / "train" / "walk"
    assert sorted(p.name for p in walk.iterdir()) == ["000000.png", "000001.png", "000002.png"]
    for name, i in zip(["000000.png", "000001.png", "000002.png"], [1, 2, 10]):  # natural order
        rgb = cv2.imread(str(walk / name), cv2.IMREAD_UNCHANGED)
        source = cv2.imdecode(np.frombuffer(gray[i], np.uint8), cv2.IMREAD_UNCHANGED)
        assert rgb.shape == (12, 16, 3)
        assert all(np.array_equal(rgb[:, :, c], source) for c in range(3))
    assert (tmp_path / "raw" / "test" / "run" / "000000.png").read_bytes() == entries[
        "frames/test/run/a.png"
    ]


def test_frames_of_different_sizes_are_an_error(tmp_path):
    entries = {
        "G/train/s/000001.png": _png(1),
        "G/train/s/000002.png": _png(2, height=20),
        "G/test/t/000001.png": _png(3),
    }
    archive = _make_zip(tmp_path / "sizes.zip", entries)
    with pytest.raises(SourceError, match=r"G/train/s/000002.png is 16x20.* is 16x12"):
        fetch_raw(_params(archive=str(archive)), tmp_path / "raw", tmp_path / "dl")
    assert not (tmp_path / "raw").exists()


def test_archive_without_test_frames_says_so(tmp_path):
    archive = _make_zip(tmp_path / "half.zip", {"G/train/s/000001.png": _png(1)})
    with pytest.raises(SourceError, match=r"no frames under test/SEQ/\*\.png"):
        fetch_raw(_params(archive=str(archive)), tmp_path / "raw", tmp_path / "dl")
