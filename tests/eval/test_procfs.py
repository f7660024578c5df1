"""Finding the server's process from /proc while that process keeps opening and closing files."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from eval.procfs import find_listening_pid, holds_any, read_memory


def test_a_descriptor_that_closes_while_we_look_does_not_hide_the_process(tmp_path: Path) -> None:
    gone = tmp_path / "3"  # listed, then closed before its link was read
    live = tmp_path / "4"
    live.symlink_to("socket:[4242]")
    assert holds_any([gone, live], {"socket:[4242]"})
    assert not holds_any([gone, live], {"socket:[1]"})


def test_the_process_listening_on_a_port_is_found_with_its_memory() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert find_listening_pid(port) == os.getpid()
        memory = read_memory(os.getpid())
        assert memory is not None and 0 < memory.rss_kib <= memory.hwm_kib
    assert find_listening_pid(port) is None
