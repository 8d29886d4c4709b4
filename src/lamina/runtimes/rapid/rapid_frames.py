"""rapid's end of the engine channel. The codec and Channel are the managed Python runtime's
(`runtimes/python/_lamina_channel.py`, in the sibling directory every backend makes visible);
rapid adds the one frame only it sends: a response over the limit, which the engine skips and
reports as Function.ResponseSizeTooLarge.

Runs inside the sandbox; imports only the standard library and that sibling.
"""

import json
import os
import sys

_PYTHON_RUNTIME = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "python")
if _PYTHON_RUNTIME not in sys.path:
    sys.path.append(_PYTHON_RUNTIME)

import _lamina_channel  # noqa: E402
from _lamina_channel import ERROR, INIT_ERROR, INVOKE, PREFIX, READY, RESULT  # noqa: E402, F401 - re-exported

MAX_RESPONSE = 6_291_556  # the engine skips larger payloads and reports Function.ResponseSizeTooLarge
_CHUNK = 1 << 20


class Channel(_lamina_channel.Channel):
    def send_oversized(self, kind, header):
        """A frame one byte over the limit: the engine skips it and reports the response as too large."""
        head = json.dumps(header, separators=(",", ":")).encode() if header else b""
        size = MAX_RESPONSE + 1
        with self._lock:
            self._write(PREFIX.pack(kind, len(head), size) + head)
            block = bytes(_CHUNK)
            while size:
                step = min(size, _CHUNK)
                self._write(block[:step])
                size -= step
