/** Screening lists: import formats, content-addressed snapshots, the lists in force. docs/SCREENING.md. */
export { ActiveLists, type ActiveListsOptions } from './active.js';
export {
  readActive,
  listsPaths,
  snapshotPath,
  type ActiveSource,
  type ActiveState,
  type ImportedFile,
} from './active-file.js';
export { importLists, readListFiles, type ImportOptions, type ImportResult } from './import.js';
export { LIST_LIMITS, DEFAULT_MAX_AGE_DAYS } from './limits.js';
export { migrateDeniedParties, DENIED_PARTIES_SOURCE } from './migrate.js';
export { LIST_FORMATS, detectFormat, type ListFormat } from './read.js';
export { ListScreening, partyQueries, summarise, type ListInForce } from './screening.js';
export { readSnapshot, type LoadedSnapshot } from './snapshot.js';
export { listsStatus, type SourceStatus } from './status.js';
export { newlyFlagged, type NewlyFlagged } from './rescreen.js';
export { keepActiveSnapshotRecords, readSnapshotRecord, snapshotRecordPath, SNAPSHOT_REF } from './records.js';
