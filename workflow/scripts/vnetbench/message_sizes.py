"""Message sizes as netperf understands them: K/M/G are powers of 1024, k/m/g of 1000."""

import re

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "k": 1000, "m": 1000**2, "g": 1000**3}
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGkmg]?)\s*$")

#: The largest UDP payload IPv4 carries (65535 - 20 IP - 8 UDP); netperf fails above it.
UDP_MAX_PAYLOAD = 65507


def parse_size(value: int | str) -> int:
    """512 -> 512, "8K" -> 8192, "50M" -> 52428800. Raises ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")
    if isinstance(value, int):
        number = value
    else:
        match = _SIZE.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a size (expected e.g. 512, '8K', '50M')")
        number = int(match.group(1)) * _UNITS[match.group(2)]
    if number <= 0:
        raise ValueError(f"{value!r} is not a positive size")
    return number


def format_size(size_bytes: int) -> str:
    """A short label for an axis tick: 512 -> '512 B', 8192 -> '8 KB', 1048576 -> '1 MB'."""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if size_bytes >= factor and size_bytes % factor == 0:
            return f"{size_bytes // factor} {unit}"
    if size_bytes >= 1024:
        return f"{size_bytes / 1024:.1f} KB"
    return f"{size_bytes} B"
