// Client of kassa's TCP binary protocol, version 1 (docs/protocol.md). No runtime dependencies.
//
//   import { connect } from "kassa-client";
//   const client = await connect("127.0.0.1", 7400, apiKey);
//   const outcome = await client.submit({ kind: "Transfer", id: "t-1", from: "alice", to: "bob", amount: 250, currency: "EUR" });

export * from "./errors.js";
export * from "./types.js";
export { Reader, Writer } from "./codec.js";
export type { Wire } from "./codec.js";
export * from "./messages.js";
export { COMMAND_VARIANTS, REPLY_VARIANTS } from "./schema.js";
export { Client, DEFAULT_OPTIONS, backoffDelay, connect } from "./client.js";
export type { CallOptions, ClientOptions, ClientStats, SubmitOptions } from "./client.js";
