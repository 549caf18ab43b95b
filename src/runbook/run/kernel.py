"""Start a Jupyter kernel early, over IPC, and stop it without leaving anything behind.

The kernel is the slowest thing to start, so ``runbook exec`` spawns it before importing
the Jupyter stack and parses while it boots. :class:`KernelProcess` then plays the part of
nbclient's kernel manager: nbclient asks it for a client, whether the kernel is alive, and
to interrupt it. Sockets are Unix domain sockets in a private folder: no TCP port opens.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from runbook.errors import KernelError

_PYTHON_NAMES = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
#: The kernel's environment variable naming the pipe that :meth:`KernelProcess.send_environment` writes to.
ENV_FD_VARIABLE = "RUNBOOK_ENV_FD"
MAX_ENV_BYTES = 60_000
FOLDER_PREFIX = "runbook-kernel-"
OWNER_FILE = "owner.pid"
_NATIVE_ARGV = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def find_kernelspec(name: str) -> dict[str, Any]:
    """The kernel.json of kernel ``name`` from Jupyter's data path.

    ``python3`` falls back to this interpreter's ipykernel, as jupyter_client does.
    """
    from jupyter_core.paths import jupyter_path

    for folder in jupyter_path("kernels"):
        spec_file = Path(folder) / name / "kernel.json"
        if spec_file.is_file():
            try:
                spec: dict[str, Any] = json.loads(spec_file.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise KernelError(f"{spec_file}: unreadable kernel spec: {exc}") from None
            spec["resource_dir"] = str(spec_file.parent)
            return spec
    if name in ("python3", "python"):
        return {"argv": list(_NATIVE_ARGV), "language": "python", "display_name": "Python 3"}
    raise KernelError(
        f"no kernel named '{name}'; install it (e.g. `python -m ipykernel install --user --name {name}`) "
        "or change kernelspec.name in the runbook's front matter"
    )


class KernelProcess:
    """A running kernel process and its connection info; nbclient's ``km``."""

    def __init__(
        self, process: subprocess.Popen[bytes], folder: Path, info: dict[str, Any], log: Path, env_pipe: int
    ) -> None:
        self.process = process
        self.folder = folder
        self.connection_info = info
        self.log_path = log
        self.kernel_name = info.get("kernel_name", "")
        self.has_kernel = True
        self._env_pipe: int | None = env_pipe

    @classmethod
    def start(cls, name: str, cwd: Path) -> KernelProcess:
        """Spawn kernel ``name`` in ``cwd``.

        The kernel inherits the read end of a pipe (its number in ``RUNBOOK_ENV_FD``);
        :meth:`send_environment` writes the variables a run adds to its environment,
        such as secrets, once they are known. They never pass through a file.
        """
        spec = find_kernelspec(name)
        _sweep_orphaned_folders()
        folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))  # mode 0700: the key stays private
        (folder / OWNER_FILE).write_text(str(os.getpid()), "utf-8")
        connection_file = folder / "kernel.json"
        info = {
            "transport": "ipc",
            "ip": str(folder / "ipc"),
            "shell_port": 1,
            "iopub_port": 2,
            "stdin_port": 3,
            "control_port": 4,
            "hb_port": 5,
            "key": secrets.token_hex(32),
            "signature_scheme": "hmac-sha256",
            "kernel_name": name,
        }
        connection_file.write_text(json.dumps(info), "utf-8")
        argv = [
            a.replace("{connection_file}", str(connection_file)).replace(
                "{resource_dir}", spec.get("resource_dir", "")
            )
            for a in spec["argv"]
        ]
        if argv and argv[0] in _PYTHON_NAMES:
            argv[0] = sys.executable
        if argv[:3] == [sys.executable, "-m", "ipykernel_launcher"]:
            argv[2] = "runbook.run.ipc_kernel"  # same kernel, without ipykernel's TCP fork pipe
        if any("ipykernel" in a or "runbook.run.ipc_kernel" in a for a in argv):
            # As nbclient does: no IPython history database, which is slow and locks
            # when several runs share it.
            argv.append("--HistoryManager.hist_file=:memory:")
        read_end, write_end = os.pipe()
        kernel_env = {**os.environ, **spec.get("env", {})}
        kernel_env[ENV_FD_VARIABLE] = str(read_end)
        kernel_env["JPY_PARENT_PID"] = str(os.getpid())  # the kernel exits if we die
        kernel_env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        kernel_env["RUNBOOK_KERNEL_DIR"] = str(folder)
        log = folder / "kernel.log"
        try:
            with log.open("wb") as log_file:
                process = subprocess.Popen(
                    argv,
                    cwd=str(cwd),
                    env=kernel_env,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    pass_fds=(read_end,),
                )
        except OSError as exc:
            os.close(write_end)
            shutil.rmtree(folder, ignore_errors=True)
            raise KernelError(f"cannot start kernel '{name}' ({argv[0]}): {exc.strerror}") from None
        finally:
            os.close(read_end)
        return cls(process, folder, info, log, write_end)

    def send_environment(self, variables: dict[str, str]) -> None:
        """Send the variables the kernel adds to its environment, then close the pipe.

        Raises:
            KernelError: more than fits the pipe without blocking (about 60 kB).
        """
        data = json.dumps(variables).encode("utf-8")
        if len(data) > MAX_ENV_BYTES:
            raise KernelError(f"secret values too large ({len(data)} bytes, at most {MAX_ENV_BYTES})")
        fd, self._env_pipe = self._env_pipe, None
        if fd is None:
            return
        try:
            os.write(fd, data)
        except BrokenPipeError:
            pass  # the kernel is gone; the run reports that
        finally:
            os.close(fd)

    # -- the part of jupyter_client's KernelManager that nbclient uses --

    def client(self) -> Any:
        """An asynchronous kernel client connected to this kernel.

        Its liveness check asks the process, as a client owned by a KernelManager does;
        the heartbeat alone reports a kernel that is still booting as dead.
        """
        from jupyter_client.asynchronous import AsyncKernelClient

        process = self.process

        class ProcessKernelClient(AsyncKernelClient):
            async def _async_is_alive(self) -> bool:
                return process.poll() is None

            is_alive = _async_is_alive

        client = ProcessKernelClient()
        client.load_connection_info(self.connection_info)  # type: ignore[arg-type]
        return client

    def is_alive(self) -> bool:
        return self.process.poll() is None

    def interrupt_kernel(self) -> None:
        if self.is_alive():
            os.kill(self.process.pid, signal.SIGINT)

    def shutdown_kernel(self, now: bool = False, restart: bool = False) -> None:
        """nbclient calls this when the kernel never became ready: stop it outright."""
        self.kill()

    def cleanup_resources(self, restart: bool = False) -> None:
        """Sockets and the key are removed by :meth:`stop`."""

    def log_tail(self, lines: int = 3) -> str:
        """The last lines the kernel process printed (not cell output), for messages."""
        try:
            text = self.log_path.read_text("utf-8", "replace")
        except OSError:
            return ""
        return " | ".join(ln.strip() for ln in text.splitlines() if ln.strip())[-lines * 200 :]

    # -- ending --

    @property
    def pid(self) -> int:
        return self.process.pid

    def exit_reason(self) -> str:
        """Why the kernel process ended, with the last line it printed."""
        code = self.process.poll()
        if code is None:
            return "the kernel is still running"
        if code < 0:
            try:
                how = f"killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"killed by signal {-code}"
        else:
            how = f"exited with status {code}"
        tail = ""
        try:
            lines = [ln for ln in self.log_path.read_text("utf-8", "replace").splitlines() if ln.strip()]
            tail = f": {lines[-1].strip()[:200]}" if lines else ""
        except OSError:
            pass
        return f"the kernel died ({how}){tail}"

    def stop(self, grace_s: float = 2.0) -> None:
        """Stop the kernel and everything it started; remove its sockets and key.

        The caller asks the kernel to shut down first (over the control channel); this
        waits up to ``grace_s`` for that, then kills the kernel's process group and any
        descendants that left it.
        """
        if self._env_pipe is not None:
            os.close(self._env_pipe)
            self._env_pipe = None
        try:
            self.process.wait(timeout=grace_s)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            pass  # too slow, or a second Ctrl-C: stop waiting
        finally:
            self.kill()
            shutil.rmtree(self.folder, ignore_errors=True)

    def kill(self) -> None:
        """Kill the kernel and its descendants now."""
        import psutil

        try:
            descendants = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.Error:
            descendants = []
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for child in descendants:
            try:
                child.kill()
            except psutil.Error:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (
            self.process.poll() is None or not all(_gone(child) for child in descendants)
        ):
            time.sleep(0.01)


def _sweep_orphaned_folders() -> None:
    """Remove kernel folders left by a ``runbook exec`` that was killed (SIGKILL)."""
    for folder in Path(tempfile.gettempdir()).glob(FOLDER_PREFIX + "*"):
        try:
            owner = int((folder / OWNER_FILE).read_text("utf-8"))
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except (OSError, ValueError):
            continue  # not ours to judge: unreadable, or owned by another user


def _gone(process: Any) -> bool:
    """Whether a process has exited (a zombie waiting for its parent counts as gone)."""
    import psutil

    try:
        return bool(process.status() == psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return True
