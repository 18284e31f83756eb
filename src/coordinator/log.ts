// Coordinator log lines: one prefix, leveled by ONET_LOG.
import { setting } from '../config/settings.js';

const LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type Level = (typeof LEVELS)[number];

export function makeLogger(prefix: string, sink: (line: string) => void = (l) => process.stderr.write(l + '\n')) {
  const max = LEVELS.indexOf((setting('logLevel') as Level) ?? 'info');
  return (level: Level, msg: string) => {
    if (LEVELS.indexOf(level) <= (max < 0 ? 2 : max)) sink(`${prefix} ${level}: ${msg}`);
  };
}
export type Logger = ReturnType<typeof makeLogger>;
