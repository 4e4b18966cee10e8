/** The MLflow model registry (docs/REGISTRY.md, "MLflow"). */
export {
  registerInMlflow,
  exportLogIndexes,
  DEFAULT_MLFLOW_ALIAS,
  MLFLOW_TAGS,
  type MlflowRegisterOptions,
  type MlflowRegistration,
} from './register.js';
export { MlflowClient, mlflowAuthorization, type MlflowClientOptions } from './client.js';
