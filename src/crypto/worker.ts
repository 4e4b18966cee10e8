/**
 * Worker thread entry for bulk payload work with no piece transform (./worker-loop.ts). Sealing
 * with one starts the package layer's entry instead (src/package/seal-worker.ts).
 */
import { serveBulkJobs } from './worker-loop.js';

serveBulkJobs();
