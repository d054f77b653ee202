/**
 * Runs --procs generators: in this process when there is one, else one per forked child process (the tool's
 * own file with `--child N`), driven over IPC through the same steps: start (warm-up), measure, stop. Their
 * window figures are summed into one Stats.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Generator, GeneratorOptions, WindowStats } from './generator.js';
import { MAX_MESSAGES } from './generator.js';
import { addHistogram, newHistogram, percentiles } from './histogram.js';
import { onInterrupt, sleep } from './lifetime.js';
import type { MeasureWindow, Stats } from './report.js';

type ParentMsg = { type: 'start' } | { type: 'measure' } | { type: 'stop' };
type ChildMsg = { type: 'ready' } | { type: 'count-reached' } | { type: 'result'; stats: WindowStats } | { type: 'fatal'; error: string };

/** One generator, here or in a child process. */
interface Worker {
  start(): void;
  measure(onCountReached: () => void): void;
  stop(): Promise<WindowStats>;
  kill(): void;
}

export type AnyGenerator = Generator<GeneratorOptions, string>;

async function localWorker(gen: AnyGenerator): Promise<Worker> {
  await gen.open();
  return {
    start: () => gen.start(),
    measure: (cb) => gen.beginMeasure(cb),
    stop: async () => gen.stop(),
    kill: () => gen.close(),
  };
}

function childWorker(entry: string, tool: string, index: number): Promise<Worker> {
  const child = fork(fileURLToPath(entry), [...process.argv.slice(2), '--child', String(index)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  onInterrupt(() => child.kill()); // also before it is ready
  let ready = false;
  let onResult: ((s: WindowStats) => void) | undefined;
  let onCount: (() => void) | undefined;
  return new Promise((resolve, reject) => {
    child.on('message', (m: ChildMsg) => {
      if (m.type === 'ready') {
        ready = true;
        resolve({
          start: () => child.send({ type: 'start' } satisfies ParentMsg),
          measure: (cb) => {
            onCount = cb;
            child.send({ type: 'measure' } satisfies ParentMsg);
          },
          stop: () =>
            new Promise<WindowStats>((res) => {
              onResult = res;
              child.send({ type: 'stop' } satisfies ParentMsg);
            }),
          kill: () => child.kill(),
        });
      } else if (m.type === 'count-reached') onCount?.();
      else if (m.type === 'result') onResult?.(m.stats);
      else reject(new Error(m.error));
    });
    child.on('exit', (code, signal) => {
      if (code === 0) return;
      const msg = `generator process ${index} exited with ${signal ?? code}`;
      if (!ready) return reject(new Error(msg));
      // Once running, a lost process means the figures cannot be summed: give up as a whole.
      console.error(`${tool}: ${msg}`);
      process.exit(1);
    });
  });
}

/** The child's side (`--child N`): one generator, driven by the parent's messages. */
export async function runChild(gen: AnyGenerator): Promise<void> {
  const send = (m: ChildMsg): void => {
    if (process.connected) process.send!(m);
  };
  process.on('disconnect', () => process.exit(0)); // the parent is gone (or done): so is this generator
  await gen.open();
  process.on('message', (m: ParentMsg) => {
    if (m.type === 'start') gen.start();
    else if (m.type === 'measure') gen.beginMeasure(() => send({ type: 'count-reached' }));
    else {
      send({ type: 'result', stats: gen.stop() });
      process.disconnect();
    }
  });
  send({ type: 'ready' });
}

/** In a child process: tells the parent why this generator failed (the parent prints it), and is true. */
export function reportChildFailure(message: string): boolean {
  if (!process.send) return false;
  if (process.connected) process.send({ type: 'fatal', error: message } satisfies ChildMsg);
  return true;
}

function sumWindows(all: WindowStats[]): Stats<string> {
  const latency = newHistogram();
  const counters: Record<string, number> = {};
  const messages = new Map<string, number>();
  for (const s of all) {
    addHistogram(latency, s.latency);
    for (const [k, v] of Object.entries(s.counters)) counters[k] = (counters[k] ?? 0) + v;
    for (const [m, n] of Object.entries(s.messages)) {
      if (messages.size < MAX_MESSAGES || messages.has(m)) messages.set(m, (messages.get(m) ?? 0) + n);
    }
  }
  return {
    elapsed: Math.max(...all.map((s) => s.elapsed)),
    responses: all.reduce((a, s) => a + s.responses, 0),
    genCpu: all.reduce((a, s) => a + s.genCpu, 0),
    latency: percentiles(latency),
    counters,
    messages: [...messages].map(([m, n]) => `${n}× ${m}`),
  };
}

/**
 * Opens `opts.procs` generators (made by `create`, forked from `entry` when more than one), starts them, lets
 * them warm up, then measures for --duration (or until --count) within `window`.
 */
export async function runProcesses(
  tool: string,
  entry: string,
  create: (index: number) => AnyGenerator,
  opts: { procs: number; warmup: number; duration: number },
  window: MeasureWindow,
): Promise<Stats<string>> {
  const workers: Worker[] = [];
  try {
    if (opts.procs === 1) workers.push(await localWorker(create(0)));
    else workers.push(...(await Promise.all(Array.from({ length: opts.procs }, (_, i) => childWorker(entry, tool, i)))));
  } catch (e) {
    for (const w of workers) w.kill();
    throw e;
  }
  for (const w of workers) w.start();
  if (opts.warmup > 0) await sleep(opts.warmup * 1000);

  let finish: () => void = () => {};
  const done = new Promise<void>((r) => (finish = r));
  let reached = 0;
  window.begin();
  for (const w of workers) w.measure(() => ++reached === workers.length && finish());
  const t = setTimeout(finish, opts.duration * 1000);
  await done;
  clearTimeout(t);
  window.end();
  return sumWindows(await Promise.all(workers.map((w) => w.stop())));
}
