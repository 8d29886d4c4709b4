"""mounts_at_or_under: which mounts of /proc/self/mountinfo a volume pool unmounts (its own and a
killed server's), stacked binds and escaped paths included; discarded volume files deleted
off the event loop."""

import time

import pytest

from lamina.engine import piped, volumes
from lamina.engine.volumes import mounts_at_or_under

BASE = "/data/sandbox/volumes"


def _line(number: int, point: str) -> str:
    return f"{number} 27 254:0 /x {point} rw,relatime shared:30 - ext4 /dev/vda rw"


@pytest.mark.parametrize(("points", "expected"), [
    ([], []),
    (["/", "/data"], []),
    ([BASE], [BASE]),
    ([BASE, BASE], [BASE, BASE]),  # a bind stacked on itself by a restart: two unmounts
    ([BASE, f"{BASE}/a1", f"{BASE}/b2"], [f"{BASE}/b2", f"{BASE}/a1", BASE]),  # newest first
    ([f"{BASE}-other", "/data/sandbox/volumesx/a"], []),  # a name that only starts alike
    ([f"{BASE}/with\\040space"], [f"{BASE}/with space"]),
])
def test_mounts_at_or_under(points, expected):
    text = "\n".join(_line(n, p) for n, p in enumerate(points, 100))
    assert mounts_at_or_under(text, BASE) == expected
    assert mounts_at_or_under(text, BASE + "/") == expected


def test_loop_config_backs_the_device_with_the_file_and_detaches_it_when_unmounted():
    from lamina.engine.volumes import LO_FLAGS_AUTOCLEAR, loop_config

    config = loop_config(7)
    assert len(config) == 304  # sizeof(struct loop_config)
    assert int.from_bytes(config[0:4], "little") == 7  # fd
    assert int.from_bytes(config[8 + 52:8 + 56], "little") == LO_FLAGS_AUTOCLEAR  # info.lo_flags


def test_data_extents_of_a_sparse_file(tmp_path):

    from lamina.engine.volumes import data_extents

    path = tmp_path / "sparse"
    with open(path, "wb") as f:
        f.truncate(64 << 20)
        f.seek(32 << 20)
        f.write(b"x" * 4096)
        f.flush()
        extents = data_extents(f.fileno())
    assert sum(length for _, length in extents) >= 4096
    assert all(offset <= 32 << 20 < offset + length for offset, length in extents)


def test_discard_deletes_a_volume_file_on_the_pool_thread(tmp_path):
    pool = volumes.VolumePool.__new__(volumes.VolumePool)  # only its deleting thread: no mounts
    pool._deleter = piped.Serial("delete")
    given = [tmp_path / f"{n}.img" for n in range(5)]
    for path in given:
        path.write_bytes(b"x")
        pool.discard(path)
    pool.discard(tmp_path / "never-there.img")  # a file already gone is no error
    deadline = time.monotonic() + 30  # a bound on a thread deleting five files, not a speed check
    while any(path.exists() for path in given) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(path.exists() for path in given)
