"""rapid's end of the engine channel. The codec and Channel are the managed Python runtime's
(`runtimes/python/_lamina_channel.py`: a copy beside rapid in the runtime image, else the sibling
directory);
rapid adds the one frame only it sends: a response over the limit, which the engine skips and
reports as Function.ResponseSizeTooLarge.

Runs inside the sandbox; imports only the standard library and that sibling.
"""

import json
import os
import sys

_HERE = os.path.dirname(os.path.realpath(__file__))
_PYTHON_RUNTIME = os.path.join(os.path.dirname(_HERE), "python")
if not os.path.exists(os.path.join(_HERE, "_lamina_channel.py")) and _PYTHON_RUNTIME not in sys.path:
    sys.path.append(_PYTHON_RUNTIME)  # lamina's source tree; the runtime image has a copy beside rapid

import _lamina_channel  # noqa: E402
from _lamina_channel import CHUNK, ERROR, INIT_ERROR, INVOKE, PREFIX, READY, RESULT  # noqa: E402, F401 - re-exported

MAX_RESPONSE = 6_291_556  # the engine skips larger payloads and reports Function.ResponseSizeTooLarge
_CHUNK = 1 << 20
STREAM_PIECE = 1 << 20  # a streamed response travels in frames of at most this many bytes


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
