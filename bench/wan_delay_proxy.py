"""Transparent user-space delay for every TCP connection a network namespace opens (bench/wan.mjs).

This kernel has no sch_netem (and no sch_fq/etf for eBPF earliest-departure-time pacing), so delay
is emulated here: iptables in the namespace REDIRECTs outbound TCP to the bench's subnet to this
proxy (except its own upstream sockets, marked SO_MARK 1), which reads the original destination
(SO_ORIGINAL_DST), connects there and pipes both directions, each chunk held DELAY_MS after it
arrived. Every connection crosses exactly one proxy (its dialer's), so the one-way delay is DELAY_MS
in both directions; a relayed path (host -> relay -> host) crosses two. The queue per direction is
bounded (QUEUE_BYTES), so TCP backpressure still reaches the sender. The shaped link is the
proxy's upstream socket (tc tbf on the namespace's eth0).

  python3 wan_delay_proxy.py PORT DELAY_MS
"""

import asyncio
import socket
import struct
import sys

SO_ORIGINAL_DST = 80
SO_MARK = 36
CHUNK = 256 << 10
QUEUE_BYTES = 2 << 20  # above the bandwidth-delay product (500 Mbit/s x 20 ms = 1.25 MB)


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    loop = asyncio.get_running_loop()
    q: asyncio.Queue = asyncio.Queue()
    room = asyncio.Semaphore(QUEUE_BYTES // CHUNK)

    async def pump_in() -> None:
        while True:
            await room.acquire()
            try:
                d = await reader.read(CHUNK)
            except (ConnectionError, OSError):
                d = b""
            await q.put((loop.time() + delay, d))
            if not d:
                return

    async def pump_out() -> None:
        while True:
            due, d = await q.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            room.release()
            try:
                if not d:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(d)
                await writer.drain()
            except (ConnectionError, OSError):
                return

    await asyncio.gather(pump_in(), pump_out())


async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter, delay: float) -> None:
    s = cw.get_extra_info("socket")
    raw = s.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
    port = struct.unpack("!H", raw[2:4])[0]
    ip = socket.inet_ntoa(raw[4:8])
    up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    up.setsockopt(socket.SOL_SOCKET, SO_MARK, 1)
    up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    up.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(up, (ip, port))
    except OSError:
        up.close()
        cw.transport.abort()  # the dialer sees the refusal as a reset
        return
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ur, uw = await asyncio.open_connection(sock=up, limit=CHUNK)
    await asyncio.gather(pipe(cr, uw, delay), pipe(ur, cw, delay), return_exceptions=True)
    for w in (uw, cw):
        w.close()


async def main() -> None:
    port, delay = int(sys.argv[1]), float(sys.argv[2]) / 1000
    srv = await asyncio.start_server(lambda r, w: handle(r, w, delay), "0.0.0.0", port, limit=CHUNK)
    print(f"delay proxy on :{port}, {delay * 1000:g} ms each way", flush=True)
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
