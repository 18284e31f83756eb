// Public surface of the opennetworks Node package.
export { init, Comm, type InitOptions, type ReduceOptions, type RootOptions } from './api/comm.js';
export type { AllgatherTableOptions } from './api/table.js';
export {
  launch, Job, exitNumber, type LaunchOptions, type LogEvent, type RankExit, type JobExit, type ExitReason, type StopOptions, type JobEvents,
} from './api/launch.js';
export type { JobMetrics, RankMetrics, RankState, PendingOp } from './api/job_metrics.js';
export { OnetError, type OnetCode } from './errors.js';
export { Coordinator, type CoordinatorOptions } from './coordinator/server.js';
export { SETTINGS, setting, describeSettings } from './config/settings.js';
export { DTYPES, REDOPS, type DType, type RedOp } from './bridge/protocol.js';
export type { TypedArray, TensorLike } from './api/tensor.js';
