/**
 * Migration samples: parsers that turn what the tools print — `virsh domjobinfo` (one or a polled
 * series), QMP `query-migrate`, Nova's progress log line and its API byte counters — into one
 * `MigrationSample` shape the analyzer reads. Host output is untrusted: every parser is linear-time.
 */
export { type DetectedSamples, detectAndParse } from "./detect";
export { classifyVirshError, parseDomjobinfo, parseDomjobinfoSeries } from "./domjobinfo";
export { type NovaServerMigrationBytes, sampleFromNovaServerMigration } from "./nova-api";
export {
  type NovaComputeLog,
  type NovaLogEvent,
  type NovaLogEventKind,
  parseNovaComputeLog,
  parseNovaProgressLine,
} from "./nova-log";
export { parseQmpQueryMigrate, sampleFromMigrationInfo } from "./qmp";
export {
  formatBytes,
  type MigrationSample,
  parseSizeBytes,
  type SampleFormat,
  SampleParseError,
  type SampleParseErrorCode,
} from "./sample";
