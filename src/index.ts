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
export {
  DEFAULT_IDLE_TIMEOUT_MS, READ_BUFFER_BYTES, RECEIVE_HIGH_WATER_BYTES, SEND_DEPTH, TcpChannel, type AcceptOptions, type TcpChannelOptions,
} from "./net/tcp-channel.js";
export { clientHandshake, describeSuite, serverHandshake, type ServerHandshakeOptions } from "./net/handshake.js";
export { checkToken, loadToken, MAX_TOKEN_BYTES, MIN_TOKEN_BYTES, type LoadTokenOptions } from "./net/token.js";
export { deriveSessionKeys, Suite, SUITE_NAMES, suiteFor, type DirectionKeys, type SessionKeys } from "./net/session-keys.js";
export {
  decodeRecordHeader, encodeRecordHeader, MAX_RECORD_BODY_BYTES, RECORD_HEADER_BYTES, RecordType, TAG_BYTES, type RecordHeader,
} from "./net/record.js";
export { RecordOpener, RecordSealer, type OpenedRecord, type SealedRecord } from "./net/record-seal.js";
export { SecureChannel, type SecureChannelOptions } from "./net/secure-channel.js";
export {
  LISTENER_DEFAULTS, listenForMigrations, MigrationListener, resolveListenerOptions, type ListenerOptions, type ListenerReport, type ResolvedListenerOptions,
} from "./migration/listener.js";
export { claimMigration, isMigrating, releaseMigration } from "./migration/migrating.js";
export {
  connectMigrationChannel, migrateOverTcp, parseHostPort, type TcpMigrationResult, type TcpTarget, type TcpTransfer,
} from "./migration/tcp.js";

// ras: memory-error recovery (refill from backing files, parity groups, the
// patrol scrubber, corrected-error retirement) and retired frames kept across
// hosts in a crash-safe store.
export {
  enableRas, RasEngine, type InjectKind, type InjectOptions, type InjectOutcome, type RecoveryEvent,
} from "./ras/engine.js";
export { MAX_GROUP_PAGES, RAS_DEFAULTS, resolveRasOptions, type RasOptions, type RasPolicy, type ResolvedRasOptions } from "./ras/options.js";
export { ParityGroups, type GroupView, type ParityGroupOptions, type ParityStats, type RebuildResult } from "./ras/parity-groups.js";
export { PatrolScrubber, SCRUB_STEP_NS, type ScrubStats } from "./ras/scrubber.js";
export { CorrectableErrors, type CorrectableVerdict } from "./ras/correctable.js";
export { ErrorLog, linuxResult, type DetectedBy, type ErrorEntry, type LinuxResult, type Outcome, type PageType } from "./ras/error-log.js";
export type { PageTypeCounts, ParityFigures, RasReport } from "./ras/report.js";
export { RETIRED_WARN_FRACTION, retirementWarning } from "./ras/retirement.js";
export { runRasScenario, type RasScenarioOptions, type RasScenarioResult } from "./ras/scenario.js";
export { RepairCheck, type RepairCheckResult } from "./ras/repair-check.js";
export { resolveErrorTarget } from "./ras/memory-error.js";
export { RetiredStore, RETIRED_RECORD_BYTES, RETIRED_STORE_HEADER, type RetireCause, type RetiredFrame, type RetiredStoreReport } from "./host/retired-store.js";
export { RetiredFrames } from "./host/retired-frames.js";
export { FileBacking, type PageBacking } from "./host/file-backing.js";
export { FramePages } from "./host/frame-pages.js";
export { RecordLog, type DroppedPart, type LoadReport, type RecordLogSpec } from "./format/record-log.js";
// Unified scheduling of containers and VMs (src/cluster/): Kubernetes manifests
// become podVMs, a VM scheduler picks the host, the container scheduler is bound to it.
export { parseQuantity, quantityBytes, quantityMilli, type Quantity } from "./cluster/quantity.js";
export { parseManifests, MAX_REPLICAS, type ManifestFile, type ManifestSet } from "./cluster/manifests.js";
export type { ClassLookup, ContainerSpec, Pod, PodAffinityTerm, PodTemplate, ResourceAmounts, RuntimeClass } from "./cluster/pod.js";
export type { LabelSelector, Labels, NodeSelectorTerm } from "./cluster/labels.js";
export { Warnings } from "./cluster/warnings.js";
export {
  KATA_DEFAULTS, NON_ZERO_MEMORY_BYTES, NON_ZERO_MILLI_CPU, podRequests, podVmSize, type PodRequests, type PodVmSize, type SizingDefaults,
} from "./cluster/podvm.js";
export {
  DEFAULT_MAX_PODS, HOSTNAME_LABEL, MAX_HOSTS, parseHostsFile, uniformHosts, type ClusterHost, type PlainVm, type UniformHosts,
} from "./cluster/hosts.js";
export { HostLedger, type AdmissionRefusal } from "./cluster/host-ledger.js";
export { VmScheduler, type VmSelection } from "./cluster/vm-scheduler.js";
export { CycleState, prioritySort, type BindPlugin, type FilterPlugin, type PermitPlugin, type PreFilterPlugin, type Profile, type QueuedPod, type ReservePlugin, type ScorePlugin, type Status } from "./cluster/framework.js";
export {
  ContainerScheduler, boundToSelectionProfile, defaultProfile, numFeasibleNodesToFind, type ContainerSchedulerOptions, type ScheduleOutcome,
} from "./cluster/container-scheduler.js";
export { NodeCache } from "./cluster/node-cache.js";
export { MAX_NODE_SCORE, type CreatePodVm } from "./cluster/plugins.js";
export { IndependentFlow, UnifiedFlow, type ClusterMode, type Flow, type Placement } from "./cluster/flows.js";
export { VmLayer } from "./cluster/vm-layer.js";
export { checkMaterializable, Materializer, MAX_MATERIALIZED_BYTES, MAX_MATERIALIZED_HOSTS, MAX_REAL_HOST_MIB, realHostMiB } from "./cluster/materialize.js";
export { Cluster, type PodRecord } from "./cluster/cluster.js";
export { resolveClusterOptions, type ClusterEvent, type ClusterOptions, type ResolvedClusterOptions } from "./cluster/options.js";
export { clusterReport, type ClusterReport, type ClusterTotals, type HostFigures, type PodFigures } from "./cluster/figures.js";
export { parseClusterScenario, runClusterScenario, type ClusterScenario, type ScenarioInput, type ScenarioStep } from "./cluster/scenario.js";
export { compareSchedulers, runCluster } from "./cluster/run.js";
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
// Fault tolerance by frequent checkpointing (src/checkpoint, docs/checkpoint.md).
export { FT_DEFAULTS, resolveFtOptions, type FtOptions, type FtProgress, type InFlightPolicy, type ResolvedFtOptions } from "./checkpoint/options.js";
export { protect, type FtOutcome, type FtTraceEvent } from "./checkpoint/protect.js";
export type { CheckpointRecord, EpochRecord, FailoverRecord, FtResult, Percentiles } from "./checkpoint/result.js";
export { CHECKPOINT_ACK, decodeCheckpointAck, encodeCheckpointAck } from "./checkpoint/ack.js";
export { Backup } from "./checkpoint/backup.js";
// Quasi-lockstep fault tolerance (src/lockstep, docs/lockstep.md, issue 12):
// outputs compared per connection, resync by checkpoint on mismatch, failover.
export { runLockstep, type LockstepOutcome, type LockstepTraceEvent } from "./lockstep/lockstep.js";
export { LOCKSTEP_DEFAULTS, resolveLockstepOptions, type LockstepOptions, type LockstepProgress, type ResolvedLockstepOptions } from "./lockstep/options.js";
export type { LockstepFailover, LockstepResult, ResyncRecord } from "./lockstep/result.js";
export type { CheckpointCause, ReleasedPacket as LockstepReleasedPacket, ReleaseOrigin } from "./lockstep/comparator.js";
export { NONDETERMINISM_KINDS, type NondeterminismKind, type NondeterministicEvent } from "./lockstep/nondeterminism.js";
export {
  checkpointingFigures, COMPARE_EPOCH_MS, lockstepFigures, runCheckpointingScenario, runLockstepScenario, sweepNondeterminism,
  type LockstepScenario, type TechniqueFigures,
} from "./lockstep/compare.js";

// Resumable virtual-disk transfer (src/storage, docs/disk-transfer.md).
export { sendDisk, type SendAttempt, type SendDiskResult } from "./storage/sender.js";
export { diskStreamHandler, serveDisk, type DiskConnection } from "./storage/receiver.js";
export { LOCK_FILE, lockDiskFolder } from "./storage/folder-lock.js";
export {
  DISK_DEFAULTS, resolveDiskServeOptions, resolveSendDiskOptions, type DiskReport, type DiskServeOptions, type ResolvedDiskServeOptions,
  type ResolvedSendDiskOptions, type SendDiskOptions, type SendProgress, type SendStart,
} from "./storage/options.js";
export { DISK_HELLO, DISK_MAGIC } from "./storage/protocol.js";
export { decodeRecord, encodeRecord, FRAGMENT_RECORD, readRecord, type DiskRecord } from "./storage/record.js";
export { DiskStore, listFragments, type FragmentInfo, type StoreLimits, type SweepReport } from "./storage/store.js";
export { makeImage, type MakeImageResult } from "./storage/make-image.js";
export { connectSecureChannel, type SecureTarget } from "./net/connect.js";

// Hypervisor swap with prioritised queues (src/swap, issue 16, docs/swap.md).
export { HostSwap, type AttachOptions, type PrefetchCounters } from "./swap/swap-device.js";
export { SwappedVm, type SwapDeviceClock, type VmSwapCounters } from "./swap/swapped-vm.js";
export { MAX_PAGE_CLUSTER, MAX_SWAP_PAGES, resolveSwapOptions, SWAP_DEFAULTS, type ResolvedSwapOptions, type SwapOptions } from "./swap/options.js";
export { DEVICE_PRESET_NAMES, DEVICE_PRESETS, resolveDevice, type DeviceModel, type DevicePreset, type DeviceSpec, type QueueDepths } from "./swap/device.js";
export { QUEUE_MODES, Queues, type QueueMode } from "./swap/queues.js";
export { SimulatedDevice, type DepthSample, type DeviceHooks } from "./swap/device-sim.js";
export { REQUEST_TYPES, type RequestRecord, type RequestType, type SwapRequest } from "./swap/request.js";
export { SwapFile } from "./swap/swap-file.js";
export { ClockHand } from "./swap/clock.js";
export { latencyFigures, percentile, type HistogramBucket, type LatencyFigures, type SwapFigures } from "./swap/figures.js";
export { DEFAULT_SLICE_NS, SwapVcpu } from "./swap/vcpu.js";
export { compareQueues, runSwapScenario, type SwapIo, type SwapRunResult, type SwapScenarioOptions } from "./swap/scenario.js";
export { replayOnFile, type ReplayOptions, type ReplayResult } from "./swap/real-io.js";

// Remote memory and its recovery (src/remote, issue 20, seed T4): a region on
// a memory host (a worker thread, a SharedArrayBuffer) read one-sided, epoch
// write-back with dirty lists, baselines, the failover's recovery.
export { REMOTE_LINK_PRESETS, SHARED_STORAGE, opsNs, resolveRemoteLink, resolveStorageLink, storageNs, type RemoteLinkModel, type RemoteLinkPreset, type StorageLinkModel } from "./remote/link.js";
export { MAX_REGION_PAGES, regionGeometry, type RegionGeometry } from "./remote/region-layout.js";
export { RemoteRegion, type DirtyList, type RegionHeader, type RegionTraffic } from "./remote/region.js";
export { MemoryHost } from "./remote/memory-host.js";
export { BASELINE_HEADER, loadBaseline, writeBaseline, type LoadedBaseline } from "./remote/baseline.js";
export { writeEpoch } from "./remote/epoch-writer.js";
export { RemoteMemory, type FailurePoint, type RemoteMemoryConfig, type RemoteMemoryStats } from "./remote/compute.js";
export { recoverRegion, type Recovered, type RecoveryInput, type RecoveryMode, type RecoveryReport } from "./remote/recovery.js";
export { REMOTE_DEFAULTS, REMOTE_MAX_GUEST_MIB, resolveRemoteOptions, type RemoteScenarioOptions, type ResolvedRemoteOptions } from "./remote/options.js";
export { runRemoteScenario, type RemoteScenarioResult } from "./remote/scenario.js";
export { dirtiedRegion, fullCopy, recoveryFigures, type RecoveryFigureRow, type RecoveryFiguresOptions } from "./remote/figures.js";
// NVM regions with virtblocks (src/nvm, issue 20, seed T6): DRAM in front of
// an NVM region, cold blocks purged to a storage file through virtblock
// entries (or, the baseline, by rewriting every mapping).
export { BLOCK_BYTES, NvmDevice, OPTANE_PMEM, resolveNvmModel, type NvmModel } from "./nvm/device.js";
export { NVME_SSD, StorageFile, type StorageModel as NvmStorageModel } from "./nvm/storage-file.js";
export { ENTRY_STATE, NvmTiers, STORAGE_TAG, type EntryStateName, type NvmStats, type NvmTiersConfig } from "./nvm/tiers.js";
export { compareNvm, runNvmScenario, type NvmReport, type NvmScenarioOptions } from "./nvm/scenario.js";


// Memory overcommit (src/balloon, issue 15): balloon drivers, the ESX-style
// memory scheduler (shares, reservations, limits, idle-memory tax from sampled
// working sets), frames moved between VMs, memory conditions for guest
// applications, the run harness and the two experiments.
export { allocate, idleCost, sharesPerPage, type AllocationInput } from "./balloon/allocation.js";
export { BalloonDriver, BALLOON_MARK, type BalloonDriverOptions, type TakeListener } from "./balloon/driver.js";
export { FramePool } from "./balloon/frame-pool.js";
export { BalloonPages, BALLOON_DATA_BIT, LIST_PAGES } from "./balloon/balloon-pages.js";
export type { BalloonStats, GuestCounters } from "./balloon/guest-stats.js";
export { WorkingSetSampler, type ActiveFractionSample } from "./balloon/sampler.js";
export {
  SCHEDULER_DEFAULTS, resolveSchedulerOptions, type FreeThresholds, type ManagedVmOptions, type ResolvedSchedulerOptions, type SchedulerOptions,
} from "./balloon/options.js";
export { nextState, type ReclaimContext, type ReclaimState, type ReclaimStep } from "./balloon/reclaim.js";
export { ManagedVm, MemoryScheduler } from "./balloon/scheduler.js";
export type { HostSample, VmSample } from "./balloon/series.js";
export {
  MemoryCondition, type ConditionInputs, type ConditionOptions, type MemoryConditionInfo, type MemoryLevel, type Psi, type Subscription,
} from "./balloon/condition.js";
export { AppCache, type AppCacheFigures, type AppCacheOptions, type CachePolicy } from "./balloon/app-cache.js";
export { runOvercommit, type OvercommitResult, type OvercommitRunOptions, type OvercommitVmConfig, type VmOutcome } from "./balloon/run.js";
export { conditionExperiment, idleTaxExperiment, type ConditionRow, type ExperimentOptions, type IdleTaxRow } from "./balloon/experiments.js";

// remote (issue 20): XXH3-64 of pages in bulk (the page checksum of the
// remote-memory formats version 2) and the page window it runs on.
export { MAX_WINDOW_PAGES, withPageWindow, xxh3Pages, type PageWindow } from "./pages/page-window.js";
export { dirtyListEntries, hashOf, type PageMeta } from "./remote/region.js";
export { REGION_LAYOUT_VERSION } from "./remote/region-layout.js";
// Hypervisor swap as the overcommit scheduler's last step (issue 16).
export { SwapReclaimStep, type SwapStepFigures } from "./swap/reclaim-step.js";
export type { ReclaimStepContext } from "./balloon/run.js";
