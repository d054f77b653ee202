/** How a load run ends: bounded in time whatever happens, and what it started is stopped on SIGINT/SIGTERM. */

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Ends the process with `exitCode` after `seconds`, whatever happens (an unref'd timer: it keeps nothing alive). */
export function startWatchdog(seconds: number, message: string, exitCode: number): NodeJS.Timeout {
  const timer = setTimeout(() => {
    console.error(message);
    process.exit(exitCode);
  }, seconds * 1000);
  timer.unref();
  return timer;
}

const stoppers: (() => void)[] = [];
let listening = false;

/** Runs `stop` (e.g. kill a child process) if this process is interrupted, before it exits 130 or 143. */
export function onInterrupt(stop: () => void): void {
  stoppers.push(stop);
  if (listening) return;
  listening = true;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.on(signal, () => {
      for (const s of stoppers) s();
      process.exit(code);
    });
  }
}
