#!/usr/bin/env node
// Driver for Node's @slack/rtm-api (RTMClient), installed by run.py under benchmarks/.peers/node.
//
// Same command line and RESULT line as the Python drivers (see _common.py). Notes on the peer:
//   - its outgoing queue has concurrency 1 and each awaited message holds it until its reply,
//     so "100 in flight" still sends one message at a time: the latency includes the queue wait;
//   - it enters "ready" only after replyAckOnReconnectTimeout (2 s) even on a first connection,
//     so start->ready is ~2 s; the time to hello is reported beside it.
'use strict';

const { parseArgs, result, cpuSeconds, now, deadline, percentile } = require('./_common.js');
const { RTMClient, LogLevel } = require('@slack/rtm-api');

const CHANNEL = 'C012AB3CD';
const TEXT = 'Build 1234 is green: 1,204 tests passed in 3 min 12 s. Artefacts are on the share.';
const IDLE_BATCH = 50;
const IDLE_SETTLE = 1000;

function client(args) {
  return new RTMClient('xoxb-bench', { slackApiUrl: args.api, logLevel: LogLevel.WARN });
}

function once(rtm, event) {
  return new Promise((resolve) => rtm.once(event, resolve));
}

async function inbound(args) {
  const rtm = client(args);
  let count = 0;
  let t0 = 0;
  let cpu0 = 0;
  const done = new Promise((resolve) => {
    rtm.on('message', () => {
      count += 1;
      if (count === 1) {
        t0 = now();
        cpu0 = cpuSeconds();
      } else if (count === args.n) {
        resolve({ seconds: now() - t0, cpu: cpuSeconds() - cpu0 });
      }
    });
  });
  rtm.start();
  const { seconds, cpu } = await done;
  const events = args.n - 1;
  return { events, seconds, cpu, rate: events / seconds, cpu_per_100k: (cpu / events) * 1e5 };
}

async function send(args) {
  const rtm = client(args);
  const ready = once(rtm, 'ready');
  rtm.start();
  await ready;
  const total = args.n;
  const inflight = Math.min(args.inflight, total);
  const latencies = [];
  let sent = 0;
  let replies = 0;
  const t0 = now();
  await new Promise((resolve, reject) => {
    const go = () => {
      if (sent >= total) return;
      sent += 1;
      const started = now();
      rtm.sendMessage(TEXT, CHANNEL).then(() => {
        latencies.push(now() - started);
        replies += 1;
        if (replies === total) resolve();
        else go();
      }, reject);
    };
    for (let i = 0; i < inflight; i++) go();
  });
  const seconds = now() - t0;
  return {
    messages: total,
    inflight,
    seconds,
    rate: total / seconds,
    p50_ms: percentile(latencies, 0.5) * 1e3,
    p99_ms: percentile(latencies, 0.99) * 1e3,
  };
}

async function startup(args) {
  const ready = [];
  const hello = [];
  for (let run = 0; run <= args.runs; run++) {
    const rtm = client(args);
    const t0 = now();
    const helloAt = once(rtm, 'hello').then(() => now());
    const readyAt = once(rtm, 'ready').then(() => now());
    rtm.start();
    const [t1, t2] = await Promise.all([helloAt, readyAt]);
    if (run > 0) {
      hello.push((t1 - t0) * 1e3);
      ready.push((t2 - t0) * 1e3);
    }
    await rtm.disconnect();
  }
  return {
    runs: ready.length,
    median_ms: percentile(ready, 0.5),
    min_ms: Math.min(...ready),
    max_ms: Math.max(...ready),
    hello_median_ms: percentile(hello, 0.5),
  };
}

function settledRss() {
  if (global.gc) global.gc();
  return process.memoryUsage().rss;
}

async function idle(args) {
  const clients = [client(args)];
  const first = once(clients[0], 'ready');
  clients[0].start();
  await first;
  const before = settledRss();
  let opened = 0;
  while (opened < args.conns) {
    const batch = Array.from({ length: Math.min(IDLE_BATCH, args.conns - opened) }, () => client(args));
    const ready = batch.map((rtm) => once(rtm, 'ready'));
    for (const rtm of batch) rtm.start();
    await Promise.all(ready);
    clients.push(...batch);
    opened += batch.length;
  }
  await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE));
  const after = settledRss();
  return { connections: opened, rss_before: before, rss_after: after, kb_per_conn: (after - before) / opened / 1024 };
}

const WORKLOADS = { inbound, send, startup, idle };

async function main() {
  const args = parseArgs();
  deadline(args.timeout);
  try {
    result(await WORKLOADS[args.workload](args));
    process.exit(0);
  } catch (error) {
    result({ error: String(error && error.message ? error.message : error) });
    process.exit(1);
  }
}

main();
