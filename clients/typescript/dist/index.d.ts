export * from "./errors.js";
export * from "./types.js";
export { Reader, Writer } from "./codec.js";
export type { Wire } from "./codec.js";
export * from "./messages.js";
export { COMMAND_VARIANTS, REPLY_VARIANTS } from "./schema.js";
export { Client, DEFAULT_OPTIONS, backoffDelay, connect } from "./client.js";
export type { CallOptions, ClientOptions, ClientStats, SubmitOptions } from "./client.js";
