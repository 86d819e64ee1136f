"""Entry point of the isolated reader's worker process: ``python -m mediqa_sdk._isolate_worker REQ REP MEM``.

``REQ`` and ``REP`` are inherited pipe file descriptors (requests in, replies out), ``MEM`` the address-space
ceiling in bytes. See :mod:`mediqa_sdk.isolate`.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    """Serve requests until the parent closes the pipe or sends ``None``."""
    from multiprocessing.connection import Connection

    from mediqa_sdk.isolate import _worker_main

    requests_fd, replies_fd, memory_bytes = (int(a) for a in argv[:3])
    _worker_main(
        Connection(requests_fd, writable=False), Connection(replies_fd, readable=False), memory_bytes
    )


if __name__ == "__main__":
    main(sys.argv[1:])
