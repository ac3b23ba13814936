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
