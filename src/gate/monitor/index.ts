/** The extraction monitor's public surface (docs/GATE.md, "Extraction monitoring"). */
export { promptFeatures, minhashSimilarity, parseMinhash, MINHASH_K } from './features.js';
export { promptText } from './prompt.js';
export {
  createExtractionMonitor,
  MONITOR_DEFAULTS,
  type ExtractionMonitorDetail,
  type MonitorOptions,
  type TemplateCount,
} from './monitor.js';
export { applicationRanges, SIGNAL_WEIGHTS } from './signals.js';
export { shapiroWilk, type ShapiroWilk } from './shapiro.js';
export { reviewGate, type CallerReview, type GateReview, type GateReviewOptions } from './review.js';
