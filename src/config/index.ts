/** The tracker's configuration: the option table, its sources, live reload and the texts made from it. */
export { CONFIG_ENV, LOG_LEVELS, OPTIONS, SECTIONS, type LogLevel, type OptionSpec, type TrackerConfig } from './options.js';
export { ConfigError, defaultConfig, loadConfig, readConfigFile, type Invocation } from './load.js';
export { applyReload, type ReloadResult } from './reload.js';
export { helpText, optionsTable, printConfig, withOptionsTable } from './print.js';
