"""The overlays a version's environments share: made on first use, a clone per environment,
closed with the last environment that used it or when the backend closes; and the real mount
API (root only): a clone shows the layers merged, read-only, and outlives the closed original."""

from __future__ import annotations

import errno
import os

import pytest

from lamina.engine import overlays


class Kernel:
    """Descriptors as numbers: which overlays were made, cloned and closed."""

    def __init__(self, fail: int | None = None) -> None:
        self.made: list[tuple[str, ...]] = []
        self.closed: list[int] = []
        self.fail = fail
        self.next = 100

    def make(self, lower_dirs: tuple[str, ...], empty: str) -> int:
        if self.fail is not None:
            raise OSError(self.fail, os.strerror(self.fail))
        self.made.append(lower_dirs)
        self.next += 1
        return self.next

    def copy(self, fd: int) -> int:
        return fd * 1000


def _shared(tmp_path, kernel: Kernel) -> overlays.SharedOverlays:
    return overlays.SharedOverlays(tmp_path / "empty", make=kernel.make, copy=kernel.copy, close=kernel.closed.append)


def test_one_overlay_per_set_of_layers_while_any_environment_uses_it(tmp_path):
    task, other = (str(tmp_path),), (str(tmp_path / "empty"),)
    kernel = Kernel()
    shared = _shared(tmp_path, kernel)
    first, second = shared.acquire(task), shared.acquire(task)
    assert first == second == 101_000 and kernel.made == [task]  # two clones of one overlay
    assert shared.acquire(other) == 102_000 and len(shared) == 2
    shared.release(task)
    assert kernel.closed == [] and len(shared) == 2
    shared.release(task)
    assert kernel.closed == [101] and len(shared) == 1  # its last environment is gone
    assert shared.acquire(task) == 103_000  # made again for the next one
    shared.close()
    assert sorted(kernel.closed) == [101, 102, 103] and len(shared) == 0


def test_without_the_mount_api_or_a_layer_each_environment_makes_its_own(tmp_path):
    cases = [  # (what making one raises, layers, still tried for the next environment)
        (errno.ENOSYS, (str(tmp_path),), False),
        (errno.EPERM, (str(tmp_path),), False),
        (errno.EINVAL, (str(tmp_path),), True),
        (None, (str(tmp_path / "missing"),), True),  # a layer that is no directory: bound as before
    ]
    for fail, layers, available in cases:
        shared = _shared(tmp_path, Kernel(fail))
        assert shared.acquire(layers) is None
        assert shared.available is available, fail
        shared.release(layers)  # nothing was acquired: nothing to close


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")
def test_a_clone_shows_the_layers_merged_read_only_and_outlives_the_original(tmp_path):
    high, low = tmp_path / "high", tmp_path / "low"
    for layer, names in ((high, ("a", "b")), (low, ("b", "c"))):
        layer.mkdir()
        for name in names:
            (layer / name).write_text(layer.name)
    shared = overlays.SharedOverlays(tmp_path / "empty")
    clone = shared.acquire((str(high), str(low)))
    if clone is None:
        pytest.skip("this kernel cannot clone a detached overlay")
    try:
        shared.release((str(high), str(low)))  # the original is closed: the clone still works
        seen = f"/proc/self/fd/{clone}"
        assert sorted(os.listdir(seen)) == ["a", "b", "c"]
        assert open(f"{seen}/b").read() == "high"  # the first layer wins
        with pytest.raises(OSError) as raised:
            open(f"{seen}/d", "w")
        assert raised.value.errno == errno.EROFS
        assert str(tmp_path) not in open("/proc/self/mountinfo").read()  # mounted nowhere
    finally:
        os.close(clone)
