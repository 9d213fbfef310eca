// Helpers shared by the Node drivers: the same command line and RESULT line as _common.py.
'use strict';

/** --workload W --api URL --n N --inflight K --conns C --runs R --timeout S */
function parseArgs() {
  const args = { workload: 'inbound', api: '', n: 0, inflight: 1, conns: 0, runs: 1, timeout: 120 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    const value = argv[i + 1];
    args[name] = ['workload', 'api'].includes(name) ? value : Number(value);
  }
  return args;
}

/** Print the one line run.py reads. */
function result(fields) {
  process.stdout.write(`RESULT ${JSON.stringify(fields)}\n`);
}

/** CPU seconds (user + system) this process used so far. */
function cpuSeconds() {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** A monotonic clock, in seconds. */
function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** Give up, with a RESULT line saying why, after `seconds`. */
function deadline(seconds, describe) {
  const timer = setTimeout(() => {
    result({ error: `timed out after ${seconds} s${describe ? `: ${describe()}` : ''}` });
    process.exit(3);
  }, seconds * 1000);
  timer.unref();
}

/** The value at quantile q (0..1) of an array of numbers. */
function percentile(values, q) {
  if (!values.length) return null;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

module.exports = { parseArgs, result, cpuSeconds, now, deadline, percentile };
