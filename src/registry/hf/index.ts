/** Hugging Face folders (docs/REGISTRY.md, "Hugging Face"). */
export { exportForHuggingFace, type HfExportOptions, type HfExportResult } from './export.js';
export { renderModelCard, HF_TAGS, type ModelCardInput } from './card.js';
