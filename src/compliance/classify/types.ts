/** What a classification was made from, beside the record itself. */
import type { ClassificationRecord } from '../../format/classification.js';
import type { PackageDigests } from './package.js';

/** A classification and what it was made from. */
export interface Classification {
  record: ClassificationRecord;
  /** What was read: a checkpoint's weight files, or a sealed package. */
  source:
    | { kind: 'checkpoint'; path: string; files: string[]; config: boolean; index: boolean }
    | {
        kind: 'package';
        path: string;
        digests: PackageDigests;
        /** When asked to determine again (destination, packs or date): the record as sealed, unchanged. */
        sealed?: ClassificationRecord;
      };
  /** When config.json implies a count other than the one read from the weights; else null. */
  configMismatch: { configParameters: number; parameters: number; difference: number; message: string } | null;
}
