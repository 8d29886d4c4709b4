"""mounts_at_or_under: which mounts of /proc/self/mountinfo a volume pool unmounts (its own and a
killed server's), stacked binds and escaped paths included."""

import pytest

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
