// Connects to kassa, opens two accounts, deposits, transfers and prints the outcomes.
//
//   node example.mjs [host] [port] [apiKey]     (defaults: 127.0.0.1 7400 $KASSA_ADMIN_KEY)

import { connect } from "./dist/index.js";

const [host = "127.0.0.1", port = "7400", apiKey = process.env.KASSA_ADMIN_KEY] = process.argv.slice(2);
const run = `ex${Date.now()}`; // fresh ids on every run
const alice = `${run}-alice`;
const bob = `${run}-bob`;
const show = (value) => JSON.stringify(value, (_, v) => (typeof v === "bigint" ? Number(v) : v));

const client = await connect(host, Number(port), apiKey);
try {
  for (const command of [
    { kind: "OpenAccount", account: alice, currency: "EUR", overdraftLimit: 0 },
    { kind: "OpenAccount", account: bob, currency: "EUR", overdraftLimit: 0 },
    { kind: "Deposit", id: `${run}-dep`, account: alice, amount: 10_000 },
  ]) {
    console.log(command.kind, "->", show(await client.submit(command)));
  }
  const transfers = [0, 1, 2].map((n) =>
    client.submit({ kind: "Transfer", id: `${run}-t${n}`, from: alice, to: bob, amount: 250, currency: "EUR" }),
  );
  for (const outcome of await Promise.all(transfers)) console.log("Transfer ->", show(outcome));
  const tooMuch = { kind: "Transfer", id: `${run}-big`, from: alice, to: bob, amount: 10 ** 9, currency: "EUR" };
  console.log("Transfer too much ->", show(await client.submit(tooMuch)));
  await client.ping();
  console.log("Ping -> Pong");
} finally {
  await client.close();
}
