"""The flash station end to end: fake boards on ptys (real MicroPython behind), the real firmware copied
by mpremote's transport, registration queued offline then sent, and a flashed board that boots and
publishes to a running server."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from images import make_image  # noqa: E402

from mpy import SIM_HW, require_micropython  # noqa: E402


@pytest.fixture
def boards(tmp_path):
    require_micropython()
    from datacityzen.sim.fakeboard import FakeBoard

    made = []

    def make(n=1, **kw):
        for i in range(n):
            b = FakeBoard(tmp_path / f"board{len(made)}", unique_id=bytes([0xA0, 0, 0, 0, 0, len(made)]), **kw)
            b.start()
            made.append(b)
        return made[-n:]

    yield make
    for b in made:
        b.stop()


BORDEAUX = {"lat": 44.8412, "lon": -0.5801}


def station(tmp_path, server=None, token=None, broker=("127.0.0.1", 1883), **kw):
    from datacityzen.flash.station import Registrar, Station

    lines = []
    reg = Registrar(server, token, tmp_path / "out" / "registrations.json", broker=broker)
    kw.setdefault("site", BORDEAUX)
    st = Station("air-outdoor-v1", tmp_path / "out", reg, show_progress=False, echo=lines.append, **kw)
    return st, lines


def test_offline_batch_flashes_each_board_labels_it_queues_and_resumes(tmp_path, boards):
    bs = boards(2)
    st, lines = station(tmp_path)
    results = st.run_batch([b.port for b in bs])
    assert [r.ok for r in results] == [True, True], lines
    assert all("registration queued" in r.message for r in results)
    for b, r in zip(bs, results):
        files = {p.relative_to(b.flash_dir).as_posix() for p in b.flash_dir.rglob("*") if p.is_file()}
        assert {"main.py", "app.mpy", "kitdef.mpy", "device.json", "transport/spool.mpy"} <= files
        device = json.loads((b.flash_dir / "device.json").read_text())
        assert device["device_id"] == r.device_id and device["kit_id"] == "air-outdoor-v1"
        assert device["mqtt"]["username"] == r.device_id and len(device["mqtt"]["password"]) >= 32
        assert Path(r.label).exists() and r.device_id in Path(r.label).read_text()
    queue = json.loads((tmp_path / "out" / "registrations.json").read_text())
    assert sorted(q["id"] for q in queue) == sorted(r.device_id for r in results)
    assert lines[-1].startswith("summary / bilan: 2 boards, 2 ok, 0 failed; 2 registrations queued")
    # A second run over the same boards resumes: nothing is rewritten.
    before = (bs[0].flash_dir / "device.json").read_text()
    st2, lines2 = station(tmp_path)
    again = st2.run_batch([b.port for b in bs])
    assert all(r.ok and "resumed" in r.message for r in again)
    assert (bs[0].flash_dir / "device.json").read_text() == before


def test_wrong_board_and_mute_port_get_sentences_and_the_batch_goes_on(tmp_path, boards):
    pico = boards(1, machine="Raspberry Pi Pico with RP2040")[0]
    mute = boards(1, mode="mute")[0]
    good = boards(1)[0]
    st, lines = station(tmp_path)
    results = st.run_batch([pico.port, mute.port, good.port])
    assert [r.ok for r in results] == [False, False, True]
    assert "not an ESP32" in results[0].message and "pas une ESP32" in results[0].message
    assert "charge-only" in results[1].message
    assert "Traceback" not in "\n".join(lines)
    assert not (pico.flash_dir / "device.json").exists()


def test_image_checksum_and_chip_are_checked_before_anything_is_written(tmp_path):
    from datacityzen.flash.station import StationError, check_image

    image = tmp_path / "micropython.bin"
    digest = make_image(image)
    assert check_image(image, digest) == digest
    with pytest.raises(StationError, match="damaged"):
        check_image(image, "0" * 64)
    (tmp_path / "micropython.bin.sha256").write_text(digest + "  micropython.bin\n")
    assert check_image(image, None) == digest
    s3 = tmp_path / "s3.bin"
    s3_digest = make_image(s3, chip_id=9)  # ESP32-S3's image chip id
    with pytest.raises(StationError, match="another chip"):
        check_image(s3, s3_digest)


def test_image_is_written_through_esptool_then_files_copied(tmp_path, boards):
    from datacityzen.flash.fake_rom import FakeESP32ROM

    image = tmp_path / "micropython.bin"
    digest = make_image(image)
    roms = []

    def loader(port):
        roms.append(FakeESP32ROM())
        return roms[-1]

    b = boards(1)[0]
    st, lines = station(tmp_path, image=image, image_sha256=digest, loader_factory=loader)
    r = st.flash_one(b.port)
    assert r.ok, r.message
    data = image.read_bytes()
    assert bytes(roms[0].flash[0x1000:0x1000 + len(data)]) == data
    assert "HARD_RESET" in roms[0].commands


def test_offline_flash_then_queue_sent_then_the_board_boots_and_publishes(tmp_path, boards, make_service):
    service = make_service(admin_token="t0ken-for-tests-0123456789abcdef")
    b = boards(1)[0]
    broker = ("127.0.0.1", service.settings.mqtt_port)
    # The server is not reachable during the workshop (nothing listens on port 9): queued.
    st, _ = station(tmp_path, server="http://127.0.0.1:9", token="t0ken-for-tests-0123456789abcdef", broker=broker,
                    wifi={"ssid": "fablab", "password": "workshop-2026"})  # without Wi-Fi it opens its setup portal
    r = st.flash_one(b.port)
    assert r.ok and "queued" in r.message
    # Back at the lab: the queue goes to the real server, which then knows the board's secrets.
    from datacityzen.flash.station import Registrar

    reg = Registrar(service.http_url, "t0ken-for-tests-0123456789abcdef", tmp_path / "out" / "registrations.json")
    assert reg.flush() == (1, 0)
    assert reg.flush() == (0, 0)
    device = json.loads((b.flash_dir / "device.json").read_text())
    from datacityzen.store.registry import Registry

    registry = Registry.of(service.store)
    assert registry.check_mqtt(r.device_id, device["mqtt"]["password"])
    # The label's host link (made offline) opens the host's page on the server.
    label = Path(r.label).read_text()
    assert r.device_id in label
    # The flashed flash folder boots as the board would, on simulated hardware, and publishes.
    device["sampling"] = {"interval_s": 2, "average_s": 1, "warmup_s": 0, "max_readings": 2}
    (b.flash_dir / "device.json").write_text(json.dumps(device))
    from datacityzen.sim.runner import compile_tree

    hw = compile_tree(SIM_HW, tmp_path / "hw")  # the simulated hardware precompiled, as the simulator runs it
    env = {**os.environ, "MICROPYPATH": os.pathsep.join([str(hw), ".", ".frozen"])}
    from datacityzen.sim.runner import FIRMWARE_HEAP_KB, SIM_HW_ALLOWANCE_KB

    heap = f"heapsize={FIRMWARE_HEAP_KB + SIM_HW_ALLOWANCE_KB}K"
    proc = subprocess.Popen([require_micropython(), "-X", heap, "-c", "import main"],
                            cwd=b.flash_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        got = []
        while time.monotonic() < deadline and not got:
            got = [d for d in service.store.devices() if d["id"] == r.device_id and d["readings"] >= 2]
            time.sleep(0.5)
    finally:
        proc.kill()
        proc.wait()
    assert got, proc.stdout.read()


def test_online_registration_returns_the_host_link(tmp_path, boards, make_service):
    import httpx

    service = make_service(admin_token="t0ken-for-tests-0123456789abcdef")
    b = boards(1)[0]
    st, _ = station(tmp_path, server=service.http_url, token="t0ken-for-tests-0123456789abcdef",
                    broker=("127.0.0.1", service.settings.mqtt_port))
    r = st.flash_one(b.port)
    assert r.ok and "queued" not in r.message, r.message
    label = Path(r.label).read_text()
    assert "Scan" in label and Path(r.label.replace("-label.svg", "-qr.png")).exists()
    host_url = json.loads((tmp_path / "out" / "session.json").read_text())
    page = httpx.get(next(iter(host_url.values()))["host_url"], timeout=10)
    assert page.status_code == 200 and r.device_id in page.text
    # A wrong admin token is a sentence, not a traceback.
    st_bad, _ = station(tmp_path / "bad", server=service.http_url, token="wrong")
    b2 = boards(1)[0]
    bad = st_bad.flash_one(b2.port)
    assert not bad.ok and "admin token" in bad.message


def test_command_line_flashes_a_board_and_says_what_to_do_on_errors(tmp_path, boards):
    b = boards(1)[0]
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root / "server")}
    cmd = [sys.executable, str(root / "tools" / "flash.py"), "--kit", "air-outdoor-v1", "--port", b.port,
           "--lat", "44.84", "--lon", "-0.58", "--out", str(tmp_path / "out"), "--no-progress"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert ": ok - ok (registration queued" in r.stdout and "summary / bilan: 1 boards, 1 ok" in r.stdout
    r = subprocess.run([*cmd[:3], "no-such-kit", *cmd[4:]], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "unknown kit 'no-such-kit'" in r.stderr and "Traceback" not in r.stderr
