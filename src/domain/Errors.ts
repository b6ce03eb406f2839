// Every expected failure of Tidemark as a tagged error carrying what a person needs to act on it.
import { Schema } from "effect"

/** A remote clock was further ahead of ours than the drift limit; it was not adopted. */
export class ClockDriftError extends Schema.TaggedError<ClockDriftError>()("ClockDriftError", {
  remote: Schema.String,
  localWallMillis: Schema.Number,
  maxDriftMillis: Schema.Number
}) {
  get message() {
    const ahead = Number.parseInt(this.remote.slice(0, 12), 16) - this.localWallMillis
    return `remote clock ${this.remote} is ${ahead} ms ahead of ours, more than the ${this.maxDriftMillis} ms drift limit`
  }
}

/** A database file could not be opened: missing directory, not a SQLite file, corrupt, or unreadable. */
export class DatabaseOpenError extends Schema.TaggedError<DatabaseOpenError>()("DatabaseOpenError", {
  file: Schema.String,
  reason: Schema.String
}) {
  get message() {
    return `cannot open ${this.file}: ${this.reason}`
  }
}

/** A statement against an open store failed (disk full, locked too long, I/O error …). */
export class StoreError extends Schema.TaggedError<StoreError>()("StoreError", {
  store: Schema.String,
  operation: Schema.String,
  reason: Schema.String
}) {
  get message() {
    return `${this.store}: ${this.operation} failed: ${this.reason}`
  }
}

/** A row did not match the schema of its resource kind. Nothing of the batch it came in was written. */
export class InvalidRowError extends Schema.TaggedError<InvalidRowError>()("InvalidRowError", {
  resource: Schema.String,
  uuid: Schema.String,
  reason: Schema.String
}) {
  get message() {
    return `invalid ${this.resource} row ${this.uuid}: ${this.reason}`
  }
}

/** A local update or delete named a row this device does not hold. */
export class RowNotFoundError extends Schema.TaggedError<RowNotFoundError>()("RowNotFoundError", {
  resource: Schema.String,
  uuid: Schema.String
}) {
  get message() {
    return `no ${this.resource} with uuid ${this.uuid}`
  }
}

/** A device tried to write a device-owned row of another device. */
export class NotOwnerError extends Schema.TaggedError<NotOwnerError>()("NotOwnerError", {
  resource: Schema.String,
  uuid: Schema.String,
  owner: Schema.String,
  device: Schema.String
}) {
  get message() {
    return `${this.resource} ${this.uuid} belongs to device ${this.owner}; device ${this.device} may not write it`
  }
}

/**
 * A sync session ended by a defect: a bug, or SQLite failing a COMMIT (which @effect/sql reports as a
 * defect). The engine logs it with its stack and reconnects, as after any other failure.
 */
export class SessionDefect extends Schema.TaggedError<SessionDefect>()("SessionDefect", {
  reason: Schema.String
}) {
  get message() {
    return `unexpected error: ${this.reason}`
  }
}

/**
 * An application declared its resource kinds in a way Tidemark cannot store or sync: an unsupported field
 * type, a reference to an undeclared kind, a duplicate or invalid name. Reported when the engine's Layer is
 * built, before any data is touched.
 */
export class SchemaDefinitionError extends Schema.TaggedError<SchemaDefinitionError>()(
  "SchemaDefinitionError",
  {
    kind: Schema.String,
    field: Schema.NullOr(Schema.String),
    reason: Schema.String
  }
) {
  get message() {
    return `resource kind ${this.kind}${this.field === null ? "" : `, field ${this.field}`}: ${this.reason}`
  }
}

/**
 * The stored tables cannot be brought to the declared schema without losing or inventing data: a new field
 * that is not nullable (existing rows have no value for it), or a field whose type changed.
 */
export class SchemaMigrationError extends Schema.TaggedError<SchemaMigrationError>()("SchemaMigrationError", {
  kind: Schema.String,
  field: Schema.String,
  reason: Schema.String
}) {
  get message() {
    return `cannot migrate resource kind ${this.kind}, field ${this.field}: ${this.reason}`
  }
}

/** A request named a resource kind this device's schema does not declare. */
export class UnknownKindError extends Schema.TaggedError<UnknownKindError>()("UnknownKindError", {
  kind: Schema.String
}) {
  get message() {
    return `no resource kind named ${this.kind} is declared`
  }
}

/** A setting passed to the engine is not usable (a malformed id, an empty secret …). */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  setting: Schema.String,
  reason: Schema.String
}) {
  get message() {
    return `invalid setting ${this.setting}: ${this.reason}`
  }
}
