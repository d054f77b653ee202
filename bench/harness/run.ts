/**
 * The load-generator harness: one entry point, `runTool`, for the UDP, HTTP and WebSocket generators. It reads
 * the command line from the tool's option table, writes the info hashes (--write-hashes), probes a tracker
 * until it answers (--probe), runs the load — in-process generators (harness/generator.ts) in one or --procs
 * processes, or the tool's own runner (wrk) — reads the tracker's CPU time over the measured window
 * (--cpu-pid), and prints the summary and the RESULT line. Whatever happens, the run ends (a watchdog), and
 * only loopback targets are accepted.
 */
import { writeFileSync } from 'node:fs';
import type { Generator, GeneratorOptions } from './generator.js';
import { sleep, startWatchdog } from './lifetime.js';
import type { OptionValues, hashOptions, reportOptions, targetOptions, windowOptions } from './options.js';
import { assertLoopback, parseOptions } from './options.js';
import { TrackerCpu } from './proc-cpu.js';
import { type AnyGenerator, reportChildFailure, runChild, runProcesses } from './processes.js';
import { printReport, type MeasureWindow, type Stats, type Summary } from './report.js';
import { hashesToHexLines, loadHashes } from './workload.js';

/** The option groups every tool has (harness/options.ts). */
type HarnessTable = ReturnType<typeof targetOptions> &
  ReturnType<typeof windowOptions> &
  ReturnType<typeof hashOptions> &
  typeof reportOptions;

interface ProbeOptions {
  probe: boolean;
  probeTimeout: number;
}

export interface Tool<T extends HarnessTable, C extends string> {
  /** 'udp-load': the file bench/udp-load.ts, the first word of the summary and of messages. */
  name: string;
  /** RESULT proto=... */
  proto: string;
  /** The tool's import.meta.url: the file forked for --procs. */
  entry: string;
  options: T;
  /** In-process generators: generator process `index`'s (harness/generator.ts); run in --procs processes. */
  generator?: (opts: OptionValues<T>, index: number) => Generator<GeneratorOptions, C>;
  /** Or the tool's own runner (an external generator): warm-up, then the measured window within `window`. */
  run?: (opts: OptionValues<T>, window: MeasureWindow) => Promise<Stats<C>>;
  /** One probe request: undefined when answered, else what went wrong. */
  probe?: (opts: OptionValues<T>) => Promise<string | undefined>;
  summary(opts: OptionValues<T>, stats: Stats<C>): Summary;
}

/** The harness's own options: those of every tool, and those of some. */
type HarnessOptions = OptionValues<HarnessTable> & Partial<ProbeOptions> & { procs?: number };

async function probeUntilAnswered(
  name: string,
  h: HarnessOptions & ProbeOptions,
  once: () => Promise<string | undefined>,
): Promise<boolean> {
  const deadline = Date.now() + h.probeTimeout * 1000;
  let last = 'no reply';
  while (Date.now() < deadline) {
    const failure = await once();
    if (failure === undefined) return true;
    last = failure;
    await sleep(200);
  }
  console.error(`${name} --probe: ${h.host}:${h.port} did not answer within ${h.probeTimeout} s (last: ${last})`);
  return false;
}

async function main<T extends HarnessTable, C extends string>(tool: Tool<T, C>): Promise<void> {
  const usage = `usage: node --import tsx bench/${tool.name}.ts --port N [options]`;
  const opts = parseOptions(tool.options, process.argv.slice(2), usage);
  // The same values, seen through the groups every table includes (T extends HarnessTable).
  const h = opts as unknown as HarnessOptions;
  if (h.writeHashes) {
    writeFileSync(h.writeHashes, hashesToHexLines(loadHashes(h)));
    return;
  }
  assertLoopback(h.host);
  if (h.probe && tool.probe) {
    const probe = tool.probe;
    startWatchdog(h.probeTimeout! + 30, `${tool.name}: watchdog: --probe did not finish in time`, 2);
    process.exit((await probeUntilAnswered(tool.name, h as HarnessOptions & ProbeOptions, () => probe(opts))) ? 0 : 1);
  }
  const watchdog = startWatchdog(h.warmup + h.duration + 60, `${tool.name}: watchdog: the run did not finish in time`, 2);
  const create = (index: number): AnyGenerator => tool.generator!(opts, index);
  if (h.child >= 0) return runChild(create(h.child));

  const tracker = new TrackerCpu(h.cpuPid);
  const window: MeasureWindow = { begin: () => tracker.start(), end: () => tracker.stop() };
  const processes = { procs: h.procs ?? 1, warmup: h.warmup, duration: h.duration };
  const stats = tool.run
    ? await tool.run(opts, window)
    : ((await runProcesses(tool.name, tool.entry, create, processes, window)) as Stats<C>);
  const head = { tool: tool.name, proto: tool.proto, label: h.label, host: h.host, port: h.port };
  printReport(head, stats, tool.summary(opts, stats), tracker);
  clearTimeout(watchdog);
  process.exitCode = stats.responses > 0 ? 0 : 1;
  // Give child processes a moment to exit on their own after sending their results.
  setTimeout(() => process.exit(), 200).unref();
}

/** Runs `tool` as this process's command. */
export function runTool<T extends HarnessTable, C extends string>(tool: Tool<T, C>): void {
  main(tool).catch((e: unknown) => {
    const message = e instanceof Error ? e.message : String(e);
    if (!reportChildFailure(message)) console.error(`${tool.name}: ${message}`);
    process.exit(1);
  });
}
