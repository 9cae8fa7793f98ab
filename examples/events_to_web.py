"""Bridge taskmill events to a web page as JSON, with the standard library only.

    python examples/events_to_web.py            # serve http://127.0.0.1:8765/ until Ctrl-C
    python examples/events_to_web.py --check    # serve, read the stream as a client, exit

The page opens ``/events``, a server-sent events stream: first the snapshot (running tasks
with progress, counts, pressure), then one message per event, each ``json.dumps`` of
``to_dict()``. Every browser tab gets its own subscription: a slow tab loses its oldest
events (and reads a "missed" message) without slowing the scheduler or other tabs. The
server binds to localhost only. The same dicts cross a pywebview or pytauri bridge unchanged,
e.g. ``window.evaluate_js(f"onEvent({json.dumps(event.to_dict())})")``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
from typing import Any

from taskmill import Domain, Priority, Scheduler, TaskContext

media = Domain("media")


@media.task("convert", label=lambda name: f"convert {name}")
async def convert(name: str, ctx: TaskContext) -> None:
    steps = random.randint(5, 15)
    for step in range(1, steps + 1):
        await asyncio.sleep(0.1)
        ctx.progress.report_fraction(step, steps, f"pass {step}/{steps}")


PAGE = b"""<!doctype html>
<meta charset="utf-8"><title>taskmill</title>
<style>body{font:14px sans-serif} td{padding:2px 8px} progress{width:12em}</style>
<h1>taskmill</h1><table id="tasks"></table>
<script>
const rows = {};
function row(task) {
  if (!rows[task.id]) {
    rows[task.id] = document.getElementById("tasks").insertRow();
    rows[task.id].innerHTML = `<td>${task.label}</td><td class=s></td>` +
      `<td><progress max=1 value=0></progress></td><td class=m></td>`;
  }
  return rows[task.id];
}
function show(task, status, fraction, message) {
  const r = row(task);
  r.querySelector(".s").textContent = status;
  if (fraction != null) r.querySelector("progress").value = fraction;
  if (message) r.querySelector(".m").textContent = message;
}
const source = new EventSource("/events");
source.addEventListener("snapshot", (m) => {
  for (const t of JSON.parse(m.data).running) show(t.task, "running", t.progress, t.message);
});
source.onmessage = (m) => {
  const e = JSON.parse(m.data);
  if (!e.task) return;  // pauses, recurring schedules, missed notices
  const status = e.event === "progress" || e.event === "dispatched" ? "running" : e.event;
  show(e.task, status, e.event === "completed" ? 1 : e.fraction, e.message);
};
</script>
"""


async def stream_events(scheduler: Scheduler, writer: asyncio.StreamWriter) -> None:
    """Write the snapshot, then every event, as server-sent events, until the client leaves."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                 b"Cache-Control: no-cache\r\n\r\n")  # fmt: skip
    async with scheduler.events(maxsize=1000) as events:  # subscribe first: miss nothing
        snapshot = json.dumps((await scheduler.snapshot()).to_dict())
        writer.write(f"event: snapshot\ndata: {snapshot}\n\n".encode())
        await writer.drain()
        async for event in events:
            writer.write(f"data: {json.dumps(event.to_dict())}\n\n".encode())
            await writer.drain()  # a slow client waits here; its subscription drops the oldest


def handler(scheduler: Scheduler) -> Any:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = (await reader.readuntil(b"\r\n\r\n")).split(b" ")
            path = request[1] if len(request) > 1 else b"/"
            if path == b"/events":
                await stream_events(scheduler, writer)
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (len(PAGE), PAGE))  # fmt: skip
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the browser went away
        finally:
            writer.close()

    return handle


async def feed(scheduler: Scheduler, rounds: int | None) -> None:
    """Submit a few conversions now and then, some urgent."""
    n = 0
    while rounds is None or n < rounds:
        for i in range(4):
            priority = Priority.HIGH if i == 0 else Priority.NORMAL
            await scheduler.domain(media).submit(f"clip-{n}-{i}.mp4", priority=priority)
        n += 1
        await asyncio.sleep(3)


async def check(port: int, subscribed: asyncio.Event) -> None:
    """Read the stream as a browser would, until a task completes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /events HTTP/1.1\r\nHost: localhost\r\n\r\n")
    kinds: list[str] = []
    while "completed" not in kinds:
        line = (await reader.readline()).decode()
        if line.startswith("event: snapshot"):
            kinds.append("snapshot")
        elif line.startswith("data: ") and kinds:
            message = json.loads(line[6:])
            kinds.append(message.get("event", "snapshot-data"))
            subscribed.set()  # the snapshot arrived: every later event will too
    writer.close()
    print("stream:", ", ".join(dict.fromkeys(kinds)))


async def main(port: int, self_check: bool) -> None:
    async with Scheduler(":memory:", domains=[media], max_concurrency=3) as scheduler:
        server = await asyncio.start_server(handler(scheduler), "127.0.0.1", port)
        bound = server.sockets[0].getsockname()[1]
        async with server:
            if self_check:
                subscribed = asyncio.Event()
                client = asyncio.create_task(check(bound, subscribed))
                await subscribed.wait()
                feeder = asyncio.create_task(feed(scheduler, 1))
                await client
            else:
                feeder = asyncio.create_task(feed(scheduler, None))
                print(f"open http://127.0.0.1:{bound}/  (Ctrl-C to stop)")
                await server.serve_forever()
            feeder.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="taskmill events on a web page")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--check", action="store_true", help="read the stream once and exit")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(0 if args.check else args.port, args.check))
