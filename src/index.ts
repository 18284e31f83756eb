// Public surface of the opennetworks Node package.
export { Comm, type InitOptions, init, type ReduceOptions, type RootOptions } from './api/comm.js';
export type { Compression, CompressionOptions } from './api/compression.js';
export type { JobMetrics, PendingOp, RankMetrics, RankState } from './api/job_metrics.js';
export { type EpochOptions, epochJob, joinEpoch, type SyncResult, stateCrc, syncState } from './api/join.js';
export {
  type ExitReason,
  exitNumber,
  Job,
  type JobEvents,
  type JobExit,
  type LaunchOptions,
  type LogEvent,
  launch,
  type RankExit,
  type StopOptions,
} from './api/launch.js';
export type { AllgatherTableOptions } from './api/table.js';
export type { TensorLike, TypedArray } from './api/tensor.js';
export { DTYPES, type DType, REDOPS, type RedOp } from './bridge/protocol.js';
export { describeSettings, SETTINGS, setting } from './config/settings.js';
export { Coordinator, type CoordinatorOptions } from './coordinator/server.js';
export { type OnetCode, OnetError } from './errors.js';
