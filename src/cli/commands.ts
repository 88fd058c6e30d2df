// Every command of `hypermem`, in the order help lists them.
import { clusterCommand } from "./cluster.js";
import { demoCommand } from "./demo.js";
import { demoHostCommand } from "./demo-host.js";
import { ftCommand } from "./ft.js";
import { helpCommand } from "./help.js";
import { listenCommand } from "./listen.js";
import { migrateCommand } from "./migrate.js";
import { overcommitCommand } from "./overcommit.js";
import { rasCommand, rasRetiredCommand } from "./ras.js";
import type { Command } from "./registry.js";
import { snapshotCommands } from "./snapshot.js";
import { traceInfoCommand } from "./trace-info.js";
import { traceRecordCommand } from "./trace-record.js";

export const COMMANDS: readonly Command[] = Object.freeze([
  demoCommand, demoHostCommand, migrateCommand, ftCommand, listenCommand, traceRecordCommand, traceInfoCommand, rasCommand, rasRetiredCommand, clusterCommand, ...snapshotCommands, overcommitCommand, helpCommand,
]);
