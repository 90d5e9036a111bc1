/**
 * Minimal leveled logging to stderr with a component prefix. Passed in
 * explicitly (no global logger) so embedding programs and tests control it.
 */
export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;

export function createLogger(component: string, level: LogLevel = (process.env.TESSERA_LOG_LEVEL as LogLevel) || 'info'): Logger {
  const min = LEVELS[level] ?? LEVELS.info;
  const emit = (lvl: keyof typeof LEVELS, msg: string) => {
    if (LEVELS[lvl] < min) return;
    const t = new Date().toISOString().slice(11, 23);
    process.stderr.write(`${t} ${component} ${lvl.toUpperCase().padEnd(5)} ${msg}\n`);
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
