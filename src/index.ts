// hypermem: the package root. Hosts, VMs and their MMU; the page kernels as
// plain functions on Uint8Arrays; the format layer; the one error type.
export { ErrorCode, HypermemError } from "./errors.js";
export { createHost, Host, MAX_HOST_MIB, type HostOptions, type HostStats } from "./host/host.js";
export { Vm, MAX_GUEST_PAGES, type Access, type MachineCheck, type VmOptions } from "./host/vm.js";
export { type InjectedError, type MemoryErrorTarget } from "./ras/memory-error.js";
export { PageBitmap } from "./host/bitmap.js";
export { FaultReason, FAULT_NAMES, type Fault, type FaultAction, type FaultHandler } from "./host/fault.js";
export { FRAME_FLAGS, type FrameFlag, type FrameInfo } from "./host/frame.js";
export { PTE, decodePte, type PteInfo } from "./host/pte.js";
export type { MmuCounters } from "./host/mmu.js";
export { GuestWorkload, type WorkloadRun } from "./host/guest-workload.js";
export {
  AccessGenerator, MAX_WORKLOAD_PAGES, parseWorkload, recordTrace, resolveWorkloadOptions, WORKLOAD_DEFAULTS,
  type ResolvedWorkloadOptions, type WorkloadCommonOptions, type WorkloadKind, type WorkloadOptions, type WorkloadSpec,
} from "./host/workload.js";
export {
  readTrace, readTraceHeader, TRACE_HEADER, TRACE_MAGIC, TRACE_VERSION, TraceReader, TraceWriter,
  type TraceHeader, type TraceReadOptions, type TraceWriterOptions,
} from "./host/trace.js";
export {
  defineHeader, describeMagic, magicU32, MAX_HEADER_BYTES, MIN_HEADER_BYTES,
  type BigIntField, type BytesField, type DecodedHeader, type DecodeOptions, type FieldSpec, type HeaderCodec, type HeaderPrefix,
  type HeaderSpec, type HeaderValues, type NumberField,
} from "./format/header.js";
export {
  BufferSink, CHUNK_HEADER_BYTES, ChunkParser, chunkChecksum, encodeChunkHeader, frameChunk,
  type ChunkFrame, type ChunkHeader, type ChunkParserOptions, type ChunkSink,
} from "./format/chunks.js";
export { AtomicFile, FILE_MODE, writeFileAtomic } from "./format/atomic-file.js";
export { decodeState, encodeState, type DecodeStateOptions, type Persist, type StateRecord, type StateSpec } from "./format/persist.js";
export { isZeroPage, pageCompare, pageHash64, rebuildPage, xorParity, xxh3Hash64 } from "./pages/pages.js";
export { xbzrleDecode, xbzrleEncode } from "./pages/xbzrle.js";
export { migrate, migrateDestination, migrateSource, type MigrationOutcome } from "./migration/precopy.js";
export {
  MIGRATION_DEFAULTS, resolveMigrationOptions,
  type AutoConvergeOptions, type MigrationOptions, type ResolvedMigrationOptions,
} from "./migration/options.js";
export type { MigrationProgress, MigrationResult, MigrationStatus, RamStats, RoundRecord, Verification, XbzrleStats } from "./migration/stats.js";
export { buildScenario, type Scenario, type ScenarioOptions } from "./migration/scenario.js";
export { PagePacker, type PackStage, type PackStats } from "./migration/packer.js";
export { StreamReceiver, type ReceiverLimits } from "./migration/receiver.js";
export { createChannelPair, type Channel } from "./net/channel.js";
export { DEFAULT_IDLE_TIMEOUT_MS, RECEIVE_HIGH_WATER_BYTES, SEND_DEPTH, TcpChannel, type TcpChannelOptions } from "./net/tcp-channel.js";
export { clientHandshake, loadToken, serverHandshake } from "./net/handshake.js";
export { listenForMigrations, MigrationListener, type ListenerOptions, type ListenerReport } from "./net/listener.js";
export {
  connectMigrationChannel, migrateOverTcp, parseHostPort, type TcpMigrationResult, type TcpTarget, type TcpTransfer,
} from "./net/tcp-migrate.js";
