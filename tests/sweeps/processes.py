"""What the sweep tests check about processes, read from Linux's /proc: which are still running a
given run, a process tree, and the addresses its listening TCP sockets are bound to."""

import ipaddress
import os


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def processes_mentioning(text: str) -> list[int]:
    """Processes (not this one) whose command line contains `text`: e.g. every experiment.py of a test's runs."""
    return [pid for pid in _pids() if pid != os.getpid() and text in command_line(pid)]


def descendants(root: int) -> set[int]:
    parents = {}
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/stat") as f:
                parents[pid] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    tree, grew = {root}, True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grew = bool(children)
    return tree


def listening_addresses(pids: set[int]) -> list[str]:
    """`host:port` of every listening TCP socket (IPv4 and IPv6) that one of `pids` holds."""
    inodes = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = []
    for table, decode in (("/proc/net/tcp", _ipv4), ("/proc/net/tcp6", _ipv6)):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    address, port = fields[1].split(":")
                    found.append(f"{decode(address)}:{int(port, 16)}")
    return found


def is_loopback(address: str) -> bool:
    """`host:port` on the loopback interface: 127.0.0.0/8, ::1, or IPv4's loopback mapped into IPv6."""
    host = ipaddress.ip_address(address.rsplit(":", 1)[0])
    mapped = getattr(host, "ipv4_mapped", None)
    return host.is_loopback or (mapped is not None and mapped.is_loopback)


def _ipv4(hex_address: str) -> str:
    return ".".join(str(int(hex_address[i:i + 2], 16)) for i in (6, 4, 2, 0))


def _ipv6(hex_address: str) -> str:
    words = [hex_address[i:i + 8] for i in range(0, 32, 8)]
    raw = b"".join(bytes.fromhex(word)[::-1] for word in words)
    return str(ipaddress.IPv6Address(raw))
