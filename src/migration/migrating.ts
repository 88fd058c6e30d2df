// Which VMs are being migrated: a VM migrates once at a time, and a second
// migration of it is refused before it starts (before it connects, opens a
// dirty-log reader or sends anything) with ERR_VM_MIGRATING. Used by the
// TCP source (tcp.ts); the in-process migrate() can share it, so that the
// two kinds exclude each other too.
import { ErrorCode, HypermemError } from "../errors.js";
import type { Vm } from "../host/vm.js";

const migrating = new WeakSet<Vm>();

/** Marks `vm` as migrating; ERR_VM_MIGRATING when it already is. Pair with releaseMigration() in a finally. */
export function claimMigration(vm: Vm): void {
  if (migrating.has(vm)) {
    throw new HypermemError(ErrorCode.VmMigrating, `vm ${vm.id} is being migrated already; a second migration of it is refused (wait for the first to end)`, { vmId: vm.id });
  }
  migrating.add(vm);
}

/** Ends what claimMigration() began. */
export function releaseMigration(vm: Vm): void {
  migrating.delete(vm);
}

/** True while a migration of `vm` is under way. */
export function isMigrating(vm: Vm): boolean {
  return migrating.has(vm);
}
