import pytest
from vnetbench.message_sizes import format_size, parse_size


@pytest.mark.parametrize(
    "text, expected",
    [
        (512, 512),
        ("512", 512),
        ("8K", 8192),
        ("50M", 52428800),
        ("1G", 1 << 30),
        ("8k", 8000),
        ("2m", 2_000_000),
    ],
)
def test_parse_size_follows_netperf_units(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", [0, -1, "0", "-8K", "abc", "8KB", "1.5K", "", True, "8 K K"])
def test_parse_size_rejects_nonsense(text):
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize(
    "size, label",
    [(1, "1 B"), (512, "512 B"), (8192, "8 KB"), (524288, "512 KB"), (52428800, "50 MB"), (1536, "1.5 KB")],
)
def test_format_size_gives_readable_ticks(size, label):
    assert format_size(size) == label
