"""Launch an IPython kernel with no TCP socket at all, that exits promptly when asked.

ipykernel binds its sockets to the transport in the connection file (Unix domain sockets
here), except one: the pipe that carries output from forked child processes back to the
kernel, which it always binds to a random TCP port on 127.0.0.1. This launcher moves that
pipe onto a Unix domain socket beside the others. ``runbook.run.kernel`` starts Python kernels
with ``python -m runbook.run.ipc_kernel -f CONNECTION_FILE`` when the kernel's interpreter is
this one.

It also lets the kernel exit in a safe order. After a shutdown request, ipykernel's exit
handlers stop the IOPub thread while the control thread may still be flushing output
through it; that flush then waits for its 10 s timeout. ``runbook exec``, which gives an
answered shutdown half a second, killed one kernel in every five or so here, its exit
handlers not run, and waited 0.4 s longer for it. Here the control thread finishes first.

Once the kernel is set up, and before it runs any code, everything it has loaded is moved
out of the garbage collector's reach (``gc.freeze``). The interpreter's collections at exit
walked those objects again: a quarter of a second after the last exit handler here, on the
path of every ``runbook exec``. The runbook's own objects are collected as before, and the
kernel exits the usual way, exit handlers and finalizers included.
"""

from __future__ import annotations

import gc
import os
import secrets
import tempfile
from typing import Any

import zmq
from ipykernel import iostream, kernelapp


class IPCPipeIOPubThread(iostream.IOPubThread):
    """IOPubThread whose fork pipe is ``ipc://`` instead of ``tcp://127.0.0.1``."""

    def _setup_pipe_in(self) -> None:
        self._pipe_uuid = os.urandom(16)
        folder = os.environ.get("RUNBOOK_KERNEL_DIR") or tempfile.gettempdir()
        self._pipe_address = f"ipc://{folder}/pipe-{secrets.token_hex(4)}"
        pipe_in = self.socket.context.socket(zmq.PULL)
        pipe_in.linger = 0
        try:
            pipe_in.bind(self._pipe_address)
        except zmq.ZMQError:
            pipe_in.close()
            super()._setup_pipe_in()  # type: ignore[no-untyped-call]  # ipykernel's own pipe
            return
        self._pipe_in = iostream.ZMQStream(pipe_in, self.io_loop)
        self._pipe_in.on_recv(self._handle_pipe_msg)

    def _setup_pipe_out(self) -> tuple[Any, Any]:
        if not hasattr(self, "_pipe_address"):
            pipe: tuple[Any, Any] = super()._setup_pipe_out()  # type: ignore[no-untyped-call]
            return pipe
        ctx = zmq.Context()
        pipe_out = ctx.socket(zmq.PUSH)
        pipe_out.linger = 3000
        pipe_out.connect(self._pipe_address)
        return ctx, pipe_out


#: How long an exiting kernel waits for its control thread to finish the request it handles.
CONTROL_FINISH_S = 5.0


def _let_control_finish(app: Any) -> None:
    """Wait for the control thread to finish the request it is handling (its last flush
    goes out through the IOPub thread), before the exit handlers stop the IOPub thread."""
    control = getattr(app, "control_thread", None)
    if control is not None and control.is_alive():
        control.stop()
        control.join(CONTROL_FINISH_S)


def main() -> None:
    if hasattr(iostream.IOPubThread, "_setup_pipe_in") and hasattr(kernelapp, "IOPubThread"):
        kernelapp.IOPubThread = IPCPipeIOPubThread  # type: ignore[misc]
    app = kernelapp.IPKernelApp.instance()  # as launch_new_instance, with a freeze before start
    app.initialize()
    gc.freeze()
    app.start()
    _let_control_finish(app)


if __name__ == "__main__":
    main()
