#!/usr/bin/env node
// The null client: shows that the load server is not the bottleneck.
//
// It calls rtm.connect like every client, opens the WebSocket on a bare node:net socket and
// then does no JSON work at all: it only walks the frame headers and counts frames.
//   --workload inbound --n N            events/s the server pushes to a client that only counts
//   --workload send --n M --inflight K  acks/s the server answers with K messages in flight
// Prints one line "RESULT {json}".
'use strict';

const http = require('node:http');
const net = require('node:net');
const crypto = require('node:crypto');
const { parseArgs, result, cpuSeconds, now, deadline } = require('./_common.js');

function rtmConnect(apiUrl) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${apiUrl}rtm.connect`, { method: 'POST' }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve(JSON.parse(Buffer.concat(chunks).toString()).url));
    });
    req.on('error', reject);
    req.end('token=xoxb-bench');
  });
}

/** A client-to-server text frame, masked with an all-zero key (valid, and free to apply). */
function maskedFrame(text) {
  const payload = Buffer.from(text);
  const n = payload.length;
  const header = n < 126 ? Buffer.from([0x81, 0x80 | n, 0, 0, 0, 0]) : Buffer.from([0x81, 0xfe, n >> 8, n & 0xff, 0, 0, 0, 0]);
  return Buffer.concat([header, payload]);
}

async function main() {
  const args = parseArgs();
  deadline(args.timeout);
  const url = new URL(await rtmConnect(args.api));
  const socket = net.connect(Number(url.port), url.hostname);
  socket.setNoDelay(true);
  const key = crypto.randomBytes(16).toString('base64');
  socket.write(
    `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let upgraded = false;
  let pending = Buffer.alloc(0);
  let frames = 0; // frames after hello
  let sawHello = false;
  let t0 = 0;
  let cpu0 = 0;
  let sent = 0;
  const total = args.n;
  const send = (id) => socket.write(maskedFrame(`{"type":"message","channel":"C012AB3CD","text":"benchmark message ${id}","id":${id}}`));
  const finish = () => {
    const seconds = now() - t0;
    const cpu = cpuSeconds() - cpu0;
    if (args.workload === 'inbound') {
      result({ events: total - 1, seconds, cpu, rate: (total - 1) / seconds, cpu_per_100k: (cpu / (total - 1)) * 1e5 });
    } else {
      result({ messages: total, inflight: args.inflight, seconds, rate: total / seconds });
    }
    socket.destroy();
    process.exit(0);
  };
  socket.on('data', (chunk) => {
    let buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let offset = 0;
    if (!upgraded) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        pending = buf;
        return;
      }
      upgraded = true;
      offset = end + 4;
    }
    let counted = 0;
    for (;;) {
      if (buf.length - offset < 2) break;
      let length = buf[offset + 1] & 0x7f;
      let at = offset + 2;
      if (length === 126) {
        if (buf.length - offset < 4) break;
        length = buf.readUInt16BE(at);
        at += 2;
      } else if (length === 127) {
        if (buf.length - offset < 10) break;
        length = Number(buf.readBigUInt64BE(at));
        at += 8;
      }
      if (buf.length < at + length) break;
      offset = at + length;
      if (!sawHello) {
        sawHello = true;
        if (args.workload === 'send') {
          t0 = now();
          cpu0 = cpuSeconds();
          for (let i = 0; i < Math.min(args.inflight, total); i++) send(++sent);
        }
        continue;
      }
      frames += 1;
      counted += 1;
      if (args.workload === 'inbound' && frames === 1) {
        t0 = now();
        cpu0 = cpuSeconds();
      }
    }
    pending = offset >= buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(offset));
    if (args.workload === 'send') {
      const out = [];
      for (let i = 0; i < counted && sent < total; i++) out.push(maskedFrame(`{"type":"message","channel":"C012AB3CD","text":"benchmark message ${++sent}","id":${sent}}`));
      if (out.length) socket.write(Buffer.concat(out));
    }
    if (frames >= total) finish();
  });
}

main();
