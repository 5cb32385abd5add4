"""What the Docker sandbox runs inside its container, and how their answers are read."""

from __future__ import annotations

from collections.abc import Sequence

from sandbox.interface import CommandResult, FileRead, SandboxLimitError

# PID 1 inside the container: reaps orphans, caps the container's lifetime and,
# when the host sends SIGUSR1, SIGKILLs every other process in the sandbox.
# Sandboxed code runs as the same uid, so init must not be an easy target:
# * no handler may end it: the kernel drops signals with the default action that
#   are sent to a namespace's init from inside, so only SIGCHLD and SIGUSR1 get
#   (blocked, never run) handlers, and the lifetime is a deadline, not SIGALRM
#   (a handled SIGALRM or SIGTERM let any test stop the container, taking the
#   results with it);
# * it is not dumpable, so it cannot be ptraced or its /proc files read;
# * the kill needs no new process: a fork bomb at the pids limit leaves no room
#   for a `docker exec`, and kill(-1) is repeated until nothing is left because
#   one pass can miss children forked while it ran.
INIT_SCRIPT = """
import ctypes, os, signal, sys, time
ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
deadline = time.monotonic() + int(sys.argv[1])
wanted = {signal.SIGCHLD, signal.SIGUSR1}
for signum in wanted:
    signal.signal(signum, lambda *_: None)
signal.pthread_sigmask(signal.SIG_BLOCK, wanted)

def reap():
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return

def kill_all():
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return
        reap()
        time.sleep(0.01)

while True:
    left = deadline - time.monotonic()
    if left <= 0:
        os._exit(0)
    info = signal.sigtimedwait(wanted, left)
    reap()
    if info is not None and info.si_signo == signal.SIGUSR1:
        kill_all()
"""


# For each (path, limit + 1): a header "<status> <length>" then that many bytes. Status 0
# read, 3 absent, 4 a link or not a regular file (never opened). Run once no process of
# the submission is left (every exec ends its stragglers), so the file cannot change
# between the count and the copy; if it somehow does, the framing breaks and the host
# refuses what it cannot parse.
READ_FILES_SCRIPT = """
while [ "$#" -ge 2 ]; do
  p=$1; m=$2; shift 2
  if test -L "$p"; then echo "4 0"
  elif ! test -e "$p"; then echo "3 0"
  elif ! test -f "$p"; then echo "4 0"
  else
    n=$(head -c "$m" -- "$p" | wc -c) || exit 5
    echo "0 $((n))"
    head -c "$((n))" -- "$p" || exit 5
  fi
done
"""


def parse_file_reads(result: CommandResult, requests: Sequence[tuple[str, int]]) -> list[FileRead]:
    """The answers framed by READ_FILES_SCRIPT; what could not be read says so."""
    out = result.output
    position = 0
    broken = result.timed_out  # past the first unreadable answer nothing is trusted
    answers: list[FileRead] = []
    for path, max_bytes in requests:
        newline = out.find(b"\n", position)
        header = out[position:newline].split() if newline >= 0 and not broken else []
        if len(header) != 2 or not all(part.isdigit() for part in header):
            broken = True
            problem = SandboxLimitError(
                "INVALID_ARTIFACT", f"could not read {path} from the sandbox"
            )
            answers.append(FileRead(path, None, problem))
            continue
        status, length = int(header[0]), int(header[1])
        data = out[newline + 1 : newline + 1 + length]
        position = newline + 1 + length
        if status == 3:
            answers.append(FileRead(path, None))
        elif status == 4:
            problem = SandboxLimitError(
                "INVALID_ARTIFACT", f"{path} is a symbolic link or not a regular file"
            )
            answers.append(FileRead(path, None, problem))
        elif status != 0 or len(data) != length:
            broken = True
            problem = SandboxLimitError(
                "INVALID_ARTIFACT", f"could not read {path} from the sandbox"
            )
            answers.append(FileRead(path, None, problem))
        elif length > max_bytes:
            problem = SandboxLimitError(
                "INVALID_ARTIFACT", f"{path} is larger than the {max_bytes}-byte limit"
            )
            answers.append(FileRead(path, None, problem))
        else:
            answers.append(FileRead(path, data))
    return answers


SCRATCH = ("/work", "/tmp", "/dev/shm")
# Prints each path whose filesystem has less than 2 % of its space or inodes left (at
# most 1 MiB, 1024 inodes): what remains once the filler's own temporary files are gone.
FULL_SCRIPT = """
import os, sys
for path in sys.argv[1:]:
    try:
        fs = os.statvfs(path)
    except OSError:
        continue
    size = fs.f_blocks * fs.f_frsize
    if fs.f_bavail * fs.f_frsize < min(1 << 20, size // 50) or (
        fs.f_files and fs.f_favail < min(1024, fs.f_files // 50)
    ):
        print(path)
"""
