// hypermem: the package root. Hosts, VMs and their MMU, fault chains, page
// states and dirty logs; the simulated timeline and links; the page-record
// stream; live migration in-process and over TCP; memory errors; the page
// kernels as plain functions on Uint8Arrays; the format layer; the one error type.
export { ErrorCode, HypermemError } from "./errors.js";
export { createHost, Host, MAX_HOST_MIB, type HostOptions, type HostStats } from "./host/host.js";
export { Vm, MAX_GUEST_PAGES, type Access, type MachineCheck, type VmOptions } from "./host/vm.js";
export { PageBitmap } from "./host/bitmap.js";
export { PageSet, PfnList } from "./host/page-set.js";
export { PageLog, PageLogReader, type PageLogKind, type ReaderOptions } from "./host/page-log.js";
export { PageStates, MAX_FRAME_FIELD } from "./host/page-states.js";
export { FaultReason, FAULT_NAMES, type Disposer, type Fault, type FaultAction, type FaultHandler } from "./host/faults.js";
export { FRAME_FLAGS, type FrameFlag } from "./wasm/codes.js";
export type { FrameInfo } from "./wasm/frames.js";
export type { VmCounts } from "./wasm/mmu.js";
export { PTE, decodePte, pageStateOf, type PageState, type PteInfo } from "./host/pte.js";
export type { MmuCounters } from "./host/mmu.js";
export { GuestWorkload, type WorkloadRun, type WorkloadState } from "./host/guest-workload.js";
export { decodeWorkloadState, encodeWorkloadState, WORKLOAD_STATE } from "./host/workload-state.js";
export {
  AccessGenerator, MAX_WORKLOAD_PAGES, parseWorkload, recordTrace, resolveWorkloadOptions, WORKLOAD_DEFAULTS,
  type GeneratorState, type ResolvedWorkloadOptions, type WorkloadCommonOptions, type WorkloadKind, type WorkloadOptions, type WorkloadSpec,
} from "./host/workload.js";
export {
  readTrace, readTraceHeader, TRACE_HEADER, TRACE_MAGIC, TRACE_VERSION, TraceReader, TraceWriter,
  type TraceHeader, type TraceReadOptions, type TraceWriterOptions,
} from "./host/trace.js";
export { injectMemoryError, type InjectedError, type MemoryErrorTarget } from "./ras/memory-error.js";
export { installMachineCheckHandler } from "./ras/machine-check.js";
export type { Cancel, Clock, TimelineProcess } from "./sim/clock.js";
export { Timeline, type TimelineOptions } from "./sim/timeline.js";
export { WallClock } from "./sim/wall-clock.js";
export { MeasuredLink, SimulatedLink, type Link, type LinkModel } from "./sim/link.js";
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
export { PagePacker, type PackStage, type PackStats } from "./stream/packer.js";
export { StreamReceiver, type ReceiverLimits } from "./stream/receiver.js";
export { guestDigest } from "./stream/fingerprints.js";
export { verifyGuests, type Verification } from "./stream/verify.js";
export { migrate, migrateDestination, type MigrationOutcome } from "./migration/migrate.js";
export { migrateSource } from "./migration/precopy.js";
export {
  MIGRATION_DEFAULTS, resolveMigrationOptions,
  type AutoConvergeOptions, type MigrationOptions, type ResolvedMigrationOptions,
} from "./migration/options.js";
export type { MigrationProgress, MigrationResult, MigrationStatus, RamStats, RoundRecord, XbzrleStats } from "./migration/stats.js";
export { buildScenario, type Scenario, type ScenarioOptions } from "./migration/scenario.js";
export { createChannelPair, type Channel } from "./net/channel.js";
export { DEFAULT_IDLE_TIMEOUT_MS, RECEIVE_HIGH_WATER_BYTES, SEND_DEPTH, TcpChannel, type TcpChannelOptions } from "./net/tcp-channel.js";
export { clientHandshake, loadToken, serverHandshake } from "./net/handshake.js";
export { listenForMigrations, MigrationListener, type ListenerOptions, type ListenerReport } from "./migration/listener.js";
export {
  connectMigrationChannel, migrateOverTcp, parseHostPort, type TcpMigrationResult, type TcpTarget, type TcpTransfer,
} from "./migration/tcp.js";

// Snapshots of a running guest (src/snapshot, issue 14): saved while it runs
// (traces, copy before write, the active set), restored eager, lazy or
// active-first, diff snapshots in chains, the storage model.
export { saveSnapshot, type SaveResult } from "./snapshot/save.js";
export { SAVE_DEFAULTS, type SaveOptions, type SaveProgress } from "./snapshot/save-options.js";
export type { TraceCounts } from "./snapshot/trace-window.js";
export { restoreSnapshot, RestoredGuest, type RestoreStats } from "./snapshot/restore.js";
export { RESTORE_MODES, type RestoreMode, type RestoreOptions } from "./snapshot/restore-options.js";
export { committedHost, compareRestoreModes, measureColdStart, restoreHostMiB, type ColdStart, type CompareOptions, type ModeComparison } from "./snapshot/cold-start.js";
export { snapshotInfo, verifySnapshot, type SnapshotInfo } from "./snapshot/info.js";
export { stopDirtyTracking, trackedSnapshotOf } from "./snapshot/dirty-tracking.js";
export { faultNs, readNs, resolveStorage, STORAGE_PRESETS, writeNs, type StorageModel, type StoragePreset } from "./snapshot/storage.js";
export { SNAPSHOT_HEADER, SNAPSHOT_MAGIC, SNAPSHOT_MAJOR, SNAPSHOT_MINOR } from "./snapshot/format.js";
