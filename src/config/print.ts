/** The texts generated from the option table: `--help`, `--print-config` and the README's option table. */
import { CONFIG_ENV, CONFIG_FLAG, OPTIONS, SECTIONS, type OptionSpec } from './options.js';

function defaultText(spec: OptionSpec): string {
  if (spec.derivedFrom !== undefined) return spec.derivedFrom;
  const value = spec.default;
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.join(',');
  return value === '' ? 'none' : String(value);
}

export function helpText(): string {
  const lines = [
    'Usage: redswarm [options]',
    '       redswarm access|keys …       edit the access lists and passkeys (redswarm access --help)',
    '',
    'A BitTorrent tracker: HTTP, UDP and WebSocket (WebTorrent) on one port.',
    'Each option is a flag, a REDSWARM_* variable or a key in a section of the config file; flags win over',
    'variables, variables over the file, the file over defaults. "reload": SIGHUP applies a changed file.',
    '',
    `  --${CONFIG_FLAG} FILE${''.padEnd(17)} config file (TOML; see --print-config); env ${CONFIG_ENV}`,
    `  --print-config${''.padEnd(11)} print every option with its default, as a config file`,
    `  --help${''.padEnd(19)} show this help`,
  ];
  for (const section of SECTIONS) {
    lines.push('', `[${section}]`);
    for (const spec of OPTIONS.filter((o) => o.section === section)) {
      lines.push(`  --${spec.flag.padEnd(23)} ${spec.help} (default ${defaultText(spec)})`);
      lines.push(`  ${''.padEnd(25)} env REDSWARM_${spec.env}${spec.reload ? ', reload' : ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** A TOML value for a default (JSON's string and array syntax is TOML's for these). */
function tomlValue(value: unknown): string {
  return JSON.stringify(value);
}

/** Every option with its default and meaning, as a config file that gives the defaults. */
export function printConfig(): string {
  const lines = [
    '# redswarm configuration (TOML): redswarm --config FILE, or REDSWARM_CONFIG=FILE.',
    '# Flags and REDSWARM_* variables override it. Options marked (reload) take a new value on SIGHUP;',
    '# the others need a restart. Commented-out options have defaults derived from others.',
  ];
  for (const section of SECTIONS) {
    lines.push('', `[${section}]`);
    for (const spec of OPTIONS.filter((o) => o.section === section)) {
      lines.push(`# ${spec.help}${spec.reload ? ' (reload)' : ''}`);
      if (typeof spec.default === 'function') lines.push(`# ${spec.flag} = …  default: ${spec.derivedFrom}`);
      else lines.push(`${spec.flag} = ${tomlValue(spec.default)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The README's option table (test/server/config-cli.test.ts keeps the README equal to it). */
export function optionsTable(): string {
  const rows = [
    '| section | flag | env | default | on SIGHUP | meaning |',
    '| --- | --- | --- | --- | --- | --- |',
    ...OPTIONS.map(
      (spec) =>
        `| ${spec.section} | \`--${spec.flag}\` | \`REDSWARM_${spec.env}\` | ${defaultText(spec)} | ${spec.reload ? 'reload' : 'restart'} | ${spec.help.replaceAll('|', '\\|')} |`,
    ),
  ];
  return `${rows.join('\n')}\n`;
}

const TABLE_BEGIN = '<!-- options:begin (generated: npm run docs:options) -->\n';
const TABLE_END = '<!-- options:end -->';

/** The README with its option table (between the markers) generated anew. */
export function withOptionsTable(readme: string): string {
  const begin = readme.indexOf(TABLE_BEGIN);
  const end = readme.indexOf(TABLE_END);
  if (begin < 0 || end < begin) throw new Error(`README.md has no ${TABLE_BEGIN.trim()} … ${TABLE_END} block`);
  return readme.slice(0, begin + TABLE_BEGIN.length) + optionsTable() + readme.slice(end);
}
