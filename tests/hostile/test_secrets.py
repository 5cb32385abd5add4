"""Secrets and privilege: what an attacker looks for inside the sandbox is not there, and
no way up (setuid, mount, namespaces, ptrace, the kernel keyring) is open.

Like the network case: one repository whose tests pass only if their attack worked.
The canary's prefix is public (it is in this file); its random part never enters a
repository, so a test that finds the prefix has found the real secret.
"""

from __future__ import annotations

import pytest

from tests.conftest import RepoFactory
from tests.hostile.conftest import CANARY_PREFIX, FUNCTIONAL_ONLY, Hostile, judged

pytestmark = [pytest.mark.docker, pytest.mark.hostile]

ATTACKS = r"""
import ctypes, errno, glob, os, subprocess

PREFIX = "@PREFIX@".encode()
libc = ctypes.CDLL(None, use_errno=True)


def attack(found, tried):
    print("found:", found)
    assert found, f"attack failed: {tried}"


def read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read(1 << 20)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc.strerror}"


def call(result, what):
    err = ctypes.get_errno()
    return "succeeded" if result == 0 else f"{what}: {errno.errorcode.get(err, err)} ({os.strerror(err)})"


def run(*argv):
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return done.returncode, (done.stdout + done.stderr).strip()[-200:]


def test_environment_and_proc_environ():
    found = [name for name, value in os.environ.items() if PREFIX.decode() in value]
    tried = {}
    for path in glob.glob("/proc/[0-9]*/environ") + glob.glob("/proc/[0-9]*/cmdline"):
        data = read(path)
        if isinstance(data, str):
            tried[path] = data
        elif PREFIX in data:
            found.append(path)
    tried["init"] = read("/proc/1/environ")
    attack(found, tried)


def test_run_secrets_and_service_tokens():
    paths = glob.glob("/run/secrets/**", recursive=True) + glob.glob("/var/run/secrets/**", recursive=True)
    attack([p for p in paths if os.path.isfile(p)], {"files": paths})


def test_host_files_and_the_signing_key():
    # The bind mounts name host folders; the signing key sits beside the wheel cache there.
    sources = [line.split()[3] for line in open("/proc/self/mountinfo") if " /wheels " in line]
    guesses = [os.path.join(s, "..", "..", "keys", name) for s in sources
               for name in ("signing.key", "canary.secret")]
    guesses += ["/root/.ssh/id_rsa", "/etc/shadow", "/proc/1/root/etc/hostname",
                "/proc/1/mem", "/host/etc/shadow"] + glob.glob("/root/acceptance-canary-*")
    tried = {path: read(path) for path in guesses}
    found = [p for p, data in tried.items() if isinstance(data, bytes) and data]
    for root, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys", "/dev")]
        found += [os.path.join(root, f) for f in files
                  if f in ("signing.key", "canary.secret") or f.startswith("acceptance-canary-")]
    attack(found, tried)


def test_setuid_binaries():
    setuid = [p for p in glob.glob("/usr/bin/*") if os.stat(p).st_mode & 0o4000]
    tried = {"setuid binaries": setuid,
             "mount": run("mount", "-t", "tmpfs", "none", "/mnt"),
             "su": run("su", "-c", "id", "root"),
             "status": [l for l in read("/proc/self/status").decode().splitlines()
                        if l.startswith(("NoNewPrivs", "CapEff", "Seccomp:"))]}
    attack([k for k in ("mount", "su") if tried[k][0] == 0], tried)


def test_mount_and_namespaces():
    tried = {
        "mount(2)": call(libc.mount(b"none", b"/mnt", b"tmpfs", 0, None), "mount"),
        "unshare(CLONE_NEWUSER)": call(libc.unshare(0x10000000), "unshare"),
        "unshare(CLONE_NEWNS)": call(libc.unshare(0x00020000), "unshare"),
        "unshare -r": run("unshare", "-r", "id"),
    }
    attack([k for k, v in tried.items() if v == "succeeded" or (isinstance(v, tuple) and v[0] == 0)], tried)


def test_ptrace_the_init_process():
    tried = {"PTRACE_ATTACH 1": call(libc.ptrace(16, 1, None, None), "ptrace"),
             "/proc/1/root": read("/proc/1/root/etc/hostname")}
    attack([k for k, v in tried.items() if v == "succeeded"], tried)


def test_kernel_keyring():
    libc.syscall.restype = ctypes.c_long
    key = libc.syscall(248, b"user", b"loot", b"secret", 6, -4)  # add_key, user keyring
    tried = {"add_key": "succeeded" if key >= 0 else call(-1, "add_key"),
             "keyctl(get_keyring_id)": call(0 if libc.syscall(250, 0, -4, 0) >= 0 else -1, "keyctl")}
    attack([k for k, v in tried.items() if v == "succeeded"], tried)


def test_host_kernel_and_cgroup_settings():
    targets = ["/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger",
               "/sys/kernel/uevent_helper"] + glob.glob("/sys/fs/cgroup/*/release_agent")
    tried = {}
    for path in targets:
        try:
            with open(path, "w") as handle:
                handle.write("|/tmp/escape")
            tried[path] = "written"
        except OSError as exc:
            tried[path] = f"{type(exc).__name__}: {exc.strerror}"
    attack([p for p, v in tried.items() if v == "written"], tried)
""".replace("@PREFIX@", CANARY_PREFIX)


def test_no_secret_and_no_privilege_inside_the_sandbox(
    hostile: Hostile, make_repo: RepoFactory
) -> None:
    repo = make_repo({"tests/test_attacks.py": ATTACKS})
    outcome = hostile.run(
        repo, hostile.spec(FUNCTIONAL_ONLY, functional="functional: {timeout: 45}\n")
    )

    judged(outcome, "TESTS_FAILED")
    functional = outcome.check("functional")
    assert functional["tests"]["passed"] == 0 and functional["tests"]["failed"] == 8, (
        outcome.explain()
    )
    messages = {f["id"].rsplit("::", 1)[1]: f["message"] for f in functional["failures"]}
    for name, message in messages.items():
        assert "attack failed" in message, f"{name} failed for another reason: {message}"
    # init is not dumpable: its environment and memory are the kernel's to guard.
    assert "'init': 'PermissionError" in messages["test_environment_and_proc_environ"]
    assert "'/proc/1/mem': 'PermissionError" in messages["test_host_files_and_the_signing_key"]
    assert "NoNewPrivs:\\t1" in messages["test_setuid_binaries"]
    assert "CapEff:\\t0000000000000000" in messages["test_setuid_binaries"]
    assert "mount: EPERM" in messages["test_mount_and_namespaces"]
    assert "unshare: EPERM" in messages["test_mount_and_namespaces"]
    assert "ptrace: EPERM" in messages["test_ptrace_the_init_process"]
    # Docker's default seccomp profile refuses the (not namespaced) kernel keyring.
    assert "add_key: EPERM" in messages["test_kernel_keyring"]
    assert "'written'" not in messages["test_host_kernel_and_cgroup_settings"]
