#!/usr/bin/env node
/**
 * `redswarm`: parse the configuration, then run one tracker process, or a primary with its workers; or run a
 * subcommand (`redswarm access …`, `redswarm keys …`).
 */
import cluster from 'node:cluster';
import { ConfigError, helpText, loadConfig, printConfig, type Invocation, type TrackerConfig } from './config/index.js';
import { runPrimary } from './workers/primary.js';
import { runTrackerProcess } from './workers/tracker-process.js';

/** A subcommand: `redswarm NAME ARGS…` runs `run(ARGS, config)`, the configuration from the same sources as the tracker's. */
interface Command {
  readonly usage: string;
  run(args: readonly string[], config: TrackerConfig): Promise<number>;
}

/** Subcommands by name (src/commands/NAME.ts), loaded only when asked for. */
const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  access: () => import('./commands/access.js'),
  keys: () => import('./commands/keys.js'),
  events: () => import('./commands/events.js'),
};

function load(argv: readonly string[], help: string, allowPositionals = false): Invocation {
  try {
    return loadConfig(argv, process.env, allowPositionals);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`redswarm: ${error.message}\nTry '${help}'.\n`);
    process.exit(2);
  }
}

async function runCommand(name: string, argv: readonly string[]): Promise<void> {
  const command = await COMMANDS[name]!();
  const invocation = load(argv, `redswarm ${name} --help`, true);
  if (invocation.kind === 'run') process.exitCode = await command.run(invocation.positionals, invocation.config);
  else process.stdout.write(command.usage);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (Object.hasOwn(COMMANDS, argv[0] ?? '')) return runCommand(argv[0]!, argv.slice(1));
  const invocation = load(argv, 'redswarm --help');
  if (invocation.kind === 'help') process.stdout.write(helpText());
  else if (invocation.kind === 'print-config') process.stdout.write(printConfig());
  else if (cluster.isPrimary && invocation.config.workers > 1) await runPrimary(invocation.config);
  else await runTrackerProcess(invocation.config);
}

main().catch((error: unknown) => {
  process.stderr.write(`redswarm: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
