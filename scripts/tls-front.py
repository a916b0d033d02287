#!/usr/bin/env python3
"""A TLS front for the emulators, so pods on the local node (scripts/node.sh) can reach them.

The emulators listen on the loopback only (their control API has no authentication) and speak
plain HTTP, and the operator sends credentials only to https:// URLs (or http:// on its own
loopback). In `make e2e` the operator runs in a pod, so each emulator gets a front on the node's
bridge address that terminates TLS with a certificate of the e2e's own CA and forwards the bytes
to the emulator's loopback port. The operator trusts that CA through the chart's `extraVolumes`
and `SSL_CERT_FILE`, as it would trust a company's TLS-inspecting proxy: its client code is the
one it uses against the real services.

    scripts/tls-front.py --cert front.crt --key front.key --ready-file fronts.json \
        10.244.0.1:0=127.0.0.1:41234 10.244.0.1:0=127.0.0.1:41235

The ready file lists the fronts' addresses in the order given, once all listen.
"""

import argparse
import asyncio
import json
import os
import signal
import ssl


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
        pass
    finally:
        try:
            writer.close()
        except Exception:  # noqa: BLE001 - closing a broken transport
            pass


def handler(upstream_host, upstream_port):
    async def handle(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(upstream_host, upstream_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, up_writer), pipe(up_reader, client_writer))

    return handle


async def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ready-file", required=True)
    p.add_argument("routes", nargs="+", help="LISTEN_HOST:PORT=UPSTREAM_HOST:PORT")
    a = p.parse_args()

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.load_cert_chain(a.cert, a.key)

    servers, addresses = [], []
    for route in a.routes:
        listen, upstream = route.split("=", 1)
        lhost, lport = listen.rsplit(":", 1)
        uhost, uport = upstream.rsplit(":", 1)
        server = await asyncio.start_server(handler(uhost, int(uport)), lhost, int(lport), ssl=tls)
        host, port = server.sockets[0].getsockname()[:2]
        servers.append(server)
        addresses.append(f"{host}:{port}")
    tmp = a.ready_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(addresses, f)
    os.replace(tmp, a.ready_file)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main())
