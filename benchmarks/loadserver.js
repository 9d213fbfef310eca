#!/usr/bin/env node
// The benchmark's load server: a small, fast fake of Slack's Web API and RTM WebSocket.
//
// One port on 127.0.0.1 serves everything. The workload is part of the API URL that a client
// is given, so every client library can be aimed at it with its own "API URL" option:
//
//   http://127.0.0.1:PORT/<workload>/<n>/api/rtm.connect   -> {"ok":true,"url":"ws://.../ws/<workload>/<n>/<ticket>",...}
//   http://127.0.0.1:PORT/<workload>/<n>/api/auth.test     -> {"ok":true,"bot_id":...} (slack_sdk.rtm_v2 calls it)
//
// On every WebSocket the server sends {"type":"hello"} and then:
//   - workload "inbound": pushes <n> ~330-byte Slack-like "message" events, as fast as the
//     client reads them (pre-built frames, written in large slices, paced by TCP back-pressure);
//   - every workload: answers each "message" frame with {"ok":true,"reply_to":id,"ts":...,"text":...},
//     each "ping" frame with {"type":"pong","reply_to":id}, WebSocket pings with pongs, and a
//     close frame with a close frame.
//
// The WebSocket side is hand-written on node:net (no library): frames out are pre-encoded,
// frames in are parsed with a plain header loop, so the server costs a few hundred
// nanoseconds per event. run.py shows that in every run, against a null client.
//
// Usage: node loadserver.js [--port 0]   (prints "LISTENING <port>" once it listens)
'use strict';

const http = require('node:http');
const crypto = require('node:crypto');

const HOST = '127.0.0.1';
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const RING_FRAMES = 4096; // distinct pre-built events, written round-robin
const SLICE_FRAMES = 256; // events per socket.write()

/** One Slack-like message event of fixed length (counters are zero-padded). */
function eventJSON(i) {
  const n7 = String(i % 10000000).padStart(7, '0');
  const n6 = String(i % 1000000).padStart(6, '0');
  const n12 = String(i).padStart(12, '0');
  return (
    `{"client_msg_id":"3f0bd1a2-5c7e-4b8a-9d21-${n12}","type":"message",` +
    `"text":"Deploy of build ${n7} finished: all 1,204 tests passed; artefacts are on the share.",` +
    `"user":"U061F7AUR","ts":"1700000000.${n6}","team":"T061EG9R6","blocks":[],` +
    `"channel":"C012AB3CD","event_ts":"1700000000.${n6}","channel_type":"channel"}`
  );
}

/** A server-to-client (unmasked) text frame. */
function textFrame(text) {
  const payload = Buffer.from(text, 'utf8');
  const n = payload.length;
  let header;
  if (n < 126) {
    header = Buffer.from([0x81, n]);
  } else if (n < 65536) {
    header = Buffer.from([0x81, 126, n >> 8, n & 0xff]);
  } else {
    header = Buffer.alloc(10);
    header[0] = 0x81;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([header, payload]);
}

function controlFrame(opcode, payload) {
  return Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]);
}

const FRAME_SIZE = textFrame(eventJSON(1)).length;
const RING = Buffer.concat(Array.from({ length: RING_FRAMES }, (_, i) => textFrame(eventJSON(i + 1))));
const HELLO = textFrame('{"type":"hello"}');

let tsCounter = 0;

/** Push `total` events on `socket`, as fast as TCP back-pressure allows. */
function pump(socket, total) {
  let remaining = total;
  let position = 0;
  const go = () => {
    while (remaining > 0 && !socket.destroyed) {
      const count = Math.min(SLICE_FRAMES, remaining, RING_FRAMES - position);
      const start = position * FRAME_SIZE;
      const ok = socket.write(RING.subarray(start, start + count * FRAME_SIZE));
      remaining -= count;
      stats.events_pushed += count;
      position = (position + count) % RING_FRAMES;
      if (!ok) {
        socket.once('drain', go);
        return;
      }
    }
  };
  go();
}

/** Answer one complete text message from a client. */
function answer(text, out) {
  let frame;
  try {
    frame = JSON.parse(text);
  } catch (e) {
    return;
  }
  if (frame === null || typeof frame !== 'object') return;
  if (frame.type === 'message' && frame.id !== undefined) {
    tsCounter += 1;
    const ts = `1700000001.${String(tsCounter % 1000000).padStart(6, '0')}`;
    out.push(textFrame(JSON.stringify({ ok: true, reply_to: frame.id, ts, text: frame.text })));
    stats.acks += 1;
  } else if (frame.type === 'ping' && frame.id !== undefined) {
    out.push(textFrame(JSON.stringify({ type: 'pong', reply_to: frame.id, time: Date.now() })));
    stats.pongs += 1;
  }
}

/** The server side of one WebSocket, after the 101 response. */
function serve(socket, workload, n, head) {
  socket.setNoDelay(true);
  let buffer = head && head.length ? Buffer.from(head) : Buffer.alloc(0);
  let fragments = [];
  let closed = false;
  stats.websockets += 1;
  stats.open_websockets += 1;
  socket.on('close', () => {
    stats.open_websockets -= 1;
  });
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk) => {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    const out = [];
    let offset = 0;
    for (;;) {
      if (buffer.length - offset < 2) break;
      const b0 = buffer[offset];
      const b1 = buffer[offset + 1];
      let length = b1 & 0x7f;
      let at = offset + 2;
      if (length === 126) {
        if (buffer.length - offset < 4) break;
        length = buffer.readUInt16BE(at);
        at += 2;
      } else if (length === 127) {
        if (buffer.length - offset < 10) break;
        length = Number(buffer.readBigUInt64BE(at));
        at += 8;
      }
      const masked = (b1 & 0x80) !== 0;
      const maskAt = at;
      if (masked) at += 4;
      if (buffer.length < at + length) break;
      const payload = Buffer.from(buffer.subarray(at, at + length));
      if (masked) {
        for (let i = 0; i < length; i++) payload[i] ^= buffer[maskAt + (i & 3)];
      }
      offset = at + length;
      const opcode = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (opcode === 0x1 || opcode === 0x0) {
        fragments.push(payload);
        if (fin) {
          const text = fragments.length === 1 ? payload.toString('utf8') : Buffer.concat(fragments).toString('utf8');
          fragments = [];
          answer(text, out);
        }
      } else if (opcode === 0x2) {
        fragments = [];
      } else if (opcode === 0x9) {
        out.push(controlFrame(0xa, payload));
      } else if (opcode === 0x8) {
        if (!closed) {
          closed = true;
          out.push(controlFrame(0x8, payload.subarray(0, 2)));
        }
      }
    }
    buffer = offset >= buffer.length ? Buffer.alloc(0) : buffer.subarray(offset);
    if (out.length) socket.write(out.length === 1 ? out[0] : Buffer.concat(out));
    if (closed) socket.end();
  });
  socket.write(HELLO);
  if (workload === 'inbound' && n > 0) pump(socket, n);
}

const API = /^\/([a-z0-9_]+)\/(\d+)\/api\/([A-Za-z0-9_.]+)$/;
const WS = /^\/ws\/([a-z0-9_]+)\/(\d+)\/[A-Za-z0-9]+$/;
let tickets = 0;

const stats = { events_pushed: 0, acks: 0, pongs: 0, websockets: 0, open_websockets: 0 };

const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  if (path === '/stats') {
    const usage = process.cpuUsage();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...stats, cpu: (usage.user + usage.system) / 1e6, rss: process.memoryUsage().rss }));
    return;
  }
  const match = API.exec(path);
  req.resume();
  req.on('end', () => {
    let body;
    if (!match) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"ok":false,"error":"unknown_method"}');
      return;
    }
    const [, workload, n, method] = match;
    if (method === 'rtm.connect' || method === 'rtm.start') {
      tickets += 1;
      const { port } = server.address();
      body = {
        ok: true,
        url: `ws://${HOST}:${port}/ws/${workload}/${n}/t${tickets}`,
        self: { id: 'U0BENCH', name: 'bench' },
        team: { id: 'T0BENCH', domain: 'bench', name: 'Bench' },
      };
    } else if (method === 'auth.test') {
      body = {
        ok: true,
        url: 'https://bench.slack.com/',
        team: 'Bench',
        user: 'bench',
        team_id: 'T0BENCH',
        user_id: 'U0BENCH',
        bot_id: 'B0BENCH',
        is_enterprise_install: false,
      };
    } else {
      body = { ok: true };
    }
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  });
});

server.on('upgrade', (req, socket, head) => {
  const match = WS.exec(req.url.split('?')[0]);
  const key = req.headers['sec-websocket-key'];
  if (!match || !key) {
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
  socket.write(
    'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
  );
  serve(socket, match[1], Number(match[2]), head);
});

server.keepAliveTimeout = 300000;
server.maxConnections = 100000;
const portArg = process.argv.indexOf('--port');
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;
server.listen(port, HOST, () => {
  process.stdout.write(`LISTENING ${server.address().port} frame_bytes=${FRAME_SIZE}\n`);
});
process.on('SIGTERM', () => process.exit(0));
