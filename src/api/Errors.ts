// Every expected failure an application can meet, as tagged errors carrying what a person needs to act.
export {
  ClockDriftError,
  ConfigError,
  DatabaseOpenError,
  InvalidRowError,
  NotOwnerError,
  RowNotFoundError,
  SchemaDefinitionError,
  SchemaMigrationError,
  StoreError,
  UnknownKindError
} from "../domain/Errors.js"
export { AuthenticationFailed, PeerUnavailable, ProtocolViolation } from "../services/PeerTransport.js"
export { RequestRefused } from "../domain/Protocol.js"
