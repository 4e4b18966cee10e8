/**
 * Worker thread entry for sealing with a transform: the crypto pool's bulk loop
 * (src/crypto/worker-loop.ts) with the package layer's piece transforms registered first.
 */
import { serveBulkJobs } from '../crypto/worker-loop.js';
import { registerFingerprintPiece } from './fingerprint-piece.js';

registerFingerprintPiece();
serveBulkJobs();
